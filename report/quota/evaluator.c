#include "evaluator.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "rules.h"

#define EVALUATOR_QUOTA_LABELS "quota,scope,subject,metric,period"

void evaluator_metrics_init(evaluator_metrics *m, prom_registry *r)
{
    m->used_ratio =
        prom_gauge(r, "tally_quota_used_ratio", "quota use in the current period: used / limit",
                   EVALUATOR_QUOTA_LABELS);
    m->forecast_ratio = prom_gauge(r, "tally_quota_forecast_ratio",
                                   "projected use at the end of the period / limit (absent "
                                   "until a tenth of the period has passed)",
                                   EVALUATOR_QUOTA_LABELS);
    m->fired = prom_counter(r, "tally_quota_alerts_fired_total",
                            "quota alerts fired by this server", "threshold");
    m->outbox =
        prom_gauge(r, "tally_alert_outbox", "alert deliveries in the outbox by state", "state");
    m->deliveries =
        prom_counter(r, "tally_alert_deliveries_total",
                     "alert delivery attempts by target kind and result", "kind,result");
    m->errors = prom_counter(r, "tally_quota_evaluation_errors_total",
                             "quota evaluations that failed", NULL);
}

/*
 * Usage of every quota and what it crosses, in one statement (the cost engine runs once
 * per period and zone); exact comparisons are done in SQL. Columns: see EVALUATOR_COL_*.
 */
static const char EVALUATOR_USAGE_SQL[] =
    "SELECT q.id::text, u.period_start::text, u.period_end::text, u.used::text,"
    "       u.limit_value::text, u.ratio::text, u.forecast::text,"
    "       array_to_string(ARRAY(SELECT t FROM unnest(q.thresholds) t"
    "                              WHERE u.used * 100 >= u.limit_value * t ORDER BY t), ','),"
    "       q.forecast AND u.forecast_over,"
    "       q.name, q.scope, q.subject, q.metric, q.period,"
    "       round(u.forecast / u.limit_value, 6)::text"
    "  FROM tally_quota_usage_all(coalesce($1::timestamptz, now())) u"
    "  JOIN quotas q ON q.id = u.quota_id"
    " ORDER BY q.id";

enum {
    EVALUATOR_COL_ID,
    EVALUATOR_COL_START,
    EVALUATOR_COL_END,
    EVALUATOR_COL_USED,
    EVALUATOR_COL_LIMIT,
    EVALUATOR_COL_RATIO,
    EVALUATOR_COL_FORECAST,
    EVALUATOR_COL_CROSSED,
    EVALUATOR_COL_FORECAST_FIRES,
    EVALUATOR_COL_NAME, /* the five gauge labels follow in order */
    EVALUATOR_COL_FORECAST_RATIO = EVALUATOR_COL_NAME + 5,
};

/*
 * The claim: the alert_log row is inserted by exactly one transaction; only that one
 * gets its id back and enqueues one outbox row per target of the quota.
 */
static const char EVALUATOR_FIRE_SQL[] =
    "WITH fired AS ("
    "  INSERT INTO alert_log (quota_id, period_start, period_end, threshold, used, limit_value,"
    "                         ratio, forecast)"
    "  VALUES ($1::integer, $2::timestamptz, $3::timestamptz, $4, $5::numeric, $6::numeric,"
    "          $7::numeric, $8::numeric)"
    "  ON CONFLICT (quota_id, period_start, threshold) DO NOTHING RETURNING id),"
    " queued AS ("
    "  INSERT INTO alert_outbox (alert_id, target_index, kind, url, secret_ref)"
    "  SELECT f.id, t.i - 1, t.v->>'kind', t.v->>'url', t.v->>'secret'"
    "    FROM fired f CROSS JOIN quotas q"
    "   CROSS JOIN LATERAL jsonb_array_elements(q.targets) WITH ORDINALITY AS t(v, i)"
    "   WHERE q.id = $1::integer"
    "  RETURNING 1)"
    " SELECT (SELECT id FROM fired), (SELECT count(*) FROM queued)";

#define EVALUATOR_VALUE(u, i, col) (PQgetisnull(u, i, col) ? NULL : PQgetvalue(u, i, col))

