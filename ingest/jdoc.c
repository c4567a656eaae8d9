/*
 * jdoc.c - the JSON document of jdoc.h: a recursive descent over a copy of the input
 * whose strings are decoded in place (a decoded string is never longer than its quoted
 * form, and the closing quote leaves room for the NUL), nodes from blocks of
 * JDOC_BLOCK_NODES. Whatever it does not parse itself goes to jansson.
 */
#include "jdoc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JDOC_BLOCK_NODES 128

/* nodes, or bytes, of one allocation; freed together */
struct jdoc_block {
    struct jdoc_block *next;
    size_t used, cap; /* nodes, in a node block */
    union {
        jv node[1];
        char byte[1];
    } u;
};

static struct jdoc_block *block_new(jdoc *d, size_t cap, bool nodes)
{
    size_t size = offsetof(struct jdoc_block, u) + (nodes ? cap * sizeof(jv) : cap);
    struct jdoc_block *b = malloc(size);

    if (!b)
        return NULL;
    b->next = d->blocks;
    b->used = 0;
    b->cap = cap;
    d->blocks = b;
    return b;
}

/* A zeroed node of d from *cur, the node block being filled (a new one when it is full);
 * NULL if out of memory. */
static jv *node_new(jdoc *d, struct jdoc_block **cur)
{
    jv *v;

    if (!*cur || (*cur)->used == (*cur)->cap) {
        *cur = block_new(d, JDOC_BLOCK_NODES, true);
        if (!*cur)
            return NULL;
    }
    v = &(*cur)->u.node[(*cur)->used++];
    memset(v, 0, sizeof(*v));
    return v;
}

/* n bytes of d; NULL if out of memory */
static char *bytes_new(jdoc *d, size_t n)
{
    struct jdoc_block *b = block_new(d, n, false);

    return b ? b->u.byte : NULL;
}

void jdoc_free(jdoc *d)
{
    while (d->blocks) {
        struct jdoc_block *b = d->blocks;

        d->blocks = b->next;
        free(b);
    }
    d->root = NULL;
}

size_t jdoc_utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned char lo = 0x80, hi = 0xbf;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

/* ---- the common subset, parsed here ---- */

typedef struct lexer {
    jdoc *d;
    struct jdoc_block *cur; /* the node block being filled */
    char *p, *end;          /* in the copy of the input */
    int depth;
} lexer;

