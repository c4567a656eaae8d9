/*
 * source_kafka.c - librdkafka high-level consumer with offsets in Postgres.
 *
 * Kafka's own offset commits are off (enable.auto.commit and enable.auto.offset.store):
 * the only record of progress is ingest_offsets, written with the rows. Every partition
 * remembers the next_offset this consumer last read from or wrote to the database
 * ("stored"); a batch continues from it, and the sink's compare-and-set on it is what
 * keeps a consumer that lost a partition from writing.
 *
 * Two batches: while the sink writes one on its own thread ("in flight"), the next is
 * read and encoded; it continues from the offsets of the one in flight ("pending"), so
 * it is written only after that one committed, and dropped with it when it did not.
 */
#include "source_kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "backoff.h"
#include "log.h"
#include "sig.h"

#define KAFKA_POLL_MS 100
#define KAFKA_TICK_MS 1000
#define KAFKA_STOP_RETRY_MS 30000
/* poll timeout while a batch is being written, so that its end is noticed soon */
#define KAFKA_WRITING_POLL_MS 5

typedef struct kafka_part {
    bool assigned;
    bool ready;      /* stored is known (read from the database) */
    int64_t stored;  /* next_offset in ingest_offsets; -1 = no row */
    int64_t pending; /* next_offset the batch in flight writes; -1 = not in it */
    /* Where a partition without a row starts: a concrete offset, never "end", so that a
     * dropped batch is read again from where it began (-1 = not known yet). */
    int64_t start;
} kafka_part;

