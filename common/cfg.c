#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int cfg_find(const cfg *c, const char *key, size_t keylen)
{
    for (int i = 0; i < c->nspec; i++) {
        if (strlen(c->spec[i].key) == keylen && strncmp(c->spec[i].key, key, keylen) == 0)
            return i;
    }
    return -1;
}

static int cfg_lookup(const cfg *c, const char *key)
{
    int i = cfg_find(c, key, strlen(key));

    if (i < 0) {
        fprintf(stderr, "%s: internal error: no configuration key \"%s\"\n", c->prog, key);
        abort();
    }
    return i;
}

static bool cfg_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool cfg_choice_ok(const char *choices, const char *v)
{
    size_t vlen = strlen(v);

    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && strncmp(p, v, n) == 0)
            return true;
        p += n + (bar ? 1 : 0);
    }
    return false;
}

/* Checks v against spec i and stores it; prints the error line on failure. */
static bool cfg_set(cfg *c, int i, const char *v, const char *origin)
{
    const cfg_spec *s = &c->spec[i];

    if (s->type == CFG_INT) {
        char *end;
        long long n;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || end == v || *end || n < s->min || n > s->max) {
            fprintf(
                stderr,
                "%s: invalid value for \"%s\" (from %s): \"%s\" is not an integer in %lld..%lld\n",
                c->prog, s->key, origin, s->secrecy == CFG_SECRET ? "********" : v, s->min, s->max);
            return false;
        }
    } else if (s->type == CFG_BOOL) {
        bool b;
        if (!cfg_parse_bool(v, &b)) {
            fprintf(stderr, "%s: invalid value for \"%s\" (from %s): \"%s\" is not true or false\n",
                    c->prog, s->key, origin, v);
            return false;
        }
        v = b ? "true" : "false"; /* --check-config shows what the program will use */
    } else if (s->choices && !cfg_choice_ok(s->choices, v)) {
        fprintf(stderr, "%s: invalid value for \"%s\" (from %s): \"%s\" is not one of %s\n",
                c->prog, s->key, origin, v, s->choices);
        return false;
    }
    free(c->values[i]);
    c->values[i] = strdup(v);
    c->origins[i] = origin;
    return c->values[i] != NULL;
}

static bool cfg_set_kafka(cfg *c, const char *name, const char *value)
{
    cfg_kv *grown;

    if (strncmp(name, "kafka.", 6) == 0)
        name += 6;
    if (!*name) {
        fprintf(stderr, "%s: empty kafka property name\n", c->prog);
        return false;
    }
    for (int i = 0; i < c->nkafka; i++) {
        if (strcmp(c->kafka[i].name, name) == 0) {
            free(c->kafka[i].value);
            c->kafka[i].value = strdup(value);
            return c->kafka[i].value != NULL;
        }
    }
    grown = realloc(c->kafka, sizeof(*grown) * (size_t)(c->nkafka + 1));
    if (!grown)
        return false;
    c->kafka = grown;
    c->kafka[c->nkafka].name = strdup(name);
    c->kafka[c->nkafka].value = strdup(value);
    c->nkafka++;
    return true;
}

/* Reads a secret from a file, dropping one trailing newline. */
static bool cfg_set_from_file(cfg *c, int i, const char *path, const char *origin)
{
    char buf[8192];
    size_t n;
    FILE *f = fopen(path, "r");

    if (!f) {
        fprintf(stderr, "%s: could not read \"%s_file\" \"%s\": %s\n", c->prog, c->spec[i].key,
                path, strerror(errno));
        return false;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return cfg_set(c, i, buf, origin);
}

/* Applies key (keylen bytes) = value from origin; handles key_file and kafka.*. */
static bool cfg_apply(cfg *c, const char *key, size_t keylen, const char *value, const char *origin,
                      const char *where)
{
    int i = cfg_find(c, key, keylen);

    if (i >= 0)
        return cfg_set(c, i, value, origin);
    if (keylen > 5 && strncmp(key + keylen - 5, "_file", 5) == 0) {
        i = cfg_find(c, key, keylen - 5);
        if (i >= 0 && c->spec[i].secrecy != CFG_PUBLIC)
            return cfg_set_from_file(c, i, value, origin);
    }
    if (keylen > 6 && strncmp(key, "kafka.", 6) == 0) {
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)keylen, key);
        return cfg_set_kafka(c, name, value);
    }
    fprintf(stderr, "%s: unknown configuration key \"%.*s\"%s%s\n", c->prog, (int)keylen, key,
            where ? " in " : "", where ? where : "");
    return false;
}

