/*
 * parse_usage.c - tally.usage/1, the message the APIM policy emits per request
 * (docs/architecture.md, "Inputs"). The usage object is Anthropic's, copied verbatim.
 */
#include <string.h>

#include "parse_fields.h"
#include "parse_internal.h"

#define USAGE_SCHEMA "tally.usage/1"

static const parse_field usage_strings[] = {
    PARSE_FIELD("gatewayName", gateway, true),
    PARSE_FIELD("gatewayRegion", region, true),
    PARSE_FIELD("apimSubscriptionId", subscription, true),
    PARSE_FIELD("productName", product, true),
    PARSE_FIELD("operationName", operation, true),
    PARSE_FIELD("tenantId", tenant_id, false),
    PARSE_FIELD("userOid", user_oid, false),
    PARSE_FIELD("userUpn", user_upn, true),
    PARSE_FIELD("appId", app_id, false),
    PARSE_FIELD("sessionId", session_id, false),
    PARSE_FIELD("deploymentName", deployment, false),
    PARSE_FIELD("model", model, false),
    PARSE_FIELD("messageId", message_id, false),
};

/* An optional member that must be an object when present. */
static bool get_object(jv *parent, const char *key, jv **out, char *reason)
{
    jv *v = parse_get(parent, key);

    *out = NULL;
    if (parse_absent(v))
        return true;
    if (!jv_is_object(v)) {
        parse_set_reason(reason, "field \"%s\" is not an object", key);
        return false;
    }
    *out = v;
    return true;
}

static bool count(jv *obj, const char *key, int64_t *out, char *reason)
{
    return parse_count(parse_get(obj, key), key, out, reason);
}

/* The token classes of a usage object (the top level or one iteration) into the six
 * counts input, output, cache read, 5m, 1h, unsplit writes. A 5m/1h split that adds up to
 * less than cache_creation_input_tokens leaves the rest unsplit; without a split all
 * writes are unsplit. */
static bool token_classes(jv *usage, int64_t *input, int64_t *output, int64_t *read, int64_t *w5m,
                          int64_t *w1h, int64_t *unsplit, char *reason)
{
    jv *split;
    int64_t created;

    if (!count(usage, "input_tokens", input, reason) ||
        !count(usage, "output_tokens", output, reason) ||
        !count(usage, "cache_creation_input_tokens", &created, reason) ||
        !count(usage, "cache_read_input_tokens", read, reason) ||
        !get_object(usage, "cache_creation", &split, reason))
        return false;
    if (split) {
        if (!count(split, "ephemeral_5m_input_tokens", w5m, reason) ||
            !count(split, "ephemeral_1h_input_tokens", w1h, reason))
            return false;
        if (*w5m + *w1h < created)
            *unsplit = created - *w5m - *w1h;
    } else {
        *unsplit = created;
    }
    return true;
}

/* usage.iterations[]: each entry an object with its type, model and token classes. An
 * empty list is no list; more than EVENT_ITERATIONS_MAX entries is a reject. */
static bool usage_iterations(jv *usage, tally_event *ev, char *reason)
{
    jv *list = parse_get(usage, "iterations"), *item;
    size_t i;

    if (parse_absent(list))
        return true;
    if (!jv_is_array(list)) {
        parse_set_reason(reason, "field \"iterations\" is not an array");
        return false;
    }
    if (jv_size(list) > EVENT_ITERATIONS_MAX) {
        parse_set_reason(reason, "field \"iterations\" has more than %d entries",
                         EVENT_ITERATIONS_MAX);
        return false;
    }
    jv_foreach(list, i, item)
    {
        event_iteration *it = &ev->iterations[i];

        if (!jv_is_object(item)) {
            parse_set_reason(reason, "field \"iterations\" has an entry that is not an object");
            return false;
        }
        if (!parse_id(parse_get(item, "type"), "iterations.type", it->type, sizeof(it->type),
                      reason) ||
            !parse_id(parse_get(item, "model"), "iterations.model", it->model, sizeof(it->model),
                      reason) ||
            !token_classes(item, &it->input_tokens, &it->output_tokens, &it->cache_read_tokens,
                           &it->cache_write_5m_tokens, &it->cache_write_1h_tokens,
                           &it->cache_write_unsplit_tokens, reason))
            return false;
    }
    ev->niterations = (int)jv_size(list);
    return true;
}

/* Fills the token classes, tool counts, service tier, speed, inference geo and iterations
 * from Anthropic's usage object. */
static bool usage_tokens(jv *usage, tally_event *ev, char *reason)
{
    jv *tools;

    if (!token_classes(usage, &ev->input_tokens, &ev->output_tokens, &ev->cache_read_tokens,
                       &ev->cache_write_5m_tokens, &ev->cache_write_1h_tokens,
                       &ev->cache_write_unsplit_tokens, reason) ||
        !get_object(usage, "server_tool_use", &tools, reason))
        return false;
    if (!count(tools, "web_search_requests", &ev->web_search_requests, reason) ||
        !count(tools, "web_fetch_requests", &ev->web_fetch_requests, reason))
        return false;
    return parse_id(parse_get(usage, "service_tier"), "service_tier", ev->service_tier,
                    sizeof(ev->service_tier), reason) &&
           parse_id(parse_get(usage, "speed"), "speed", ev->speed, sizeof(ev->speed), reason) &&
           parse_id(parse_get(usage, "inference_geo"), "inference_geo", ev->inference_geo,
                    sizeof(ev->inference_geo), reason) &&
           usage_iterations(usage, ev, reason);
}

static bool usage_event(jv *obj, tally_event *ev, char *reason)
{
    jv *schema = parse_get(obj, "schema");
    jv *usage;

    if (!parse_absent(schema) &&
        !(jv_is_string(schema) && strcmp(jv_str(schema), USAGE_SCHEMA) == 0)) {
        parse_set_reason(reason, "unsupported schema \"%.64s\"",
                         jv_is_string(schema) ? jv_str(schema) : "");
        return false;
    }
    ev->format = EVENT_FORMAT_USAGE;
    if (!parse_id(parse_get(obj, "requestId"), "requestId", ev->request_id, sizeof(ev->request_id),
                  reason))
        return false;
    if (ev->request_id[0] == '\0') {
        parse_set_reason(reason, "missing requestId");
        return false;
    }
    if (!parse_time(parse_get(obj, "timestamp"), &ev->event_time_us, reason) ||
        !parse_fields(obj, usage_strings, sizeof(usage_strings) / sizeof(usage_strings[0]), ev,
                      reason))
        return false;
    if (ev->model[0] == '\0' && ev->deployment[0] == '\0') {
        parse_set_reason(reason, "missing model and deploymentName");
        return false;
    }
    if (!parse_int(parse_get(obj, "statusCode"), "statusCode", 0, 999, 0, &ev->status_code,
                   reason) ||
        !parse_bool(parse_get(obj, "isStream"), "isStream", &ev->is_stream, reason) ||
        !get_object(obj, "usage", &usage, reason))
        return false;
    return usage_tokens(usage, ev, reason);
}

void parse_usage(jv *root, const char *buf, size_t len, parse_out *out)
{
    parse_events(root, buf, len, usage_event, out);
}
