#include "price_book.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokens.h"

const char *const PRICE_CLASS_KEYS[PRICE_NCLASSES] = {"input", "output", "cache_write_5m",
                                                      "cache_write_1h", "cache_read"};

#define PB_DIGITS_MAX 9 /* integer and fraction digits of a price */

static const char *const PB_BOOK_KEYS[] = {"name",   "published",   "currency", "unit",
                                           "models", "description", "source",   NULL};
static const char *const PB_BOOK_KEYS_V2[] = {
    "name", "published", "currency", "unit", "models", "description", "source", "format", NULL};
static const char *const PB_MODEL_KEYS[] = {"model", "aliases", "prices", NULL};
static const char *const PB_MODEL_KEYS_V2[] = {"model", "aliases", "fast_aliases", "prices", NULL};
static const char *const PB_RANGE_KEYS[] = {"effective_from", "effective_to",   "input",
                                            "output",         "cache_write_5m", "cache_write_1h",
                                            "cache_read",     "long_context",   NULL};
static const char *const PB_RANGE_KEYS_V2[] = {
    "effective_from", "effective_to", "source", "read", "input",     "output", "cache_write_5m",
    "cache_write_1h", "cache_read",   "tiers",  "fast", "residency", NULL};
static const char *const PB_LC_KEYS[] = {
    "threshold_tokens", "input", "output", "cache_write_5m", "cache_write_1h", "cache_read", NULL};
static const char *const PB_TIER_KEYS[] = {"over_tokens",    "input",          "output",
                                           "cache_write_5m", "cache_write_1h", "cache_read",
                                           "source",         "read",           NULL};
static const char *const PB_FAST_KEYS[] = {
    "input", "output", "cache_write_5m", "cache_write_1h", "cache_read", "tiers", NULL};
static const char *const PB_FAST_MULTIPLIER_KEYS[] = {"multiplier", NULL};

#define PB_BREAKPOINT_ENTRY(t) t,
static const long long PB_BREAKPOINTS[] = {TALLY_PROMPT_BREAKPOINTS(PB_BREAKPOINT_ENTRY)};
#define PB_NBREAKPOINTS (sizeof(PB_BREAKPOINTS) / sizeof(PB_BREAKPOINTS[0]))

