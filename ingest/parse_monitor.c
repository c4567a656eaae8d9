/*
 * parse_monitor.c - Azure Monitor resource logs of APIM as diagnostic settings stream
 * them (docs/architecture.md, "Inputs"): {"records":[...]}, a bare array of records, or one record.
 *
 * GatewayLlmLogs records carry tokens and become ITEM_MON_LLM; GatewayLogs records
 * carry the caller and become ITEM_MON_GATEWAY; the sink joins them on correlationId.
 * Other categories are ignored. Azure's key casing and the place of logged headers
 * vary between API versions, so keys are matched case-insensitively, a field is looked
 * up in properties and then in the record itself, and the caller headers are searched
 * for throughout the record.
 */
#include <stdlib.h>
#include <string.h>

#include "parse_fields.h"
#include "parse_internal.h"

#define HEADER_OID "x-tally-user-oid"
#define HEADER_UPN "x-tally-user-upn"

/* how deep the header search descends, counting JSON documents inside strings */
#define HEADER_DEPTH_MAX 16

/* The value of key in properties, else in the record itself. */
static jv *mon_get(jv *rec, jv *props, const char *key)
{
    jv *v = parse_get(props, key);

    if (parse_absent(v)) {
        jv *top = parse_get(rec, key);

        if (top)
            return top;
    }
    return v;
}

/* The search for the caller headers in one record. */
typedef struct header_search {
    tally_event *ev;
    bool have_oid;
    bool have_upn;
    bool failed;
    char *reason;
} header_search;

/* Takes value (a string, or an array whose first present element is one) as header
 * name if it is one of ours and not yet found. */
