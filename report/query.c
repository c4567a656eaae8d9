#include "query.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const QUERY_GROUP_NAMES[QG_COUNT] = {"developer",  "team", "model",
                                                 "deployment", "day",  "month"};

typedef struct query_param {
    const char *name;
    unsigned bit;
} query_param;

static const query_param QUERY_PARAMS[] = {
    {"from", QP_FROM},
    {"to", QP_TO},
    {"tz", QP_TZ},
    {"group_by", QP_GROUP_BY},
    {"developer", QP_DEVELOPER},
    {"team", QP_TEAM},
    {"model", QP_MODEL},
    {"deployment", QP_DEPLOYMENT},
    {"price_book", QP_PRICE_BOOK},
    {"format", QP_FORMAT},
    {"month", QP_MONTH},
    {"layout", QP_LAYOUT},
    {"guard", QP_GUARD},
};

#define NPARAMS ((int)(sizeof(QUERY_PARAMS) / sizeof(QUERY_PARAMS[0])))

static bool query_fail(query_error *err, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool query_fail(query_error *err, int status, const char *param, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    snprintf(err->param, sizeof(err->param), "%s", param ? param : "");
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    return false;
}

bool query_valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static int query_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int query_decode(const char *s, size_t n, char *out, size_t outmax)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = query_hex(s[i + 1]);
            lo = query_hex(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (len >= outmax)
            return -2;
        out[len++] = (char)c;
    }
    out[len] = '\0';
    return (int)len;
}

static bool query_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int query_num(const char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int query_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

bool query_valid_month(const char *s, size_t n)
{
    int y, m;

    if (n != 7 || s[4] != '-' || !query_digits(s, 4) || !query_digits(s + 5, 2))
        return false;
    y = query_num(s, 4);
    m = query_num(s + 5, 2);
    return y >= 1900 && m >= 1 && m <= 12;
}

bool query_valid_date(const char *s, size_t n)
{
    int d;

    if (n != 10 || s[7] != '-' || !query_valid_month(s, 7) || !query_digits(s + 8, 2))
        return false;
    d = query_num(s + 8, 2);
    return d >= 1 && d <= query_days_in_month(query_num(s, 4), query_num(s + 5, 2));
}

/* YYYY-MM-DD or RFC 3339 date-time (seconds required, at most 6 fraction digits). */
static bool query_parse_time(const char *s, size_t n, query_time *t)
{
    size_t i = 19, nfrac = 0;

    if (n == 10) {
        if (!query_valid_date(s, n))
            return false;
        memcpy(t->text, s, 10);
        t->text[10] = '\0';
        t->local = true;
        return true;
    }
    if (n < 20 || n > 35 || !query_valid_date(s, 10) || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':' || !query_digits(s + 11, 2) || !query_digits(s + 14, 2) ||
        !query_digits(s + 17, 2) || query_num(s + 11, 2) > 23 || query_num(s + 14, 2) > 59 ||
        query_num(s + 17, 2) > 59)
        return false;
    if (s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            nfrac++;
        }
        if (nfrac == 0 || nfrac > 6)
            return false;
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        /* fine */
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
               query_digits(s + i + 1, 2) && query_digits(s + i + 4, 2) &&
               query_num(s + i + 1, 2) <= 23 && query_num(s + i + 4, 2) <= 59) {
        /* fine */
    } else {
        return false;
    }
    memcpy(t->text, s, n);
    t->text[n] = '\0';
    t->text[10] = 'T';
    if (t->text[n - 1] == 'z')
        t->text[n - 1] = 'Z';
    t->local = false;
    return true;
}

static bool query_valid_tz(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

static bool query_parse_groups(query *q, const char *v, size_t n, query_error *err)
{
    size_t start = 0;

    q->ngroups = 0;
    if (n == 0)
        return true; /* one row: the grand total */
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != ',')
            continue;
        char word[16];
        size_t wl = i - start;
        int g;

        if (wl == 0 || wl >= sizeof(word))
            return query_fail(err, 400, "group_by",
                              "group_by takes a comma-separated list of: developer, team, "
                              "model, deployment, day, month");
        memcpy(word, v + start, wl);
        word[wl] = '\0';
        for (g = 0; g < QG_COUNT; g++)
            if (strcmp(word, QUERY_GROUP_NAMES[g]) == 0)
                break;
        if (g == QG_COUNT)
            return query_fail(err, 400, "group_by",
                              "unknown group_by \"%s\"; allowed: developer, team, model, "
                              "deployment, day, month",
                              word);
        if (query_has_group(q, (query_group)g))
            return query_fail(err, 400, "group_by", "group_by names \"%s\" twice", word);
        q->groups[q->ngroups++] = (query_group)g;
        start = i + 1;
    }
    return true;
}

bool query_has_group(const query *q, query_group g)
{
    for (int i = 0; i < q->ngroups; i++)
        if (q->groups[i] == g)
            return true;
    return false;
}

