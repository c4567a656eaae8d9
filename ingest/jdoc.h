/*
 * jdoc.h - a read-only JSON document for the message parsers (parse*.c): one pass over
 * the bytes into nodes allocated in blocks, strings decoded into a copy of the input.
 * jansson builds a hashtable per object and allocates every value on its own; it was about
 * two thirds of tally-ingest's CPU (perf, issue 11).
 *
 * jansson stays the reference: jdoc_load() parses the common subset itself (no \u escapes,
 * no repeated keys, nesting to JDOC_DEPTH_MAX, objects to JDOC_MEMBERS_MAX members) and hands
 * anything else to json_loadb(), converting its tree, so a document means exactly what it meant to
 * jansson and a bad one gets jansson's error text. tests/fuzz/fuzz_jdoc.c checks that both agree.
 *
 * Members keep their order; a member is its value node with key set. Every string is
 * NUL-terminated (jansson refuses \u0000 without JSON_ALLOW_NUL, so none holds a NUL).
 * Nodes live until jdoc_free(). Pure and thread-safe.
 */
#ifndef TALLY_JDOC_H
#define TALLY_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define JDOC_DEPTH_MAX 256   /* deeper documents go to jansson (its limit is 2048) */
#define JDOC_MEMBERS_MAX 256 /* an object with more members goes to jansson, which hashes */

typedef enum {
    JV_NULL,
    JV_FALSE,
    JV_TRUE,
    JV_INTEGER,
    JV_REAL,
    JV_STRING,
    JV_ARRAY,
    JV_OBJECT,
} jv_type;

typedef struct jv jv;
struct jv {
    jv_type type;
    const char *key; /* a member's key, NULL for an array element or the root */
    size_t key_len;
    const char *str; /* JV_STRING */
    size_t len;      /* JV_STRING: bytes; JV_ARRAY, JV_OBJECT: elements or members */
    int64_t integer; /* JV_INTEGER */
    double real;     /* JV_REAL */
    jv *first;       /* JV_ARRAY, JV_OBJECT: the first element or member */
    jv *next;        /* the next element or member of the parent */
};

struct jdoc_block;
typedef struct jdoc {
    jv *root;
    struct jdoc_block *blocks;
} jdoc;

/* Parses buf/len into d (any previous content is not freed). The top level must be an
 * object or an array unless any. False with jansson's error text in err (errlen bytes;
 * JSON_ERROR_TEXT_LENGTH hold all of it)
 * if the bytes are not such a document; d then holds nothing. jdoc_free() either way. */
bool jdoc_load(jdoc *d, const char *buf, size_t len, bool any, char *err, size_t errlen);

/* The common subset alone, without jansson: false (d freed) for anything jdoc_load()
 * would hand to jansson. For tests, which check what it takes and that it means the same. */
bool jdoc_lex(jdoc *d, const char *buf, size_t len, bool any);

/* Frees every node of d; d is empty after. */
void jdoc_free(jdoc *d);

/* The value as a new jansson tree (members in order), NULL if out of memory; the caller
 * decrefs it. */
json_t *jv_to_json(const jv *v);

/* The member named key, exactly; NULL if v is not an object or has none. */
jv *jv_get(const jv *v, const char *key);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid: overlong
 * forms, surrogates and code points above U+10FFFF are, as in jansson and PostgreSQL. */
size_t jdoc_utf8_len(const unsigned char *s, size_t n);

static inline bool jv_is(const jv *v, jv_type t)
{
    return v != NULL && v->type == t;
}
#define jv_is_object(v) jv_is((v), JV_OBJECT)
#define jv_is_array(v) jv_is((v), JV_ARRAY)
#define jv_is_string(v) jv_is((v), JV_STRING)
#define jv_is_integer(v) jv_is((v), JV_INTEGER)
#define jv_is_null(v) jv_is((v), JV_NULL)
#define jv_is_true(v) jv_is((v), JV_TRUE)
#define jv_is_boolean(v) (jv_is((v), JV_TRUE) || jv_is((v), JV_FALSE))

/* a string's bytes and length, an integer's value, the count of elements or members;
 * NULL, 0 and 0 for any other value (as jansson's accessors) */
static inline const char *jv_str(const jv *v)
{
    return jv_is_string(v) ? v->str : NULL;
}
static inline size_t jv_len(const jv *v)
{
    return jv_is_string(v) ? v->len : 0;
}
static inline int64_t jv_int(const jv *v)
{
    return jv_is_integer(v) ? v->integer : 0;
}
static inline size_t jv_size(const jv *v)
{
    return jv_is_array(v) || jv_is_object(v) ? v->len : 0;
}

/* for (each element or member m of v, counting in i) */
#define jv_foreach(v, i, m)                                                                        \
    for ((i) = 0, (m) = (v) ? (v)->first : NULL; (m); (i)++, (m) = (m)->next)

#endif
