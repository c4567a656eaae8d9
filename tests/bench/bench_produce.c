/*
 * bench_produce - the producer side of tests/bench/ingest_bench.sh: generates simulated
 * traffic in process (ctl/sim/) and produces it to a Kafka topic while
 * tally-ingest consumes, keeping every partition at most --window-kb (default 2048)
 * ahead of the offset the daemon has stored for it in Postgres, because librdkafka's
 * mock broker keeps only ~5 MiB per partition and drops the oldest beyond that.
 * Messages go round-robin over the partitions. Prints what it produced and how long the daemon took
 * to store it all. Offsets the daemon stored before the start count as consumed, so a
 * second run on the same topic (after the daemon caught up) keeps the same window.
 *
 *   bench_produce --brokers B --topic T --partitions N --db CONNINFO --group G [--window-kb N]
 *                 [--developers N] [--days N] [--seed N] [--format F] [--events N]
 *                 [--duplicates PCT] [--malformed PCT] [--totals FILE] [--timeout S]
 *                 [--rate MSGS_PER_S --duration S]
 *
 * With --rate, produces at that steady pace for --duration seconds (or until --events)
 * and measures produce -> queryable latency: the daemon writes a partition's offset in the
 * same transaction as the rows of the messages before it, so a message is queryable once
 * the stored offset of its partition is past the offset its delivery report gave. The
 * producer polls ingest_offsets every POLL_MS; a message's latency is the time from its
 * rd_kafka_produce() call to the end of the first poll that saw it stored (an upper
 * bound, at most one poll late).
 *
 * Output (stdout, key=value): messages, bytes, events, duplicates, malformed,
 * produce_ms (first message to last acknowledged), elapsed_ms (first message to every
 * offset stored), throttled_ms (time spent waiting for the consumer), cpu_ms (this
 * process's user + system CPU time, generating included); with --rate also
 * lat_samples, lat_p50_ms, lat_p99_ms, lat_max_ms.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "sim/sim.h"

#define POLL_MS 10 /* how often a paced run looks for newly stored offsets */

typedef struct bench {
    PGconn *pg;
    rd_kafka_t *rk;
    const char *group, *topic;
    int nparts;
    int64_t window_bytes, timeout_ms, t0;
    int64_t *per_part; /* next offset the producer will write, per partition */
    int64_t *next;     /* next offset the daemon stored, per partition */
    int64_t produced, bytes, throttled;
    /* paced runs: per message i (partition i % nparts), its send time and offset */
    int64_t cap;
    int64_t *sent_ms, *offset;
    int64_t *cursor; /* per partition: how many of its messages were seen stored */
    int32_t *latency_ms;
    int64_t nlatency;
    bool delivery_failed;
} bench;

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

/* Delivery report of a paced run: the opaque is the message's slot in b->offset. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    bench *b = opaque;

    (void)rk;
    if (m->err) {
        fprintf(stderr, "bench_produce: delivery failed: %s\n", rd_kafka_err2str(m->err));
        b->delivery_failed = true;
        return;
    }
    if (m->_private)
        *(int64_t *)m->_private = m->offset;
}

/* Reads the stored offsets; in a paced run, records the latency of every message that
 * became queryable since the last look. False on a database error. */
static bool observe(bench *b)
{
    int64_t now;

    if (!stored(b->pg, b->group, b->topic, b->nparts, b->next))
        return false;
    if (!b->cap)
        return true;
    now = mono_ms();
    for (int p = 0; p < b->nparts; p++) {
        for (;;) {
            int64_t i = b->cursor[p] * b->nparts + p;

            /* no delivery report yet (-1): looked at again on the next poll */
            if (i >= b->produced || b->offset[i] < 0 || b->offset[i] >= b->next[p])
                break;
            b->latency_ms[b->nlatency++] = (int32_t)(now - b->sent_ms[i]);
            b->cursor[p]++;
        }
    }
    return true;
}

/* Every produced message stored (and, in a paced run, its latency recorded). */
static bool all_seen(const bench *b)
{
    if (max_lag(b->per_part, b->next, b->nparts) != 0)
        return false;
    return !b->cap || b->nlatency == b->produced;
}