struct source_kafka {
    source_kafka_config cfg;
    rd_kafka_t *rk;
    sink_pg *sink;
    ingest_metrics *m;
    batch batch;    /* being read */
    batch inflight; /* being written (sink_pg_commit_running), or its retry */
    bool writing;   /* inflight was handed to the sink: wait for it before any other call */
    int64_t batch_started_ms;
    kafka_part *parts;
    int32_t nparts;
    bool paused;        /* partitions paused while Postgres is away */
    bool brokers_down;  /* last state logged */
    bool monitor_ready; /* pending monitor halves may exist: tick the join */
    /* a failure going on cannot recover from (logged where it happened): the loop stops
     * without committing the batch in flight, and tally-ingest exits 1 so that the
     * service manager restarts it. sig_stop stays for signals. */
    bool fatal;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool parts_grow(source_kafka *sk, int32_t n)
{
    kafka_part *p;

    if (n <= sk->nparts)
        return true;
    p = realloc(sk->parts, sizeof(*p) * (size_t)n);
    if (!p)
        return false;
    memset(p + sk->nparts, 0, sizeof(*p) * (size_t)(n - sk->nparts));
    for (int32_t i = sk->nparts; i < n; i++)
        p[i].pending = -1;
    sk->parts = p;
    sk->nparts = n;
    return true;
}

/* librdkafka's syslog levels onto ours; it logs from its own threads (log_write is
 * thread-safe). */
/* debug=conf dumps the configuration as "[thrd:app]:   name = value" lines and redacts
 * only what librdkafka flags sensitive, which misses e.g. sasl.oauthbearer.client.secret
 * in 2.0: masks the value of every property cfg_kafka_secret names. Returns buf or
 * masked. */
static const char *kafka_log_mask(const char *buf, char *masked, size_t len)
{
    const char *eq = strstr(buf, " = "), *name = eq;
    char prop[256];

    if (!eq)
        return buf;
    while (name > buf && name[-1] != ' ')
        name--;
    if (name == eq || (size_t)(eq - name) >= sizeof(prop))
        return buf;
    snprintf(prop, sizeof(prop), "%.*s", (int)(eq - name), name);
    if (!cfg_kafka_secret(prop))
        return buf;
    snprintf(masked, len, "%.*s = ********", (int)(eq - buf), buf);
    return masked;
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *line)
{
    char masked[512];
    const char *buf = kafka_log_mask(line, masked, sizeof(masked));

    (void)rk;
    /* messages deleted before they were read are found from the offsets (take_message),
     * not from this text: librdkafka says "Offset out of range" only at some levels */
    if (level <= 3)
        log_warn("kafka: %s: %s", fac, buf);
    else if (level <= 6)
        log_info("kafka: %s: %s", fac, buf);
    else
        log_debug("kafka: %s: %s", fac, buf);
}

/* A fatal librdkafka error (it arrives through the error callback or, for a consumer, as
 * an error message from the poll): the consumer instance is unusable. */
static void kafka_fatal(source_kafka *sk)
{
    char fatal[512], id[256];
    size_t nid = sizeof(id);
    rd_kafka_resp_err_t err;

    if (sk->fatal)
        return;
    err = rd_kafka_fatal_error(sk->rk, fatal, sizeof(fatal));
    /* the id as librdkafka has it: instance_id or -X group.instance.id */
    if (err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID &&
        rd_kafka_conf_get(rd_kafka_conf(sk->rk), "group.instance.id", id, &nid) == RD_KAFKA_CONF_OK)
        log_error("kafka fatal error: %s (another consumer of group \"%s\" joined with "
                  "instance id \"%s\": every replica needs its own)",
                  fatal, sk->cfg.group, id);
    else
        log_error("kafka fatal error: %s", fatal);
    sk->fatal = true;
}

/* Served from rd_kafka_consumer_poll on this thread. librdkafka retries by itself;
 * this only reports the state changes, once each. */
static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    source_kafka *sk = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!sk->brokers_down)
            log_warn("all brokers are down, retrying: %s", reason);
        sk->brokers_down = true;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        kafka_fatal(sk);
        return;
    }
    /* the log callback has already reported transport and name resolution failures */
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE)
        log_debug("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    else
        log_warn("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void brokers_up(source_kafka *sk)
{
    if (sk->brokers_down)
        log_info("brokers reachable again");
    sk->brokers_down = false;
}

/* Where partition p is read from: its stored offset, else where it started, else
 * start_from (only before its first message, when nothing of it can have been dropped). */
static int64_t part_offset(const source_kafka *sk, int32_t p)
{
    const kafka_part *kp = &sk->parts[p];

    return kp->stored >= 0        ? kp->stored
           : kp->start >= 0       ? kp->start
           : sk->cfg.start_latest ? RD_KAFKA_OFFSET_END
                                  : RD_KAFKA_OFFSET_BEGINNING;
}

/* The list of assigned partitions, each at part_offset. */
static rd_kafka_topic_partition_list_t *assigned_at_stored(source_kafka *sk)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(sk->nparts);

    for (int32_t p = 0; p < sk->nparts; p++) {
        if (sk->parts[p].assigned)
            rd_kafka_topic_partition_list_add(l, sk->cfg.topic, p)->offset = part_offset(sk, p);
    }
    return l;
}

/* Where a partition without a row starts, as a concrete offset: its low watermark
 * (start_from=earliest: the next offset expected, see take_message) or its high one
 * (start_from=latest, so that a rewind after a dropped batch goes back to it instead of
 * to a later end). -1 when the brokers cannot say now; take_message then keeps the
 * first offset read. */
static int64_t first_offset(source_kafka *sk, int32_t p)
{
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(sk->rk, sk->cfg.topic, p, &lo, &hi, 5000);

    if (err) {
        log_warn("could not read the %s of partition %" PRId32 ": %s",
                 sk->cfg.start_latest ? "end" : "beginning", p, rd_kafka_err2str(err));
        return -1;
    }
    return sk->cfg.start_latest ? hi : lo;
}

/*
 * Reads the stored offsets of the partitions in only (all when NULL); retries while the
 * database is away (this blocks the consumer, which has nothing it could do meanwhile).
 * Partitions outside only keep their stored offset: their position was not rewound, so a
 * different value from the database must surface as a conflict on commit, not be taken.
 */
static bool load_offsets(source_kafka *sk, const rd_kafka_topic_partition_list_t *only)
{
    int64_t *next = calloc((size_t)sk->nparts + 1, sizeof(*next));
    backoff delay = BACKOFF_INIT(BACKOFF_PG_FIRST_MS, BACKOFF_PG_MAX_MS);
    bool ok = false;

    if (!next)
        return false;
    while (!sig_stop && !sk->fatal) {
        if (sink_pg_ok(sk->sink) && sink_pg_load_offsets(sk->sink, sk->nparts, next)) {
            ok = true;
            break;
        }
        metrics_db_up(sk->m, false);
        sig_sleep_ms(backoff_next(&delay));
        if (!sink_pg_ok(sk->sink))
            sink_pg_reconnect(sk->sink, 1, &sig_stop);
    }
    for (int32_t p = 0; ok && !only && p < sk->nparts; p++) {
        sk->parts[p].stored = next[p];
        sk->parts[p].ready = true;
    }
    for (int i = 0; ok && only && i < only->cnt; i++) {
        int32_t p = only->elems[i].partition;
        sk->parts[p].stored = next[p];
        sk->parts[p].ready = true;
    }
    free(next);
    return ok;
}

/* Seeks every assigned partition back to its stored offset: after a batch was dropped,
 * its messages must be read again. The seek is asynchronous: librdkafka sets a version
 * barrier before this returns, so no message fetched before it is delivered after it. */
static void rewind_assigned(source_kafka *sk)
{
    rd_kafka_topic_partition_list_t *l = assigned_at_stored(sk);
    rd_kafka_error_t *err;

    if (l->cnt > 0) {
        err = rd_kafka_seek_partitions(sk->rk, l, 0);
        if (err) {
            log_error("could not seek to the stored offsets: %s", rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            sk->fatal = true; /* going on could skip the dropped messages */
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void committed(source_kafka *sk, batch *b, const sink_result *r, double seconds);

static void clear_pending(source_kafka *sk)
{
    for (int32_t p = 0; p < sk->nparts; p++)
        sk->parts[p].pending = -1;
}

static bool reset_batch(batch *b, const char *why)
{
    if (batch_empty(b))
        return false;
    log_info("dropping the batch in flight (%zu messages): %s", b->nmessages, why);
    batch_reset(b);
    return true;
}

/*
 * Waits for the batch being written. Committed, it is taken as such; not (or not
 * written yet, its retry interrupted), it is dropped, and with it the batch being read,
 * which continues from it. True when messages were dropped: the caller reads them again
 * (rewind_assigned) or gives their partitions up. Leaves the sink free for other calls.
 */
static bool settle_inflight(source_kafka *sk, const char *why)
{
    if (sk->writing) {
        sink_result r;
        double seconds;
        sink_status st = sink_pg_commit_wait(sk->sink, &r, &seconds);

        sk->writing = false;
        if (st == SINK_OK)
            committed(sk, &sk->inflight, &r, seconds);
    }
    if (!reset_batch(&sk->inflight, why))
        return false;
    reset_batch(&sk->batch, why);
    clear_pending(sk);
    return true;
}

/* Drops the batch being read, after settle_inflight; true when messages were dropped. */
static bool drop_batch(source_kafka *sk, const char *why)
{
    bool dropped = settle_inflight(sk, why);

    return reset_batch(&sk->batch, why) || dropped;
}

static void on_assign(source_kafka *sk, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    rd_kafka_error_t *err = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int32_t max = 0;

    /* the sink is needed for the offsets: the batch being written comes first, and the
     * partitions already held are read again if it did not commit */
    if (settle_inflight(sk, "a rebalance came while it was not written"))
        rewind_assigned(sk);
    for (int i = 0; i < parts->cnt; i++)
        max = parts->elems[i].partition + 1 > max ? parts->elems[i].partition + 1 : max;
    if (!parts_grow(sk, max)) {
        log_error("out of memory");
        sk->fatal = true;
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        sk->parts[parts->elems[i].partition].assigned = true;
        sk->parts[parts->elems[i].partition].start = -1;
        sk->parts[parts->elems[i].partition].pending = -1;
    }
    if (!load_offsets(sk, parts)) {
        /* stopping before the database came back: take nothing from these */
        for (int i = 0; i < parts->cnt; i++)
            sk->parts[parts->elems[i].partition].ready = false;
    }
    for (int i = 0; i < parts->cnt; i++) {
        kafka_part *kp = &sk->parts[parts->elems[i].partition];
        if (kp->stored < 0)
            kp->start = first_offset(sk, parts->elems[i].partition);
        parts->elems[i].offset = part_offset(sk, parts->elems[i].partition);
        log_info("assigned partition %" PRId32 " of \"%s\" at offset %s%" PRId64,
                 parts->elems[i].partition, sk->cfg.topic,
                 parts->elems[i].offset >= 0 ? "" : (sk->cfg.start_latest ? "end " : "beginning "),
                 parts->elems[i].offset >= 0 ? parts->elems[i].offset : 0);
    }
    if (cooperative)
        err = rd_kafka_incremental_assign(sk->rk, parts);
    else
        rerr = rd_kafka_assign(sk->rk, parts);
    if (err || rerr) {
        log_error("could not assign partitions: %s",
                  err ? rd_kafka_error_string(err) : rd_kafka_err2str(rerr));
        rd_kafka_error_destroy(err);
    }
    if (sk->paused)
        rd_kafka_pause_partitions(sk->rk, parts);
    metrics_lag_clear(sk->m);
}

static void on_revoke(source_kafka *sk, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    rd_kafka_error_t *err = NULL;
    bool had_batch = drop_batch(sk, "partitions revoked");

    for (int i = 0; i < parts->cnt; i++) {
        if (parts->elems[i].partition < sk->nparts)
            sk->parts[parts->elems[i].partition].assigned = false;
    }
    if (cooperative) {
        err = rd_kafka_incremental_unassign(sk->rk, parts);
        if (had_batch)
            rewind_assigned(sk); /* the kept partitions' share of the batch is gone too */
    } else {
        for (int32_t p = 0; p < sk->nparts; p++)
            sk->parts[p].assigned = false;
        rd_kafka_assign(sk->rk, NULL);
    }
    if (err) {
        log_error("could not unassign partitions: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    metrics_lag_clear(sk->m);
}

static void kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    source_kafka *sk = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(sk, parts, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(sk, parts, cooperative);
    } else {
        log_error("rebalance failed: %s", rd_kafka_err2str(err));
        drop_batch(sk, "rebalance failed");
        for (int32_t p = 0; p < sk->nparts; p++)
            sk->parts[p].assigned = false;
        rd_kafka_assign(rk, NULL);
    }
}

static bool conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, bool secret)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message may quote the value it refused */
        if (secret && *value && strstr(errstr, value))
            snprintf(errstr, sizeof(errstr), "invalid value");
        log_error("invalid kafka property \"%s\"%s%s: %s", name, secret ? "" : " = ",
                  secret ? "" : value, errstr);
        return false;
    }
    return true;
}

static bool conf_set_int(rd_kafka_conf_t *conf, const char *name, int value)
{
    char buf[16];

    if (value <= 0)
        return true; /* librdkafka's default */
    snprintf(buf, sizeof(buf), "%d", value);
    return conf_set(conf, name, buf, false);
}

/* Recovery after a crash: the group gives a silent member's partitions to the others (or
 * to its restarted self) only after session.timeout.ms, so that is the time a kill -9
 * costs; static membership lets a restarted replica take its partitions back at once
 * where the broker supports it (Apache Kafka >= 2.3; librdkafka logs a notice and goes
 * on without it elsewhere). A heartbeat at or above the session timeout could never keep
 * a member in the group, whichever of the config and -X set them. */
static bool conf_group(rd_kafka_conf_t *conf, const source_kafka_config *c)
{
    bool ok = conf_set_int(conf, "session.timeout.ms", c->session_timeout_ms) &&
              conf_set_int(conf, "heartbeat.interval.ms", c->heartbeat_interval_ms);

    if (ok && c->instance_id && *c->instance_id)
        ok = conf_set(conf, "group.instance.id", c->instance_id, false);
    return ok;
}

static bool conf_group_check(rd_kafka_conf_t *conf)
{
    char session[32], heartbeat[32];
    size_t ns = sizeof(session), nh = sizeof(heartbeat);

    if (rd_kafka_conf_get(conf, "session.timeout.ms", session, &ns) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_get(conf, "heartbeat.interval.ms", heartbeat, &nh) != RD_KAFKA_CONF_OK)
        return true;
    if (atol(heartbeat) >= atol(session)) {
        log_error("invalid kafka group settings: heartbeat interval %s ms must be below the "
                  "session timeout %s ms",
                  heartbeat, session);
        return false;
    }
    return true;
}

static rd_kafka_conf_t *build_conf(source_kafka *sk)
{
    const source_kafka_config *c = &sk->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = conf_set(conf, "bootstrap.servers", c->brokers, false) &&
              conf_set(conf, "group.id", c->group, false) &&
              conf_set(conf, "enable.auto.commit", "false", false) &&
              conf_set(conf, "enable.auto.offset.store", "false", false) &&
              /* only for a stored offset the broker no longer holds (every seek is to a
               * concrete offset): resume at the oldest message it still has, whatever
               * start_from, so that only what it deleted is lost (and recorded) */
              conf_set(conf, "auto.offset.reset", "earliest", false) &&
              /* bounded prefetch keeps the daemon's memory small; -X can raise it */
              conf_set(conf, "queued.max.messages.kbytes", "16384", false) &&
              conf_set(conf, "client.id", "tally-ingest", false) && conf_group(conf, c);

    if (ok && c->auth == KAFKA_AUTH_CONNECTION_STRING)
        ok = conf_set(conf, "security.protocol", "SASL_SSL", false) &&
             conf_set(conf, "sasl.mechanisms", "PLAIN", false) &&
             conf_set(conf, "sasl.username", "$ConnectionString", false) &&
             conf_set(conf, "sasl.password", c->password ? c->password : "", true);
    if (ok && c->auth == KAFKA_AUTH_OAUTH) {
        char err[512];
        ok = oauth_config_check(c->oauth, err, sizeof(err)) &&
             oauth_attach(conf, c->oauth, err, sizeof(err));
        if (!ok)
            log_error("invalid oauth configuration: %s", err);
    }
    for (int i = 0; ok && i < c->nkafka; i++)
        ok =
            conf_set(conf, c->kafka[i].name, c->kafka[i].value, cfg_kafka_secret(c->kafka[i].name));
    if (ok)
        ok = conf_group_check(conf);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, sk);
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance);
    return conf;
}

source_kafka *source_kafka_new(const source_kafka_config *conf_in, sink_pg *sink, ingest_metrics *m)
{
    char errstr[512];
    source_kafka *sk = calloc(1, sizeof(*sk));
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t err;

    if (!sk)
        return NULL;
    sk->cfg = *conf_in;
    sk->sink = sink;
    sk->m = m;
    sk->monitor_ready = conf_in->format == PARSE_AUTO || conf_in->format == PARSE_MONITOR;
    batch_init(&sk->batch);
    batch_init(&sk->inflight);
    conf = build_conf(sk);
    if (!conf)
        goto fail;
    sk->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!sk->rk) {
        log_error("could not create the kafka consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(sk->rk);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, conf_in->topic, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(sk->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        log_error("could not subscribe to \"%s\": %s", conf_in->topic, rd_kafka_err2str(err));
        goto fail;
    }
    if (conf_in->instance_id && *conf_in->instance_id)
        log_info("consuming \"%s\" from %s as group \"%s\", instance \"%s\"", conf_in->topic,
                 conf_in->brokers, conf_in->group, conf_in->instance_id);
    else
        log_info("consuming \"%s\" from %s as group \"%s\"", conf_in->topic, conf_in->brokers,
                 conf_in->group);
    return sk;
fail:
    source_kafka_free(sk);
    return NULL;
}

