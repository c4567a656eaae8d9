/* tally-ingest: reads the config, builds the source and the sink, runs until stopped. */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "parse.h"
#include "sig.h"
#include "sink_pg.h"
#include "source_file.h"
#include "source_kafka.h"

static const cfg_spec INGEST_SPEC[] = {
    {"db", CFG_STR, "", 0, 0, NULL, CFG_CONNINFO,
     "PostgreSQL conninfo (libpq; PG* variables work)"},
    {"brokers", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "Kafka bootstrap servers HOST:PORT[,…]"},
    {"topic", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "topic (event hub) to consume"},
    {"group", CFG_STR, "tally-ingest", 0, 0, NULL, CFG_PUBLIC,
     "consumer group; offsets are stored in Postgres under this name"},
    {"session_timeout_ms", CFG_INT, "6000", 1000, 3600000, NULL, CFG_PUBLIC,
     "how long the group waits for a silent member (a crashed replica) before its partitions move"},
    {"heartbeat_interval_ms", CFG_INT, "2000", 100, 3600000, NULL, CFG_PUBLIC,
     "heartbeat period; below session_timeout_ms (a third of it tolerates two lost heartbeats)"},
    {"instance_id", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "static group membership (group.instance.id): unique per replica, stable across its "
     "restarts, e.g. the StatefulSet pod name (unset = off)"},
    {"input_format", CFG_STR, "auto", 0, 0, "auto|usage|legacy|monitor", CFG_PUBLIC,
     "message format (auto detects per message)"},
    {"batch_size", CFG_INT, "5000", 1, 1000000, NULL, CFG_PUBLIC,
     "messages per database transaction at most"},
    {"batch_max_mb", CFG_INT, "16", 1, 1024, NULL, CFG_PUBLIC,
     "a batch is written once its messages and their rows reach this many MiB"},
    {"batch_linger_ms", CFG_INT, "200", 0, 600000, NULL, CFG_PUBLIC,
     "longest wait before a partial batch is written"},
    {"start_from", CFG_STR, "earliest", 0, 0, "earliest|latest", CFG_PUBLIC,
     "where a partition with no stored offset starts"},
    {"monitor_join_wait_s", CFG_INT, "300", 0, 86400 * 7, NULL, CFG_PUBLIC,
     "how long Azure Monitor usage waits for its caller before it is stored as unattributed"},
    {"metrics_listen", CFG_STR, "127.0.0.1:9464", 0, 0, NULL, CFG_PUBLIC,
     "ADDR:PORT for /metrics (\"\" = off)"},
    {"from_file", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "backfill from PATH (- = stdin) instead of Kafka, then exit"},
    {"auth", CFG_STR, "none", 0, 0, "none|connection-string|oauth", CFG_PUBLIC,
     "Event Hubs authentication"},
    {"kafka_password", CFG_STR, NULL, 0, 0, NULL, CFG_SECRET,
     "Event Hubs connection string (auth=connection-string)"},
    {"oauth_mode", CFG_STR, "client-credentials", 0, 0,
     "client-credentials|workload-identity|managed-identity", CFG_PUBLIC,
     "how Entra ID tokens are obtained (auth=oauth)"},
    {"oauth_tenant_id", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "Entra tenant id"},
    {"oauth_client_id", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "application (client) id"},
    {"oauth_client_secret", CFG_STR, NULL, 0, 0, NULL, CFG_SECRET,
     "client secret (client-credentials)"},
    {"oauth_federated_token_file", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "federated token file (workload-identity; default $AZURE_FEDERATED_TOKEN_FILE)"},
    {"oauth_token_endpoint", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "token endpoint URL (default: Entra ID, or IMDS for managed-identity)"},
    {"oauth_scope", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "token scope (default https://<namespace>/.default)"},
    {"log_level", CFG_STR, "info", 0, 0, "error|warn|info|debug", CFG_PUBLIC, "log level"},
};

#define SYNOPSIS                                                                                    \
    "tally-ingest --brokers HOST:PORT[,…] --topic NAME [--group NAME] [-X kafka.prop=value]…\n" \
    "       tally-ingest --from-file PATH|-"

static int usage_error(const char *msg)
{
    fprintf(stderr, "tally-ingest: %s\n", msg);
    return CFG_EXIT_USAGE;
}

static oauth_config oauth_from_cfg(const cfg *c)
{
    return (oauth_config){
        .mode = (oauth_mode)oauth_mode_from_name(cfg_str(c, "oauth_mode")),
        .tenant_id = cfg_str(c, "oauth_tenant_id"),
        .client_id = cfg_str(c, "oauth_client_id"),
        .client_secret = cfg_str(c, "oauth_client_secret"),
        .federated_token_file = cfg_str(c, "oauth_federated_token_file"),
        .token_endpoint = cfg_str(c, "oauth_token_endpoint"),
        .scope = cfg_str(c, "oauth_scope"),
        .brokers = cfg_str(c, "brokers"),
    };
}

