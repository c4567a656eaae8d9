/*
 * fuzz_jdoc_check.h - whether jdoc (ingest/jdoc.c) and jansson agree on some bytes, for
 * fuzz_jdoc.c and test_jdoc.c: both accept or both refuse, a refusal gets jansson's text,
 * and an accepted document is the same tree (compact JSON of each, members in order,
 * compared byte for byte), whether jdoc parsed it itself or took jansson's.
 */
#ifndef TALLY_FUZZ_JDOC_CHECK_H
#define TALLY_FUZZ_JDOC_CHECK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jdoc.h"

/* The compact text of a jdoc value, NULL if out of memory; the caller frees it. */
static inline char *jdoc_check_text(const jv *v)
{
    json_t *j = jv_to_json(v);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    json_decref(j);
    return text;
}

/* NULL when they agree, else what differs. *lexed: whether jdoc parsed it itself. */
static inline const char *jdoc_check(const char *buf, size_t len, bool any, bool *lexed)
{
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, any ? JSON_DECODE_ANY : 0, &jerr);
    char err[JSON_ERROR_TEXT_LENGTH], *want = NULL, *got = NULL;
    const char *why = NULL;
    jdoc d;
    bool ok;

    *lexed = jdoc_lex(&d, buf, len, any);
    jdoc_free(&d);
    ok = jdoc_load(&d, buf, len, any, err, sizeof(err));
    if (ok != (j != NULL)) {
        why = ok ? "jdoc accepts what jansson refuses" : "jdoc refuses what jansson accepts";
    } else if (*lexed && !ok) {
        why = "jdoc_lex accepts what jdoc_load refuses";
    } else if (!ok) {
        if (strcmp(err, jerr.text) != 0)
            why = "the error is not jansson's";
    } else {
        want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        got = jdoc_check_text(d.root);
        if (!want || !got || strcmp(want, got) != 0)
            why = "the trees differ";
    }
    free(want);
    free(got);
    json_decref(j);
    jdoc_free(&d);
    return why;
}

#endif
