#include "price_book.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

const char *const PRICE_CLASS_KEYS[PRICE_NCLASSES] = {"input", "output", "cache_write_5m",
                                                      "cache_write_1h", "cache_read"};

#define PB_DIGITS_MAX 9 /* integer and fraction digits of a price */

static const char *const PB_BOOK_KEYS[] = {"name",   "published",   "currency", "unit",
                                           "models", "description", "source",   NULL};
static const char *const PB_MODEL_KEYS[] = {"model", "aliases", "prices", NULL};
static const char *const PB_RANGE_KEYS[] = {"effective_from", "effective_to",   "input",
                                            "output",         "cache_write_5m", "cache_write_1h",
                                            "cache_read",     "long_context",   NULL};
static const char *const PB_LC_KEYS[] = {
    "threshold_tokens", "input", "output", "cache_write_5m", "cache_write_1h", "cache_read", NULL};

/* Where we are in the document, for messages: "model \"x\", prices[1]". */
typedef struct pb_ctx {
    char *err;
    size_t errlen;
    char where[256];
} pb_ctx;

static bool pb_fail(pb_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool pb_fail(pb_ctx *x, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(x->err, x->errlen, "%s: %s", x->where, msg);
    return false;
}

static bool pb_known_keys(pb_ctx *x, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *k = allowed; *k && !ok; k++)
            ok = strcmp(*k, key) == 0;
        if (!ok)
            return pb_fail(x, "unknown key \"%s\"", key);
    }
    return true;
}

static bool pb_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Strict YYYY-MM-DD naming a real calendar day. */
static bool pb_is_date(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) != PRICE_DATE_LEN || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < PRICE_DATE_LEN; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= mdays[m - 1] + (m == 2 && pb_leap(y));
}

/* Reads a required (or optional, when out_absent is given) date string. */
static bool pb_date(pb_ctx *x, json_t *obj, const char *key, char out[PRICE_DATE_LEN + 1],
                    bool *out_absent)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v)) {
        if (out_absent) {
            *out_absent = true;
            out[0] = '\0';
            return true;
        }
        return pb_fail(x, "missing \"%s\"", key);
    }
    if (out_absent)
        *out_absent = false;
    if (!json_is_string(v))
        return pb_fail(x, "\"%s\" is not a date (YYYY-MM-DD)", key);
    if (!pb_is_date(json_string_value(v)))
        return pb_fail(x, "\"%s\" is not a date (YYYY-MM-DD): \"%.40s\"", key,
                       json_string_value(v));
    memcpy(out, json_string_value(v), PRICE_DATE_LEN + 1);
    return true;
}

/* True when s is digits with an optional fraction, within the digit limits. */
static bool pb_is_decimal(const char *s)
{
    size_t i = 0, n = 0;

    while (s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || i > PB_DIGITS_MAX)
        return false;
    if (s[i] == '\0')
        return true;
    if (s[i++] != '.')
        return false;
    while (s[i] >= '0' && s[i] <= '9') {
        i++;
        n++;
    }
    return n > 0 && n <= PB_DIGITS_MAX && s[i] == '\0';
}

/*
 * A price is a decimal string, or a JSON integer. A JSON number with a fraction is
 * refused: the JSON parser would turn it into a binary double and lose exactness.
 */
static bool pb_price(pb_ctx *x, json_t *obj, const char *key, char out[PRICE_DECIMAL_MAX + 1])
{
    json_t *v = json_object_get(obj, key);
    const char *s;

    if (!v)
        return pb_fail(x, "missing \"%s\"", key);
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0)
            return pb_fail(x, "\"%s\" is negative: %lld", key, (long long)n);
        if (n > 999999999)
            return pb_fail(x, "\"%s\" is too large: %lld", key, (long long)n);
        snprintf(out, PRICE_DECIMAL_MAX + 1, "%lld", (long long)n);
        return true;
    }
    if (json_is_real(v))
        return pb_fail(x,
                       "\"%s\" must be a decimal string such as \"3.75\", not a JSON number "
                       "with a fraction or exponent",
                       key);
    if (!json_is_string(v))
        return pb_fail(x, "\"%s\" is not a decimal", key);
    s = json_string_value(v);
    if (s[0] == '-' && pb_is_decimal(s + 1))
        return pb_fail(x, "\"%s\" is negative: \"%s\"", key, s);
    if (!pb_is_decimal(s))
        return pb_fail(x, "\"%s\" is not a decimal: \"%.40s\"", key, s);
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static bool pb_rates(pb_ctx *x, json_t *obj, price_rates *r)
{
    for (int c = 0; c < PRICE_NCLASSES; c++)
        if (!pb_price(x, obj, PRICE_CLASS_KEYS[c], r->usd_per_mtok[c]))
            return false;
    return true;
}

