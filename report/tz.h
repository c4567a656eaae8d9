/*
 * tz.h - the IANA time zone names PostgreSQL knows, read once from pg_timezone_names
 * and kept sorted, so that a tz= parameter is checked without a query per request.
 * A failed load (database error, out of memory) leaves the cache empty and the next
 * load tries again.
 *
 * Thread-safe: one cache is shared by every request thread (mutex-guarded).
 */
#ifndef TALLY_TZ_H
#define TALLY_TZ_H

#include <libpq-fe.h>

typedef struct tz_cache tz_cache;

typedef enum {
    TZ_UNKNOWN,  /* not a zone Postgres knows */
    TZ_KNOWN,    /* a zone Postgres knows */
    TZ_UNLOADED, /* the list could not be loaded: no answer */
} tz_lookup;

/* An empty cache; NULL when out of memory. Free with tz_cache_free (NULL is a no-op). */
tz_cache *tz_cache_new(void);
void tz_cache_free(tz_cache *c);

/* Loads the names over conn unless they are loaded already; failures are logged. */
void tz_cache_load(tz_cache *c, PGconn *conn);

/* Looks name up (exact, case-sensitive as Postgres matches it). */
tz_lookup tz_cache_find(tz_cache *c, const char *name);

#endif
