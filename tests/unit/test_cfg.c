/* common/cfg.c: precedence, *_FILE secrets, masking, bounds, unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

static const cfg_spec SPEC[] = {
    {"db", CFG_STR, "", 0, 0, NULL, CFG_CONNINFO, "conninfo"},
    {"batch_size", CFG_INT, "500", 1, 100000, NULL, CFG_PUBLIC, "batch size"},
    {"mode", CFG_STR, "auto", 0, 0, "auto|usage|legacy", CFG_PUBLIC, "mode"},
    {"verbose", CFG_BOOL, "false", 0, 0, NULL, CFG_PUBLIC, "verbose"},
    {"kafka_password", CFG_STR, NULL, 0, 0, NULL, CFG_SECRET, "secret"},
};
#define NSPEC ((int)(sizeof(SPEC) / sizeof(SPEC[0])))

static char tmpdir[64];

static char *write_tmp(const char *name, const char *text)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    FILE *f;

    snprintf(p, 128, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static int load(cfg *c, int argc, char **argv)
{
    return cfg_load(c, "test", SPEC, NSPEC, argc, argv);
}

static void test_defaults(void **state)
{
    cfg c;
    char *argv[] = {"prog"};
    (void)state;
    assert_int_equal(load(&c, 1, argv), CFG_EXIT_OK);
    assert_int_equal(cfg_int(&c, "batch_size"), 500);
    assert_string_equal(cfg_str(&c, "mode"), "auto");
    assert_false(cfg_bool(&c, "verbose"));
    assert_null(cfg_str(&c, "kafka_password"));
    cfg_cleanup(&c);
}

static void test_precedence(void **state)
{
    cfg c;
    char *file = write_tmp("p.conf", "# comment\nbatch_size = 10\nmode = usage\nverbose=true\n");
    char *argv_file[] = {"prog", "--config", file};
    char *argv_flag[] = {"prog", "--batch-size", "30", "--config", file};
    (void)state;

    assert_int_equal(load(&c, 3, argv_file), CFG_EXIT_OK);
    assert_int_equal(cfg_int(&c, "batch_size"), 10);
    assert_true(cfg_bool(&c, "verbose"));
    cfg_cleanup(&c);

    setenv("TALLY_BATCH_SIZE", "20", 1);
    assert_int_equal(load(&c, 3, argv_file), CFG_EXIT_OK);
    assert_int_equal(cfg_int(&c, "batch_size"), 20); /* env beats file */
    assert_string_equal(cfg_str(&c, "mode"), "usage");
    cfg_cleanup(&c);

    assert_int_equal(load(&c, 5, argv_flag), CFG_EXIT_OK);
    assert_int_equal(cfg_int(&c, "batch_size"), 30); /* flag beats env, whatever the order */
    assert_string_equal(c.origins[1], "flag");
    cfg_cleanup(&c);
    unsetenv("TALLY_BATCH_SIZE");
}

static void test_secret_file(void **state)
{
    cfg c;
    char *secret = write_tmp("secret", "s3cr3t-from-file\n");
    char conf[256];
    char *argv[] = {"prog"};
    char *argv_flag[] = {"prog", "--kafka-password-file", secret};
    (void)state;

    setenv("TALLY_KAFKA_PASSWORD_FILE", secret, 1);
    assert_int_equal(load(&c, 1, argv), CFG_EXIT_OK);
    assert_string_equal(cfg_str(&c, "kafka_password"), "s3cr3t-from-file");
    cfg_cleanup(&c);
    unsetenv("TALLY_KAFKA_PASSWORD_FILE");

    assert_int_equal(load(&c, 3, argv_flag), CFG_EXIT_OK);
    assert_string_equal(cfg_str(&c, "kafka_password"), "s3cr3t-from-file");
    cfg_cleanup(&c);

    snprintf(conf, sizeof(conf), "kafka_password_file = %s\n", secret);
    {
        char *f = write_tmp("s.conf", conf);
        char *argv_conf[] = {"prog", "--config", f};
        assert_int_equal(load(&c, 3, argv_conf), CFG_EXIT_OK);
        assert_string_equal(cfg_str(&c, "kafka_password"), "s3cr3t-from-file");
        cfg_cleanup(&c);
    }
}

static void test_check_config_masks(void **state)
{
    cfg c;
    char out[4096] = "";
    FILE *f;
    char *argv[] = {"prog",
                    "--db",
                    "host=db user=u password=hunter2 dbname=x",
                    "--kafka-password",
                    "Endpoint=sb://x;SharedAccessKey=abc",
                    "-X",
                    "sasl.password=topsecret",
                    "-X",
                    "kafka.client.id=me"};
    (void)state;

    assert_int_equal(load(&c, 9, argv), CFG_EXIT_OK);
    f = fmemopen(out, sizeof(out), "w");
    cfg_print(&c, f);
    fclose(f);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "SharedAccessKey"));
    assert_null(strstr(out, "topsecret"));
    assert_non_null(strstr(out, "db = host=db user=u password=******** dbname=x  # flag\n"));
    assert_non_null(strstr(out, "kafka_password = ********  # flag\n"));
    assert_non_null(strstr(out, "kafka.sasl.password = ********\n"));
    assert_non_null(strstr(out, "kafka.client.id = me\n"));
    cfg_cleanup(&c);
}

