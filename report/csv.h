/*
 * csv.h - RFC 4180 output (comma separated, CRLF line ends, fields quoted when they
 * hold a comma, a double quote, CR or LF; quotes doubled) appended to a membuf; text
 * cells that would start a spreadsheet formula are written as a string constant.
 * Pure, no I/O; a buffer belongs to one thread.
 */
#ifndef TALLY_CSV_H
#define TALLY_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "membuf.h"

/* Appends one field, quoted if needed; first says whether a comma goes before it. */
void csv_field(membuf *b, const char *s, size_t n, bool first);

/* the longest value guarded as a string constant: Excel's limit for text in a formula */
#define CSV_GUARD_MAX 255

/*
 * Appends one text field like csv_field, but a cell a spreadsheet would read as a formula
 * (starting with =, +, -, @, tab or CR, and not a decimal number) is written as a formula
 * that is only a string constant, ="-ops" (inner quotes doubled, then the field quoted as
 * RFC 4180 says: "=""-ops"""): Excel, LibreOffice and Google Sheets show -ops and run
 * nothing. A value over CSV_GUARD_MAX bytes gets a leading single quote instead ('-ops).
 * For text columns only: numbers go through csv_field untouched.
 */
void csv_text_field(membuf *b, const char *s, size_t n, bool first);

/* Ends the row with CRLF. */
void csv_end_row(membuf *b);

#endif
