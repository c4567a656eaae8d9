/* common/prom.c: exact exposition text for counters, gauges, histograms and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"

static void test_render(void **state)
{
    prom_registry *r = prom_registry_new();
    prom_metric *c = prom_counter(r, "tally_rejected_total", "Rejected events.", "reason");
    prom_metric *g = prom_gauge(r, "tally_lag", "Lag.", "topic,partition");
    const double bounds[] = {0.01, 0.1, 10};
    prom_metric *h = prom_histogram(r, "tally_commit_seconds", "Commit latency.", NULL, bounds, 3);
    char *text;
    (void)state;

    prom_counter_add(c, (const char *[]){"bad \"json\"\n"}, 2);
    prom_counter_add(c, (const char *[]){"bad \"json\"\n"}, 1);
    prom_gauge_set(g, (const char *[]){"t", "3"}, 42);
    prom_histogram_observe(h, NULL, 0.005);
    prom_histogram_observe(h, NULL, 0.05);
    prom_histogram_observe(h, NULL, 5);
    text = prom_render(r, NULL);
    assert_string_equal(text, "# HELP tally_rejected_total Rejected events.\n"
                              "# TYPE tally_rejected_total counter\n"
                              "tally_rejected_total{reason=\"bad \\\"json\\\"\\n\"} 3\n"
                              "# HELP tally_lag Lag.\n"
                              "# TYPE tally_lag gauge\n"
                              "tally_lag{topic=\"t\",partition=\"3\"} 42\n"
                              "# HELP tally_commit_seconds Commit latency.\n"
                              "# TYPE tally_commit_seconds histogram\n"
                              "tally_commit_seconds_bucket{le=\"0.01\"} 1\n"
                              "tally_commit_seconds_bucket{le=\"0.1\"} 2\n"
                              "tally_commit_seconds_bucket{le=\"10\"} 3\n"
                              "tally_commit_seconds_bucket{le=\"+Inf\"} 3\n"
                              "tally_commit_seconds_sum 5.055\n"
                              "tally_commit_seconds_count 3\n");
    free(text);
    prom_metric_clear(c);
    text = prom_render(r, NULL);
    assert_null(strstr(text, "tally_rejected_total{"));
    free(text);
    prom_registry_free(r);
}

static void test_parse_listen(void **state)
{
    char host[64];
    unsigned short port = 0;
    (void)state;
    assert_true(prom_parse_listen("127.0.0.1:9464", host, sizeof(host), &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_true(prom_parse_listen(":80", host, sizeof(host), &port));
    assert_string_equal(host, "");
    assert_false(prom_parse_listen("localhost", host, sizeof(host), &port));
    assert_false(prom_parse_listen("1.2.3.4:99999", host, sizeof(host), &port));
    assert_false(prom_parse_listen("1.2.3.4:", host, sizeof(host), &port));
}

/* Values print as Prometheus' clients print them: shortest round trip, NaN, +Inf. */
static void test_numbers(void **state)
{
    prom_registry *r = prom_registry_new();
    prom_metric *g = prom_gauge(r, "g", "G.", "k");
    char *text;
    (void)state;

    prom_gauge_set(g, (const char *[]){"a"}, 0.1);
    prom_gauge_set(g, (const char *[]){"b"}, 1793471399);
    prom_gauge_set(g, (const char *[]){"c"}, 1.0 / 3);
    prom_gauge_set(g, (const char *[]){"d"}, -1e-7);
    prom_gauge_set(g, (const char *[]){"e"}, strtod("inf", NULL));
    prom_gauge_set(g, (const char *[]){"f"}, strtod("nan", NULL));
    prom_gauge_set(g, (const char *[]){"g"}, 10);
    prom_gauge_set(g, (const char *[]){"h"}, 5000);
    prom_gauge_set(g, (const char *[]){"i"}, 1e6);
    prom_gauge_set(g, (const char *[]){"j"}, 2.5e6);
    prom_gauge_set(g, (const char *[]){"k"}, 0.0025);
    prom_gauge_set(g, (const char *[]){"l"}, 0.00001);
    text = prom_render(r, NULL);
    assert_string_equal(text, "# HELP g G.\n"
                              "# TYPE g gauge\n"
                              "g{k=\"l\"} 1e-05\n"
                              "g{k=\"k\"} 0.0025\n"
                              "g{k=\"j\"} 2.5e+06\n"
                              "g{k=\"i\"} 1e+06\n"
                              "g{k=\"h\"} 5000\n"
                              "g{k=\"g\"} 10\n"
                              "g{k=\"f\"} NaN\n"
                              "g{k=\"e\"} +Inf\n"
                              "g{k=\"d\"} -1e-07\n"
                              "g{k=\"c\"} 0.3333333333333333\n"
                              "g{k=\"b\"} 1793471399\n"
                              "g{k=\"a\"} 0.1\n");
    free(text);
    prom_registry_free(r);
}

static void collect_set(void *ctx)
{
    prom_metric *g = ctx;
    prom_gauge_set(g, NULL, 7);
}

static void test_collectors(void **state)
{
    prom_registry *r = prom_registry_new();
    prom_metric *a = prom_gauge(r, "a", "A.", NULL);
    prom_metric *b = prom_gauge(r, "b", "B.", NULL);
    char *text;
    (void)state;

    prom_on_collect(r, collect_set, a);
    prom_on_collect(r, collect_set, b); /* a second collector must not replace the first */
    text = prom_render(r, NULL);
    assert_string_equal(text,
                        "# HELP a A.\n# TYPE a gauge\na 7\n# HELP b B.\n# TYPE b gauge\nb 7\n");
    free(text);
    prom_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render), cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_numbers), cmocka_unit_test(test_collectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