static char *cfg_trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static bool cfg_load_file(cfg *c, const char *path)
{
    char line[8192], where[512];
    int lineno = 0;
    bool ok = true;
    FILE *f = fopen(path, "r");

    if (!f) {
        fprintf(stderr, "%s: could not open config file \"%s\": %s\n", c->prog, path,
                strerror(errno));
        return false;
    }
    while (ok && fgets(line, sizeof(line), f)) {
        char *eq, *key, *value;
        lineno++;
        key = cfg_trim(line);
        if (!*key || *key == '#' || *key == ';')
            continue;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        eq = strchr(key, '=');
        if (!eq) {
            fprintf(stderr, "%s: %s: expected key = value\n", c->prog, where);
            ok = false;
            break;
        }
        *eq = '\0';
        key = cfg_trim(key);
        value = cfg_trim(eq + 1);
        if (strlen(value) >= 2 && value[0] == '"' && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        ok = cfg_apply(c, key, strlen(key), value, "file", where);
    }
    fclose(f);
    return ok;
}

static bool cfg_load_env(cfg *c)
{
    char name[300];

    for (int i = 0; i < c->nspec; i++) {
        const char *v;
        size_t n = (size_t)snprintf(name, sizeof(name), "TALLY_");
        for (const char *k = c->spec[i].key; *k && n < sizeof(name) - 6; k++)
            name[n++] = (char)toupper((unsigned char)*k);
        name[n] = '\0';
        v = getenv(name);
        if (v && !cfg_set(c, i, v, "env"))
            return false;
        if (c->spec[i].secrecy != CFG_PUBLIC) {
            memcpy(name + n, "_FILE", 6);
            v = getenv(name);
            if (v && !cfg_set_from_file(c, i, v, "env"))
                return false;
        }
    }
    return true;
}

/* Flags: --key VALUE, --key=VALUE, --bool-key, -X prop=value, positional args. */
static bool cfg_load_flags(cfg *c, int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        char key[256];
        const char *arg = argv[a], *value = NULL, *eq;
        size_t keylen;
        int i;

        if (strcmp(arg, "-X") == 0) {
            const char *kv = a + 1 < argc ? argv[++a] : NULL;
            const char *sep = kv ? strchr(kv, '=') : NULL;
            if (!sep) {
                fprintf(stderr, "%s: -X needs property=value\n", c->prog);
                return false;
            }
            snprintf(key, sizeof(key), "%.*s", (int)(sep - kv), kv);
            if (!cfg_set_kafka(c, key, sep + 1))
                return false;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (strcmp(arg, "--") == 0) {
                while (++a < argc)
                    c->args[c->nargs++] = argv[a];
                break;
            }
            c->args[c->nargs++] = argv[a];
            continue;
        }
        arg += 2;
        eq = strchr(arg, '=');
        keylen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (keylen >= sizeof(key)) {
            fprintf(stderr, "%s: unknown option \"--%.40s…\"\n", c->prog, arg);
            return false;
        }
        for (size_t k = 0; k < keylen; k++)
            key[k] = arg[k] == '-' ? '_' : arg[k];
        key[keylen] = '\0';
        if (strcmp(key, "help") == 0) {
            c->help = true;
            continue;
        }
        if (strcmp(key, "version") == 0) {
            c->version = true;
            continue;
        }
        if (strcmp(key, "check_config") == 0) {
            c->check_config = true;
            continue;
        }
        if (strcmp(key, "config_reference") == 0) {
            c->reference = true;
            continue;
        }
        if (strcmp(key, "config") == 0) {
            if (!eq)
                a++; /* already loaded before the environment */
            continue;
        }
        i = cfg_find(c, key, keylen);
        if (eq)
            value = eq + 1;
        else if (i >= 0 && c->spec[i].type == CFG_BOOL) {
            bool b;
            /* "--flag false" is false; "--flag" alone (or before anything else) is true */
            if (a + 1 < argc && cfg_parse_bool(argv[a + 1], &b))
                value = argv[++a];
            else
                value = "true";
        } else if (a + 1 < argc)
            value = argv[++a];
        else {
            fprintf(stderr, "%s: option \"--%s\" needs a value\n", c->prog, arg);
            return false;
        }
        if (!cfg_apply(c, key, keylen, value, "flag", NULL))
            return false;
    }
    return true;
}

