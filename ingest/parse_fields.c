/*
 * parse_fields.c - the helpers the format parsers share (see parse_fields.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_fields.h"

#define USEC_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)

/* how much of a bad value a reason quotes */
#define REASON_QUOTE_MAX 64

/*
 * Event times PostgreSQL and the sink can store: the sink writes years as four digits
 * without an era, so a year 0 (or an offset reaching into it) would fail the COPY of
 * the whole batch on every retry and stall ingestion. [1900-01-01, 10000-01-01) UTC,
 * the years the report API and price books accept too.
 */
#define EVENT_TIME_MIN_US (INT64_C(-2208988800) * USEC_PER_SEC)
#define EVENT_TIME_END_US (INT64_C(253402300800) * USEC_PER_SEC)

void parse_set_reason(char *reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, PARSE_REASON_MAX, fmt, ap);
    va_end(ap);
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

bool parse_key_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return false;
    }
    return *a == *b;
}

jv *parse_get(const jv *obj, const char *key)
{
    jv *v = jv_get(obj, key);
    size_t i;

    if (v || !jv_is_object(obj))
        return v;
    jv_foreach(obj, i, v)
    {
        if (parse_key_eq(v->key, key))
            return v;
    }
    return NULL;
}

bool parse_absent(const jv *v)
{
    const char *s;

    if (v == NULL || jv_is_null(v))
        return true;
    if (!jv_is_string(v))
        return false;
    s = jv_str(v);
    return s[0] == '\0' || strcmp(s, "NA") == 0;
}

/* Copies src to dst (size bytes) as printable UTF-8: control characters and bytes that
 * are not valid UTF-8 become '?', so a reason is always safe to store as text. */
