/*
 * parse_internal.h - the format parsers parse.c dispatches to, one file each
 * (parse_usage.c, parse_legacy.c, parse_monitor.c), over the field helpers of
 * parse_fields.h. Not part of the ingest API: only the parsers and their unit tests
 * include it. Pure and thread-safe.
 */
#ifndef TALLY_PARSE_INTERNAL_H
#define TALLY_PARSE_INTERNAL_H

#include <stddef.h>

#include "jdoc.h"

#include "parse_fields.h"

/*
 * The format parsers. root is the parsed message, buf/len its bytes (the raw of a
 * whole-message reject). Usage and legacy accept one event object or an array of them;
 * monitor accepts {"records":[...]}, a bare array of records or one record.
 */
void parse_usage(jv *root, const char *buf, size_t len, parse_out *out);
void parse_legacy(jv *root, const char *buf, size_t len, parse_out *out);
void parse_monitor(jv *root, const char *buf, size_t len, parse_out *out);

#endif