static bool query_set(query *q, unsigned bit, const char *name, const char *v, size_t n,
                      query_error *err)
{
    char *text = NULL;

    switch (bit) {
    case QP_FROM:
    case QP_TO:
        if (!query_parse_time(v, n, bit == QP_FROM ? &q->from : &q->to))
            return query_fail(err, 400, name,
                              "%s must be a date YYYY-MM-DD or an RFC 3339 date-time that exists",
                              name);
        return true;
    case QP_TZ:
        if (!query_valid_tz(v, n))
            return query_fail(err, 400, name, "unknown time zone");
        memcpy(q->tz, v, n);
        q->tz[n] = '\0';
        return true;
    case QP_MONTH:
        if (!query_valid_month(v, n))
            return query_fail(err, 400, name, "month must be YYYY-MM (a real month)");
        memcpy(q->month, v, n);
        q->month[n] = '\0';
        return true;
    case QP_GROUP_BY:
        return query_parse_groups(q, v, n, err);
    case QP_FORMAT:
        if (n == 4 && memcmp(v, "json", 4) == 0)
            q->format = QF_JSON;
        else if (n == 3 && memcmp(v, "csv", 3) == 0)
            q->format = QF_CSV;
        else
            return query_fail(err, 400, name, "format must be json or csv");
        return true;
    case QP_GUARD:
        if (n == 4 && memcmp(v, "none", 4) == 0)
            q->raw_csv = true;
        else if (!(n == 7 && memcmp(v, "formula", 7) == 0))
            return query_fail(err, 400, name, "guard must be formula or none");
        return true;
    case QP_LAYOUT:
        if (n != 1 || v[0] < '1' || v[0] > '3')
            return query_fail(err, 400, name, "layout must be 1, 2 or 3");
        q->layout = v[0] - '0';
        return true;
    case QP_DEVELOPER:
        text = q->developer;
        break;
    case QP_TEAM:
        text = q->team;
        break;
    case QP_MODEL:
        text = q->model;
        break;
    case QP_DEPLOYMENT:
        text = q->deployment;
        break;
    case QP_PRICE_BOOK:
        text = q->price_book;
        break;
    default:
        return query_fail(err, 400, name, "unknown parameter \"%s\"", name);
    }
    if (n == 0)
        return query_fail(err, 400, name, "%s must not be empty", name);
    memcpy(text, v, n);
    text[n] = '\0';
    return true;
}

bool query_parse(const char *raw, size_t len, unsigned allowed, query *q, query_error *err)
{
    char key[QUERY_VALUE_MAX + 1], val[QUERY_VALUE_MAX + 1];
    size_t start = 0;

    memset(q, 0, sizeof(*q));
    memset(err, 0, sizeof(*err));
    strcpy(q->tz, "UTC");
    q->layout = 3;
    if (len > QUERY_MAX_LEN)
        return query_fail(err, 414, "", "the query string is longer than 8192 bytes");
    if (allowed & QP_OWN)
        return true;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && raw[i] != '&')
            continue;
        const char *seg = raw + start, *eq;
        size_t seglen = i - start, klen;
        int kn, vn, p;

        start = i + 1;
        if (seglen == 0)
            continue;
        eq = memchr(seg, '=', seglen);
        klen = eq ? (size_t)(eq - seg) : seglen;
        kn = query_decode(seg, klen, key, 64);
        if (kn < 0 || !query_valid_utf8(key, (size_t)kn))
            return query_fail(err, 400, "",
                              "a parameter name is not valid percent-encoded "
                              "UTF-8");
        for (p = 0; p < NPARAMS; p++)
            if (strcmp(key, QUERY_PARAMS[p].name) == 0)
                break;
        if (p == NPARAMS || !(allowed & QUERY_PARAMS[p].bit))
            return query_fail(err, 400, key, "unknown parameter \"%s\"", key);
        if (q->given & QUERY_PARAMS[p].bit)
            return query_fail(err, 400, key, "parameter \"%s\" given twice", key);
        q->given |= QUERY_PARAMS[p].bit;
        vn = eq ? query_decode(eq + 1, seglen - klen - 1, val, QUERY_VALUE_MAX) : 0;
        if (!eq)
            val[0] = '\0';
        if (vn == -2)
            return query_fail(err, 400, key, "the value of \"%s\" is longer than 256 bytes", key);
        if (vn < 0 || !query_valid_utf8(val, (size_t)vn))
            return query_fail(err, 400, key,
                              "the value of \"%s\" is not valid percent-encoded UTF-8 "
                              "(or holds a control character)",
                              key);
        if (!query_set(q, QUERY_PARAMS[p].bit, key, val, (size_t)vn, err))
            return false;
    }
    if (!(q->given & QP_GROUP_BY) && (allowed & QP_GROUP_BY)) {
        q->groups[0] = QG_DEVELOPER;
        q->groups[1] = QG_MODEL;
        q->ngroups = 2;
    }
    return true;
}