/* Where partition p's messages in the batch being read continue from: the end of the
 * batch being written, else the stored offset (-1 = no row). */
static int64_t continues_from(const source_kafka *sk, int32_t p)
{
    return sk->parts[p].pending >= 0 ? sk->parts[p].pending : sk->parts[p].stored;
}

/* The offset partition p's next message must have: after its last one in the batch,
 * else continues_from, else where it started; -1 when not known yet. */
static int64_t expected_offset(const source_kafka *sk, int32_t p)
{
    int64_t next = batch_next_offset(&sk->batch, p);

    return next >= 0                    ? next
           : continues_from(sk, p) >= 0 ? continues_from(sk, p)
                                        : sk->parts[p].start;
}

/*
 * Partition p jumped from offset expect to offset got. The offsets below the partition's
 * low watermark were deleted by the broker before this consumer read them: a loss, whose
 * last offset goes to *lost_last (-1: nothing lost; offsets at or above the watermark
 * that were not delivered are transaction markers or compacted away). False when the
 * watermark cannot be had: the batch is dropped and read again, so nothing is stored
 * past a gap not yet judged.
 */
static bool judge_jump(source_kafka *sk, int32_t p, int64_t expect, int64_t got, int64_t *lost_last)
{
    int64_t lo = -1, hi = -1, fetched;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    /* The fetch response that delivered the message said where the log began then (the
     * low watermark only grows): at or below expect, nothing in between was deleted, and
     * a transaction marker costs no round trip. Otherwise the broker decides. */
    if (rd_kafka_get_watermark_offsets(sk->rk, sk->cfg.topic, p, &lo, &hi))
        lo = -1;
    fetched = lo;
    if (lo < 0 || lo > expect) {
        err = rd_kafka_query_watermark_offsets(sk->rk, sk->cfg.topic, p, &lo, &hi, 5000);
        if (err)
            lo = fetched;
    }
    if (lo < 0) {
        log_warn("could not read the low watermark of partition %" PRId32
                 " to judge offsets %" PRId64 " to %" PRId64 ": %s; reading them again",
                 p, expect, got - 1, rd_kafka_err2str(err));
        drop_batch(sk, "a gap could not be judged");
        rewind_assigned(sk);
        sig_sleep_ms(1000);
        return false;
    }
    *lost_last = lo > expect ? (lo < got ? lo : got) - 1 : -1;
    if (*lost_last < 0)
        log_debug("partition %" PRId32 ": offsets %" PRId64 " to %" PRId64
                  " not delivered (transaction markers or compaction)",
                  p, expect, got - 1);
    return true;
}