static bool pb_long_context(pb_ctx *x, json_t *lc, price_range *r)
{
    size_t len = strlen(x->where);
    json_t *t;
    bool ok = false;

    snprintf(x->where + len, sizeof(x->where) - len, ".long_context");
    if (!json_is_object(lc)) {
        pb_fail(x, "must be an object or null");
        goto out;
    }
    if (!pb_known_keys(x, lc, PB_LC_KEYS))
        goto out;
    t = json_object_get(lc, "threshold_tokens");
    if (!t) {
        pb_fail(x, "missing \"threshold_tokens\"");
        goto out;
    }
    if (!json_is_integer(t) || json_integer_value(t) <= 0) {
        pb_fail(x, "\"threshold_tokens\" must be a positive integer");
        goto out;
    }
    if (json_integer_value(t) != PRICE_LC_THRESHOLD) {
        pb_fail(x,
                "\"threshold_tokens\" %lld is not supported: requests are flagged as long "
                "context above %d tokens",
                (long long)json_integer_value(t), PRICE_LC_THRESHOLD);
        goto out;
    }
    r->lc_threshold = (long long)json_integer_value(t);
    r->has_long_context = true;
    ok = pb_rates(x, lc, &r->long_context);
out:
    x->where[len] = '\0';
    return ok;
}

static bool pb_range(pb_ctx *x, json_t *obj, price_range *r)
{
    json_t *lc;
    bool open;

    if (!json_is_object(obj))
        return pb_fail(x, "must be an object");
    if (!pb_known_keys(x, obj, PB_RANGE_KEYS) ||
        !pb_date(x, obj, "effective_from", r->effective_from, NULL) ||
        !pb_date(x, obj, "effective_to", r->effective_to, &open))
        return false;
    if (!open && strcmp(r->effective_to, r->effective_from) <= 0)
        return pb_fail(x, "\"effective_to\" %s is not after \"effective_from\" %s", r->effective_to,
                       r->effective_from);
    if (!pb_rates(x, obj, &r->base))
        return false;
    lc = json_object_get(obj, "long_context");
    if (lc && !json_is_null(lc))
        return pb_long_context(x, lc, r);
    return true;
}

/* "" (open) sorts after every date. */
static bool pb_before(const char *a, const char *b)
{
    if (a[0] == '\0')
        return false;
    return b[0] == '\0' || strcmp(a, b) < 0;
}

static bool pb_no_overlap(pb_ctx *x, const price_model *m)
{
    for (size_t i = 0; i < m->nranges; i++) {
        for (size_t j = i + 1; j < m->nranges; j++) {
            const price_range *a = &m->ranges[i], *b = &m->ranges[j];
            if (pb_before(a->effective_from, b->effective_to) &&
                pb_before(b->effective_from, a->effective_to))
                return pb_fail(x, "prices[%zu] (%s to %s) overlaps prices[%zu] (%s to %s)", j,
                               b->effective_from, b->effective_to[0] ? b->effective_to : "open", i,
                               a->effective_from, a->effective_to[0] ? a->effective_to : "open");
        }
    }
    return true;
}

/* Model ids and aliases: printable, no spaces, at most 200 bytes. */
static bool pb_is_model_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 200)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

static bool pb_aliases(pb_ctx *x, json_t *arr, price_model *m)
{
    size_t i;
    json_t *v;

    if (!arr || json_is_null(arr))
        return true;
    if (!json_is_array(arr))
        return pb_fail(x, "\"aliases\" must be an array of strings");
    m->aliases = calloc(json_array_size(arr) + 1, sizeof(char *));
    if (!m->aliases)
        return pb_fail(x, "out of memory");
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !pb_is_model_id(json_string_value(v)))
            return pb_fail(x, "aliases[%zu] is not a model id", i);
        m->aliases[i] = strdup(json_string_value(v));
        if (!m->aliases[i])
            return pb_fail(x, "out of memory");
        m->naliases++;
    }
    return true;
}

static bool pb_model(pb_ctx *x, json_t *obj, size_t index, price_model *m)
{
    json_t *id, *prices, *v;
    size_t i;

    snprintf(x->where, sizeof(x->where), "models[%zu]", index);
    if (!json_is_object(obj))
        return pb_fail(x, "must be an object");
    id = json_object_get(obj, "model");
    if (!id)
        return pb_fail(x, "missing \"model\"");
    if (!json_is_string(id) || !pb_is_model_id(json_string_value(id)))
        return pb_fail(x, "\"model\" is not a model id");
    m->model = strdup(json_string_value(id));
    if (!m->model)
        return pb_fail(x, "out of memory");
    snprintf(x->where, sizeof(x->where), "model \"%s\"", m->model);
    if (!pb_known_keys(x, obj, PB_MODEL_KEYS) || !pb_aliases(x, json_object_get(obj, "aliases"), m))
        return false;
    prices = json_object_get(obj, "prices");
    if (!prices)
        return pb_fail(x, "missing \"prices\"");
    if (!json_is_array(prices) || json_array_size(prices) == 0)
        return pb_fail(x, "\"prices\" must be a non-empty array");
    m->ranges = calloc(json_array_size(prices), sizeof(price_range));
    if (!m->ranges)
        return pb_fail(x, "out of memory");
    json_array_foreach(prices, i, v)
    {
        snprintf(x->where, sizeof(x->where), "model \"%s\", prices[%zu]", m->model, i);
        if (!pb_range(x, v, &m->ranges[i]))
            return false;
        m->nranges++;
    }
    snprintf(x->where, sizeof(x->where), "model \"%s\"", m->model);
    return pb_no_overlap(x, m);
}

