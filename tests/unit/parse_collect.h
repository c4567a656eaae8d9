/*
 * parse_collect.h - test helpers for the parser tests: collect the items that
 * parse_message() emits (with copies of their raw bytes, which are only valid during
 * the callback), load fixtures from $TALLY_FIXTURES (default "fixtures"), and compare
 * what was parsed with a golden file.
 *
 * Golden files: tests/fixtures/parse/<name>.expected holds the text serialization of
 * the items one input yields (golden_text(): one "key=value" line per field, every field
 * of every item, in a fixed order; see tests/fixtures/parse/README.md). They are the
 * parsers' spec. A test that parses an input compares the serialization byte for byte
 * and fails naming the first line that differs. Run a test with TALLY_UPDATE_GOLDEN=1 in
 * the environment to rewrite the files it checks instead (then read the diff: every
 * changed line changes what tally-ingest stores):
 *
 *     TALLY_UPDATE_GOLDEN=1 ctest --test-dir build -R unit/test_parse
 *
 * Tests only through parse.h, the parsers' public API. Included by tests/unit/test_parse*.c
 * only; cmocka must be included first.
 */
#ifndef TALLY_TEST_PARSE_COLLECT_H
#define TALLY_TEST_PARSE_COLLECT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membuf.h"
#include "parse.h"
#include "tokens.h"

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

/* Appends "key=value\n", the value's bytes outside printable ASCII (and the backslash)
 * escaped as \n, \t, \\ or \xNN, so that a golden file is plain text and shows every byte. */
static inline void golden_put(membuf *b, const char *key, const char *val, size_t len)
{
    membuf_printf(b, "%s=", key);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)val[i];

        if (ch == '\\')
            membuf_puts(b, "\\\\");
        else if (ch == '\n')
            membuf_puts(b, "\\n");
        else if (ch == '\t')
            membuf_puts(b, "\\t");
        else if (ch < 0x20 || ch > 0x7e)
            membuf_printf(b, "\\x%02x", ch);
        else
            membuf_putc(b, (char)ch);
    }
    membuf_putc(b, '\n');
}

static inline void golden_int(membuf *b, bool all, const char *key, int64_t v)
{
    if (all || v != 0)
        membuf_printf(b, "%s=%lld\n", key, (long long)v);
}

static inline void golden_str(membuf *b, bool all, const char *key, const char *v)
{
    if (all || *v)
        golden_put(b, key, v, strlen(v));
}

static inline void golden_bool(membuf *b, bool all, const char *key, bool v)
{
    if (all || v)
        membuf_printf(b, "%s=%s\n", key, v ? "true" : "false");
}

/* event_time_us again as ISO 8601 UTC, for the reader of a golden file */
static inline void golden_time(membuf *b, bool all, int64_t us)
{
    int64_t frac = ((us % 1000000) + 1000000) % 1000000;
    time_t secs = (time_t)((us - frac) / 1000000);
    struct tm tm;
    char when[32];

    if (!all && us == 0)
        return;
    assert_non_null(gmtime_r(&secs, &tm));
    assert_true(strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) > 0);
    membuf_printf(b, "event_time=%s.%06lldZ\n", when, (long long)frac);
}

/* Looks up names[v] among n names; "unknown" outside them or where there is none. */
static inline const char *golden_name(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n && names[v] ? names[v] : "unknown";
}

static const char *const golden_kinds[] = {
    [ITEM_EVENT] = "event",
    [ITEM_MON_LLM] = "monitor_llm",
    [ITEM_MON_GATEWAY] = "monitor_gateway",
    [ITEM_REJECT] = "reject",
};

static const char *const golden_formats[] = {
    [0] = "",
    [EVENT_FORMAT_USAGE] = "usage",
    [EVENT_FORMAT_LEGACY] = "legacy",
    [EVENT_FORMAT_MONITOR] = "monitor",
};

/* the string fields of tally_event after request_id, in struct order */
#define GOLDEN_EVENT_STRINGS(X)                                                                    \
    X(user_oid)                                                                                    \
    X(user_upn)                                                                                    \
    X(tenant_id)                                                                                   \
    X(app_id)                                                                                      \
    X(session_id)                                                                                  \
    X(message_id)                                                                                  \
    X(deployment)                                                                                  \
    X(model)                                                                                       \
    X(gateway)                                                                                     \
    X(region)                                                                                      \
    X(subscription)                                                                                \
    X(product)                                                                                     \
    X(operation)                                                                                   \
    X(service_tier)                                                                                \
    X(speed)                                                                                       \
    X(inference_geo)

/*
 * Serializes the collected items into b: "items=N", then per item a "[item I]" line,
 * its kind, and every field of the item and of its event in struct order. A reject lists
 * its reason and raw bytes and only the event fields that are not zero (none: a reject's
 * event is zeroed), so that its file stays readable and a stray value still shows.
 */