/* Adds one message to the batch. */
static void take_message(source_kafka *sk, rd_kafka_message_t *msg)
{
    char key[300], source[300];
    int32_t p = msg->partition;
    int64_t expect, lost_last = -1;

    if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
        kafka_fatal(sk);
        return;
    }
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("consumer error: %s", rd_kafka_message_errstr(msg));
        return;
    }
    brokers_up(sk);
    if (p < 0 || p >= sk->nparts || !sk->parts[p].assigned || !sk->parts[p].ready)
        return; /* not ours (any more): the owner reads it from the stored offset */
    expect = expected_offset(sk, p);
    if (expect >= 0 && msg->offset > expect && !judge_jump(sk, p, expect, msg->offset, &lost_last))
        return;
    if (batch_empty(&sk->batch))
        sk->batch_started_ms = now_ms();
    if (sk->parts[p].stored < 0 && sk->parts[p].start < 0)
        sk->parts[p].start = msg->offset;
    snprintf(key, sizeof(key), "kafka:%s:%" PRId32 ":%" PRId64, sk->cfg.topic, p, msg->offset);
    snprintf(source, sizeof(source), "%s/%" PRId32 "/%" PRId64, sk->cfg.topic, p, msg->offset);
    batch_message(&sk->batch, key, source, msg->payload, msg->len);
    parse_message(msg->payload ? msg->payload : "", msg->len, sk->cfg.format, batch_emit,
                  &sk->batch);
    if ((lost_last >= 0 && !batch_gap_add(&sk->batch, p, expect, lost_last)) ||
        !batch_offset(&sk->batch, p, continues_from(sk, p), msg->offset) || batch_oom(&sk->batch)) {
        log_error("out of memory");
        sk->fatal = true;
    }
}