/* Fires one threshold of row i of the usage; returns false on a database error. */
static bool evaluator_fire(PGconn *conn, PGresult *u, int i, const char *threshold,
                           const evaluator_metrics *m, evaluator_counts *c)
{
    const char *params[8] = {
        PQgetvalue(u, i, EVALUATOR_COL_ID),    PQgetvalue(u, i, EVALUATOR_COL_START),
        PQgetvalue(u, i, EVALUATOR_COL_END),   threshold,
        PQgetvalue(u, i, EVALUATOR_COL_USED),  PQgetvalue(u, i, EVALUATOR_COL_LIMIT),
        PQgetvalue(u, i, EVALUATOR_COL_RATIO), EVALUATOR_VALUE(u, i, EVALUATOR_COL_FORECAST)};
    PGresult *res = db_query(conn, "fire a quota alert", EVALUATOR_FIRE_SQL, 8, params);

    if (!res)
        return false;
    if (!PQgetisnull(res, 0, 0)) {
        int queued = atoi(PQgetvalue(res, 0, 1));
        c->fired++;
        c->queued += queued;
        log_info("quota \"%s\" fired %s%s for the period from %s: used %s of %s, %d "
                 "notification(s) queued",
                 PQgetvalue(u, i, EVALUATOR_COL_NAME), threshold,
                 strcmp(threshold, "forecast") ? "%" : "", PQgetvalue(u, i, EVALUATOR_COL_START),
                 PQgetvalue(u, i, EVALUATOR_COL_USED), PQgetvalue(u, i, EVALUATOR_COL_LIMIT),
                 queued);
        if (m && m->fired) {
            const char *labels[1] = {threshold};
            prom_counter_add(m->fired, labels, 1);
        }
    }
    PQclear(res);
    return true;
}

/*
 * Fires what row i of the usage crosses, in one transaction; false on a database error.
 * A quota that crosses nothing needs no transaction.
 */
static bool evaluator_quota(PGconn *conn, PGresult *u, int i, const evaluator_metrics *m,
                            evaluator_counts *c)
{
    char crossed[QUOTA_MAX_THRESHOLDS * 6 + 1];
    bool forecast = strcmp(PQgetvalue(u, i, EVALUATOR_COL_FORECAST_FIRES), "t") == 0;

    snprintf(crossed, sizeof(crossed), "%s", PQgetvalue(u, i, EVALUATOR_COL_CROSSED));
    if (!crossed[0] && !forecast)
        return true;
    if (!db_begin(conn))
        return false;
    for (char *save = NULL, *t = strtok_r(crossed, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!evaluator_fire(conn, u, i, t, m, c))
            goto fail;
    if (forecast && !evaluator_fire(conn, u, i, "forecast", m, c))
        goto fail;
    if (db_commit(conn))
        return true;
fail:
    db_rollback(conn);
    return false;
}

/* Replaces the quota gauges at once, so a scrape never sees half of them. */
static void evaluator_gauges(PGresult *u, const evaluator_metrics *m)
{
    if (m->used_ratio)
        prom_metric_clear(m->used_ratio);
    if (m->forecast_ratio)
        prom_metric_clear(m->forecast_ratio);
    for (int i = 0; i < PQntuples(u); i++) {
        const char *labels[5];
        for (int k = 0; k < 5; k++)
            labels[k] = PQgetvalue(u, i, EVALUATOR_COL_NAME + k);
        /* a ratio, not money: a double is what Prometheus carries */
        if (m->used_ratio && !PQgetisnull(u, i, EVALUATOR_COL_RATIO))
            prom_gauge_set(m->used_ratio, labels,
                           strtod(PQgetvalue(u, i, EVALUATOR_COL_RATIO), NULL));
        if (m->forecast_ratio && !PQgetisnull(u, i, EVALUATOR_COL_FORECAST_RATIO))
            prom_gauge_set(m->forecast_ratio, labels,
                           strtod(PQgetvalue(u, i, EVALUATOR_COL_FORECAST_RATIO), NULL));
    }
}

bool evaluator_run_once(PGconn *conn, const char *at, const evaluator_metrics *m,
                        evaluator_counts *c)
{
    const char *params[1] = {at};
    PGresult *u = db_query(conn, "compute quota usage", EVALUATOR_USAGE_SQL, 1, params);

    if (!u) {
        c->errors++;
        if (m && m->errors)
            prom_counter_add(m->errors, NULL, 1);
        return false;
    }
    for (int i = 0; i < PQntuples(u); i++) {
        c->quotas++;
        if (PQgetisnull(u, i, EVALUATOR_COL_USED)) {
            log_warn("could not compute the usage of quota \"%s\" (see the database's log)",
                     PQgetvalue(u, i, EVALUATOR_COL_NAME));
            c->errors++;
            if (m && m->errors)
                prom_counter_add(m->errors, NULL, 1);
            continue;
        }
        if (!evaluator_quota(conn, u, i, m, c)) {
            c->errors++;
            if (m && m->errors)
                prom_counter_add(m->errors, NULL, 1);
            if (!db_ok(conn))
                break;
        }
    }
    if (m)
        evaluator_gauges(u, m);
    PQclear(u);
    return db_ok(conn);
}

void evaluator_outbox_gauge(PGconn *conn, const evaluator_metrics *m)
{
    static const char *const states[] = {"pending", "delivered", "failed"};
    PGresult *res;

    if (!m || !m->outbox)
        return;
    res = db_query(conn, "count the alert outbox",
                   "SELECT count(*) FILTER (WHERE state = 'pending'),"
                   "       count(*) FILTER (WHERE state = 'delivered'),"
                   "       count(*) FILTER (WHERE state = 'failed') FROM alert_outbox",
                   0, NULL);
    if (!res)
        return;
    for (int i = 0; i < 3; i++) {
        const char *labels[1] = {states[i]};
        prom_gauge_set(m->outbox, labels, strtod(PQgetvalue(res, 0, i), NULL));
    }
    PQclear(res);
}

struct evaluator {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    volatile sig_atomic_t stop;
    char *conninfo;
    int interval_s;
    alert_opts opts;
    const evaluator_metrics *m;
};

static double evaluator_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits up to seconds, or until evaluator_stop. */
static void evaluator_wait(evaluator *e, double seconds)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until); /* the condition waits on this clock */
    until.tv_sec += (time_t)seconds;
    until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    if (!e->stop)
        pthread_cond_timedwait(&e->cv, &e->mu, &until);
    pthread_mutex_unlock(&e->mu);
}