/* Where we are in the document, for messages: "model \"x\", prices[1]". */
typedef struct pb_ctx {
    int format; /* of the book being read: 1 or 2 */
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
static bool pb_price(pb_ctx *x, json_t *obj, const char *key, bool nullable,
                     char out[PRICE_DECIMAL_MAX + 1])
{
    json_t *v = json_object_get(obj, key);
    const char *s;

    if (!v)
        return pb_fail(x, "missing \"%s\"", key);
    if (json_is_null(v) && nullable) {
        out[0] = '\0';
        return true;
    }
    if (json_is_null(v) && x->format == 2)
        return pb_fail(x, "\"%s\" is null: only a tier may leave a class without a published price",
                       key);
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

/* nullable: a class may be null, no published price (a tier's, never the base rates). */
static bool pb_rates(pb_ctx *x, json_t *obj, bool nullable, price_rates *r)
{
    for (int c = 0; c < PRICE_NCLASSES; c++)
        if (!pb_price(x, obj, PRICE_CLASS_KEYS[c], nullable, r->usd_per_mtok[c]))
            return false;
    return true;
}

/* Appends ".suffix" to where; returns the length to cut it back to. */
static size_t pb_enter(pb_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t pb_enter(pb_ctx *x, const char *fmt, ...)
{
    size_t len = strlen(x->where);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(x->where + len, sizeof(x->where) - len, fmt, ap);
    va_end(ap);
    return len;
}

static bool pb_leave(pb_ctx *x, size_t len, bool ok)
{
    x->where[len] = '\0';
    return ok;
}

static bool pb_long_context(pb_ctx *x, json_t *lc, price_range *r)
{
    size_t len = pb_enter(x, ".long_context");
    json_t *t;

    if (!json_is_object(lc))
        return pb_leave(x, len, pb_fail(x, "must be an object or null"));
    if (!pb_known_keys(x, lc, PB_LC_KEYS))
        return pb_leave(x, len, false);
    t = json_object_get(lc, "threshold_tokens");
    if (!t)
        return pb_leave(x, len, pb_fail(x, "missing \"threshold_tokens\""));
    if (!json_is_integer(t) || json_integer_value(t) <= 0)
        return pb_leave(x, len, pb_fail(x, "\"threshold_tokens\" must be a positive integer"));
    if (json_integer_value(t) != PRICE_LC_THRESHOLD)
        return pb_leave(x, len,
                        pb_fail(x,
                                "\"threshold_tokens\" %lld is not supported: requests are flagged "
                                "as long context above %d tokens",
                                (long long)json_integer_value(t), PRICE_LC_THRESHOLD));
    r->standard.ntiers = 1;
    r->standard.tiers[0].over_tokens = PRICE_LC_THRESHOLD;
    return pb_leave(x, len, pb_rates(x, lc, false, &r->standard.tiers[0].rates));
}

static bool pb_is_breakpoint(long long t)
{
    for (size_t i = 0; i < PB_NBREAKPOINTS; i++)
        if (PB_BREAKPOINTS[i] == t)
            return true;
    return false;
}

/* "32000, 64000, …": the breakpoints, for the message refusing another threshold. */
static void pb_breakpoint_list(char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < PB_NBREAKPOINTS && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%lld", i ? ", " : "", PB_BREAKPOINTS[i]);
}

/* The "source" of obj when it is a URL (http:// or https://, no spaces); NULL otherwise. */
static const char *pb_url(json_t *obj)
{
    json_t *v = json_object_get(obj, "source");
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = strlen(s);

    if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) || n > 2000 ||
        n <= strlen("https://"))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return NULL;
    return s;
}

/*
 * A tier read from another page than its entry (e.g. long-context rates stated apart) may
 * name that page: "source" and "read" together, checked as the entry's. Kept in the stored
 * document only.
 */
static bool pb_tier_source(pb_ctx *x, json_t *obj)
{
    char read[PRICE_DATE_LEN + 1];

    if (!json_object_get(obj, "source") && !json_object_get(obj, "read"))
        return true;
    if (!json_object_get(obj, "source"))
        return pb_fail(x, "\"read\" without \"source\"");
    if (!pb_url(obj))
        return pb_fail(
            x, "\"source\" must be the URL (http:// or https://) the prices were read from");
    return pb_date(x, obj, "read", read, NULL);
}

static bool pb_tier(pb_ctx *x, json_t *obj, const price_schedule *s, price_tier *t)
{
    json_t *v;
    char list[128];

    if (!json_is_object(obj))
        return pb_fail(x, "must be an object");
    if (!pb_known_keys(x, obj, PB_TIER_KEYS))
        return false;
    v = json_object_get(obj, "over_tokens");
    if (!v)
        return pb_fail(x, "missing \"over_tokens\"");
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return pb_fail(x, "\"over_tokens\" must be a positive integer");
    t->over_tokens = (long long)json_integer_value(v);
    if (!pb_is_breakpoint(t->over_tokens)) {
        pb_breakpoint_list(list, sizeof(list));
        return pb_fail(x,
                       "\"over_tokens\" %lld is not a prompt band breakpoint (%s): the rollups "
                       "could not tell which requests pay it",
                       t->over_tokens, list);
    }
    if (s->ntiers > 0 && t->over_tokens == s->tiers[s->ntiers - 1].over_tokens)
        return pb_fail(x, "\"over_tokens\" %lld repeats tiers[%zu]", t->over_tokens, s->ntiers - 1);
    if (s->ntiers > 0 && t->over_tokens < s->tiers[s->ntiers - 1].over_tokens)
        return pb_fail(x,
                       "\"over_tokens\" %lld is below tiers[%zu]'s %lld: tiers must be sorted "
                       "by ascending \"over_tokens\"",
                       t->over_tokens, s->ntiers - 1, s->tiers[s->ntiers - 1].over_tokens);
    if (!pb_tier_source(x, obj))
        return false;
    return pb_rates(x, obj, true, &t->rates);
}

/* The base rates of obj and its optional "tiers". */
static bool pb_schedule(pb_ctx *x, json_t *obj, price_schedule *s)
{
    json_t *tiers = json_object_get(obj, "tiers"), *v;
    size_t i;

    if (!pb_rates(x, obj, false, &s->base))
        return false;
    if (!tiers || json_is_null(tiers))
        return true;
    if (!json_is_array(tiers))
        return pb_fail(x, "\"tiers\" must be an array");
    json_array_foreach(tiers, i, v)
    {
        size_t len = pb_enter(x, ".tiers[%zu]", i);
        price_tier t;
        /* s->tiers cannot overflow: a tier past the last breakpoint fails pb_tier */
        if (!pb_tier(x, v, s, &t))
            return pb_leave(x, len, false);
        pb_leave(x, len, true);
        s->tiers[s->ntiers++] = t;
    }
    return true;
}

/* A price or multiplier that must be above zero. */
static bool pb_multiplier(pb_ctx *x, json_t *obj, const char *key, char out[PRICE_DECIMAL_MAX + 1])
{
    if (json_is_null(json_object_get(obj, key)))
        return pb_fail(x, "\"%s\" is not a decimal", key);
    if (!pb_price(x, obj, key, false, out))
        return false;
    if (strspn(out, "0.") == strlen(out))
        return pb_fail(x, "\"%s\" must be greater than 0: \"%s\"", key, out);
    return true;
}

static bool pb_fast(pb_ctx *x, json_t *fast, price_range *r)
{
    size_t len;

    if (!fast || json_is_null(fast))
        return true;
    len = pb_enter(x, ".fast");
    if (!json_is_object(fast))
        return pb_leave(x, len, pb_fail(x, "must be an object or null"));
    if (json_object_get(fast, "multiplier")) {
        r->fast_kind = PRICE_FAST_MULTIPLIER;
        return pb_leave(x, len,
                        pb_known_keys(x, fast, PB_FAST_MULTIPLIER_KEYS) &&
                            pb_multiplier(x, fast, "multiplier", r->fast_multiplier));
    }
    r->fast_kind = PRICE_FAST_EXPLICIT;
    if (!pb_known_keys(x, fast, PB_FAST_KEYS) || !pb_schedule(x, fast, &r->fast))
        return pb_leave(x, len, false);
    /* explicit fast prices answer for the same prompts as the standard ones */
    bool same = r->fast.ntiers == r->standard.ntiers;
    for (size_t i = 0; same && i < r->fast.ntiers; i++)
        same = r->fast.tiers[i].over_tokens == r->standard.tiers[i].over_tokens;
    if (!same)
        return pb_leave(x, len,
                        pb_fail(x, "\"tiers\" must have the \"over_tokens\" of the standard tiers, "
                                   "in the same order"));
    return pb_leave(x, len, true);
}

static bool pb_is_class_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= PRICE_CLASS_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static bool pb_residency(pb_ctx *x, json_t *res, price_range *r)
{
    const char *key;
    json_t *v;
    size_t len;

    if (!res || json_is_null(res))
        return true;
    len = pb_enter(x, ".residency");
    if (!json_is_object(res))
        return pb_leave(x, len, pb_fail(x, "must be an object or null"));
    r->residency = calloc(json_object_size(res) + 1, sizeof(price_residency));
    if (!r->residency)
        return pb_leave(x, len, pb_fail(x, "out of memory"));
    json_object_foreach(res, key, v)
    {
        price_residency *c = &r->residency[r->nresidency];
        if (!pb_is_class_name(key))
            return pb_leave(x, len,
                            pb_fail(x,
                                    "class \"%.40s\" must be 1 to %d lower-case letters, digits "
                                    "or '-'",
                                    key, PRICE_CLASS_NAME_MAX));
        if (!pb_multiplier(x, res, key, c->multiplier))
            return pb_leave(x, len, false);
        memcpy(c->name, key, strlen(key) + 1);
        r->nresidency++;
    }
    return pb_leave(x, len, true);
}

/* v2: where the figures were read, and when that copy was current. */
static bool pb_source(pb_ctx *x, json_t *obj, price_range *r)
{
    const char *s;

    if (!json_object_get(obj, "source"))
        return pb_fail(x, "missing \"source\"");
    s = pb_url(obj);
    if (!s)
        return pb_fail(
            x, "\"source\" must be the URL (http:// or https://) the prices were read from");
    r->source = strdup(s);
    if (!r->source)
        return pb_fail(x, "out of memory");
    return pb_date(x, obj, "read", r->read, NULL);
}

static bool pb_range(pb_ctx *x, json_t *obj, price_range *r)
{
    json_t *lc;
    bool open;

    if (!json_is_object(obj))
        return pb_fail(x, "must be an object");
    if (!pb_known_keys(x, obj, x->format == 2 ? PB_RANGE_KEYS_V2 : PB_RANGE_KEYS) ||
        !pb_date(x, obj, "effective_from", r->effective_from, NULL) ||
        !pb_date(x, obj, "effective_to", r->effective_to, &open))
        return false;
    if (!open && strcmp(r->effective_to, r->effective_from) <= 0)
        return pb_fail(x, "\"effective_to\" %s is not after \"effective_from\" %s", r->effective_to,
                       r->effective_from);
    if (x->format == 2)
        return pb_source(x, obj, r) && pb_schedule(x, obj, &r->standard) &&
               pb_fast(x, json_object_get(obj, "fast"), r) &&
               pb_residency(x, json_object_get(obj, "residency"), r);
    if (!pb_rates(x, obj, false, &r->standard.base))
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

/* An optional array of ids under key into *out (NULL-terminated) and *n. */
static bool pb_aliases(pb_ctx *x, json_t *obj, const char *key, char ***out, size_t *n)
{
    json_t *arr = json_object_get(obj, key), *v;
    size_t i;

    if (!arr || json_is_null(arr))
        return true;
    if (!json_is_array(arr))
        return pb_fail(x, "\"%s\" must be an array of strings", key);
    *out = calloc(json_array_size(arr) + 1, sizeof(char *));
    if (!*out)
        return pb_fail(x, "out of memory");
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !pb_is_model_id(json_string_value(v)))
            return pb_fail(x, "%s[%zu] is not a model id", key, i);
        (*out)[i] = strdup(json_string_value(v));
        if (!(*out)[i])
            return pb_fail(x, "out of memory");
        (*n)++;
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
    if (!pb_known_keys(x, obj, x->format == 2 ? PB_MODEL_KEYS_V2 : PB_MODEL_KEYS) ||
        !pb_aliases(x, obj, "aliases", &m->aliases, &m->naliases) ||
        !pb_aliases(x, obj, "fast_aliases", &m->fast_aliases, &m->nfast_aliases))
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
        m->nranges++; /* before parsing: what a failed range allocated is freed too */
        if (!pb_range(x, v, &m->ranges[i]))
            return false;
    }
    snprintf(x->where, sizeof(x->where), "model \"%s\"", m->model);
    return pb_no_overlap(x, m);
}

