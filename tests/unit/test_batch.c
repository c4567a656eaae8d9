/* ingest/batch.c: batches as COPY text, reject keys,
 * reason labels, partition offsets and months. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "batch.h"

static void emit_event(batch *b, const char *request_id, int64_t time_us)
{
    parse_item item;

    memset(&item, 0, sizeof(item));
    item.kind = ITEM_EVENT;
    item.ev.format = EVENT_FORMAT_USAGE;
    snprintf(item.ev.request_id, sizeof(item.ev.request_id), "%s", request_id);
    item.ev.event_time_us = time_us;
    item.ev.is_stream = -1;
    batch_emit(b, &item);
}

static void emit_reject(batch *b, const char *reason, const char *raw)
{
    parse_item item;

    memset(&item, 0, sizeof(item));
    item.kind = ITEM_REJECT;
    snprintf(item.reason, sizeof(item.reason), "%s", reason);
    item.raw = raw;
    item.raw_len = strlen(raw);
    batch_emit(b, &item);
}

static char *copy_text(const membuf *buf)
{
    static char text[8192];

    snprintf(text, sizeof(text), "%.*s", (int)buf->len, buf->data ? buf->data : "");
    return text;
}

/* Every column of an event, in tally_stage's order, escaped for COPY text. */
static void test_event_copy_text(void **state)
{
    batch b;
    parse_item item;
    (void)state;

    batch_init(&b);
    memset(&item, 0, sizeof(item));
    item.kind = ITEM_EVENT;
    item.ev.format = EVENT_FORMAT_USAGE;
    snprintf(item.ev.request_id, sizeof(item.ev.request_id), "req\t1\\x\n");
    item.ev.event_time_us = INT64_C(1790553600000001); /* 2026-09-28T00:00:00.000001Z */
    snprintf(item.ev.user_upn, sizeof(item.ev.user_upn), "ana@contoso.example");
    snprintf(item.ev.model, sizeof(item.ev.model), "claude-sonnet-4-6");
    item.ev.status_code = 200;
    item.ev.is_stream = 1;
    item.ev.input_tokens = 42;
    item.ev.output_tokens = 1873;
    item.ev.cache_read_tokens = 88412;
    item.ev.cache_write_5m_tokens = 6120;
    item.ev.long_context = false;
    batch_emit(&b, &item);
    /* then fast mode, US inference, the prompt size and two iterations (JSON escaped for
     * COPY text: its backslashes doubled, a tab in a model as \t in the JSON) */
    snprintf(item.ev.request_id, sizeof(item.ev.request_id), "req-2");
    snprintf(item.ev.speed, sizeof(item.ev.speed), "fast");
    snprintf(item.ev.inference_geo, sizeof(item.ev.inference_geo), "us");
    item.ev.prompt_tokens = 94574;
    item.ev.niterations = 2;
    snprintf(item.ev.iterations[0].type, sizeof(item.ev.iterations[0].type), "advisor_message");
    snprintf(item.ev.iterations[0].model, sizeof(item.ev.iterations[0].model), "m\"1\t");
    item.ev.iterations[0].input_tokens = 7;
    item.ev.iterations[0].cache_write_unsplit_tokens = 3;
    item.ev.iterations[1].output_tokens = 9;
    batch_emit(&b, &item);
    assert_string_equal(
        copy_text(&b.events),
        "req\\t1\\\\x\\n\t2026-09-28 00:00:00.000001+00\t1\tunattributed\t"
        "ana@contoso.example\t\\N\t\\N\t\\N\t\\N\t\tclaude-sonnet-4-6\t"
        "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t200\tt\t42\t1873\t88412\t6120\t0\t0\tf\t0\t0\tf"
        "\t\\N\t\\N\t0\t\\N\n"
        "req-2\t2026-09-28 00:00:00.000001+00\t1\tunattributed\t"
        "ana@contoso.example\t\\N\t\\N\t\\N\t\\N\t\tclaude-sonnet-4-6\t"
        "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t200\tt\t42\t1873\t88412\t6120\t0\t0\tf\t0\t0\tf"
        "\tfast\tus\t94574\t"
        "[{\"type\":\"advisor_message\",\"model\":\"m\\\\\"1\\\\u0009\",\"input_tokens\":7,"
        "\"output_tokens\":0,\"cache_read_tokens\":0,\"cache_write_5m_tokens\":0,"
        "\"cache_write_1h_tokens\":0,\"cache_write_unsplit_tokens\":3},"
        "{\"type\":null,\"model\":null,\"input_tokens\":0,\"output_tokens\":9,"
        "\"cache_read_tokens\":0,\"cache_write_5m_tokens\":0,\"cache_write_1h_tokens\":0,"
        "\"cache_write_unsplit_tokens\":0}]\n");
    assert_int_equal(b.nevents, 2);
    assert_int_equal(b.nrecords, 2);
    batch_cleanup(&b);
}

