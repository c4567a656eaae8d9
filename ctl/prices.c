/*
 * prices.c - tallyctl prices load|list|show|check: price books into and out of Postgres,
 * and what usage a book cannot price. A loaded book is immutable: its SHA-256 is stored
 * and the same name with other content is refused. Single-threaded (a command of tallyctl).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "hash.h"
#include "log.h"
#include "price_book.h"

#define CTL_PRICES_LOCK "7340312" /* serialises concurrent loads of one database */

#define PRICES_CHECK_UNPRICED 1 /* prices check: something is unpriced (a deploy gates on it) */

#define PRICES_FROM "$3::date::timestamp AT TIME ZONE 'UTC'"
#define PRICES_TO "coalesce($4::date::timestamp AT TIME ZONE 'UTC', 'infinity')"

/* The tier over threshold of s, or NULL. */
static const price_rates *prices_tier(const price_schedule *s, long long threshold)
{
    for (size_t t = 0; t < s->ntiers; t++)
        if (s->tiers[t].over_tokens == threshold)
            return &s->tiers[t].rates;
    return NULL;
}

/* The row of `prices` that code before v2 reads: standard base rates, lc_* = the 200000 tier. */
static bool prices_insert_legacy(PGconn *conn, const char *book_id, const char *model,
                                 const price_range *r)
{
    const char *p[15] = {book_id, model, r->effective_from,
                         r->effective_to[0] ? r->effective_to : NULL};
    const price_rates *lc = prices_tier(&r->standard, PRICE_LC_THRESHOLD);
    char threshold[24];

    for (int k = 0; k < PRICE_NCLASSES; k++)
        p[4 + k] = r->standard.base.usd_per_mtok[k];
    if (lc) {
        snprintf(threshold, sizeof(threshold), "%d", PRICE_LC_THRESHOLD);
        p[9] = threshold;
        for (int k = 0; k < PRICE_NCLASSES; k++)
            p[10 + k] = lc->usd_per_mtok[k][0] ? lc->usd_per_mtok[k] : NULL;
    }
    return db_exec(conn, "insert a price range",
                   "INSERT INTO prices (book_id, model, effective_from, effective_to, input, "
                   " output, cache_write_5m, cache_write_1h, cache_read, lc_threshold, lc_input, "
                   " lc_output, lc_cache_write_5m, lc_cache_write_1h, lc_cache_read) "
                   "VALUES ($1, $2, " PRICES_FROM ", " PRICES_TO ", "
                   " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                   15, p);
}

/* One price_rates row; multiplier (NULL = none) scales every class, exactly (numeric). */
static bool prices_insert_rates(PGconn *conn, const char *const key[4], const char *speed,
                                long long over_tokens, const price_rates *rates,
                                const char *multiplier)
{
    char over[24];
    const char *p[12] = {key[0], key[1], key[2], key[3], speed, over};

    snprintf(over, sizeof(over), "%lld", over_tokens);
    for (int k = 0; k < PRICE_NCLASSES; k++) /* a class without a published price: NULL */
        p[6 + k] = rates->usd_per_mtok[k][0] ? rates->usd_per_mtok[k] : NULL;
    p[11] = multiplier;
    return db_exec(conn, "insert price rates",
                   "INSERT INTO price_rates (book_id, model, effective_from, effective_to, speed, "
                   " over_tokens, input, output, cache_write_5m, cache_write_1h, cache_read) "
                   "SELECT $1, $2, " PRICES_FROM ", " PRICES_TO ", $5, $6, "
                   " $7::numeric * m, $8::numeric * m, $9::numeric * m, $10::numeric * m, "
                   " $11::numeric * m FROM (SELECT coalesce($12::numeric, 1) AS m) x",
                   12, p);
}

static bool prices_insert_schedule(PGconn *conn, const char *const key[4], const char *speed,
                                   const price_schedule *s, const char *multiplier)
{
    if (!prices_insert_rates(conn, key, speed, 0, &s->base, multiplier))
        return false;
    for (size_t t = 0; t < s->ntiers; t++)
        if (!prices_insert_rates(conn, key, speed, s->tiers[t].over_tokens, &s->tiers[t].rates,
                                 multiplier))
            return false;
    return true;
}

/* A range into prices, price_rates (one row per speed × tier) and price_residency. */
static bool prices_insert_range(PGconn *conn, const char *book_id, const char *model,
                                const price_range *r)
{
    const char *key[4] = {book_id, model, r->effective_from,
                          r->effective_to[0] ? r->effective_to : NULL};

    if (!prices_insert_legacy(conn, book_id, model, r) ||
        !prices_insert_schedule(conn, key, "standard", &r->standard, NULL))
        return false;
    if (r->fast_kind == PRICE_FAST_MULTIPLIER &&
        !prices_insert_schedule(conn, key, "fast", &r->standard, r->fast_multiplier))
        return false;
    if (r->fast_kind == PRICE_FAST_EXPLICIT &&
        !prices_insert_schedule(conn, key, "fast", &r->fast, NULL))
        return false;
    for (size_t i = 0; i < r->nresidency; i++) {
        const char *p[] = {book_id, model, r->effective_from, r->residency[i].name,
                           r->residency[i].multiplier};
        if (!db_exec(conn, "insert a residency multiplier",
                     "INSERT INTO price_residency (book_id, model, effective_from, residency, "
                     " multiplier) VALUES ($1, $2, " PRICES_FROM ", $4, $5)",
                     5, p))
            return false;
    }
    return true;
}

/* The ids of a model: aliases at the event's speed (NULL), fast aliases as 'fast'. */
static bool prices_insert_aliases(PGconn *conn, const char *book_id, const char *model,
                                  char *const *aliases, size_t n, const char *speed)
{
    for (size_t a = 0; a < n; a++) {
        const char *p[] = {book_id, aliases[a], model, speed};
        if (!db_exec(conn, "insert a model alias",
                     "INSERT INTO price_aliases (book_id, alias, model, speed) "
                     "VALUES ($1, $2, $3, $4)",
                     4, p))
            return false;
    }
    return true;
}

/* Stores a validated book; returns an exit code. */
static int prices_store(PGconn *conn, const price_book *b, const char *doc, const char *sha)
{
    const char *lock[] = {CTL_PRICES_LOCK};
    const char *name[] = {b->name};
    const char *ins[] = {b->name, sha, b->published, doc};
    PGresult *res = NULL;
    char book_id[16];
    int rc = CFG_EXIT_RUNTIME;

    if (!db_begin(conn))
        return rc;
    if (!db_exec(conn, "lock price books", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock))
        goto out;
    res = db_query(conn, "look up the price book", "SELECT sha256 FROM price_books WHERE name = $1",
                   1, name);
    if (!res)
        goto out;
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), sha) == 0) {
            printf("price book \"%s\" already loaded (sha256 %s)\n", b->name, sha);
            rc = CFG_EXIT_OK;
        } else {
            log_error("could not load price book \"%s\": a book of that name is already loaded "
                      "with sha256 %s, this file has %s; a loaded book is immutable, publish a "
                      "correction under a new name",
                      b->name, PQgetvalue(res, 0, 0), sha);
        }
        goto out;
    }
    PQclear(res);
    res = db_query(conn, "insert the price book",
                   "INSERT INTO price_books (name, sha256, published, document) "
                   "VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
                   4, ins);
    if (!res)
        goto out;
    snprintf(book_id, sizeof(book_id), "%s", PQgetvalue(res, 0, 0));
    for (size_t i = 0; i < b->nmodels; i++) {
        const price_model *m = &b->models[i];
        for (size_t r = 0; r < m->nranges; r++)
            if (!prices_insert_range(conn, book_id, m->model, &m->ranges[r]))
                goto out;
        if (!prices_insert_aliases(conn, book_id, m->model, m->aliases, m->naliases, NULL) ||
            !prices_insert_aliases(conn, book_id, m->model, m->fast_aliases, m->nfast_aliases,
                                   "fast"))
            goto out;
    }
    if (!db_commit(conn))
        goto out;
    printf("price book \"%s\" loaded: %zu models, sha256 %s\n", b->name, b->nmodels, sha);
    rc = CFG_EXIT_OK;