static void skip_space(lexer *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

/* The string at l->p (its opening quote), decoded in place; false to leave it to jansson
 * (a \u escape) or if it is not valid (jansson then says why). */
static bool lex_string(lexer *l, const char **out, size_t *out_len)
{
    char *dst = l->p, *start = dst;

    l->p++;
    for (;;) {
        unsigned char c;
        size_t n;

        if (l->p >= l->end)
            return false;
        c = (unsigned char)*l->p;
        if (c == '"') {
            l->p++;
            break;
        }
        if (c == '\\') {
            if (++l->p >= l->end)
                return false;
            switch (*l->p) {
            case '"':
            case '\\':
            case '/':
                *dst++ = *l->p;
                break;
            case 'b':
                *dst++ = '\b';
                break;
            case 'f':
                *dst++ = '\f';
                break;
            case 'n':
                *dst++ = '\n';
                break;
            case 'r':
                *dst++ = '\r';
                break;
            case 't':
                *dst++ = '\t';
                break;
            default: /* \u (surrogate pairs, \u0000) and invalid escapes: jansson's */
                return false;
            }
            l->p++;
            continue;
        }
        if (c < 0x20)
            return false;
        n = jdoc_utf8_len((const unsigned char *)l->p, (size_t)(l->end - l->p));
        if (n == 0)
            return false;
        memmove(dst, l->p, n);
        dst += n;
        l->p += n;
    }
    *dst = '\0';
    *out = start;
    *out_len = (size_t)(dst - start);
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number as JSON spells it: an integer that fits int64 (jansson's json_int_t), or a
 * real that does not overflow; anything else is jansson's to refuse. */
static bool lex_number(lexer *l, jv *v)
{
    char *start = l->p, tmp[64];
    bool negative = false, real = false;
    uint64_t n = 0, limit;
    double r;

    if (*l->p == '-') {
        negative = true;
        l->p++;
    }
    if (l->p >= l->end || !is_digit(*l->p))
        return false;
    if (*l->p == '0') {
        l->p++;
        if (l->p < l->end && is_digit(*l->p))
            return false;
    } else {
        while (l->p < l->end && is_digit(*l->p))
            l->p++;
    }
    if (l->p < l->end && *l->p == '.') {
        real = true;
        if (++l->p >= l->end || !is_digit(*l->p))
            return false;
        while (l->p < l->end && is_digit(*l->p))
            l->p++;
    }
    if (l->p < l->end && (*l->p == 'e' || *l->p == 'E')) {
        real = true;
        l->p++;
        if (l->p < l->end && (*l->p == '+' || *l->p == '-'))
            l->p++;
        if (l->p >= l->end || !is_digit(*l->p))
            return false;
        while (l->p < l->end && is_digit(*l->p))
            l->p++;
    }
    if (real) {
        size_t len = (size_t)(l->p - start);

        if (len >= sizeof(tmp))
            return false;
        memcpy(tmp, start, len);
        tmp[len] = '\0';
        errno = 0;
        r = strtod(tmp, NULL);
        if (errno == ERANGE && isinf(r))
            return false;
        v->type = JV_REAL;
        v->real = r;
        return true;
    }
    limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (char *q = start + negative; q < l->p; q++) {
        unsigned d = (unsigned)(*q - '0');

        if (n > (limit - d) / 10)
            return false;
        n = n * 10 + d;
    }
    v->type = JV_INTEGER;
    v->integer = negative ? (int64_t)(0 - n) : (int64_t)n;
    return true;
}

static bool lex_literal(lexer *l, const char *word, jv_type type, jv *v)
{
    size_t n = strlen(word);

    if ((size_t)(l->end - l->p) < n || memcmp(l->p, word, n) != 0)
        return false;
    l->p += n;
    v->type = type;
    return true;
}

/* true if an earlier member of obj has key */
static bool repeated(const jv *obj, const char *key, size_t key_len)
{
    for (const jv *m = obj->first; m; m = m->next) {
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
            return true;
    }
    return false;
}

static jv *lex_value(lexer *l);

/* The elements (close ']') or members (close '}') of v, at l->p after its opening. */
static bool lex_container(lexer *l, jv *v, char close)
{
    jv **link = &v->first;

    skip_space(l);
    if (l->p < l->end && *l->p == close) {
        l->p++;
        return true;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        jv *m;

        if (close == '}') {
            /* repeated() looks at every earlier member: many members go to jansson's hash */
            if (v->len >= JDOC_MEMBERS_MAX || l->p >= l->end || *l->p != '"' ||
                !lex_string(l, &key, &key_len) || repeated(v, key, key_len))
                return false;
            skip_space(l);
            if (l->p >= l->end || *l->p != ':')
                return false;
            l->p++;
            skip_space(l);
        }
        m = lex_value(l);
        if (!m)
            return false;
        m->key = key;
        m->key_len = key_len;
        *link = m;
        link = &m->next;
        v->len++;
        skip_space(l);
        if (l->p >= l->end)
            return false;
        if (*l->p == close) {
            l->p++;
            return true;
        }
        if (*l->p != ',')
            return false;
        l->p++;
        skip_space(l);
    }
}

static jv *lex_value(lexer *l)
{
    jv *v;
    bool ok;

    if (l->p >= l->end || l->depth >= JDOC_DEPTH_MAX)
        return NULL;
    v = node_new(l->d, &l->cur);
    if (!v)
        return NULL;
    switch (*l->p) {
    case '{':
    case '[':
        v->type = *l->p == '{' ? JV_OBJECT : JV_ARRAY;
        l->p++;
        l->depth++;
        ok = lex_container(l, v, v->type == JV_OBJECT ? '}' : ']');
        l->depth--;
        break;
    case '"':
        v->type = JV_STRING;
        ok = lex_string(l, &v->str, &v->len);
        break;
    case 't':
        ok = lex_literal(l, "true", JV_TRUE, v);
        break;
    case 'f':
        ok = lex_literal(l, "false", JV_FALSE, v);
        break;
    case 'n':
        ok = lex_literal(l, "null", JV_NULL, v);
        break;
    default:
        ok = lex_number(l, v);
        break;
    }
    return ok ? v : NULL;
}

bool jdoc_lex(jdoc *d, const char *buf, size_t len, bool any)
{
    lexer l = {.d = d};
    char *copy;

    d->root = NULL;
    d->blocks = NULL;
    copy = bytes_new(d, len + 1);
    if (!copy)
        return false;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    l.p = copy;
    l.end = copy + len;
    skip_space(&l);
    if (!any && (l.p >= l.end || (*l.p != '{' && *l.p != '['))) {
        jdoc_free(d);
        return false;
    }
    d->root = lex_value(&l);
    skip_space(&l);
    if (d->root && l.p == l.end)
        return true;
    jdoc_free(d);
    return false;
}

/* ---- jansson's trees, both ways ---- */

static jv *from_json(jdoc *d, struct jdoc_block **cur, json_t *j)
{
    jv *v = node_new(d, cur), **link;
    const char *key;
    json_t *x;
    size_t i;

    if (!v)
        return NULL;
    link = &v->first;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v->type = JV_OBJECT;
        json_object_foreach(j, key, x)
        {
            jv *m = from_json(d, cur, x);
            size_t n = strlen(key);
            char *k = bytes_new(d, n + 1);

            if (!m || !k)
                return NULL;
            memcpy(k, key, n + 1);
            m->key = k;
            m->key_len = n;
            *link = m;
            link = &m->next;
            v->len++;
        }
        break;
    case JSON_ARRAY:
        v->type = JV_ARRAY;
        json_array_foreach(j, i, x)
        {
            jv *m = from_json(d, cur, x);

            if (!m)
                return NULL;
            *link = m;
            link = &m->next;
            v->len++;
        }
        break;
    case JSON_STRING: {
        char *s = bytes_new(d, json_string_length(j) + 1);

        if (!s)
            return NULL;
        memcpy(s, json_string_value(j), json_string_length(j) + 1);
        v->type = JV_STRING;
        v->str = s;
        v->len = json_string_length(j);
        break;
    }
    case JSON_INTEGER:
        v->type = JV_INTEGER;
        v->integer = json_integer_value(j);
        break;
    case JSON_REAL:
        v->type = JV_REAL;
        v->real = json_real_value(j);
        break;
    case JSON_TRUE:
        v->type = JV_TRUE;
        break;
    case JSON_FALSE:
        v->type = JV_FALSE;
        break;
    case JSON_NULL:
    default:
        v->type = JV_NULL;
        break;
    }
    return v;
}

bool jdoc_load(jdoc *d, const char *buf, size_t len, bool any, char *err, size_t errlen)
{
    struct jdoc_block *cur = NULL;
    json_error_t jerr;
    json_t *j;

    if (jdoc_lex(d, buf, len, any))
        return true;
    j = json_loadb(buf, len, any ? JSON_DECODE_ANY : 0, &jerr);
    if (!j) {
        snprintf(err, errlen, "%s", jerr.text);
        return false;
    }
    d->root = from_json(d, &cur, j);
    json_decref(j);
    if (!d->root) {
        jdoc_free(d);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}

json_t *jv_to_json(const jv *v)
{
    json_t *j = NULL;

    switch (v->type) {
    case JV_OBJECT:
        j = json_object();
        for (const jv *m = v->first; j && m; m = m->next) {
            if (json_object_set_new(j, m->key, jv_to_json(m)) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
        break;
    case JV_ARRAY:
        j = json_array();
        for (const jv *m = v->first; j && m; m = m->next) {
            if (json_array_append_new(j, jv_to_json(m)) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
        break;
    case JV_STRING:
        j = json_stringn(v->str, v->len);
        break;
    case JV_INTEGER:
        j = json_integer(v->integer);
        break;
    case JV_REAL:
        j = json_real(v->real);
        break;
    case JV_TRUE:
        j = json_true();
        break;
    case JV_FALSE:
        j = json_false();
        break;
    case JV_NULL:
        j = json_null();
        break;
    }
    return j;
}

jv *jv_get(const jv *v, const char *key)
{
    size_t n;

    if (!jv_is_object(v))
        return NULL;
    n = strlen(key);
    for (jv *m = v->first; m; m = m->next) {
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m;
    }
    return NULL;
}