/* Times before 1970 keep a positive fraction. */
static void test_event_time_before_epoch(void **state)
{
    batch b;
    (void)state;

    batch_init(&b);
    emit_event(&b, "r", -1);
    assert_non_null(strstr(copy_text(&b.events), "\t1969-12-31 23:59:59.999999+00\t"));
    assert_int_equal(b.nmonths, 1);
    assert_int_equal(b.months[0], 1969 * 12 + 11);
    batch_cleanup(&b);
}

/* Rejects are keyed by their message, ":k" for the k-th after the first; raw bytes as
 * hex bytea. */
/* batch_time_text against gmtime_r over the years the parsers accept (1900-9999): the
 * ends, the epoch, the microsecond before it, and a million times in between */
static void test_time_text_gmtime(void **state)
{
    const int64_t lo = INT64_C(-2208988800) * 1000000, hi = INT64_C(253402300800) * 1000000 - 1;
    uint64_t x = UINT64_C(88172645463325252);

    (void)state;
    for (int i = 0; i < 1000000; i++) {
        int64_t us, secs, frac;
        char got[48], want[48];
        struct tm tm;
        time_t t;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        us = i == 0   ? lo
             : i == 1 ? hi
             : i == 2 ? 0
             : i == 3 ? -1
                      : lo + (int64_t)(x % (uint64_t)(hi - lo));
        secs = us / 1000000;
        frac = us % 1000000;
        if (frac < 0) {
            frac += 1000000;
            secs--;
        }
        t = (time_t)secs;
        gmtime_r(&t, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
        batch_time_text(us, got, sizeof(got));
        if (strcmp(got, want) != 0)
            fail_msg("%lld: \"%s\", gmtime_r gives \"%s\"", (long long)us, got, want);
    }
}

/* Two events of one key sum into one tally_stage_agg row, a third of another key gets its
 * own, a skipped one adds nothing; labels: each developer's latest upn; a sum beyond int64
 * is BATCH_ROLLUP_OVERFLOW (the checking way's SQL refuses it) */
static void test_rollup_text(void **state)
{
    static const struct {
        const char *id, *oid, *upn;
        int64_t time_us, input;
    } evs[] = {
        {"a", "dev1", "one@x", 1000000, 10},
        {"b", "dev1", "new@x", 2000000, 5},
        {"c", "dev2", "", 3000000, 7},
        {"d", "dev1", "skipped@x", 4000000, 100},
    };
    const uint8_t skip[] = {0, 0, 0, 1};
    membuf agg = MEMBUF_INIT, labels = MEMBUF_INIT;
    batch b;

    (void)state;
    batch_init(&b);
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        parse_item item;

        memset(&item, 0, sizeof(item));
        item.kind = ITEM_EVENT;
        item.ev.format = EVENT_FORMAT_USAGE;
        snprintf(item.ev.request_id, sizeof(item.ev.request_id), "%s", evs[i].id);
        snprintf(item.ev.user_oid, sizeof(item.ev.user_oid), "%s", evs[i].oid);
        snprintf(item.ev.user_upn, sizeof(item.ev.user_upn), "%s", evs[i].upn);
        snprintf(item.ev.model, sizeof(item.ev.model), "m");
        item.ev.event_time_us = evs[i].time_us;
        item.ev.input_tokens = evs[i].input;
        item.ev.is_stream = -1;
        batch_emit(&b, &item);
    }
    assert_int_equal(batch_rollup_text(&b, skip, &agg, &labels), BATCH_ROLLUP_OK);
    assert_string_equal(
        copy_text(&agg),
        "1970-01-01 00:00:00.000000+00\tdev1\tm\t\t0\tstandard\t\t2\t15\t0\t0\t0\t0\t0\t0\t0\t0\n"
        "1970-01-01 00:00:00.000000+00\tdev2\tm\t\t0\tstandard\t\t1\t7\t0\t0\t0\t0\t0\t0\t0\t0\n");
    assert_string_equal(copy_text(&labels), "dev1\tnew@x\t1970-01-01 00:00:02.000000+00\n");
    membuf_reset(&agg);
    membuf_reset(&labels);
    b.parts[1].sums[1] = INT64_MAX - 9; /* plus the 10 of "a" */
    assert_int_equal(batch_rollup_text(&b, skip, &agg, &labels), BATCH_ROLLUP_OVERFLOW);
    membuf_free(&agg);
    membuf_free(&labels);
    batch_cleanup(&b);
}