/* Every model id and alias names exactly one model. */
static bool pb_unique_ids(pb_ctx *x, const price_book *b)
{
    for (size_t i = 0; i < b->nmodels; i++) {
        const price_model *m = &b->models[i];
        snprintf(x->where, sizeof(x->where), "model \"%s\"", m->model);
        for (size_t j = 0; j < b->nmodels; j++) {
            const price_model *o = &b->models[j];
            if (j < i && strcmp(o->model, m->model) == 0)
                return pb_fail(x, "listed twice (models[%zu] and models[%zu])", j, i);
            for (size_t k = 0; k < o->naliases; k++) {
                if (strcmp(o->aliases[k], m->model) == 0)
                    return pb_fail(x, "is also an alias of model \"%s\"", o->model);
                for (size_t a = 0; a < m->naliases; a++)
                    if ((j < i || (j == i && k < a)) && strcmp(o->aliases[k], m->aliases[a]) == 0)
                        return pb_fail(x, "alias \"%s\" is already an alias of model \"%s\"",
                                       m->aliases[a], o->model);
            }
        }
    }
    return true;
}

static bool pb_book_string(pb_ctx *x, json_t *root, const char *key, char **out)
{
    json_t *v = json_object_get(root, key);

    if (!v)
        return pb_fail(x, "missing \"%s\"", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return pb_fail(x, "\"%s\" must be a non-empty string", key);
    *out = strdup(json_string_value(v));
    return *out ? true : pb_fail(x, "out of memory");
}

static bool pb_is_book_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static bool pb_book(pb_ctx *x, json_t *root, price_book *b)
{
    json_t *models, *v, *desc;
    size_t i;

    snprintf(x->where, sizeof(x->where), "price book");
    if (!json_is_object(root))
        return pb_fail(x, "must be a JSON object");
    if (!pb_known_keys(x, root, PB_BOOK_KEYS) || !pb_book_string(x, root, "name", &b->name))
        return false;
    if (!pb_is_book_name(b->name))
        return pb_fail(x, "\"name\" must be 1 to 100 letters, digits, '.', '_' or '-'");
    if (!pb_date(x, root, "published", b->published, NULL) ||
        !pb_book_string(x, root, "currency", &b->currency) ||
        !pb_book_string(x, root, "unit", &b->unit))
        return false;
    if (strcmp(b->currency, "USD") != 0)
        return pb_fail(x, "\"currency\" must be \"USD\", not \"%.20s\"", b->currency);
    if (strcmp(b->unit, "per_million_tokens") != 0)
        return pb_fail(x, "\"unit\" must be \"per_million_tokens\", not \"%.40s\"", b->unit);
    for (const char *const *k = PB_BOOK_KEYS + 5; *k; k++) {
        desc = json_object_get(root, *k);
        if (desc && !json_is_string(desc))
            return pb_fail(x, "\"%s\" must be a string", *k);
    }
    models = json_object_get(root, "models");
    if (!models)
        return pb_fail(x, "missing \"models\"");
    if (!json_is_array(models) || json_array_size(models) == 0)
        return pb_fail(x, "\"models\" must be a non-empty array");
    b->models = calloc(json_array_size(models), sizeof(price_model));
    if (!b->models)
        return pb_fail(x, "out of memory");
    json_array_foreach(models, i, v)
    {
        b->nmodels++;
        if (!pb_model(x, v, i, &b->models[i]))
            return false;
    }
    return pb_unique_ids(x, b);
}

price_book *price_book_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    pb_ctx x = {.err = err, .errlen = errlen};
    json_error_t jerr;
    json_t *root;
    price_book *b;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
    } else if (!pb_book(&x, root, b)) {
        price_book_free(b);
        b = NULL;
    }
    json_decref(root);
    return b;
}

void price_book_free(price_book *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nmodels; i++) {
        price_model *m = &b->models[i];
        for (size_t k = 0; k < m->naliases; k++)
            free(m->aliases[k]);
        free((void *)m->aliases);
        free(m->ranges);
        free(m->model);
    }
    free(b->models);
    free(b->name);
    free(b->currency);
    free(b->unit);
    free(b);
}
