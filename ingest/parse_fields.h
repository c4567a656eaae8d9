/*
 * parse_fields.h - helpers shared by the format parsers (parse_usage.c,
 * parse_legacy.c, parse_monitor.c) and implemented in parse_fields.c: case-insensitive
 * keys, "NA"/""/null as absent, counts given as numbers or decimal strings,
 * ISO 8601 and culture-formatted timestamps, and emitting items.
 *
 * Not part of the ingest API: only the parsers and their unit tests include it.
 * Everything here is pure and thread-safe.
 *
 * Field helpers take the JSON value (NULL when the key is missing) and the key's
 * canonical name, used in reject reasons. On failure they write a reason of at
 * most PARSE_REASON_MAX bytes into reason and return false.
 */
#ifndef TALLY_PARSE_FIELDS_H
#define TALLY_PARSE_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jdoc.h"

#include "parse.h"

/* a count above this is rejected ("token count in \"name\" over the maximum
 * 1000000000000"): it keeps sums of token classes far from int64 overflow, and no single
 * request comes near it (README, "Rejects") */
#define PARSE_COUNT_MAX INT64_C(1000000000000)

/* where a format parser sends its items; parse_message() owns it */
typedef struct parse_out {
    parse_emit_fn emit;
    void *ctx;
    int count;
} parse_out;

#if defined(__GNUC__)
#define PARSE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PARSE_PRINTF(f, a)
#endif

/* Writes a reason (truncated to PARSE_REASON_MAX - 1 bytes). */
void parse_set_reason(char *reason, const char *fmt, ...) PARSE_PRINTF(2, 3);

/* ASCII case-insensitive equality of two NUL-terminated strings. */
bool parse_key_eq(const char *a, const char *b);

/* The member of obj named key: the exact spelling if present, else the first member
 * equal ignoring ASCII case. NULL if obj is not an object or has no such member.
 * It belongs to obj's document. */
jv *parse_get(const jv *obj, const char *key);

/* True for a missing value (NULL), JSON null, "" and "NA". */
bool parse_absent(const jv *v);

/* An id field (request id, oid, model, deployment ...): absent gives "", a string
 * longer than size - 1 bytes is rejected ("field \"name\" too long"), a non-string
 * is rejected ("field \"name\" is not a string"). */
bool parse_id(const jv *v, const char *name, char *dst, size_t size, char *reason);

/* A free-text label (upn, gateway, region ...): like parse_id, but a string too long
 * is cut at a UTF-8 character boundary instead of rejected. */
bool parse_label(const jv *v, const char *name, char *dst, size_t size, char *reason);

/* A token or request count: a JSON integer or a string of decimal digits; absent
 * gives 0. Rejects negative values ("negative token count in \"name\""), values over
 * PARSE_COUNT_MAX ("token count in \"name\" over the maximum 1000000000000") and
 * anything else, including 1.5 and 12.0 ("invalid token count in \"name\""). */
bool parse_count(const jv *v, const char *name, int64_t *out, char *reason);

/* A small integer (status code, sequence number) in [min, max], given as a number or
 * a decimal string; absent gives dflt. Else "invalid integer in \"name\"". */
bool parse_int(const jv *v, const char *name, int min, int max, int dflt, int *out, char *reason);

/* A boolean: true/false, "true"/"false" (any case), 1/0 or "1"/"0"; absent gives -1.
 * Else "invalid boolean in \"name\"". */
bool parse_bool(const jv *v, const char *name, int *out, char *reason);

/* A required timestamp: absent is "missing timestamp", a value that
 * parse_timestamp() does not accept is "invalid timestamp \"value\"", one outside
 * [1900-01-01, 10000-01-01) UTC is "timestamp out of range \"value\"". */
bool parse_time(const jv *v, int64_t *out_us, char *reason);

/*
 * Parses an ISO 8601 date-time to microseconds since the epoch, UTC:
 * YYYY-MM-DD(T|t| )hh:mm:ss[(.|,)fraction][Z|z|(+|-)hh[:mm]|(+|-)hhmm]. The fraction may
 * have any number of digits and is truncated to microseconds; no zone means UTC.
 */
bool parse_iso8601(const char *s, int64_t *out_us);

/* Parses a US culture-formatted UTC time: M/D/YYYY h:mm:ss AM|PM, or the same with a
 * 24-hour clock and no AM/PM. */
bool parse_culture_time(const char *s, int64_t *out_us);

/* parse_iso8601(), else parse_culture_time(). */
bool parse_timestamp(const char *s, int64_t *out_us);

/* Days from 1970-01-01 to the given proleptic Gregorian date (month 1-12, day 1-31). */
int64_t parse_days_from_civil(int64_t year, unsigned month, unsigned day);

/* A string member of tally_event filled from the key of the same meaning. */
typedef struct parse_field {
    const char *key;
    size_t offset; /* of a char array in tally_event */
    size_t size;
    bool label; /* cut when too long, instead of rejecting */
} parse_field;

#define PARSE_FIELD(key, member, label)                                                            \
    {                                                                                              \
        key, offsetof(tally_event, member), sizeof(((tally_event *)0)->member), label              \
    }

/* Fills the n fields of ev from obj with parse_id() or parse_label(); false at the
 * first one that fails. */
bool parse_fields(jv *obj, const parse_field *fields, size_t n, tally_event *ev, char *reason);

/* Parses one event object into ev (zeroed by the caller); false and a reason if it is
 * a reject. */
typedef bool (*parse_event_fn)(jv *obj, tally_event *ev, char *reason);

/* Emits one item per event for a message that is one event object or an array of them:
 * ITEM_EVENT (after event_finish()) or ITEM_REJECT. A rejected single object keeps
 * the whole message as raw; a rejected array element its own JSON text. */
void parse_events(jv *root, const char *buf, size_t len, parse_event_fn one, parse_out *out);

/* Emits an item and counts it. */
void parse_emit(parse_out *out, const parse_item *item);

/* Emits an ITEM_REJECT whose raw bytes are raw/raw_len. */
void parse_reject(parse_out *out, const char *raw, size_t raw_len, const char *reason);

/* Emits an ITEM_REJECT whose raw bytes are value serialised as compact JSON; falls back
 * to fallback/fallback_len if serialising fails. */
void parse_reject_json(parse_out *out, const jv *value, const char *fallback, size_t fallback_len,
                       const char *reason);

#endif