static void test_reject_keys(void **state)
{
    batch b;
    (void)state;

    batch_init(&b);
    batch_message(&b, "kafka:usage:3:17", "usage/3/17", NULL, 0);
    emit_reject(&b, "missing requestId", "{}");
    emit_reject(&b, "missing requestId", "\n");
    batch_message(&b, "kafka:usage:3:18", "usage/3/18", NULL, 0);
    emit_reject(&b, "invalid timestamp \"x\"", "A");
    assert_string_equal(copy_text(&b.rejects),
                        "kafka:usage:3:17\tusage/3/17\tmissing requestId\t\\\\x7b7d\n"
                        "kafka:usage:3:17:1\tusage/3/17\tmissing requestId\t\\\\x0a\n"
                        "kafka:usage:3:18\tusage/3/18\tinvalid timestamp \"x\"\t\\\\x41\n");
    assert_int_equal(b.nrejects, 3);
    assert_int_equal(b.nmessages, 2);
    batch_cleanup(&b);
}

/* Metric labels: a fixed few classes, whatever text the reason quotes. */
static void test_reason_labels(void **state)
{
    static const char *const cases[][2] = {
        {"invalid JSON: '[' or '{' expected near 'xyz'", "invalid JSON"},
        {"invalid JSON: unexpected token near 'abc'", "invalid JSON"},
        {"unsupported schema \"tally.usage/9\"", "unknown format"},
        {"record is not an object", "unknown format"},
        {"missing timestamp", "missing field"},
        {"missing model and deploymentName", "missing field"},
        {"invalid timestamp \"5/x\"", "invalid timestamp"},
        {"timestamp out of range \"99999-01-01\"", "invalid timestamp"},
        {"invalid token count in \"input_tokens\"", "invalid token count"},
        {"negative token count in \"output_tokens\"", "negative token count"},
        {"token count in \"input_tokens\" over the maximum 1000000000000",
         "token count over maximum"},
        {"field \"userUpn\" too long", "field too long"},
        {"field \"model\" is not a string", "invalid field"},
        {"invalid boolean in \"isStream\"", "invalid field"},
        {"database refused: 23514 new row violates check constraint", "database refused"},
        {"something new \"abc\"", "other"},
    };
    batch b;
    char reason[64];
    (void)state;

    batch_init(&b);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        batch_reset(&b);
        emit_reject(&b, cases[i][0], "");
        assert_int_equal(b.nreasons, 1);
        assert_string_equal(b.reasons[0].reason, cases[i][1]);
    }
    batch_reset(&b);
    for (int i = 0; i < 1000; i++) {
        snprintf(reason, sizeof(reason), "invalid JSON: garbage near '%d'", i);
        emit_reject(&b, reason, "");
        snprintf(reason, sizeof(reason), "weird %d", i);
        emit_reject(&b, reason, "");
    }
    assert_int_equal(b.nreasons, 2);
    assert_string_equal(b.reasons[0].reason, "invalid JSON");
    assert_int_equal(b.reasons[0].count, 1000);
    assert_string_equal(b.reasons[1].reason, "other");
    assert_int_equal(b.reasons[1].count, 1000);
    batch_cleanup(&b);
}