static int run_kafka(const cfg *c, sink_pg *sink, ingest_metrics *m, parse_format fmt)
{
    const char *auth = cfg_str(c, "auth");
    source_kafka_config kc = {
        .brokers = cfg_str(c, "brokers"),
        .topic = cfg_str(c, "topic"),
        .group = cfg_str(c, "group"),
        .instance_id = cfg_str(c, "instance_id"),
        .session_timeout_ms = (int)cfg_int(c, "session_timeout_ms"),
        .heartbeat_interval_ms = (int)cfg_int(c, "heartbeat_interval_ms"),
        .start_latest = strcmp(cfg_str(c, "start_from"), "latest") == 0,
        .batch_size = (int)cfg_int(c, "batch_size"),
        .batch_max_bytes = (size_t)cfg_int(c, "batch_max_mb") << 20,
        .batch_linger_ms = (int)cfg_int(c, "batch_linger_ms"),
        .format = fmt,
        .auth = strcmp(auth, "oauth") == 0               ? KAFKA_AUTH_OAUTH
                : strcmp(auth, "connection-string") == 0 ? KAFKA_AUTH_CONNECTION_STRING
                                                         : KAFKA_AUTH_NONE,
        .password = cfg_str(c, "kafka_password"),
        .kafka = c->kafka,
        .nkafka = c->nkafka,
    };
    oauth_config oc = oauth_from_cfg(c);
    source_kafka *sk;
    int rc;

    kc.oauth = &oc;
    if (kc.auth == KAFKA_AUTH_OAUTH && !oauth_global_init())
        return CFG_EXIT_RUNTIME;
    if (!metrics_serve(m, cfg_str(c, "metrics_listen")))
        return CFG_EXIT_RUNTIME;
    sk = source_kafka_new(&kc, sink, m);
    if (!sk)
        return CFG_EXIT_USAGE;
    rc = source_kafka_run(sk);
    source_kafka_free(sk);
    return rc;
}

int main(int argc, char **argv)
{
    cfg c;
    const char *file;
    sink_pg *sink = NULL;
    bool no_schema = false;
    ingest_metrics *m = NULL;
    int fmt, rc = cfg_load(&c, "tally-ingest", INGEST_SPEC,
                           (int)(sizeof(INGEST_SPEC) / sizeof(INGEST_SPEC[0])), argc, argv);

    if (rc != CFG_EXIT_OK || (rc = cfg_info(&c, SYNOPSIS)) >= 0)
        goto out;
    rc = CFG_EXIT_USAGE;
    log_init("tally-ingest", cfg_str(&c, "log_level"));
    file = cfg_str(&c, "from_file");
    fmt = parse_format_from_name(cfg_str(&c, "input_format"));
    if (!cfg_no_args(&c, 0))
        goto out;
    if (!file && (!cfg_str(&c, "brokers") || !*cfg_str(&c, "brokers"))) {
        rc = usage_error("\"brokers\" is required (or --from-file)");
        goto out;
    }
    if (!file && (!cfg_str(&c, "topic") || !*cfg_str(&c, "topic"))) {
        rc = usage_error("\"topic\" is required (or --from-file)");
        goto out;
    }
    if (!file && strcmp(cfg_str(&c, "auth"), "connection-string") == 0 &&
        !cfg_str(&c, "kafka_password")) {
        rc = usage_error("\"kafka_password\" is required with auth=connection-string");
        goto out;
    }
    if (!file && strcmp(cfg_str(&c, "auth"), "oauth") == 0) {
        /* before the database: a configuration error is reported as one, at once */
        oauth_config oc = oauth_from_cfg(&c);
        char err[256];
        if (!oauth_config_check(&oc, err, sizeof(err))) {
            rc = usage_error(err);
            goto out;
        }
    }
    sig_install();
    sink_pg_config sc = {
        .conninfo = cfg_str(&c, "db"),
        .group = file ? NULL : cfg_str(&c, "group"),
        .topic = file ? NULL : cfg_str(&c, "topic"),
        .monitor_join_wait_s = (int)cfg_int(&c, "monitor_join_wait_s"),
    };
    rc = CFG_EXIT_RUNTIME;
    sink = sink_pg_new(&sc, &sig_stop, &no_schema);
    if (!sink) {
        if (no_schema)
            log_error("could not prepare the database: a table is missing (has \"tallyctl "
                      "migrate\" been run?)");
        else
            log_error("could not prepare the database");
        goto out;
    }
    m = metrics_new();
    if (file) {
        source_file_summary sum;
        rc =
            source_file_run(file, (parse_format)fmt, (int)cfg_int(&c, "batch_size"), sink, m, &sum);
        source_file_print_summary(&sum, stdout);
    } else {
        rc = run_kafka(&c, sink, m, (parse_format)fmt);
    }
out:
    sink_pg_free(sink);
    metrics_free(m);
    cfg_cleanup(&c);
    return rc;
}
