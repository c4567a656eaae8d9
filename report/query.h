/*
 * query.h - the query string of a report request, parsed and checked strictly into a
 * plain struct: percent-encoding, UTF-8, no NUL or control bytes, no duplicate or
 * unknown parameter, dates (YYYY-MM-DD or RFC 3339) and months (YYYY-MM) that exist,
 * group_by, format, layout and guard from allow-lists. Whether a time zone exists is the caller's
 * check (Postgres knows the zones). Pure, no I/O, thread-safe.
 */
#ifndef TALLY_QUERY_H
#define TALLY_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#define QUERY_MAX_LEN 8192 /* longer query strings are refused with 414 */
#define QUERY_VALUE_MAX 256

/* Parameters, as bits: a route says which it accepts. */
enum {
    QP_FROM = 1u << 0,
    QP_TO = 1u << 1,
    QP_TZ = 1u << 2,
    QP_GROUP_BY = 1u << 3,
    QP_DEVELOPER = 1u << 4,
    QP_TEAM = 1u << 5,
    QP_MODEL = 1u << 6,
    QP_DEPLOYMENT = 1u << 7,
    QP_PRICE_BOOK = 1u << 8,
    QP_FORMAT = 1u << 9,
    QP_MONTH = 1u << 10,
    QP_LAYOUT = 1u << 11,
    QP_GUARD = 1u << 12,
    /* the handler reads the query itself (http_raw_query): only its length is checked here
       (the OAuth callback, whose code is longer than QUERY_VALUE_MAX and whose IdP adds
       parameters of its own) */
    QP_OWN = 1u << 13,
};

typedef enum {
    QG_DEVELOPER,
    QG_TEAM,
    QG_MODEL,
    QG_DEPLOYMENT,
    QG_DAY,
    QG_MONTH,
    QG_COUNT
} query_group;

typedef enum { QF_DEFAULT = 0, QF_JSON, QF_CSV } query_format;

/*
 * A point in time: text is either a date "YYYY-MM-DD" (midnight in the request's time
 * zone, local = true) or an RFC 3339 instant normalised to "YYYY-MM-DDTHH:MM:SS[.f]Z"
 * or "…±HH:MM" (local = false).
 */
typedef struct query_time {
    char text[40];
    bool local;
} query_time;

typedef struct query {
    unsigned given; /* QP_* bits present in the request */
    query_time from, to;
    char tz[65]; /* "UTC" unless given */
    char month[8];
    query_group groups[QG_COUNT]; /* in the order given */
    int ngroups;
    char developer[QUERY_VALUE_MAX + 1];
    char team[QUERY_VALUE_MAX + 1];
    char model[QUERY_VALUE_MAX + 1];
    char deployment[QUERY_VALUE_MAX + 1];
    char price_book[QUERY_VALUE_MAX + 1];
    query_format format;
    int layout;   /* report columns: 1 = before issue 10, 2 = before issue 12, 3 (default) */
    bool raw_csv; /* guard=none: CSV text cells without the formula guard (csv.h) */
} query;

typedef struct query_error {
    int status;       /* 400 or 414 */
    char param[65];   /* the offending parameter ("" when none applies) */
    char detail[256]; /* lower-case sentence for the problem's detail */
} query_error;

/* The allow-listed group_by names, indexed by query_group. */
extern const char *const QUERY_GROUP_NAMES[QG_COUNT];

/*
 * Parses raw (the bytes after '?', not NUL-terminated, may be empty) accepting the
 * parameters in allowed. Returns true and fills q, or false and fills err.
 */
bool query_parse(const char *raw, size_t len, unsigned allowed, query *q, query_error *err);

/* True when q groups by g. */
bool query_has_group(const query *q, query_group g);

/* Strict checks, exposed for tests and other parsers. */
bool query_valid_date(const char *s, size_t n);  /* YYYY-MM-DD that exists */
bool query_valid_month(const char *s, size_t n); /* YYYY-MM */
bool query_valid_utf8(const char *s, size_t n);

/*
 * Percent-decodes s[0..n) ('+' is a space, as in forms) into out (at most outmax bytes
 * plus a NUL). Returns the length, -1 for bad encoding or a control byte, -2 when too long.
 */
int query_decode(const char *s, size_t n, char *out, size_t outmax);

#endif