static void copy_printable(char *dst, size_t size, const char *src, size_t src_len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0, n;

    while (i < src_len && o + 1 < size) {
        n = jdoc_utf8_len(s + i, src_len - i);
        if (n == 0 || (n == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= size)
            break;
        memcpy(dst + o, s + i, n);
        o += n;
        i += n;
    }
    dst[o] = '\0';
}

/* Copies a string into dst, cut at a UTF-8 character boundary if it does not fit. */
static void copy_truncated(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static bool get_string(const jv *v, const char *name, char *dst, size_t size, bool cut,
                       char *reason)
{
    size_t len;

    dst[0] = '\0';
    if (parse_absent(v))
        return true;
    if (!jv_is_string(v)) {
        parse_set_reason(reason, "field \"%s\" is not a string", name);
        return false;
    }
    len = jv_len(v);
    if (len >= size && !cut) {
        parse_set_reason(reason, "field \"%s\" too long", name);
        return false;
    }
    copy_truncated(dst, size, jv_str(v), len);
    return true;
}

bool parse_id(const jv *v, const char *name, char *dst, size_t size, char *reason)
{
    return get_string(v, name, dst, size, false, reason);
}

bool parse_label(const jv *v, const char *name, char *dst, size_t size, char *reason)
{
    return get_string(v, name, dst, size, true, reason);
}

typedef enum {
    DEC_OK,
    DEC_INVALID,
    DEC_NEGATIVE,  /* a valid number below zero */
    DEC_TOO_LARGE, /* a valid number above the limit */
} dec_status;

/* Parses an optionally negative decimal integer of exactly len bytes. Values whose
 * magnitude exceeds limit are DEC_TOO_LARGE (DEC_NEGATIVE if negative). */
static dec_status parse_decimal(const char *s, size_t len, int64_t limit, int64_t *out)
{
    size_t i = 0;
    int64_t n = 0;
    bool negative = false, big = false;

    if (len > 0 && s[0] == '-') {
        negative = true;
        i = 1;
    }
    if (i == len)
        return DEC_INVALID;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return DEC_INVALID;
        if (!big) {
            n = n * 10 + (s[i] - '0');
            big = n > limit;
        }
    }
    if (negative && (big || n > 0))
        return DEC_NEGATIVE;
    if (big)
        return DEC_TOO_LARGE;
    *out = n;
    return DEC_OK;
}

bool parse_count(const jv *v, const char *name, int64_t *out, char *reason)
{
    dec_status st = DEC_INVALID;
    int64_t n = 0;

    *out = 0;
    if (parse_absent(v))
        return true;
    if (jv_is_integer(v)) {
        n = jv_int(v);
        st = n < 0 ? DEC_NEGATIVE : n > PARSE_COUNT_MAX ? DEC_TOO_LARGE : DEC_OK;
    } else if (jv_is_string(v)) {
        st = parse_decimal(jv_str(v), jv_len(v), PARSE_COUNT_MAX, &n);
    }
    if (st == DEC_NEGATIVE) {
        parse_set_reason(reason, "negative token count in \"%s\"", name);
        return false;
    }
    if (st == DEC_TOO_LARGE) {
        parse_set_reason(reason, "token count in \"%s\" over the maximum %" PRId64, name,
                         PARSE_COUNT_MAX);
        return false;
    }
    if (st == DEC_INVALID) {
        parse_set_reason(reason, "invalid token count in \"%s\"", name);
        return false;
    }
    *out = n;
    return true;
}

bool parse_int(const jv *v, const char *name, int min, int max, int dflt, int *out, char *reason)
{
    int64_t n = 0;
    bool ok = false;

    *out = dflt;
    if (parse_absent(v))
        return true;
    if (jv_is_integer(v)) {
        n = jv_int(v);
        ok = true;
    } else if (jv_is_string(v)) {
        const char *s = jv_str(v);
        size_t len = jv_len(v);
        bool negative = len > 0 && s[0] == '-';
        dec_status st = parse_decimal(s + negative, len - negative, INT32_MAX, &n);

        ok = st == DEC_OK;
        if (negative)
            n = -n;
    }
    if (!ok || n < min || n > max) {
        parse_set_reason(reason, "invalid integer in \"%s\"", name);
        return false;
    }
    *out = (int)n;
    return true;
}

bool parse_bool(const jv *v, const char *name, int *out, char *reason)
{
    *out = -1;
    if (parse_absent(v))
        return true;
    if (jv_is_boolean(v)) {
        *out = jv_is_true(v);
        return true;
    }
    if (jv_is_integer(v) && (jv_int(v) == 0 || jv_int(v) == 1)) {
        *out = (int)jv_int(v);
        return true;
    }
    if (jv_is_string(v)) {
        const char *s = jv_str(v);

        if (parse_key_eq(s, "true") || strcmp(s, "1") == 0) {
            *out = 1;
            return true;
        }
        if (parse_key_eq(s, "false") || strcmp(s, "0") == 0) {
            *out = 0;
            return true;
        }
    }
    parse_set_reason(reason, "invalid boolean in \"%s\"", name);
    return false;
}

bool parse_time(const jv *v, int64_t *out_us, char *reason)
{
    char quoted[REASON_QUOTE_MAX + 1];

    *out_us = 0;
    if (parse_absent(v)) {
        parse_set_reason(reason, "missing timestamp");
        return false;
    }
    if (!jv_is_string(v)) {
        parse_set_reason(reason, "invalid timestamp");
        return false;
    }
    copy_truncated(quoted, sizeof(quoted), jv_str(v), jv_len(v));
    if (!parse_timestamp(jv_str(v), out_us)) {
        parse_set_reason(reason, "invalid timestamp \"%s\"", quoted);
        return false;
    }
    if (*out_us < EVENT_TIME_MIN_US || *out_us >= EVENT_TIME_END_US) {
        parse_set_reason(reason, "timestamp out of range \"%s\"", quoted);
        *out_us = 0;
        return false;
    }
    return true;
}

int64_t parse_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    /* Howard Hinnant's days_from_civil: eras of 400 years starting in March */
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads between min and max digits at *p into *out, advancing *p. */
static bool read_digits(const char **p, int min, int max, int *out)
{
    int n = 0, i = 0;

    while (i < max && is_digit((*p)[i])) {
        n = n * 10 + ((*p)[i] - '0');
        i++;
    }
    if (i < min)
        return false;
    *p += i;
    *out = n;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Combines validated fields into microseconds UTC; offset_s is the zone's offset. */
static bool civil_to_us(int year, int month, int day, int hour, int minute, int second,
                        int64_t frac_us, int64_t offset_s, int64_t *out_us)
{
    int64_t secs;

    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return false;
    if (hour > 23 || minute > 59 || second > 59)
        return false;
    secs = parse_days_from_civil(year, (unsigned)month, (unsigned)day) * SEC_PER_DAY + hour * 3600 +
           minute * 60 + second - offset_s;
    *out_us = secs * USEC_PER_SEC + frac_us;
    return true;
}

bool parse_iso8601(const char *s, int64_t *out_us)
{
    const char *p = s;
    int year, month, day, hour, minute, second;
    int64_t frac = 0, offset = 0;
    int digits = 0;

    if (!read_digits(&p, 4, 4, &year) || !expect(&p, '-') || !read_digits(&p, 2, 2, &month) ||
        !expect(&p, '-') || !read_digits(&p, 2, 2, &day))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!read_digits(&p, 2, 2, &hour) || !expect(&p, ':') || !read_digits(&p, 2, 2, &minute) ||
        !expect(&p, ':') || !read_digits(&p, 2, 2, &second))
        return false;
    if (*p == '.' || *p == ',') {
        p++;
        if (!is_digit(*p))
            return false;
        /* any number of digits (Azure sends 7); keep microseconds, truncating so that
         * a time just before midnight never moves into the next day */
        for (; is_digit(*p); p++, digits++) {
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        }
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;

        p++;
        if (!read_digits(&p, 2, 2, &oh))
            return false;
        if (*p == ':') {
            p++;
            if (!read_digits(&p, 2, 2, &om))
                return false;
        } else if (is_digit(*p) && !read_digits(&p, 2, 2, &om)) {
            return false;
        }
        if (oh > 23 || om > 59)
            return false;
        offset = sign * (oh * INT64_C(3600) + om * INT64_C(60));
    }
    if (*p != '\0')
        return false;
    return civil_to_us(year, month, day, hour, minute, second, frac, offset, out_us);
}

bool parse_culture_time(const char *s, int64_t *out_us)
{
    const char *p = s;
    int year, month, day, hour, minute, second;

    if (!read_digits(&p, 1, 2, &month) || !expect(&p, '/') || !read_digits(&p, 1, 2, &day) ||
        !expect(&p, '/') || !read_digits(&p, 4, 4, &year) || !expect(&p, ' ') ||
        !read_digits(&p, 1, 2, &hour) || !expect(&p, ':') || !read_digits(&p, 2, 2, &minute) ||
        !expect(&p, ':') || !read_digits(&p, 2, 2, &second))
        return false;
    if (*p == ' ') {
        bool pm;

        p++;
        if ((p[0] == 'A' || p[0] == 'a') && (p[1] == 'M' || p[1] == 'm'))
            pm = false;
        else if ((p[0] == 'P' || p[0] == 'p') && (p[1] == 'M' || p[1] == 'm'))
            pm = true;
        else
            return false;
        p += 2;
        if (hour < 1 || hour > 12)
            return false;
        hour = hour % 12 + (pm ? 12 : 0);
    }
    if (*p != '\0')
        return false;
    return civil_to_us(year, month, day, hour, minute, second, 0, 0, out_us);
}

bool parse_timestamp(const char *s, int64_t *out_us)
{
    return parse_iso8601(s, out_us) || parse_culture_time(s, out_us);
}

void parse_emit(parse_out *out, const parse_item *item)
{
    if (out->emit)
        out->emit(out->ctx, item);
    out->count++;
}

void parse_reject(parse_out *out, const char *raw, size_t raw_len, const char *reason)
{
    parse_item item;

    memset(&item, 0, sizeof(item));
    item.kind = ITEM_REJECT;
    copy_printable(item.reason, sizeof(item.reason), reason, strlen(reason));
    item.raw = raw;
    item.raw_len = raw_len;
    parse_emit(out, &item);
}

void parse_reject_json(parse_out *out, const jv *value, const char *fallback, size_t fallback_len,
                       const char *reason)
{
    json_t *j = jv_to_json(value);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    json_decref(j);
    if (text)
        parse_reject(out, text, strlen(text), reason);
    else
        parse_reject(out, fallback, fallback_len, reason);
    free(text);
}

bool parse_fields(jv *obj, const parse_field *fields, size_t n, tally_event *ev, char *reason)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const parse_field *f = &fields[i];
        char *dst = (char *)ev + f->offset;
        jv *v = parse_get(obj, f->key);
        bool ok = f->label ? parse_label(v, f->key, dst, f->size, reason)
                           : parse_id(v, f->key, dst, f->size, reason);

        if (!ok)
            return false;
    }
    return true;
}

/* Parses one event and emits it, or its reject with raw/raw_len or else its JSON. */
static void emit_event(jv *obj, const char *raw, size_t raw_len, parse_event_fn one, parse_out *out)
{
    parse_item item;

    memset(&item, 0, sizeof(item));
    if (!jv_is_object(obj)) {
        parse_reject_json(out, obj, raw, raw_len, "event is not an object");
        return;
    }
    if (!one(obj, &item.ev, item.reason)) {
        if (raw)
            parse_reject(out, raw, raw_len, item.reason);
        else
            parse_reject_json(out, obj, "", 0, item.reason);
        return;
    }
    item.kind = ITEM_EVENT;
    event_finish(&item.ev);
    parse_emit(out, &item);
}

void parse_events(jv *root, const char *buf, size_t len, parse_event_fn one, parse_out *out)
{
    size_t i;
    jv *v;

    if (!jv_is_array(root)) {
        emit_event(root, buf, len, one, out);
        return;
    }
    jv_foreach(root, i, v)
    {
        emit_event(v, NULL, 0, one, out);
    }
}