int cfg_load(cfg *c, const char *prog, const cfg_spec *spec, int nspec, int argc, char **argv)
{
    const char *config_path = NULL;

    memset(c, 0, sizeof(*c));
    c->prog = prog;
    c->spec = spec;
    c->nspec = nspec;
    c->values = calloc((size_t)nspec, sizeof(char *));
    c->origins = calloc((size_t)nspec, sizeof(char *));
    c->args = calloc((size_t)argc + 1, sizeof(char *));
    if (!c->values || !c->origins || !c->args)
        return CFG_EXIT_RUNTIME;
    for (int i = 0; i < nspec; i++) {
        if (spec[i].def && !cfg_set(c, i, spec[i].def, "default"))
            return CFG_EXIT_USAGE;
    }
    /* the file comes first whatever the flag order: file < env < flags */
    config_path = getenv("TALLY_CONFIG");
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--config") == 0 && a + 1 < argc)
            config_path = argv[a + 1];
        else if (strncmp(argv[a], "--config=", 9) == 0)
            config_path = argv[a] + 9;
        else if (strcmp(argv[a], "--config") == 0) {
            fprintf(stderr, "%s: option \"--config\" needs a value\n", prog);
            return CFG_EXIT_USAGE;
        }
    }
    if (config_path && *config_path && !cfg_load_file(c, config_path))
        return CFG_EXIT_USAGE;
    if (!cfg_load_env(c) || !cfg_load_flags(c, argc, argv))
        return CFG_EXIT_USAGE;
    return CFG_EXIT_OK;
}

void cfg_cleanup(cfg *c)
{
    if (c->values) {
        for (int i = 0; i < c->nspec; i++)
            free(c->values[i]);
    }
    for (int i = 0; i < c->nkafka; i++) {
        free(c->kafka[i].name);
        free(c->kafka[i].value);
    }
    free(c->values);
    free((void *)c->origins);
    free(c->kafka);
    free((void *)c->args);
    memset(c, 0, sizeof(*c));
}

const char *cfg_str(const cfg *c, const char *key)
{
    return c->values[cfg_lookup(c, key)];
}

long long cfg_int(const cfg *c, const char *key)
{
    const char *v = c->values[cfg_lookup(c, key)];
    return v ? strtoll(v, NULL, 10) : 0;
}

bool cfg_bool(const cfg *c, const char *key)
{
    const char *v = c->values[cfg_lookup(c, key)];
    bool b = false;

    return v && cfg_parse_bool(v, &b) && b;
}

bool cfg_no_args(const cfg *c, int first)
{
    if (first >= c->nargs)
        return true;
    fprintf(stderr, "%s: unexpected argument%s", c->prog, c->nargs - first > 1 ? "s" : "");
    for (int i = first; i < c->nargs; i++)
        fprintf(stderr, "%s\"%s\"", i > first ? ", " : " ", c->args[i]);
    fputc('\n', stderr);
    return false;
}

/* libpq connection keywords whose values are secrets */
static const char *const CFG_CONNINFO_SECRETS[] = {"password", "sslpassword", NULL};