static void poll_once(source_kafka *sk, int timeout_ms)
{
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(sk->rk, timeout_ms);

    if (msg) {
        take_message(sk, msg);
        rd_kafka_message_destroy(msg);
    }
}

static void pause_all(source_kafka *sk, bool pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;

    if (rd_kafka_assignment(sk->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        if (pause)
            rd_kafka_pause_partitions(sk->rk, l);
        else
            rd_kafka_resume_partitions(sk->rk, l);
    }
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    sk->paused = pause;
}

static void update_lag(source_kafka *sk)
{
    for (int32_t p = 0; sk->m && p < sk->nparts; p++) {
        int64_t lo, hi;
        if (!sk->parts[p].assigned || !sk->parts[p].ready)
            continue;
        if (rd_kafka_get_watermark_offsets(sk->rk, sk->cfg.topic, p, &lo, &hi) || hi < 0)
            continue;
        metrics_lag(sk->m, sk->cfg.topic, p,
                    hi - (sk->parts[p].stored >= 0 ? sk->parts[p].stored : lo));
    }
}

static void committed(source_kafka *sk, batch *b, const sink_result *r, double seconds)
{
    for (int i = 0; i < b->noffsets; i++) {
        int32_t p = b->offsets[i].partition;
        if (p < sk->nparts) {
            sk->parts[p].stored = b->offsets[i].next;
            sk->parts[p].pending = -1;
        }
    }
    for (int i = 0; i < b->ngaps; i++) {
        const batch_gap *g = &b->gaps[i];
        log_error("lost %" PRId64 " messages of partition %" PRId32 " of \"%s\": offsets %" PRId64
                  " to %" PRId64 " were deleted by the broker before they were ingested"
                  " (recorded in ingest_gaps)",
                  g->last - g->first + 1, g->partition, sk->cfg.topic, g->first, g->last);
    }
    metrics_batch(sk->m, b, r, seconds);
    metrics_db_up(sk->m, true);
    log_debug("committed %zu messages: %" PRIu64 " inserted, %" PRIu64 " duplicates, %zu rejected",
              b->nmessages, r->inserted, r->duplicates, b->nrejects);
    if (b->nllm || b->ngateway)
        sk->monitor_ready = true;
    batch_reset(b);
    update_lag(sk);
}

/* Another consumer moved an offset: both batches are dropped (the one being read
 * continues from the other), the stored offsets read again and every partition sought
 * back to them. */
static void conflict(source_kafka *sk)
{
    batch_reset(&sk->inflight);
    batch_reset(&sk->batch);
    clear_pending(sk);
    load_offsets(sk, NULL);
    rewind_assigned(sk);
}

/*
 * Commits b (the batch being written, after its first attempt failed, or the batch being
 * read with none being written), retrying with backoff while Postgres is away: the
 * partitions are paused meanwhile (the batch is kept; whatever still arrives joins the
 * batch being read), and polling goes on so that a rebalance can still take the
 * partitions, which drops the batch. When stopping, gives up after KAFKA_STOP_RETRY_MS;
 * after a fatal error at once. Returns false if the batch was not written.
 */
static bool flush(source_kafka *sk, batch *b)
{
    backoff delay = BACKOFF_INIT(BACKOFF_PG_FIRST_MS, BACKOFF_PG_MAX_MS);
    int64_t started = now_ms();

    while (!batch_empty(b)) {
        sink_result r;
        int64_t t0 = now_ms();
        sink_status st = sink_pg_commit(sk->sink, b, &r);

        if (st == SINK_OK) {
            committed(sk, b, &r, (double)(now_ms() - t0) / 1000.0);
            break;
        }
        if (st == SINK_CONFLICT) {
            conflict(sk);
            break;
        }
        metrics_db_up(sk->m, false);
        if (!sk->paused) {
            log_warn("postgres unavailable: pausing consumption, batch of %zu messages kept",
                     b->nmessages);
            pause_all(sk, true);
        }
        if (sk->fatal)
            return false;
        if (sig_stop && now_ms() - started > KAFKA_STOP_RETRY_MS) {
            log_error("could not commit the last batch before stopping: it will be read again");
            return false;
        }
        for (int64_t until = now_ms() + backoff_next(&delay); now_ms() < until;)
            poll_once(sk, KAFKA_POLL_MS);
        if (!sink_pg_ok(sk->sink)) {
            volatile sig_atomic_t never = 0;
            sink_pg_reconnect(sk->sink, 1, sig_stop ? &never : &sig_stop);
        }
    }
    if (sk->paused) {
        log_info("postgres back: resuming consumption");
        pause_all(sk, false);
    }
    return true;
}

/* Hands the batch read so far to the sink's thread; the next one is read meanwhile. */
static void start_inflight(source_kafka *sk)
{
    batch empty = sk->inflight; /* reset after its commit: its buffers are reused */

    sk->inflight = sk->batch;
    sk->batch = empty;
    for (int i = 0; i < sk->inflight.noffsets; i++) {
        int32_t p = sk->inflight.offsets[i].partition;
        if (p < sk->nparts)
            sk->parts[p].pending = sk->inflight.offsets[i].next;
    }
    sink_pg_commit_start(sk->sink, &sk->inflight);
    sk->writing = true;
}

/* Waits for the batch being written and takes what it did: committed; a conflict (see
 * conflict); or a database error, after which it is retried here until written (flush).
 * Returns false as flush does. */
static bool finish_inflight(source_kafka *sk)
{
    sink_result r;
    double seconds;
    sink_status st;

    if (!sk->writing)
        return true;
    st = sink_pg_commit_wait(sk->sink, &r, &seconds);
    sk->writing = false;
    if (st == SINK_OK)
        committed(sk, &sk->inflight, &r, seconds);
    else if (st == SINK_CONFLICT)
        conflict(sk);
    else
        return flush(sk, &sk->inflight);
    return true;
}

static void tick(source_kafka *sk)
{
    sink_result r;

    update_lag(sk);
    if (!sk->monitor_ready || sk->paused)
        return;
    if (sink_pg_monitor_tick(sk->sink, &r) == SINK_OK)
        metrics_tick(sk->m, &r);
}

/*
 * Reads into one batch while the sink writes the one before (docs/architecture.md,
 * "Exactly once"): a batch is due at batch_size messages or after batch_linger_ms; while
 * the one before is still being written, a due batch goes on filling up to batch_size.
 */
int source_kafka_run(source_kafka *sk)
{
    int64_t last_tick = now_ms();
    int rc = 0;

    while (!sig_stop && !sk->fatal) {
        int timeout = KAFKA_POLL_MS;
        bool full, due;

        if (!batch_empty(&sk->batch)) {
            int64_t left = sk->batch_started_ms + sk->cfg.batch_linger_ms - now_ms();
            timeout = left < 0 ? 0 : left < timeout ? (int)left : timeout;
        }
        if (sk->writing && timeout > KAFKA_WRITING_POLL_MS)
            timeout = KAFKA_WRITING_POLL_MS;
        poll_once(sk, timeout);
        /* rc 1: stopped while retrying, that was the last attempt */
        if (sk->writing && !sink_pg_commit_running(sk->sink) && !finish_inflight(sk)) {
            rc = 1;
            break;
        }
        full = sk->batch.nmessages >= (size_t)sk->cfg.batch_size ||
               sk->batch.nrecords >= (size_t)sk->cfg.batch_size ||
               (sk->cfg.batch_max_bytes && batch_bytes(&sk->batch) >= sk->cfg.batch_max_bytes);
        due = !batch_empty(&sk->batch) &&
              (full || now_ms() - sk->batch_started_ms >= sk->cfg.batch_linger_ms);
        if (due && (full || !sk->writing)) {
            if (!finish_inflight(sk)) {
                rc = 1;
                break;
            }
            if (!batch_empty(&sk->batch)) /* a conflict drops it */
                start_inflight(sk);
        }
        if (now_ms() - last_tick >= KAFKA_TICK_MS) {
            if (sk->monitor_ready && !finish_inflight(sk)) { /* the tick needs the sink */
                rc = 1;
                break;
            }
            tick(sk);
            last_tick = now_ms();
        }
    }
    if (sk->fatal) {
        /* what the batch holds was read after the failure: it is read again on restart */
        drop_batch(sk, "stopping after a fatal error");
        return 1;
    }
    if (rc == 0) {
        log_info("stopping: committing the batch in flight");
        if (!finish_inflight(sk) || !flush(sk, &sk->batch))
            rc = 1;
    }
    return rc;
}

void source_kafka_free(source_kafka *sk)
{
    if (!sk)
        return;
    if (sk->rk && sk->fatal) {
        /* the instance is unusable: leaving the group could only fail, and librdkafka
         * 2.0.2 can spin in rd_kafka_destroy after trying (a fatal error while joining) */
        rd_kafka_destroy_flags(sk->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    } else if (sk->rk) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(sk->rk);
        if (err)
            log_warn("could not leave the consumer group cleanly: %s", rd_kafka_err2str(err));
        else
            log_info("left consumer group \"%s\"", sk->cfg.group);
        rd_kafka_destroy(sk->rk);
    }
    if (sk->writing)
        sink_pg_commit_wait(sk->sink, NULL, NULL);
    batch_cleanup(&sk->batch);
    batch_cleanup(&sk->inflight);
    free(sk->parts);
    free(sk);
}
