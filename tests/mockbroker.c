/*
 * mockbroker - runs librdkafka's mock Kafka cluster in its own process so that the
 * daemon and kcat reach it over TCP.
 *
 *   mockbroker [--brokers N] [--topic NAME --partitions N]…
 *
 * Prints "bootstrap=HOST:PORT,…" on the first line of stdout, then reads commands,
 * one a line, from stdin (a FIFO in tests) until "quit" or EOF:
 *   down ID | up ID                       take a broker down / bring it back (IDs 1..N)
 *   down-all | up-all                     every broker
 *   errors APIKEY ERRCODE COUNT           fail the next COUNT requests of APIKEY
 *   topic NAME PARTITIONS                 create a topic
 * Each command is acknowledged with "ok" or "error …" on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int mb_command(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line)
{
    char name[256];
    int a, b, n;

    if (sscanf(line, "down %d", &a) == 1)
        return rd_kafka_mock_broker_set_down(mc, a);
    if (sscanf(line, "up %d", &a) == 1)
        return rd_kafka_mock_broker_set_up(mc, a);
    if (strncmp(line, "down-all", 8) == 0 || strncmp(line, "up-all", 6) == 0) {
        for (int id = 1; id <= nbrokers; id++) {
            rd_kafka_resp_err_t err = line[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, id)
                                                     : rd_kafka_mock_broker_set_up(mc, id);
            if (err)
                return err;
        }
        return 0;
    }
    if (sscanf(line, "errors %d %d %d", &a, &b, &n) == 3) {
        for (int i = 0; i < n; i++)
            rd_kafka_mock_push_request_errors(mc, (int16_t)a, 1, (rd_kafka_resp_err_t)b);
        return 0;
    }
    if (sscanf(line, "topic %255s %d", name, &n) == 2)
        return rd_kafka_mock_topic_create(mc, name, n, 1);
    return -1;
}

int main(int argc, char **argv)
{
    char errstr[512], line[1024];
    int nbrokers = 3, partitions = 4;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            nbrokers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
            partitions = atoi(argv[++i]);
    }
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mockbroker: could not create a client: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "mockbroker: could not create the mock cluster\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
            rd_kafka_mock_topic_create(mc, argv[++i], partitions, 1);
    }
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        int err;
        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, "quit") == 0)
            break;
        if (!*line)
            continue;
        err = mb_command(mc, nbrokers, line);
        if (err)
            printf("error %d\n", err);
        else
            printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