/* Every librdkafka property that can carry a secret is masked, however it was given. */
static void test_check_config_masks_kafka(void **state)
{
    static const char *const secret[] = {
        "sasl.username",
        "sasl.password",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.assertion.private.key.pem",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "ssl.key.location",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl.keystore.password",
        "ssl.ca.pem",
        "ssl.certificate.pem",
    };
    enum { NSECRET = sizeof(secret) / sizeof(secret[0]) };
    char props[NSECRET][128], *argv[1 + 2 * NSECRET + 2];
    char out[8192] = "", line[192];
    int argc = 0;
    cfg c;
    FILE *f;
    (void)state;

    argv[argc++] = "prog";
    for (int i = 0; i < NSECRET; i++) {
        /* alternate the two -X spellings */
        snprintf(props[i], sizeof(props[i]), "%s%s=V%02d-in-clear", i % 2 ? "kafka." : "",
                 secret[i], i);
        argv[argc++] = "-X";
        argv[argc++] = props[i];
    }
    argv[argc++] = "-X";
    argv[argc++] = "sasl.oauthbearer.token.endpoint.url=https://login.example/t";
    assert_int_equal(load(&c, argc, argv), CFG_EXIT_OK);
    f = fmemopen(out, sizeof(out), "w");
    cfg_print(&c, f);
    fclose(f);
    assert_null(strstr(out, "-in-clear"));
    for (int i = 0; i < NSECRET; i++) {
        snprintf(line, sizeof(line), "\nkafka.%s = ********\n", secret[i]);
        if (!strstr(out, line))
            fail_msg("--check-config lacks [%s] in [%s]", line, out);
        assert_true(cfg_kafka_secret(secret[i]));
    }
    assert_true(cfg_kafka_secret("kafka.ssl.key.pem"));
    assert_false(cfg_kafka_secret("bootstrap.servers"));
    assert_false(cfg_kafka_secret("ssl.certificate.location"));
    assert_false(cfg_kafka_secret("sasl.mechanisms"));
    cfg_cleanup(&c);
}

static void test_mask_conninfo_forms(void **state)
{
    char out[256];
    (void)state;
    cfg_mask_conninfo("password='a b\\' c' host=x", out, sizeof(out));
    assert_string_equal(out, "password=******** host=x");
    cfg_mask_conninfo("postgresql://user:pw@host/db", out, sizeof(out));
    assert_string_equal(out, "postgresql://user:********@host/db");
    cfg_mask_conninfo("host=x", out, sizeof(out));
    assert_string_equal(out, "host=x");
    cfg_mask_conninfo("host=x sslpassword=keypw password = pw\\ 2 user=u", out, sizeof(out));
    assert_string_equal(out, "host=x sslpassword=******** password=******** user=u");
    cfg_mask_conninfo("postgresql://host:5432/db?user=u&password=pw&sslmode=require", out,
                      sizeof(out));
    assert_string_equal(out, "postgresql://host:5432/db?user=u&password=********&sslmode=require");
    cfg_mask_conninfo("postgres://u:p%40w@h1:1,h2:2/db?sslpassword=k", out, sizeof(out));
    assert_string_equal(out, "postgres://u:********@h1:1,h2:2/db?sslpassword=********");
    cfg_mask_conninfo("postgresql://u@host/db", out, sizeof(out));
    assert_string_equal(out, "postgresql://u@host/db");
    cfg_mask_conninfo("postgresql://u:pw@host", out, 12);
    assert_string_equal(out, "postgresql:");
}