static void take_header(header_search *hs, const char *name, jv *value)
{
    bool oid = parse_key_eq(name, HEADER_OID);
    size_t i;
    jv *v = NULL;

    if (!(oid && !hs->have_oid) && !(parse_key_eq(name, HEADER_UPN) && !hs->have_upn))
        return;
    if (jv_is_array(value)) {
        jv_foreach(value, i, v)
        {
            if (!parse_absent(v))
                break;
        }
        value = v;
    }
    if (parse_absent(value) || !jv_is_string(value))
        return;
    if (oid) {
        hs->failed =
            !parse_id(value, HEADER_OID, hs->ev->user_oid, sizeof(hs->ev->user_oid), hs->reason);
        hs->have_oid = !hs->failed;
    } else {
        hs->failed =
            !parse_label(value, HEADER_UPN, hs->ev->user_upn, sizeof(hs->ev->user_upn), hs->reason);
        hs->have_upn = !hs->failed;
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* A header logged as one "Name: value" string. */
static void take_header_line(header_search *hs, const char *line, size_t len)
{
    static const char *const names[] = {HEADER_OID, HEADER_UPN};
    size_t i, n, start, end;
    jv value = {.type = JV_STRING};
    char *copy;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        n = strlen(names[i]);
        if (len <= n)
            continue;
        /* compare the prefix without reading past it */
        char prefix[sizeof(HEADER_OID)];
        memcpy(prefix, line, n);
        prefix[n] = '\0';
        if (!parse_key_eq(prefix, names[i]))
            continue;
        start = n;
        while (start < len && is_space(line[start]))
            start++;
        if (start == len || line[start] != ':')
            continue;
        start++;
        while (start < len && is_space(line[start]))
            start++;
        end = len;
        while (end > start && is_space(line[end - 1]))
            end--;
        /* a copy: take_header's helpers want it NUL-terminated */
        value.str = copy = malloc(end - start + 1);
        if (!copy)
            return;
        memcpy(copy, line + start, end - start);
        copy[end - start] = '\0';
        value.len = end - start;
        take_header(hs, names[i], &value);
        free(copy);
        return;
    }
}

static bool looks_like_json(const char *s)
{
    while (is_space(*s) || *s == '\r' || *s == '\n')
        s++;
    return *s == '{' || *s == '[';
}

/*
 * Walks v looking for the headers as object members ({"x-tally-user-oid": "..."}),
 * name/value pairs ({"name": "x-tally-user-oid", "value": "..."}), "Name: value"
 * strings, and JSON documents logged as strings. Headers are only taken where take
 * is true; below a member named backendRequestHeaders it always is.
 */
static void walk_headers(header_search *hs, jv *v, bool take, int depth)
{
    const char *key;
    jv *member;
    size_t i;

    if (hs->failed || (hs->have_oid && hs->have_upn) || depth > HEADER_DEPTH_MAX)
        return;
    if (jv_is_object(v)) {
        jv *name = parse_get(v, "name");

        if (!jv_is_string(name))
            name = parse_get(v, "key");
        if (take && jv_is_string(name))
            take_header(hs, jv_str(name), parse_get(v, "value"));
        jv_foreach(v, i, member)
        {
            key = member->key;
            if (take)
                take_header(hs, key, member);
            walk_headers(hs, member, take || parse_key_eq(key, "backendRequestHeaders"), depth + 1);
        }
    } else if (jv_is_array(v)) {
        jv_foreach(v, i, member)
        {
            if (take && jv_is_string(member))
                take_header_line(hs, jv_str(member), jv_len(member));
            walk_headers(hs, member, take, depth + 1);
        }
    } else if (jv_is_string(v) && looks_like_json(jv_str(v))) {
        char err[JSON_ERROR_TEXT_LENGTH];
        jdoc doc;

        if (jdoc_load(&doc, jv_str(v), jv_len(v), false, err, sizeof(err)))
            walk_headers(hs, doc.root, take, depth + 1);
        jdoc_free(&doc);
    }
}

/* Finds the caller headers: first under backendRequestHeaders, which the policy sets
 * from the validated token, then anywhere else in the record. */
static bool find_caller(jv *rec, tally_event *ev, char *reason)
{
    header_search hs = {.ev = ev, .reason = reason};

    walk_headers(&hs, rec, false, 0);
    walk_headers(&hs, rec, true, 0);
    return !hs.failed;
}

/* The fields both categories carry: correlationId and time. */
static bool record_key(jv *rec, jv *props, tally_event *ev, char *reason)
{
    jv *time;

    ev->format = EVENT_FORMAT_MONITOR;
    ev->is_stream = -1;
    if (!parse_id(mon_get(rec, props, "correlationId"), "correlationId", ev->request_id,
                  sizeof(ev->request_id), reason))
        return false;
    if (ev->request_id[0] == '\0') {
        parse_set_reason(reason, "missing correlationId");
        return false;
    }
    time = mon_get(rec, props, "time");
    if (parse_absent(time))
        time = mon_get(rec, props, "TimeGenerated");
    return parse_time(time, &ev->event_time_us, reason);
}

static bool llm_record(jv *rec, jv *props, parse_item *item, char *reason)
{
    tally_event *ev = &item->ev;

    item->kind = ITEM_MON_LLM;
    if (!record_key(rec, props, ev, reason) ||
        !parse_id(mon_get(rec, props, "modelName"), "modelName", ev->model, sizeof(ev->model),
                  reason) ||
        !parse_id(mon_get(rec, props, "deploymentName"), "deploymentName", ev->deployment,
                  sizeof(ev->deployment), reason))
        return false;
    if (ev->model[0] == '\0' && ev->deployment[0] == '\0') {
        parse_set_reason(reason, "missing model and deploymentName");
        return false;
    }
    /* for Claude, promptTokens excludes the cache and promptCachedTokens are its reads;
     * cache writes are not reported on this path */
    ev->cache_write_unknown = true;
    if (!parse_count(mon_get(rec, props, "promptTokens"), "promptTokens", &ev->input_tokens,
                     reason) ||
        !parse_count(mon_get(rec, props, "completionTokens"), "completionTokens",
                     &ev->output_tokens, reason) ||
        !parse_count(mon_get(rec, props, "promptCachedTokens"), "promptCachedTokens",
                     &ev->cache_read_tokens, reason) ||
        !parse_int(mon_get(rec, props, "sequenceNumber"), "sequenceNumber", 0, INT32_MAX, 0,
                   &item->sequence, reason) ||
        !parse_bool(mon_get(rec, props, "isStreamCompletion"), "isStreamCompletion", &ev->is_stream,
                    reason) ||
        !parse_id(mon_get(rec, props, "requestId"), "requestId", ev->message_id,
                  sizeof(ev->message_id), reason))
        return false;
    event_finish(ev);
    return true;
}

static bool gateway_record(jv *rec, jv *props, parse_item *item, char *reason)
{
    tally_event *ev = &item->ev;
    jv *region = mon_get(rec, props, "region");

    item->kind = ITEM_MON_GATEWAY;
    if (parse_absent(region))
        region = mon_get(rec, props, "location");
    return record_key(rec, props, ev, reason) && find_caller(rec, ev, reason) &&
           parse_label(mon_get(rec, props, "apimSubscriptionId"), "apimSubscriptionId",
                       ev->subscription, sizeof(ev->subscription), reason) &&
           parse_int(mon_get(rec, props, "responseCode"), "responseCode", 0, 999, 0,
                     &ev->status_code, reason) &&
           parse_label(region, "region", ev->region, sizeof(ev->region), reason);
}

/* Parses one record into item. Returns false with a reason for a reject; true with
 * item->kind left at ITEM_REJECT for a record of a category that is ignored. */
static bool monitor_record(jv *rec, parse_item *item, char *reason)
{
    jv *category, *props;
    jdoc owned = {0};
    const char *name;
    bool ok;

    if (!jv_is_object(rec)) {
        parse_set_reason(reason, "record is not an object");
        return false;
    }
    category = parse_get(rec, "category");
    if (parse_absent(category)) {
        parse_set_reason(reason, "missing category");
        return false;
    }
    if (!jv_is_string(category)) {
        parse_set_reason(reason, "field \"category\" is not a string");
        return false;
    }
    name = jv_str(category);
    if (!parse_key_eq(name, "GatewayLlmLogs") && !parse_key_eq(name, "GatewayLogs"))
        return true;
    props = parse_get(rec, "properties");
    if (jv_is_string(props) && looks_like_json(jv_str(props))) {
        /* some Azure services log properties as a JSON document in a string */
        char err[JSON_ERROR_TEXT_LENGTH];

        props = jdoc_load(&owned, jv_str(props), jv_len(props), false, err, sizeof(err))
                    ? owned.root
                    : NULL;
    }
    if (!jv_is_object(props))
        props = NULL;
    if (parse_key_eq(name, "GatewayLlmLogs"))
        ok = llm_record(rec, props, item, reason);
    else
        ok = gateway_record(rec, props, item, reason);
    jdoc_free(&owned);
    return ok;
}

/* Emits the item of one record; raw/raw_len, if not NULL, are its bytes. */
static void emit_record(jv *rec, const char *raw, size_t raw_len, parse_out *out)
{
    parse_item item;

    memset(&item, 0, sizeof(item));
    item.kind = ITEM_REJECT;
    if (!monitor_record(rec, &item, item.reason)) {
        if (raw)
            parse_reject(out, raw, raw_len, item.reason);
        else
            parse_reject_json(out, rec, "", 0, item.reason);
        return;
    }
    if (item.kind != ITEM_REJECT)
        parse_emit(out, &item);
}

void parse_monitor(jv *root, const char *buf, size_t len, parse_out *out)
{
    jv *records = root, *rec;
    size_t i;

    if (jv_is_object(root)) {
        records = parse_get(root, "records");
        if (records == NULL) {
            emit_record(root, buf, len, out);
            return;
        }
        if (!jv_is_array(records)) {
            parse_reject(out, buf, len, "field \"records\" is not an array");
            return;
        }
    }
    jv_foreach(records, i, rec)
    {
        emit_record(rec, NULL, 0, out);
    }
}
