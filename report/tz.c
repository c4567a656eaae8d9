#include "tz.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

struct tz_cache {
    pthread_mutex_t mu;
    char **names; /* sorted (C collation), loaded once; NULL until then */
    int n;
};

tz_cache *tz_cache_new(void)
{
    tz_cache *c = calloc(1, sizeof(*c));

    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

void tz_cache_free(tz_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void tz_cache_load(tz_cache *c, PGconn *conn)
{
    PGresult *res;

    pthread_mutex_lock(&c->mu);
    if (c->names)
        goto out;
    res = db_query(conn, "load time zone names",
                   "SELECT name FROM pg_timezone_names ORDER BY name COLLATE \"C\"", 0, NULL);
    if (!res)
        goto out;
    c->names = calloc((size_t)PQntuples(res) + 1, sizeof(char *));
    if (c->names) {
        for (int i = 0; i < PQntuples(res); i++) {
            c->names[i] = strdup(PQgetvalue(res, i, 0));
            if (!c->names[i]) {
                /* a NULL in the table would crash bsearch: no cache, the next
                   connection tries again */
                log_error("out of memory loading time zone names");
                for (int j = 0; j < i; j++)
                    free(c->names[j]);
                free(c->names);
                c->names = NULL;
                break;
            }
        }
        if (c->names)
            c->n = PQntuples(res);
    }
    PQclear(res);
out:
    pthread_mutex_unlock(&c->mu);
}

static int tz_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

tz_lookup tz_cache_find(tz_cache *c, const char *name)
{
    tz_lookup r = TZ_UNLOADED;

    pthread_mutex_lock(&c->mu);
    if (c->names)
        r = bsearch(&name, c->names, (size_t)c->n, sizeof(char *), tz_cmp) ? TZ_KNOWN : TZ_UNKNOWN;
    pthread_mutex_unlock(&c->mu);
    return r;
}