/* A bounded writer for cfg_mask_conninfo: output past outlen - 1 is dropped. */
typedef struct cfg_out {
    char *p;
    size_t n, len;
} cfg_out;

static void cfg_out_put(cfg_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->n + 1 < o->len; i++)
        o->p[o->n++] = s[i];
}

/* The secret keyword s starts with, if it is followed by "=" (key/value form, spaces
 * allowed) or exactly "=" (URI query form); NULL otherwise. */
static const char *cfg_secret_key(const char *s, size_t n, bool spaces)
{
    for (const char *const *k = CFG_CONNINFO_SECRETS; *k; k++) {
        size_t kl = strlen(*k), i = kl;
        if (n < kl || strncmp(s, *k, kl) != 0)
            continue;
        while (spaces && i < n && isspace((unsigned char)s[i]))
            i++;
        if (i < n && s[i] == '=')
            return *k;
    }
    return NULL;
}

/* URI form: the password of the userinfo and password/sslpassword query parameters. */
static void cfg_mask_uri(const char *uri, cfg_out *o)
{
    const char *auth = strstr(uri, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *at = NULL, *q;

    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i; /* the last one: a host never holds '@' */
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            cfg_out_put(o, uri, (size_t)(colon - uri));
            cfg_out_put(o, ":********", 9);
            uri = at;
        }
    }
    q = strchr(auth + alen, '?');
    if (!q) {
        cfg_out_put(o, uri, strlen(uri));
        return;
    }
    cfg_out_put(o, uri, (size_t)(q + 1 - uri));
    for (const char *p = q + 1; *p;) {
        size_t n = strcspn(p, "&");
        const char *key = cfg_secret_key(p, n, false);
        if (key) {
            cfg_out_put(o, key, strlen(key));
            cfg_out_put(o, "=********", 9);
        } else {
            cfg_out_put(o, p, n);
        }
        p += n;
        if (*p == '&')
            cfg_out_put(o, p++, 1);
    }
}

void cfg_mask_conninfo(const char *conninfo, char *out, size_t outlen)
{
    cfg_out o = {out, 0, outlen};
    const char *p = conninfo;

    if (outlen == 0)
        return;
    if (strncmp(p, "postgres://", 11) == 0 || strncmp(p, "postgresql://", 13) == 0) {
        cfg_mask_uri(p, &o);
        out[o.n] = '\0';
        return;
    }
    while (*p) {
        const char *key = NULL;
        if (p == conninfo || isspace((unsigned char)p[-1]))
            key = cfg_secret_key(p, strlen(p), true);
        if (!key) {
            cfg_out_put(&o, p++, 1);
            continue;
        }
        cfg_out_put(&o, key, strlen(key));
        cfg_out_put(&o, "=********", 9);
        p = strchr(p, '=') + 1;
        while (isspace((unsigned char)*p))
            p++;
        /* libpq: a backslash escapes the next character, quoted or not */
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
        } else {
            for (; *p && !isspace((unsigned char)*p); p++)
                if (*p == '\\' && p[1])
                    p++;
        }
    }
    out[o.n] = '\0';
}

/* The properties librdkafka itself flags _RK_SENSITIVE (rdkafka_conf.c), and the ones it
 * leaves unflagged although they hold a secret (the OIDC client secret, the JWT-bearer
 * assertion key and its passphrase, newer than 2.0). */
static const char *const CFG_KAFKA_SECRETS[] = {
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.assertion.private.key.pem",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.keystore.password",
    "ssl.ca.pem",
    NULL,
};

bool cfg_kafka_secret(const char *name)
{
    size_t n = strlen(name);

    if (strncmp(name, "kafka.", 6) == 0) {
        name += 6;
        n -= 6;
    }
    for (const char *const *k = CFG_KAFKA_SECRETS; *k; k++)
        if (strcasecmp(name, *k) == 0)
            return true;
    /* a property this list does not know yet (a newer librdkafka): err on the side of
     * masking anything named like a secret or holding a PEM blob, which may carry a key */
    return strstr(name, "password") || strstr(name, "passphrase") || strstr(name, "secret") ||
           strstr(name, "token") || strstr(name, "jaas") ||
           (n > 4 && strcmp(name + n - 4, ".pem") == 0);
}

