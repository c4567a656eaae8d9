/*
 * parse_legacy.c - the flat usage format of the public AI hub gateway accelerator
 * (docs/architecture.md, "Inputs"). It reports no cache tokens: they are unknown, not zero.
 */
#include "parse_fields.h"
#include "parse_internal.h"

static const parse_field legacy_strings[] = {
    PARSE_FIELD("subscriptionId", subscription, true),
    PARSE_FIELD("productName", product, true),
    PARSE_FIELD("deploymentName", deployment, false),
    PARSE_FIELD("model", model, false),
    PARSE_FIELD("endUserId", user_oid, false),
    PARSE_FIELD("gatewayName", gateway, true),
    PARSE_FIELD("gatewayRegion", region, true),
    PARSE_FIELD("operationName", operation, true),
    PARSE_FIELD("sessionId", session_id, false),
    PARSE_FIELD("appId", app_id, false),
};

static bool legacy_event(jv *obj, tally_event *ev, char *reason)
{
    ev->format = EVENT_FORMAT_LEGACY;
    ev->is_stream = -1;
    ev->cache_write_unknown = true;
    if (!parse_id(parse_get(obj, "id"), "id", ev->request_id, sizeof(ev->request_id), reason))
        return false;
    if (ev->request_id[0] == '\0') {
        parse_set_reason(reason, "missing id");
        return false;
    }
    if (!parse_time(parse_get(obj, "timestamp"), &ev->event_time_us, reason) ||
        !parse_fields(obj, legacy_strings, sizeof(legacy_strings) / sizeof(legacy_strings[0]), ev,
                      reason))
        return false;
    if (ev->model[0] == '\0' && ev->deployment[0] == '\0') {
        parse_set_reason(reason, "missing model and deploymentName");
        return false;
    }
    return parse_count(parse_get(obj, "promptTokens"), "promptTokens", &ev->input_tokens, reason) &&
           parse_count(parse_get(obj, "responseTokens"), "responseTokens", &ev->output_tokens,
                       reason);
}

void parse_legacy(jv *root, const char *buf, size_t len, parse_out *out)
{
    parse_events(root, buf, len, legacy_event, out);
}