static inline void golden_text(const collected *c, membuf *b)
{
    membuf_printf(b, "items=%zu\n", c->n);
    for (size_t i = 0; i < c->n; i++) {
        const parse_item *it = &c->items[i];
        const tally_event *ev = &it->ev;
        bool all = it->kind != ITEM_REJECT;

        membuf_printf(b, "\n[item %zu]\nkind=%s\n", i,
                      golden_name(golden_kinds, sizeof(golden_kinds) / sizeof(golden_kinds[0]),
                                  (int)it->kind));
        golden_str(b, false, "reason", it->reason);
        if (it->raw)
            golden_put(b, "raw", it->raw, it->raw_len);
        golden_int(b, all, "sequence", it->sequence);
        if (all || ev->format != 0)
            membuf_printf(b, "format=%s\n",
                          golden_name(golden_formats,
                                      sizeof(golden_formats) / sizeof(golden_formats[0]),
                                      (int)ev->format));
        golden_str(b, all, "request_id", ev->request_id);
        golden_int(b, all, "event_time_us", ev->event_time_us);
        golden_time(b, all, ev->event_time_us);
#define GOLDEN_STR(name) golden_str(b, all, #name, ev->name);
        GOLDEN_EVENT_STRINGS(GOLDEN_STR)
#undef GOLDEN_STR
        golden_int(b, all, "status_code", ev->status_code);
        golden_int(b, all, "is_stream", ev->is_stream);
#define GOLDEN_TOKENS(name) golden_int(b, all, #name, ev->name);
        TALLY_TOKEN_CLASSES(GOLDEN_TOKENS)
#undef GOLDEN_TOKENS
        golden_bool(b, all, "cache_write_unknown", ev->cache_write_unknown);
        golden_int(b, all, "web_search_requests", ev->web_search_requests);
        golden_int(b, all, "web_fetch_requests", ev->web_fetch_requests);
        golden_bool(b, all, "long_context", ev->long_context);
        golden_int(b, all, "prompt_tokens", ev->prompt_tokens);
        golden_int(b, all, "prompt_band", ev->prompt_band);
        golden_int(b, all, "iterations", ev->niterations);
        for (int k = 0; k < ev->niterations; k++) {
            const event_iteration *x = &ev->iterations[k];
            char key[64];

            snprintf(key, sizeof(key), "iteration[%d].type", k);
            golden_str(b, true, key, x->type);
            snprintf(key, sizeof(key), "iteration[%d].model", k);
            golden_str(b, true, key, x->model);
#define GOLDEN_ITERATION(name)                                                                     \
    snprintf(key, sizeof(key), "iteration[%d]." #name, k);                                         \
    golden_int(b, true, key, x->name);
            TALLY_TOKEN_CLASSES(GOLDEN_ITERATION)
#undef GOLDEN_ITERATION
        }
    }
}

/* Line number (from 1) of the first line where a and b differ, and its start in each. */
static inline int golden_first_difference(const char *a, const char *b, const char **la,
                                          const char **lb)
{
    int line = 1;

    *la = a;
    *lb = b;
    for (; *a && *a == *b; a++, b++) {
        if (*a == '\n') {
            line++;
            *la = a + 1;
            *lb = b + 1;
        }
    }
    return line;
}

/* Prints one line of text (up to its newline) for a failure message. */
static inline void golden_print_line(const char *label, const char *line)
{
    int len = (int)strcspn(line, "\n");

    if (*line == '\0')
        print_error("  %s: (end of file)\n", label);
    else
        print_error("  %s: %.*s\n", label, len, line);
}

/*
 * Compares the serialization of c with fixtures/parse/<name>.expected, or writes it there
 * when TALLY_UPDATE_GOLDEN=1.
 */
static inline void golden_check(const collected *c, const char *name)
{
    const char *dir = getenv("TALLY_FIXTURES");
    const char *update = getenv("TALLY_UPDATE_GOLDEN");
    membuf got = MEMBUF_INIT;
    char path[1024];
    char *want;
    const char *lw, *lg;
    int line;

    golden_text(c, &got);
    assert_false(got.oom);
    snprintf(path, sizeof(path), "%s/parse/%s.expected", dir && *dir ? dir : "fixtures", name);
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");

        if (f == NULL)
            fail_msg("could not write golden file \"%s\"", path);
        assert_int_equal(fwrite(got.data, 1, got.len, f), got.len);
        assert_int_equal(fclose(f), 0);
        membuf_free(&got);
        return;
    }
    snprintf(path, sizeof(path), "parse/%s.expected", name);
    want = fixture_load(path, NULL);
    if (strcmp(want, got.data) != 0) {
        line = golden_first_difference(want, got.data, &lw, &lg);
        print_error("%s:%d: parsed items differ from the golden file\n", path, line);
        golden_print_line("expected", lw);
        golden_print_line("got     ", lg);
        free(want);
        membuf_free(&got);
        fail_msg("%s differs (TALLY_UPDATE_GOLDEN=1 rewrites it)", path);
    }
    free(want);
    membuf_free(&got);
}

/*
 * Parses fixtures/<input> in fmt, checks the items against parse/<name>.expected, and
 * returns how many there were. An input ending in ".jsonl" is one message a line; any
 * other is one message.
 */
static inline size_t golden_parse_check(const char *input, parse_format fmt, const char *name)
{
    collected c = {0};
    size_t len, n, ilen = strlen(input);
    char *buf = fixture_load(input, &len);

    if (ilen >= 6 && strcmp(input + ilen - 6, ".jsonl") == 0) {
        const char *p = buf;
        char *msg;

        while ((msg = next_line(&p)) != NULL) {
            collect_str(&c, msg, fmt);
            free(msg);
        }
    } else {
        collect_parse(&c, buf, len, fmt);
    }
    free(buf);
    golden_check(&c, name);
    n = c.n;
    collected_free(&c);
    return n;
}

#endif
