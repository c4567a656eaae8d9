/*
 * parse_collect.h - test helpers for the parser tests: collect the items that
 * parse_message() emits (with copies of their raw bytes, which are only valid during
 * the callback) and load fixtures from $TALLY_FIXTURES (default "fixtures").
 * Included by tests/unit/test_parse*.c only; cmocka must be included first.
 */
#ifndef TALLY_TEST_PARSE_COLLECT_H
#define TALLY_TEST_PARSE_COLLECT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

typedef struct collected {
    parse_item *items; /* raw of each item points to a NUL-terminated copy */
    size_t n;
    size_t cap;
} collected;

static inline void collect_emit(void *ctx, const parse_item *item)
{
    collected *c = ctx;
    parse_item *copy;
    char *raw = NULL;

    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->items = realloc(c->items, c->cap * sizeof(*c->items));
        assert_non_null(c->items);
    }
    if (item->raw) {
        raw = malloc(item->raw_len + 1);
        assert_non_null(raw);
        memcpy(raw, item->raw, item->raw_len);
        raw[item->raw_len] = '\0';
    }
    copy = &c->items[c->n++];
    *copy = *item;
    copy->raw = raw;
}

static inline void collected_free(collected *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free((char *)(uintptr_t)c->items[i].raw);
    free(c->items);
    memset(c, 0, sizeof(*c));
}

/* Parses len bytes and checks that the return value matches the items emitted. */
static inline void collect_parse(collected *c, const char *buf, size_t len, parse_format fmt)
{
    size_t before = c->n;
    int n = parse_message(buf, len, fmt, collect_emit, c);

    assert_int_equal(n, (int)(c->n - before));
}

static inline void collect_str(collected *c, const char *s, parse_format fmt)
{
    collect_parse(c, s, strlen(s), fmt);
}

/* Loads fixtures/<name> into a malloc'd NUL-terminated buffer. */
static inline char *fixture_load(const char *name, size_t *len)
{
    const char *dir = getenv("TALLY_FIXTURES");
    char path[1024];
    FILE *f;
    char *buf;
    long size;

    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "fixtures", name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("could not open fixture \"%s\"", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)size;
    return buf;
}

/* Parses the fixture events/<name> as one message. */
static inline void collect_fixture(collected *c, const char *name, parse_format fmt)
{
    char path[256];
    size_t len;
    char *buf;

    snprintf(path, sizeof(path), "events/%s", name);
    buf = fixture_load(path, &len);
    collect_parse(c, buf, len, fmt);
    free(buf);
}

/* Next line of *p (without its newline) into a malloc'd string; NULL at the end. */
static inline char *next_line(const char **p)
{
    const char *end;
    char *line;

    if (**p == '\0')
        return NULL;
    end = strchr(*p, '\n');
    if (end == NULL)
        end = *p + strlen(*p);
    line = malloc((size_t)(end - *p) + 1);
    assert_non_null(line);
    memcpy(line, *p, (size_t)(end - *p));
    line[end - *p] = '\0';
    *p = *end ? end + 1 : end;
    return line;
}

/*
 * Runs the reject table events/<name>.jsonl against events/<name>.reasons: each line is
 * one message that must yield exactly one ITEM_REJECT with that reason and the whole
 * line as raw.
 */
static inline void check_reject_table(const char *name, parse_format fmt)
{
    char path[256];
    char *messages, *reasons;
    const char *pm, *pr;
    char *msg, *reason;
    int line = 0;

    snprintf(path, sizeof(path), "events/%s.jsonl", name);
    messages = fixture_load(path, NULL);
    snprintf(path, sizeof(path), "events/%s.reasons", name);
    reasons = fixture_load(path, NULL);
    pm = messages;
    pr = reasons;
    while ((msg = next_line(&pm)) != NULL) {
        collected c = {0};

        line++;
        reason = next_line(&pr);
        if (reason == NULL)
            fail_msg("%s.reasons: no reason for line %d", name, line);
        collect_str(&c, msg, fmt);
        if (c.n != 1 || c.items[0].kind != ITEM_REJECT)
            fail_msg("%s.jsonl:%d: expected one reject, got %zu items (first kind %d)", name, line,
                     c.n, c.n ? (int)c.items[0].kind : -1);
        if (strcmp(c.items[0].reason, reason) != 0)
            fail_msg("%s.jsonl:%d: reason \"%s\", expected \"%s\"", name, line, c.items[0].reason,
                     reason);
        assert_string_equal(c.items[0].raw, msg);
        assert_int_equal(c.items[0].raw_len, strlen(msg));
        collected_free(&c);
        free(msg);
        free(reason);
    }
    assert_null(next_line(&pr));
    assert_true(line > 0);
    free(messages);
    free(reasons);
}

#endif