static void *evaluator_main(void *arg)
{
    evaluator *e = arg;
    PGconn *conn = NULL;
    double next_eval = 0;

    while (!e->stop) {
        alert_counts ac = {0};
        if (!db_ok(conn)) {
            PQfinish(conn);
            conn = db_connect(e->conninfo, 1, &e->stop);
            if (!conn) {
                evaluator_wait(e, 5);
                continue;
            }
        }
        if (evaluator_clock() >= next_eval) {
            evaluator_counts c = {0};
            evaluator_run_once(conn, NULL, e->m, &c);
            log_debug("evaluated %d quota(s): %d fired, %d notification(s) queued, %d error(s)",
                      c.quotas, c.fired, c.queued, c.errors);
            next_eval = evaluator_clock() + e->interval_s;
        }
        alert_deliver_due(conn, &e->opts, &ac, &e->stop);
        evaluator_outbox_gauge(conn, e->m);
        evaluator_wait(e, 1.0);
    }
    PQfinish(conn);
    return NULL;
}

evaluator *evaluator_start(const char *conninfo, int interval_s, const alert_opts *o,
                           const evaluator_metrics *m)
{
    evaluator *e = calloc(1, sizeof(*e));

    if (!e || !(e->conninfo = strdup(conninfo ? conninfo : ""))) {
        log_error("could not start the quota evaluator: out of memory");
        free(e);
        return NULL;
    }
    e->interval_s = interval_s;
    e->opts = *o;
    e->m = m;
    if (m)
        e->opts.deliveries = m->deliveries;
    pthread_mutex_init(&e->mu, NULL);
    {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* wall-clock jumps do not matter */
        pthread_cond_init(&e->cv, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (pthread_create(&e->thread, NULL, evaluator_main, e) != 0) {
        log_error("could not start the quota evaluator thread");
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        free(e->conninfo);
        free(e);
        return NULL;
    }
    return e;
}

void evaluator_stop(evaluator *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->conninfo);
    free(e);
}
