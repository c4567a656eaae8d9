/*
 * bench_produce - the producer side of tests/bench/ingest_bench.sh: generates simulated
 * traffic in process (ctl/sim/) and produces it to a Kafka topic while
 * tally-ingest consumes, keeping every partition at most --window-kb (default 2048)
 * ahead of the offset the daemon has stored for it in Postgres, because librdkafka's
 * mock broker keeps only ~5 MiB per partition and drops the oldest beyond that.
 * Messages go round-robin over the partitions. Prints what it produced and how long the daemon took
 * to store it all.
 *
 *   bench_produce --brokers B --topic T --partitions N --db CONNINFO --group G [--window-kb N]
 *                 [--developers N] [--days N] [--seed N] [--format F] [--events N]
 *                 [--duplicates PCT] [--malformed PCT] [--totals FILE] [--timeout S]
 *
 * Output (stdout, key=value): messages, bytes, events, duplicates, malformed,
 * produce_ms (first message to last acknowledged), elapsed_ms (first message to every
 * offset stored), throttled_ms (time spent waiting for the consumer).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "sim/sim.h"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The offsets the daemon has stored, per partition, into next[0..nparts); false on error. */
static bool stored(PGconn *pg, const char *group, const char *topic, int nparts, int64_t *next)
{
    const char *params[2] = {group, topic};
    PGresult *r = PQexecParams(pg,
                               "SELECT partition, next_offset FROM ingest_offsets "
                               "WHERE consumer_group = $1 AND topic = $2",
                               2, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;

    if (!ok)
        fprintf(stderr, "bench_produce: %s", PQerrorMessage(pg));
    for (int p = 0; p < nparts; p++)
        next[p] = 0;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        int p = atoi(PQgetvalue(r, i, 0));

        if (p >= 0 && p < nparts)
            next[p] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    return ok;
}

/* The largest backlog of any partition, in messages. */
static int64_t max_lag(const int64_t *produced, const int64_t *next, int nparts)
{
    int64_t lag = 0;

    for (int p = 0; p < nparts; p++) {
        if (produced[p] - next[p] > lag)
            lag = produced[p] - next[p];
    }
    return lag;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    }
    return def;
}

int main(int argc, char **argv)
{
    const char *brokers = arg(argc, argv, "--brokers", NULL);
    const char *topic = arg(argc, argv, "--topic", NULL);
    const char *db = arg(argc, argv, "--db", NULL);
    const char *group = arg(argc, argv, "--group", "tally-ingest");
    const char *totals = arg(argc, argv, "--totals", NULL);
    int64_t window_bytes = strtoll(arg(argc, argv, "--window-kb", "2048"), NULL, 10) * 1024;
    int nparts = atoi(arg(argc, argv, "--partitions", "0"));
    int64_t *per_part = NULL, *next = NULL, window;
    int64_t timeout_ms = strtoll(arg(argc, argv, "--timeout", "900"), NULL, 10) * 1000;
    int64_t produced = 0, bytes = 0, done = 0, t0 = 0, t_produced, t_end, throttled = 0, t;
    char errstr[512], err[128];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    const sim_stats *st;
    sim_options o;
    PGconn *pg = NULL;
    sim *s = NULL;
    const char *line;
    size_t len;
    int rc = 1;

    if (!brokers || !topic || !db || nparts <= 0 || nparts > 10000) {
        fprintf(stderr, "usage: bench_produce --brokers B --topic T --db CONNINFO …\n");
        return 2;
    }
    per_part = calloc((size_t)nparts, sizeof(*per_part));
    next = calloc((size_t)nparts, sizeof(*next));
    if (!per_part || !next)
        goto out;
    sim_options_default(&o);
    o.developers = atoi(arg(argc, argv, "--developers", "100"));
    o.days = atoi(arg(argc, argv, "--days", "30"));
    o.seed = strtoull(arg(argc, argv, "--seed", "1"), NULL, 10);
    o.max_events = strtoll(arg(argc, argv, "--events", "0"), NULL, 10);
    o.format = (event_format)sim_format_from_name(arg(argc, argv, "--format", "usage"));
    o.duplicates_ppm = sim_parse_percent(arg(argc, argv, "--duplicates", "1"));
    o.malformed_ppm = sim_parse_percent(arg(argc, argv, "--malformed", "0.5"));
    s = sim_new(&o, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "bench_produce: %s\n", err);
        goto out;
    }
    pg = PQconnectdb(db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench_produce: %s", PQerrorMessage(pg));
        goto out;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "batch.num.messages", "10000", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "100000", errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_produce: %s\n", errstr);
        goto out;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench_produce: %s\n", errstr);
        goto out;
    }
    conf = NULL;
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    t0 = mono_ms();
    while (sim_next(s, &line, &len)) {
        /* stay within what the mock broker keeps, measured by the daemon's own offsets */
        window = produced ? window_bytes * produced / bytes : 1000;
        if (per_part[produced % nparts] - next[produced % nparts] >= window) {
            t = mono_ms();
            for (;;) {
                if (!stored(pg, group, topic, nparts, next))
                    goto out;
                if (max_lag(per_part, next, nparts) < window / 2)
                    break;
                rd_kafka_poll(rk, 0);
                sleep_ms(20);
                if (mono_ms() - t0 > timeout_ms) {
                    fprintf(stderr, "bench_produce: timed out waiting for the consumer\n");
                    goto out;
                }
            }
            throttled += mono_ms() - t;
        }
        while (rd_kafka_produce(rkt, (int32_t)(produced % nparts), RD_KAFKA_MSG_F_COPY,
                                (void *)line, len, NULL, 0, NULL) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "bench_produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                goto out;
            }
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
        per_part[produced % nparts]++;
        produced++;
        bytes += (int64_t)len;
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench_produce: could not flush the producer\n");
        goto out;
    }
    t_produced = mono_ms();
    for (;;) {
        if (!stored(pg, group, topic, nparts, next))
            goto out;
        for (int p = 0; p < nparts; p++)
            done += next[p];
        if (max_lag(per_part, next, nparts) == 0)
            break;
        if (mono_ms() - t0 > timeout_ms) {
            fprintf(stderr, "bench_produce: timed out: %" PRId64 " of %" PRId64 " stored\n", done,
                    produced);
            goto out;
        }
        done = 0;
        sleep_ms(20);
    }
    t_end = mono_ms();
    st = sim_get_stats(s);
    printf("messages=%" PRId64 " bytes=%" PRId64 " events=%" PRId64 " duplicates=%" PRId64
           " malformed=%" PRId64 " produce_ms=%" PRId64 " elapsed_ms=%" PRId64
           " throttled_ms=%" PRId64 "\n",
           produced, bytes, st->events, st->duplicates, st->malformed, t_produced - t0, t_end - t0,
           throttled);
    if (totals) {
        FILE *f = fopen(totals, "w");

        if (!f || !sim_totals_write(s, f)) {
            fprintf(stderr, "bench_produce: could not write \"%s\"\n", totals);
            if (f)
                fclose(f);
            goto out;
        }
        fclose(f);
    }
    rc = 0;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk)
        rd_kafka_destroy(rk);
    PQfinish(pg);
    sim_free(s);
    free(per_part);
    free(next);
    return rc;
}