out:
    PQclear(res);
    db_rollback(conn);
    return rc;
}

int ctl_prices_load(const cfg *c)
{
    char err[512], sha[HASH_HEX_LEN + 1];
    price_book *b = NULL;
    PGconn *conn = NULL;
    size_t len = 0;
    char *doc;
    int rc;

    if (c->nargs != 1) {
        fprintf(stderr, "usage: tallyctl prices load FILE\n");
        return CFG_EXIT_USAGE;
    }
    doc = ctl_read_file(c->args[0], &len);
    if (!doc)
        return CFG_EXIT_USAGE;
    if (strlen(doc) != len) {
        log_error("could not load price book \"%s\": the file contains a NUL byte", c->args[0]);
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    b = price_book_parse(doc, len, err, sizeof(err));
    if (!b) {
        log_error("invalid price book \"%s\": %s", c->args[0], err);
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    hash_sha256_hex(doc, len, sha);
    conn = ctl_connect_utc(c);
    rc = conn ? prices_store(conn, b, doc, sha) : CFG_EXIT_RUNTIME;
out:
    PQfinish(conn);
    price_book_free(b);
    free(doc);
    return rc;
}

int ctl_prices_list(const cfg *c)
{
    if (c->nargs != 0) {
        fprintf(stderr, "usage: tallyctl prices list\n");
        return CFG_EXIT_USAGE;
    }
    return ctl_print_query(
        c, "list price books",
        "SELECT b.name, b.published, "
        " (SELECT count(DISTINCT model) FROM prices p WHERE p.book_id = b.id) AS models, "
        " CASE WHEN b.id = tally_book(NULL) THEN 'yes' ELSE '' END AS newest, "
        " b.sha256, to_char(b.loaded_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS loaded_at "
        "FROM price_books b ORDER BY b.published, b.id");
}

int ctl_prices_show(const cfg *c)
{
    const char *p[1];
    PGconn *conn;
    PGresult *res;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 1) {
        fprintf(stderr, "usage: tallyctl prices show BOOK\n");
        return CFG_EXIT_USAGE;
    }
    p[0] = c->args[0];
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    res = db_query(conn, "look up the price book",
                   "SELECT name, published, sha256 FROM price_books WHERE name = $1", 1, p);
    if (!res)
        goto out;
    if (PQntuples(res) == 0) {
        log_error("price book \"%s\" is not loaded", p[0]);
        goto out;
    }
    printf("# price book %s, published %s, sha256 %s; USD per million tokens, dates UTC\n",
           PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    PQclear(res);
    res = db_query(
        conn, "show the price book",
        "SELECT p.model, "
        " coalesce((SELECT string_agg(a.alias, ',' ORDER BY a.alias) FROM price_aliases a "
        "           WHERE a.book_id = p.book_id AND a.model = p.model), '') AS aliases, "
        " to_char(p.effective_from AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS effective_from, "
        " CASE WHEN p.effective_to = 'infinity' THEN '' "
        "      ELSE to_char(p.effective_to AT TIME ZONE 'UTC', 'YYYY-MM-DD') END AS effective_to, "
        " p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read, "
        " coalesce(p.lc_threshold::text, '') AS lc_threshold, coalesce(p.lc_input::text, '') AS "
        " lc_input, coalesce(p.lc_output::text, '') AS lc_output, "
        " coalesce(p.lc_cache_write_5m::text, '') AS lc_cache_write_5m, "
        " coalesce(p.lc_cache_write_1h::text, '') AS lc_cache_write_1h, "
        " coalesce(p.lc_cache_read::text, '') AS lc_cache_read "
        "FROM prices p JOIN price_books b ON b.id = p.book_id WHERE b.name = $1 "
        "ORDER BY p.model, p.effective_from",
        1, p);
    if (!res)
        goto out;
    ctl_print_tsv(res);
    rc = CFG_EXIT_OK;
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* A calendar date YYYY-MM-DD that exists (2026-02-29 does not). */
static bool prices_valid_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (m < 1 || m > 12 || d < 1)
        return false;
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return d <= 29;
    return d <= days[m - 1];
}

/* Checks the options of prices check; false after printing one line naming the option. */
static bool prices_check_args(const cfg *c, const char *from, const char *to)
{
    if (c->nargs != 0) {
        fprintf(stderr, "usage: tallyctl prices check [--book NAME] [--from DATE] [--to DATE]\n");
        return false;
    }
    if (from && !prices_valid_date(from)) {
        log_error("invalid --from \"%s\": expected a date YYYY-MM-DD (UTC)", from);
        return false;
    }
    if (to && !prices_valid_date(to)) {
        log_error("invalid --to \"%s\": expected a date YYYY-MM-DD (UTC)", to);
        return false;
    }
    /* both are YYYY-MM-DD, so bytewise order is date order */
    if (from && to && strcmp(from, to) >= 0) {
        log_error("invalid --to \"%s\": must be after --from \"%s\"", to, from);
        return false;
    }
    return true;
}

int ctl_prices_check(const cfg *c)
{
    const char *from = cfg_str(c, "from"), *to = cfg_str(c, "to");
    const char *p[] = {cfg_str(c, "book"), from, to};
    char book[256] = "", range[64];
    PGconn *conn;
    PGresult *res = NULL;
    int rc = CFG_EXIT_RUNTIME;

    if (!prices_check_args(c, from, to))
        return CFG_EXIT_USAGE;
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    res = db_query(conn, "look up the price book",
                   "SELECT name FROM price_books "
                   "WHERE CASE WHEN $1::text IS NULL THEN id = tally_book(NULL) ELSE name = $1 END",
                   1, p);
    if (!res)
        goto out;
    if (p[0] && PQntuples(res) == 0) {
        log_error("invalid --book \"%s\": price book \"%s\" is not loaded", p[0], p[0]);
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    if (PQntuples(res) == 1)
        snprintf(book, sizeof(book), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    /* the engine's judgement (schema/functions/65_prices_check.sql), from the daily rollup */
    res = db_query(conn, "check the price book",
                   "SELECT model, deployment, speed, residency, requests, tokens, "
                   " to_char(first_seen, 'YYYY-MM-DD') AS first_seen, "
                   " to_char(last_seen, 'YYYY-MM-DD') AS last_seen, reason AS why "
                   "FROM tally_prices_check(tally_book($1), $2::date, $3::date) "
                   "ORDER BY model COLLATE \"C\", deployment COLLATE \"C\", speed, "
                   " residency COLLATE \"C\", why",
                   3, p);
    if (!res)
        goto out;
    snprintf(range, sizeof(range), "%s%s%s%s", from ? " from " : "", from ? from : "",
             to ? " before " : "", to ? to : "");
    if (PQntuples(res) == 0) {
        printf("every model, speed and residency seen in usage%s is priced by %s\n", range,
               book[0] ? book : "(no price book loaded)");
        rc = CFG_EXIT_OK;
        goto out;
    }
    printf("# models, speeds and residencies seen in usage%s that %s cannot price\n", range,
           book[0] ? book : "no price book (none is loaded)");
    ctl_print_tsv(res);
    rc = PRICES_CHECK_UNPRICED;
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}