/* Waits while the partition of the next message is a window ahead of the daemon. */
static bool throttle(bench *b)
{
    int p = (int)(b->produced % b->nparts);
    int64_t window = b->produced ? b->window_bytes * b->produced / b->bytes : 1000, t;

    /* stay within what the mock broker keeps, measured by the daemon's own offsets */
    if (b->per_part[p] - b->next[p] < window)
        return true;
    t = mono_ms();
    for (;;) {
        if (!observe(b))
            return false;
        if (max_lag(b->per_part, b->next, b->nparts) < window / 2)
            break;
        rd_kafka_poll(b->rk, 0);
        sleep_ms(b->cap ? POLL_MS : 20);
        if (mono_ms() - b->t0 > b->timeout_ms) {
            fprintf(stderr, "bench_produce: timed out waiting for the consumer\n");
            return false;
        }
    }
    b->throttled += mono_ms() - t;
    return true;
}

static bool produce(bench *b, rd_kafka_topic_t *rkt, const char *line, size_t len)
{
    int p = (int)(b->produced % b->nparts);
    void *slot = NULL;

    if (!throttle(b))
        return false;
    if (b->cap) {
        b->offset[b->produced] = -1;
        b->sent_ms[b->produced] = mono_ms();
        slot = &b->offset[b->produced];
    }
    while (rd_kafka_produce(rkt, p, RD_KAFKA_MSG_F_COPY, (void *)line, len, NULL, 0, slot) != 0) {
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "bench_produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return false;
        }
        rd_kafka_poll(b->rk, 10);
    }
    rd_kafka_poll(b->rk, 0);
    b->per_part[p]++;
    b->produced++;
    b->bytes += (int64_t)len;
    return !b->delivery_failed;
}

/* Produces at rate messages per second until duration_ms has passed or the
 * generator is done, looking at the stored offsets every POLL_MS. */
static bool produce_paced(bench *b, rd_kafka_topic_t *rkt, sim *s, int64_t rate,
                          int64_t duration_ms)
{
    int64_t last_look = 0, now, due;
    const char *line;
    size_t len;

    while ((now = mono_ms()) - b->t0 < duration_ms && b->produced < b->cap) {
        due = rate * (now - b->t0) / 1000;
        while (b->produced < due && b->produced < b->cap) {
            if (!sim_next(s, &line, &len))
                return true;
            if (!produce(b, rkt, line, len))
                return false;
        }
        if (now - last_look >= POLL_MS) {
            if (!observe(b))
                return false;
            last_look = now;
        }
        rd_kafka_poll(b->rk, 1);
    }
    return true;
}

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, c = *(const int32_t *)y;

    return (a > c) - (a < c);
}

/* The nearest-rank percentile pct of the sorted a[0..n). */
static int32_t percentile(const int32_t *a, int64_t n, int pct)
{
    int64_t rank = (n * pct + 99) / 100;

    return n ? a[rank > 0 ? rank - 1 : 0] : 0;
}