/* A partition keeps the stored offset it started from and moves its next offset. */
static void test_offsets(void **state)
{
    batch b;
    (void)state;

    batch_init(&b);
    assert_true(batch_empty(&b));
    assert_true(batch_offset(&b, 2, 100, 100));
    assert_true(batch_offset(&b, 0, -1, 7));
    assert_true(batch_offset(&b, 2, 555, 101));
    assert_int_equal(b.noffsets, 2);
    assert_int_equal(b.offsets[0].partition, 2);
    assert_int_equal(b.offsets[0].prev, 100);
    assert_int_equal(b.offsets[0].next, 102);
    assert_int_equal(b.offsets[1].prev, -1);
    assert_int_equal(b.offsets[1].next, 8);
    assert_false(batch_empty(&b));
    for (int p = 3; p < 40; p++)
        assert_true(batch_offset(&b, p, -1, 0));
    assert_int_equal(b.noffsets, 39);
    batch_reset(&b);
    assert_true(batch_empty(&b));
    batch_cleanup(&b);
}

/* A gap takes the event time of the partition's last message in the batch before it
 * (none: the stored one's) and of the message after it; a message without events keeps
 * the partition's last event time. */
static void test_gaps(void **state)
{
    batch b;
    (void)state;

    batch_init(&b);
    batch_message(&b, "k0", "t/0/5", "", 0);
    emit_event(&b, "a", 1000);
    assert_true(batch_offset(&b, 0, 5, 5));
    batch_message(&b, "k1", "t/0/6", "", 0);
    emit_reject(&b, "invalid JSON", "x");
    assert_true(batch_offset(&b, 0, 5, 6));
    assert_int_equal(b.offsets[0].last_time, 1000);
    assert_int_equal(batch_next_offset(&b, 0), 7);
    assert_int_equal(batch_next_offset(&b, 1), -1);
    /* offsets 7..19 lost in partition 0, before offset 20 */
    batch_message(&b, "k2", "t/0/20", "", 0);
    emit_event(&b, "b", 3000);
    assert_true(batch_gap_add(&b, 0, 7, 19));
    assert_true(batch_offset(&b, 0, 5, 20));
    /* offsets 0..2 lost in partition 1, new in the batch: before comes from the database */
    batch_message(&b, "k3", "t/1/3", "", 0);
    emit_reject(&b, "invalid JSON", "y");
    assert_true(batch_gap_add(&b, 1, 0, 2));
    assert_true(batch_offset(&b, 1, 0, 3));
    assert_int_equal(b.ngaps, 2);
    assert_int_equal(b.gaps[0].partition, 0);
    assert_int_equal(b.gaps[0].first, 7);
    assert_int_equal(b.gaps[0].last, 19);
    assert_int_equal(b.gaps[0].before, 1000);
    assert_int_equal(b.gaps[0].after, 3000);
    assert_int_equal(b.gaps[1].partition, 1);
    assert_true(b.gaps[1].before == BATCH_NO_TIME);
    assert_true(b.gaps[1].after == BATCH_NO_TIME);
    assert_int_equal(b.offsets[0].last_time, 3000);
    assert_true(b.offsets[1].last_time == BATCH_NO_TIME);
    batch_reset(&b);
    assert_int_equal(b.ngaps, 0);
    batch_cleanup(&b);
}

/* Each UTC month of the batch once. */
static void test_months(void **state)
{
    batch b;
    (void)state;

    batch_init(&b);
    emit_event(&b, "a", INT64_C(1790553600000000)); /* 2026-09-28 */
    emit_event(&b, "b", INT64_C(1790812799999999)); /* 2026-09-30T23:59:59.999999Z */
    emit_event(&b, "c", INT64_C(1790812800000000)); /* 2026-10-01 */
    assert_int_equal(b.nmonths, 2);
    assert_int_equal(b.months[0], 2026 * 12 + 8);
    assert_int_equal(b.months[1], 2026 * 12 + 9);
    batch_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_copy_text), cmocka_unit_test(test_event_time_before_epoch),
        cmocka_unit_test(test_reject_keys),     cmocka_unit_test(test_reason_labels),
        cmocka_unit_test(test_offsets),         cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_months),          cmocka_unit_test(test_time_text_gmtime),
        cmocka_unit_test(test_rollup_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
