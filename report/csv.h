/*
 * csv.h - RFC 4180 output (comma separated, CRLF line ends, fields quoted when they
 * hold a comma, a double quote, CR or LF; quotes doubled) appended to a membuf; text
 * cells that would start a spreadsheet formula are prefixed with a single quote.
 * Pure, no I/O; a buffer belongs to one thread.
 */
#ifndef TALLY_CSV_H
#define TALLY_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "membuf.h"

/* Appends one field, quoted if needed; first says whether a comma goes before it. */
void csv_field(membuf *b, const char *s, size_t n, bool first);

/*
 * Appends one text field like csv_field, but a cell a spreadsheet would read as a formula
 * (starting with =, +, -, @, tab or CR, and not a decimal number) gets a leading single
 * quote. For text columns only: numbers go through csv_field untouched.
 */
void csv_text_field(membuf *b, const char *s, size_t n, bool first);

/* Ends the row with CRLF. */
void csv_end_row(membuf *b);

#endif