/* User + system CPU time of this process so far, in milliseconds. */
static int64_t cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
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
    const char *db = arg(argc, argv, "--db", NULL);
    const char *totals = arg(argc, argv, "--totals", NULL);
    int64_t rate = strtoll(arg(argc, argv, "--rate", "0"), NULL, 10);
    int64_t duration_ms = strtoll(arg(argc, argv, "--duration", "30"), NULL, 10) * 1000;
    int64_t t_produced, t_end;
    char errstr[512], err[128];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_t *rkt = NULL;
    const sim_stats *st;
    sim_options o;
    sim *s = NULL;
    const char *line;
    size_t len;
    bench b = {0};
    int rc = 1;

    b.topic = arg(argc, argv, "--topic", NULL);
    b.group = arg(argc, argv, "--group", "tally-ingest");
    b.window_bytes = strtoll(arg(argc, argv, "--window-kb", "2048"), NULL, 10) * 1024;
    b.nparts = atoi(arg(argc, argv, "--partitions", "0"));
    b.timeout_ms = strtoll(arg(argc, argv, "--timeout", "900"), NULL, 10) * 1000;
    if (!brokers || !b.topic || !db || b.nparts <= 0 || b.nparts > 10000 || rate < 0 ||
        (rate && (duration_ms <= 0 || rate * duration_ms / 1000 > 100000000))) {
        fprintf(stderr, "usage: bench_produce --brokers B --topic T --db CONNINFO …\n");
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    b.per_part = calloc((size_t)b.nparts, sizeof(*b.per_part));
    b.next = calloc((size_t)b.nparts, sizeof(*b.next));
    b.cursor = calloc((size_t)b.nparts, sizeof(*b.cursor));
    if (!b.per_part || !b.next || !b.cursor)
        goto out;
    if (rate) {
        b.cap = rate * duration_ms / 1000;
        b.sent_ms = malloc((size_t)b.cap * sizeof(*b.sent_ms));
        b.offset = malloc((size_t)b.cap * sizeof(*b.offset));
        b.latency_ms = malloc((size_t)b.cap * sizeof(*b.latency_ms));
        if (!b.sent_ms || !b.offset || !b.latency_ms)
            goto out;
    }
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
    b.pg = PQconnectdb(db);
    if (PQstatus(b.pg) != CONNECTION_OK) {
        fprintf(stderr, "bench_produce: %s", PQerrorMessage(b.pg));
        goto out;
    }
    /* what the daemon already stored was produced before: the windows start from there */
    if (!stored(b.pg, b.group, b.topic, b.nparts, b.next))
        goto out;
    memcpy(b.per_part, b.next, (size_t)b.nparts * sizeof(*b.next));
    if (rate)
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &b);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "batch.num.messages", "10000", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "100000", errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_produce: %s\n", errstr);
        goto out;
    }
    b.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!b.rk) {
        fprintf(stderr, "bench_produce: %s\n", errstr);
        goto out;
    }
    conf = NULL; /* owned by rk now */
    rkt = rd_kafka_topic_new(b.rk, b.topic, NULL);
    b.t0 = mono_ms();
    if (rate) {
        if (!produce_paced(&b, rkt, s, rate, duration_ms))
            goto out;
    } else {
        while (sim_next(s, &line, &len)) {
            if (!produce(&b, rkt, line, len))
                goto out;
        }
    }
    if (rd_kafka_flush(b.rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || b.delivery_failed) {
        fprintf(stderr, "bench_produce: could not flush the producer\n");
        goto out;
    }
    t_produced = mono_ms();
    for (;;) {
        if (!observe(&b))
            goto out;
        if (all_seen(&b))
            break;
        if (mono_ms() - b.t0 > b.timeout_ms) {
            fprintf(stderr, "bench_produce: timed out: largest backlog %" PRId64 " messages\n",
                    max_lag(b.per_part, b.next, b.nparts));
            goto out;
        }
        sleep_ms(rate ? POLL_MS : 20);
    }
    t_end = mono_ms();
    st = sim_get_stats(s);
    printf("messages=%" PRId64 " bytes=%" PRId64 " events=%" PRId64 " duplicates=%" PRId64
           " malformed=%" PRId64 " produce_ms=%" PRId64 " elapsed_ms=%" PRId64
           " throttled_ms=%" PRId64,
           b.produced, b.bytes, st->events, st->duplicates, st->malformed, t_produced - b.t0,
           t_end - b.t0, b.throttled);
    if (rate) {
        qsort(b.latency_ms, (size_t)b.nlatency, sizeof(*b.latency_ms), cmp_i32);
        printf(" lat_samples=%" PRId64 " lat_p50_ms=%" PRId32 " lat_p99_ms=%" PRId32
               " lat_max_ms=%" PRId32,
               b.nlatency, percentile(b.latency_ms, b.nlatency, 50),
               percentile(b.latency_ms, b.nlatency, 99),
               b.nlatency ? b.latency_ms[b.nlatency - 1] : 0);
    }
    printf(" cpu_ms=%" PRId64 "\n", cpu_ms());
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
    if (b.rk)
        rd_kafka_destroy(b.rk);
    PQfinish(b.pg);
    sim_free(s);
    free(b.per_part);
    free(b.next);
    free(b.cursor);
    free(b.sent_ms);
    free(b.offset);
    free(b.latency_ms);
    return rc;
}
