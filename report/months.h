/*
 * months.h - month close (docs/architecture.md, "Month close"): the chargeback statement
 * and its JSON header, shared by GET /v1/reports/monthly and the close; closing a month
 * (the exact CSV and JSON bytes of the chargeback and the FOCUS export's, rendered once, by
 * the renderer the routes use, stored with their SHA-256 and the lines corrections are
 * computed against) and reopening it; looking a
 * close up and reading its stored bytes. tally-report's routes and tallyctl call the same
 * functions, so a close is the same whichever made it.
 *
 * Every function takes a connection of the caller's (not shared between threads) and
 * reports through a months_result; thread-safe otherwise.
 */
#ifndef TALLY_MONTHS_H
#define TALLY_MONTHS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* The chargeback layout with the correction rows (and their corrects_month column). */
#define MONTHS_LAYOUT 3

/* The lateness window key of tally-report and tallyctl: a month may be closed this many
   hours after its end in its zone (earlier only when forced). */
#define MONTHS_CFG_SPEC                                                                            \
    {                                                                                              \
        "close_lateness_h", CFG_INT, "48", 0, 8784, NULL, CFG_PUBLIC,                              \
            "months close: hours after a month's end (in its zone) during which late events may "  \
            "still "                                                                               \
            "arrive and a close is refused unless forced"                                          \
    }

typedef enum {
    MONTHS_OK = 0,
    MONTHS_BAD_INPUT, /* param names what: HTTP 400, tallyctl exit 2 */
    MONTHS_REFUSED,   /* closed already, gaps, lateness, a later close: 409, exit 1 */
    MONTHS_NOT_FOUND, /* no such close: 404, exit 1 */
    MONTHS_DB_ERROR   /* the statement failed (sqlstate, "" when no answer): 503/500, exit 1 */
} months_status;

typedef struct months_result {
    months_status status;
    char param[32];   /* MONTHS_BAD_INPUT: the field */
    char detail[600]; /* a lower-case sentence */
    char sqlstate[6];
} months_result;

/* A close: its identity and what its replies say about it. */
typedef struct months_close_info {
    char id[24];
    char month[8];
    char tz[65];
    char closed_at[32]; /* RFC 3339 UTC, seconds */
    char closed_by[160];
    char book_name[257];
    char book_sha256[65];
    char csv_sha256[65];
    char json_sha256[65];
    char focus_sha256[65]; /* "" for a close made before FOCUS was kept (0016) */
    char complete[128];    /* the Tally-Complete value when it was closed */
} months_close_info;

/* The stored bytes of a close: its chargeback as CSV or JSON, its FOCUS export. */
typedef enum { MONTHS_CSV, MONTHS_JSON, MONTHS_FOCUS } months_kind;

/*
 * The chargeback statement of a layout (1, 2 or MONTHS_LAYOUT): $1 book id, $2 month, $3
 * zone, $4 a lead's team, $5 a developer's oid (NULL: unscoped). Layout 3 is layout 2's rows,
 * then the correction rows of the closed months the month carries, with corrects_month.
 */
const char *months_chargeback_sql(int layout);

/*
 * The FOCUS statement of a layout (1, 2 or MONTHS_LAYOUT): $1 book id, $2 month, $3 zone,
 * $4 the layout of tally_report_focus (months_focus_layout_param). Layout 3 is layout 2's
 * rows, then the Correction rows of the closed months the month carries.
 */
const char *months_focus_sql(int layout);
const char *months_focus_layout_param(int layout);

/*
 * The chargeback's JSON members before "rows": month, tz, price_book ({name, sha256}, or null
 * when book_name is NULL), complete and gaps (the ingest gaps touching the month); complete
 * receives the Tally-Complete value ("true", or "false; gaps=N; lost_messages=M"). NULL
 * with r set on failure; the caller owns the object.
 */
json_t *months_header(PGconn *conn, const char *month, const char *tz, const char *book_name,
                      const char *book_sha256, char complete[128], months_result *r);

typedef struct months_close_req {
    const char *month;      /* YYYY-MM */
    const char *tz;         /* a zone of pg_timezone_names, any case; stored by its name */
    const char *price_book; /* a book's name, NULL for the newest */
    bool force;             /* close despite gaps or the lateness window */
    const char *reason;     /* required with force; recorded */
    const char *by;         /* the principal; NULL: "tallyctl:" and the database user */
    int lateness_h;         /* close_lateness_h */
} months_close_req;

/*
 * Closes a month in a zone (one transaction, serialised with other closes and reopens):
 * stores its chargeback (CSV, JSON) and FOCUS export. The zone must be a name of
 * pg_timezone_names (any case; stored as that name), else MONTHS_BAD_INPUT naming tz.
 * Refused when a close in force of the month covers the same hours (the same zone, or
 * another with the same month boundaries: Etc/UTC and UTC), or (unless forced) while an
 * ingest gap touches it or its lateness window is open. On MONTHS_OK, *out describes the
 * new close.
 */
void months_close(PGconn *conn, const months_close_req *req, months_close_info *out,
                  months_result *r);

/*
 * Reopens the close of a month in a zone (platform only: the caller checks), with a reason
 * (required), in the audit. The zone is matched as months_close stores it (or exactly as a
 * close made before 0016 stored it). Refused while a later close carries corrections of
 * the month.
 */
void months_reopen(PGconn *conn, const char *month, const char *tz, const char *by,
                   const char *reason, months_close_info *out, months_result *r);

/*
 * The close in force of month in tz (a name of pg_timezone_names, as tally-report's tz=
 * is), or with tz NULL the first of any zone's. Returns true when found; false with
 * r->status MONTHS_OK when there is none, else the error in r.
 */
bool months_find(PGconn *conn, const char *month, const char *tz, months_close_info *out,
                 months_result *r);

/*
 * Reading a close's stored bytes in slices (bounded memory, whatever their size): one
 * statement, sent in single-row mode, checks that the close is still in force and returns
 * the bytes, so that the answer is of one moment (a reopen commits either before it — the
 * close is gone — or after it). The stored bytes of a close are never updated.
 *
 * months_snapshot_open returns NULL with r->status MONTHS_NOT_FOUND when close_id is no
 * longer in force (reopened since it was looked up) or has no bytes of kind, another status
 * on failure; else *len is their size. conn is the reader's until months_snapshot_free
 * (which cancels and drains a statement not read to its end; NULL is a no-op).
 * months_snapshot_read copies the next bytes (at most max) to out: their number, 0 at the
 * end, -1 when the statement failed.
 */
typedef struct months_snapshot months_snapshot;

months_snapshot *months_snapshot_open(PGconn *conn, const char *close_id, months_kind kind,
                                      size_t *len, months_result *r);
long months_snapshot_read(months_snapshot *s, char *out, size_t max);
void months_snapshot_free(months_snapshot *s);

#endif
