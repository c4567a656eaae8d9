/*
 * cfg.h - configuration from one table per program: defaults < --config file <
 * TALLY_* environment < command-line flags.
 *
 * Keys are lower_snake_case; the environment name is TALLY_ plus the key in upper
 * case; the flag is --key-with-dashes VALUE or --key=VALUE (a bool flag alone means
 * true; --flag followed by true/false/yes/no/on/off/1/0 takes that value). A secret or conninfo key
 * (db) may also come from a file: key_file in the file, TALLY_KEY_FILE in the environment,
 * --key-file on the command line. kafka.<property> keys (file, or -X kafka.property=value / -X
 * property=value) pass through to librdkafka. An unknown key or a bad value is a usage error naming
 * the key (exit code 2). Not thread-safe while loading; read-only afterwards.
 */
#ifndef TALLY_CFG_H
#define TALLY_CFG_H

#include <stdbool.h>
#include <stdio.h>

#define CFG_EXIT_OK 0
#define CFG_EXIT_RUNTIME 1
#define CFG_EXIT_USAGE 2

typedef enum { CFG_STR, CFG_INT, CFG_BOOL } cfg_type;

typedef enum {
    CFG_PUBLIC = 0,
    CFG_SECRET,   /* masked entirely; may come from a *_file */
    CFG_CONNINFO, /* a libpq conninfo: only the password values are masked */
} cfg_secrecy;

typedef struct cfg_spec {
    const char *key;
    cfg_type type;
    const char *def;     /* default as text; NULL = unset */
    long long min, max;  /* CFG_INT bounds, inclusive */
    const char *choices; /* CFG_STR: "a|b|c" allowed values, or NULL */
    cfg_secrecy secrecy;
    const char *help;
} cfg_spec;

typedef struct cfg_kv {
    char *name;
    char *value;
} cfg_kv;

typedef struct cfg {
    const char *prog;
    const cfg_spec *spec;
    int nspec;
    char **values;        /* per spec entry, owned; NULL = unset */
    const char **origins; /* per spec entry: "default", "file", "env", "flag" */
    cfg_kv *kafka;        /* librdkafka properties, without the "kafka." prefix */
    int nkafka;
    char **args; /* positional arguments, borrowed from argv */
    int nargs;
    bool help, version, check_config, reference;
} cfg;

/*
 * Loads the configuration. Returns CFG_EXIT_OK, or CFG_EXIT_USAGE after printing one
 * line naming the key to stderr. The caller frees c with cfg_cleanup in either case.
 */
int cfg_load(cfg *c, const char *prog, const cfg_spec *spec, int nspec, int argc, char **argv);

void cfg_cleanup(cfg *c);

/*
 * Whether c has no positional arguments from index first on; false after printing one
 * line naming them all (the caller exits CFG_EXIT_USAGE).
 */
bool cfg_no_args(const cfg *c, int first);

/* Values by key; the key must be in the table (abort otherwise: a programming error). */
const char *cfg_str(const cfg *c, const char *key); /* NULL when unset */
long long cfg_int(const cfg *c, const char *key);
bool cfg_bool(const cfg *c, const char *key);

/* Prints the effective configuration, secrets masked (--check-config). */
void cfg_print(const cfg *c, FILE *out);

/*
 * Whether a librdkafka property (with or without the "kafka." prefix) may carry a secret:
 * its value is masked in --check-config and never logged.
 */
bool cfg_kafka_secret(const char *name);

/* Prints usage lines for every key (--help). */
void cfg_print_help(const cfg *c, FILE *out, const char *synopsis);

/* Prints the configuration reference as a Markdown table (README generation). */
void cfg_print_markdown(const cfg_spec *spec, int nspec, FILE *out);

/*
 * Handles the informational flags every program takes: --help (synopsis and keys),
 * --version, --config-reference (Markdown table for the README) and --check-config.
 * Returns -1 when none was given (go on), else the exit code to return.
 */
int cfg_info(const cfg *c, const char *synopsis);

/*
 * Copies conninfo into out (truncated to outlen) with the values of password and
 * sslpassword replaced by ********: key=value pairs, and in a URI the userinfo's
 * password and the query parameters.
 */
void cfg_mask_conninfo(const char *conninfo, char *out, size_t outlen);

#endif