/* Bad values are rejected with exit code 2; stderr names the key. */
static void expect_usage_error(int argc, char **argv, const char *needle)
{
    cfg c;
    char err[1024] = "";
    FILE *f = tmpfile();
    int saved = dup(2), rc;

    dup2(fileno(f), 2);
    rc = load(&c, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    err[fread(err, 1, sizeof(err) - 1, f)] = '\0';
    fclose(f);
    cfg_cleanup(&c);
    assert_int_equal(rc, CFG_EXIT_USAGE);
    if (!strstr(err, needle))
        fail_msg("stderr [%s] lacks [%s]", err, needle);
    assert_null(strchr(err, '\n') == err + strlen(err) - 1 ? NULL : "one line");
}

static void test_bad_values(void **state)
{
    char *a1[] = {"prog", "--batch-size", "abc"};
    char *a2[] = {"prog", "--batch-size=0"};
    char *a3[] = {"prog", "--mode", "xml"};
    char *a4[] = {"prog", "--no-such-key", "1"};
    char *a5[] = {"prog", "--verbose=maybe"};
    char *f = write_tmp("bad.conf", "batch_size = 7\nfrobnicate = 1\n");
    char *a6[] = {"prog", "--config", f};
    (void)state;

    expect_usage_error(3, a1, "invalid value for \"batch_size\" (from flag): \"abc\"");
    expect_usage_error(2, a2, "\"batch_size\"");
    expect_usage_error(3, a3, "invalid value for \"mode\" (from flag): \"xml\" is not one of");
    expect_usage_error(3, a4, "unknown configuration key \"no_such_key\"");
    expect_usage_error(2, a5, "\"verbose\"");
    expect_usage_error(3, a6, "unknown configuration key \"frobnicate\" in ");
    setenv("TALLY_BATCH_SIZE", "999999999", 1);
    {
        char *a7[] = {"prog"};
        expect_usage_error(1, a7, "invalid value for \"batch_size\" (from env)");
    }
    unsetenv("TALLY_BATCH_SIZE");
}

/* The conninfo has _FILE forms too, so its password need not be on the command line. */
static void test_db_file(void **state)
{
    cfg c;
    char out[4096] = "", conf[256];
    char *path = write_tmp("db", "host=db user=u password=fr0m-file dbname=x\n");
    char *argv_flag[] = {"prog", "--db-file", path};
    char *argv_env[] = {"prog"};
    FILE *f;
    (void)state;

    assert_int_equal(load(&c, 3, argv_flag), CFG_EXIT_OK);
    assert_string_equal(cfg_str(&c, "db"), "host=db user=u password=fr0m-file dbname=x");
    f = fmemopen(out, sizeof(out), "w");
    cfg_print(&c, f);
    fclose(f);
    assert_non_null(strstr(out, "db = host=db user=u password=******** dbname=x  # flag\n"));
    assert_null(strstr(out, "fr0m-file"));
    cfg_cleanup(&c);

    setenv("TALLY_DB_FILE", path, 1);
    assert_int_equal(load(&c, 1, argv_env), CFG_EXIT_OK);
    assert_string_equal(cfg_str(&c, "db"), "host=db user=u password=fr0m-file dbname=x");
    assert_string_equal(c.origins[0], "env");
    cfg_cleanup(&c);
    unsetenv("TALLY_DB_FILE");

    snprintf(conf, sizeof(conf), "db_file = %s\n", path);
    {
        char *cf = write_tmp("db.conf", conf);
        char *argv_conf[] = {"prog", "--config", cf};
        assert_int_equal(load(&c, 3, argv_conf), CFG_EXIT_OK);
        assert_string_equal(cfg_str(&c, "db"), "host=db user=u password=fr0m-file dbname=x");
        cfg_cleanup(&c);
    }
    {
        char *argv_missing[] = {"prog", "--db-file", "/nonexistent/db"};
        expect_usage_error(3, argv_missing, "could not read \"db_file\" \"/nonexistent/db\"");
    }
    {
        char md[4096] = "";
        f = fmemopen(md, sizeof(md), "w");
        cfg_print_markdown(SPEC, NSPEC, f);
        fclose(f);
        assert_non_null(strstr(md, "| `db` | `TALLY_DB` (or `_FILE`) | string |"));
    }
}

/* A bool flag takes a following bool word; anything else after it is positional. */
static void test_bool_flag_value(void **state)
{
    cfg c;
    char *a1[] = {"prog", "--verbose", "false", "--batch-size", "3"};
    char *a2[] = {"prog", "--verbose", "ON"};
    char *a3[] = {"prog", "--verbose", "stray"};
    (void)state;

    assert_int_equal(load(&c, 5, a1), CFG_EXIT_OK);
    assert_false(cfg_bool(&c, "verbose"));
    assert_int_equal(c.nargs, 0);
    assert_int_equal(cfg_int(&c, "batch_size"), 3);
    cfg_cleanup(&c);
    assert_int_equal(load(&c, 3, a2), CFG_EXIT_OK);
    assert_true(cfg_bool(&c, "verbose"));
    assert_string_equal(cfg_str(&c, "verbose"), "true");
    cfg_cleanup(&c);
    assert_int_equal(load(&c, 3, a3), CFG_EXIT_OK);
    assert_true(cfg_bool(&c, "verbose"));
    assert_int_equal(c.nargs, 1);
    assert_false(cfg_no_args(&c, 0));
    assert_true(cfg_no_args(&c, 1));
    cfg_cleanup(&c);
}

static void test_positional_and_kafka(void **state)
{
    cfg c;
    char *f = write_tmp("k.conf", "kafka.fetch.wait.max.ms = 50\n");
    char *argv[] = {"prog",     "prices", "load", "--config", f, "-X", "fetch.wait.max.ms=10",
                    "book.json"};
    (void)state;
    assert_int_equal(load(&c, 8, argv), CFG_EXIT_OK);
    assert_int_equal(c.nargs, 3);
    assert_string_equal(c.args[2], "book.json");
    assert_int_equal(c.nkafka, 1);
    assert_string_equal(c.kafka[0].value, "10"); /* -X beats the file */
    cfg_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_db_file),
        cmocka_unit_test(test_check_config_masks),
        cmocka_unit_test(test_check_config_masks_kafka),
        cmocka_unit_test(test_mask_conninfo_forms),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bool_flag_value),
        cmocka_unit_test(test_positional_and_kafka),
    };
    int rc;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            rc = rc ? rc : 1;
    }
    return rc;
}