void cfg_print(const cfg *c, FILE *out)
{
    char masked[4096];

    for (int i = 0; i < c->nspec; i++) {
        const char *v = c->values[i];
        if (v && c->spec[i].secrecy == CFG_SECRET && *v)
            v = "********";
        else if (v && c->spec[i].secrecy == CFG_CONNINFO) {
            cfg_mask_conninfo(v, masked, sizeof(masked));
            v = masked;
        }
        fprintf(out, "%s = %s  # %s\n", c->spec[i].key, v ? v : "",
                c->origins[i] ? c->origins[i] : "unset");
    }
    for (int i = 0; i < c->nkafka; i++)
        fprintf(out, "kafka.%s = %s\n", c->kafka[i].name,
                cfg_kafka_secret(c->kafka[i].name) ? "********" : c->kafka[i].value);
}

static const char *cfg_type_name(const cfg_spec *s)
{
    return s->type == CFG_INT ? "integer" : s->type == CFG_BOOL ? "bool" : "string";
}

void cfg_print_help(const cfg *c, FILE *out, const char *synopsis)
{
    fprintf(out, "usage: %s\n\noptions (flag / environment / config file key):\n", synopsis);
    for (int i = 0; i < c->nspec; i++) {
        char flag[128], env[128];
        const cfg_spec *s = &c->spec[i];
        size_t k;
        for (k = 0; s->key[k] && k < sizeof(flag) - 1; k++) {
            flag[k] = s->key[k] == '_' ? '-' : s->key[k];
            env[k] = (char)toupper((unsigned char)s->key[k]);
        }
        flag[k] = env[k] = '\0';
        fprintf(out, "  --%-22s TALLY_%-22s %s", flag, env, s->help);
        if (s->def && *s->def)
            fprintf(out, " (default %s)", s->def);
        fputc('\n', out);
    }
    fprintf(out, "  --config FILE, -X kafka.property=value, --check-config, --help, --version\n");
}

void cfg_print_markdown(const cfg_spec *spec, int nspec, FILE *out)
{
    fprintf(out, "| key | env | type | default | description |\n|---|---|---|---|---|\n");
    for (int i = 0; i < nspec; i++) {
        const cfg_spec *s = &spec[i];
        char env[128];
        size_t k;
        for (k = 0; s->key[k] && k < sizeof(env) - 1; k++)
            env[k] = (char)toupper((unsigned char)s->key[k]);
        env[k] = '\0';
        fprintf(out, "| `%s` | `TALLY_%s`%s | %s", s->key, env,
                s->secrecy != CFG_PUBLIC ? " (or `_FILE`)" : "", cfg_type_name(s));
        if (s->type == CFG_INT)
            fprintf(out, " %lld..%lld", s->min, s->max);
        if (s->choices) {
            fputs(" (", out);
            for (const char *p = s->choices; *p; p++)
                fputs(*p == '|' ? ", " : (char[]){*p, 0}, out);
            fputc(')', out);
        }
        fprintf(out, " | %s | ", s->def && *s->def ? s->def : "");
        for (const char *h = s->help; *h; h++) /* a bare | would end the table cell */
            fputs(*h == '|' ? "\\|" : (char[]){*h, 0}, out);
        fputs(" |\n", out);
    }
}

int cfg_info(const cfg *c, const char *synopsis)
{
    if (c->version) {
        printf("%s %s\n", c->prog, TALLY_VERSION);
        return CFG_EXIT_OK;
    }
    if (c->help) {
        cfg_print_help(c, stdout, synopsis);
        return CFG_EXIT_OK;
    }
    if (c->reference) {
        cfg_print_markdown(c->spec, c->nspec, stdout);
        return CFG_EXIT_OK;
    }
    if (c->check_config) {
        cfg_print(c, stdout);
        return CFG_EXIT_OK;
    }
    return -1;
}