/* A fast alias means its model in fast mode: it cannot also name a model any other way. */
static bool pb_unique_fast_ids(pb_ctx *x, const price_book *b)
{
    for (size_t i = 0; i < b->nmodels; i++) {
        const price_model *m = &b->models[i];
        snprintf(x->where, sizeof(x->where), "model \"%s\"", m->model);
        for (size_t a = 0; a < m->nfast_aliases; a++) {
            const char *f = m->fast_aliases[a];
            for (size_t j = 0; j < b->nmodels; j++) {
                const price_model *o = &b->models[j];
                if (strcmp(o->model, f) == 0)
                    return pb_fail(x, "fast alias \"%s\" is also a model id", f);
                for (size_t k = 0; k < o->naliases; k++)
                    if (strcmp(o->aliases[k], f) == 0)
                        return pb_fail(x, "fast alias \"%s\" is also an alias of model \"%s\"", f,
                                       o->model);
                for (size_t k = 0; k < o->nfast_aliases; k++)
                    if ((j < i || (j == i && k < a)) && strcmp(o->fast_aliases[k], f) == 0)
                        return pb_fail(x,
                                       "fast alias \"%s\" is already a fast alias of model \"%s\"",
                                       f, o->model);
            }
        }
    }
    return true;
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
    return pb_unique_fast_ids(x, b);
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

/* No "format": version 1, as every book before v2 was written. */
static bool pb_format(pb_ctx *x, json_t *root, price_book *b)
{
    json_t *v = json_object_get(root, "format");

    b->format = 1;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return pb_fail(x, "\"format\" must be 2 (a book without \"format\" is version 1)");
    b->format = x->format = 2;
    return true;
}

static bool pb_book(pb_ctx *x, json_t *root, price_book *b)
{
    json_t *models, *v, *desc;
    size_t i;

    snprintf(x->where, sizeof(x->where), "price book");
    if (!json_is_object(root))
        return pb_fail(x, "must be a JSON object");
    if (!pb_format(x, root, b) ||
        !pb_known_keys(x, root, b->format == 2 ? PB_BOOK_KEYS_V2 : PB_BOOK_KEYS) ||
        !pb_book_string(x, root, "name", &b->name))
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
    for (const char *const *k = PB_BOOK_KEYS + 5; *k; k++) { /* description, source */
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
    pb_ctx x = {.format = 1, .err = err, .errlen = errlen};
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
        for (size_t k = 0; k < m->nfast_aliases; k++)
            free(m->fast_aliases[k]);
        free((void *)m->fast_aliases);
        for (size_t r = 0; r < m->nranges; r++) {
            free(m->ranges[r].source);
            free(m->ranges[r].residency);
        }
        free(m->ranges);
        free(m->model);
    }
    free(b->models);
    free(b->name);
    free(b->currency);
    free(b->unit);
    free(b);
}
