/*
 * render.c - a request as one message line in the three formats (see render.h). The
 * layout and the traps of each format follow what APIM, the accelerator and Azure
 * Monitor really send: strings for counts now and then, two timestamp styles, LLM logs
 * chunked above 32 KB, and the two categories of one request on separate lines.
 */
#include "render.h"

#include <string.h>

#include "rng.h"
#include "sim.h"

#define SIM_CHUNK_BYTES 32768 /* APIM splits logged bodies above 32 KB */
#define SIM_BYTES_PER_TOKEN 4

#define PPM_ISO_LEGACY 300000   /* legacy timestamps in ISO form rather than en-US */
#define PPM_DEFER_GATEWAY 40000 /* GatewayLogs on a later line than its LLM log */
#define PPM_DEFER_LLM 30000     /* GatewayLogs on an earlier line than its LLM log */
#define PPM_GATEWAY_FIRST 150000

#define SIM_TENANT "7f0c2b1a-0000-4000-8000-00000000c0de"
#define SIM_RESOURCE                                                                               \
    "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG-AI/PROVIDERS/"          \
    "MICROSOFT.APIMANAGEMENT/SERVICE/APIM-CONTOSO"

#define RECORDS_OPEN "{\"records\":["

static void put_i64(membuf *b, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[sizeof(tmp) - 1 - n++] = '-';
    membuf_put(b, tmp + sizeof(tmp) - n, (size_t)n);
}

/* digits of v, zero-padded to width */
static void put_pad(membuf *b, int64_t v, int width)
{
    char tmp[24];

    for (int i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    membuf_put(b, tmp, (size_t)width);
}

/* "key": — keys and string values here never need escaping */
static void put_key(membuf *b, const char *key)
{
    membuf_putc(b, '"');
    membuf_puts(b, key);
    membuf_put(b, "\":", 2);
}

static void put_kv_str(membuf *b, const char *key, const char *value)
{
    put_key(b, key);
    membuf_putc(b, '"');
    membuf_puts(b, value);
    membuf_put(b, "\",", 2);
}

static void put_kv_i64(membuf *b, const char *key, int64_t value, bool as_string)
{
    put_key(b, key);
    if (as_string)
        membuf_putc(b, '"');
    put_i64(b, value);
    membuf_puts(b, as_string ? "\"," : ",");
}

/* drops a trailing comma before closing an object */
static void put_close(membuf *b, char c)
{
    if (b->len > 0 && b->data[b->len - 1] == ',')
        b->len--;
    membuf_putc(b, c);
}

/* 2026-10-14T09:12:33.4821930Z, as APIM writes it */
static void put_time_iso(membuf *b, int64_t us)
{
    int64_t days = calendar_floor_div(us, CALENDAR_US_PER_DAY),
            rem = us - days * CALENDAR_US_PER_DAY;
    int y, m, d;

    calendar_from_days(days, &y, &m, &d);
    put_pad(b, y, 4);
    membuf_putc(b, '-');
    put_pad(b, m, 2);
    membuf_putc(b, '-');
    put_pad(b, d, 2);
    membuf_putc(b, 'T');
    put_pad(b, rem / (3600 * CALENDAR_US_PER_S), 2);
    membuf_putc(b, ':');
    put_pad(b, rem / CALENDAR_US_PER_MIN % 60, 2);
    membuf_putc(b, ':');
    put_pad(b, rem / CALENDAR_US_PER_S % 60, 2);
    membuf_putc(b, '.');
    put_pad(b, rem % CALENDAR_US_PER_S * 10, 7);
    membuf_putc(b, 'Z');
}

/* 10/14/2026 2:45:56 PM, as the accelerator writes it (en-US, UTC, whole seconds) */
static void put_time_culture(membuf *b, int64_t us)
{
    int64_t days = calendar_floor_div(us, CALENDAR_US_PER_DAY),
            rem = (us - days * CALENDAR_US_PER_DAY) / CALENDAR_US_PER_S;
    int64_t hour = rem / 3600;
    int y, m, d;

    calendar_from_days(days, &y, &m, &d);
    put_i64(b, m);
    membuf_putc(b, '/');
    put_i64(b, d);
    membuf_putc(b, '/');
    put_i64(b, y);
    membuf_putc(b, ' ');
    put_i64(b, hour % 12 == 0 ? 12 : hour % 12);
    membuf_putc(b, ':');
    put_pad(b, rem / 60 % 60, 2);
    membuf_putc(b, ':');
    put_pad(b, rem % 60, 2);
    membuf_puts(b, hour < 12 ? " AM" : " PM");
}

static void put_message_id(membuf *b, uint64_t key, uint64_t n)
{
    static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t w[2] = {rng_mix(n ^ key), rng_mix(~n ^ (key * UINT64_C(0xd1342543de82ef95)))};
    char id[22];

    for (int i = 0; i < 22; i++) {
        id[i] = B62[w[i / 11] % 62];
        w[i / 11] /= 62;
    }
    membuf_puts(b, "msg_01");
    membuf_put(b, id, sizeof(id));
}

static void put_request_id(membuf *b, uint64_t key, const sim_req *r)
{
    char id[37];

    rng_uuid(id, key, r->n);
    membuf_puts(b, id);
}

static const char *const NOT_JSON[] = {
    "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
    "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    "\x1f\x8b\x08\x00\x00\x00\x00\x00",
};

/* One entry of usage.iterations, with its own model and tokens. */
static void put_iteration(membuf *b, const char *type, const char *model, int64_t input,
                          int64_t output, int64_t read, int64_t w5m, int64_t w1h, bool str)
{
    membuf_putc(b, '{');
    put_kv_str(b, "type", type);
    put_kv_str(b, "model", model);
    put_kv_i64(b, "input_tokens", input, str);
    put_kv_i64(b, "output_tokens", output, str);
    put_kv_i64(b, "cache_creation_input_tokens", w5m + w1h, str);
    put_kv_i64(b, "cache_read_input_tokens", read, str);
    membuf_puts(b, "\"cache_creation\":{");
    put_kv_i64(b, "ephemeral_5m_input_tokens", w5m, str);
    put_kv_i64(b, "ephemeral_1h_input_tokens", w1h, str);
    put_close(b, '}');
    put_close(b, '}');
}

static void render_usage(uint64_t key, membuf *b, const sim_req *r)
{
    const sim_dev *d = r->dev;
    bool str = r->string_counts;

    membuf_putc(b, '{');
    put_kv_str(b, "schema", "tally.usage/1");
    if (r->defect != DEFECT_NO_ID) {
        membuf_puts(b, "\"requestId\":\"");
        put_request_id(b, key, r);
        membuf_puts(b, "\",");
    } else if (r->n % 2) {
        put_kv_str(b, "requestId", "NA");
    }
    if (r->defect == DEFECT_BAD_TIME) {
        put_kv_str(b, "timestamp", r->n % 2 ? "2026-13-45T25:61:00Z" : "NA");
    } else {
        membuf_puts(b, "\"timestamp\":\"");
        put_time_iso(b, r->time_us);
        membuf_puts(b, "\",");
    }
    put_kv_str(b, "gatewayName", "apim-contoso");
    put_kv_str(b, "gatewayRegion", world_zones[d->zone].region);
    membuf_puts(b, "\"apimSubscriptionId\":\"claude-code-");
    world_team_name(b, d->team);
    membuf_puts(b, "\",");
    put_kv_str(b, "productName", "claude-code");
    put_kv_str(b, "operationName", "messages");
    put_kv_i64(b, "statusCode", 200, str);
    membuf_puts(b, r->stream ? "\"isStream\":true," : "\"isStream\":false,");
    put_kv_str(b, "tenantId", SIM_TENANT);
    put_kv_str(b, "userOid", d->oid);
    put_kv_str(b, "userUpn", d->upn);
    put_kv_str(b, "appId", "NA");
    put_kv_str(b, "sessionId", d->session);
    if (r->defect != DEFECT_NO_MODEL) {
        put_kv_str(b, "deploymentName", world_models[r->model].deployment);
        put_kv_str(b, "model", world_models[r->model].name);
    }
    membuf_puts(b, "\"messageId\":\"");
    put_message_id(b, key, r->n);
    membuf_puts(b, "\",\"usage\":{");
    if (r->defect == DEFECT_BAD_COUNT)
        put_kv_str(b, "input_tokens", "1,204");
    else
        put_kv_i64(b, "input_tokens", r->input, str);
    put_kv_i64(b, "output_tokens", r->defect == DEFECT_NEGATIVE ? -r->output - 1 : r->output, str);
    put_kv_i64(b, "cache_creation_input_tokens", r->write_5m + r->write_1h, str);
    put_kv_i64(b, "cache_read_input_tokens", r->cache_read, str);
    membuf_puts(b, "\"cache_creation\":{");
    put_kv_i64(b, "ephemeral_5m_input_tokens", r->write_5m, str);
    put_kv_i64(b, "ephemeral_1h_input_tokens", r->write_1h, str);
    put_close(b, '}');
    membuf_puts(b, ",\"server_tool_use\":{");
    put_kv_i64(b, "web_search_requests", r->web_search, str);
    put_kv_i64(b, "web_fetch_requests", 0, str);
    put_close(b, '}');
    membuf_puts(b, ",\"service_tier\":\"standard\",");
    if (world_models[r->model].fast)
        put_kv_str(b, "speed", r->fast ? "fast" : "standard");
    if (world_models[r->model].geo != WORLD_GEO_NONE)
        put_kv_str(b, "inference_geo",
                   r->geo_us                                        ? "us"
                   : world_models[r->model].geo == WORLD_GEO_LEGACY ? "not_available"
                                                                    : "global");
    if (r->advisor) {
        membuf_puts(b, "\"iterations\":[");
        put_iteration(b, "message", world_models[r->model].name, r->input, r->output, r->cache_read,
                      r->write_5m, r->write_1h, str);
        membuf_putc(b, ',');
        put_iteration(b, "advisor_message", world_models[WORLD_ADVISOR].name, r->adv_input,
                      r->adv_output, r->adv_cache_read, r->adv_write_5m, 0, str);
        membuf_puts(b, "],");
    }
    put_close(b, '}');
    membuf_putc(b, '}');
}

static void render_legacy(uint64_t key, membuf *b, const sim_req *r)
{
    const sim_dev *d = r->dev;
    const world_zone *z = &world_zones[d->zone];
    bool str = r->string_counts;

    membuf_putc(b, '{');
    if (r->defect != DEFECT_NO_ID) {
        membuf_puts(b, "\"id\":\"");
        put_request_id(b, key, r);
        membuf_puts(b, "\",");
    }
    membuf_puts(b, "\"timestamp\":\"");
    if (r->defect == DEFECT_BAD_TIME)
        membuf_puts(b, "13/45/2026 25:61:00 PM");
    else if (r->n % SIM_PPM < PPM_ISO_LEGACY)
        put_time_iso(b, r->time_us);
    else
        put_time_culture(b, r->time_us);
    membuf_puts(b, "\",");
    put_kv_str(b, "appId", "NA");
    membuf_puts(b, "\"subscriptionId\":\"claude-code-");
    world_team_name(b, d->team);
    membuf_puts(b, "\",");
    put_kv_str(b, "productName", "claude-code");
    put_kv_str(b, "targetService", "chat.completions");
    if (r->defect != DEFECT_NO_MODEL)
        put_kv_str(b, "model", world_models[r->model].legacy);
    put_kv_str(b, "gatewayName", "apim-contoso");
    put_kv_str(b, "gatewayRegion", z->region);
    put_kv_str(b, "aiGatewayId", "NA");
    put_kv_str(b, "RequestIp", d->ip);
    put_kv_str(b, "operationName", "messages");
    put_kv_str(b, "sessionId", "NA");
    put_kv_str(b, "endUserId", d->oid);
    put_kv_str(b, "backendId", z->backend);
    put_kv_str(b, "routeLocation", "NA");
    put_kv_str(b, "routeName", "NA");
    if (r->defect != DEFECT_NO_MODEL)
        put_kv_str(b, "deploymentName", world_models[r->model].deployment);
    if (r->defect == DEFECT_BAD_COUNT)
        put_kv_str(b, "promptTokens", "1.2k");
    else
        put_kv_i64(b, "promptTokens", r->input, str);
    put_kv_i64(b, "responseTokens", r->defect == DEFECT_NEGATIVE ? -r->output - 1 : r->output, str);
    put_kv_i64(b, "totalTokens", r->input + r->output, str);
    put_close(b, '}');
}

static void render_llm(uint64_t key, membuf *b, const sim_req *r, int sequence)
{
    membuf_putc(b, '{');
    membuf_puts(b, "\"time\":\"");
    if (r->defect == DEFECT_BAD_TIME)
        membuf_puts(b, "yesterday");
    else
        put_time_iso(b, r->time_us);
    membuf_puts(b, "\",");
    put_kv_str(b, "resourceId", SIM_RESOURCE);
    put_kv_str(b, "category", "GatewayLlmLogs");
    put_kv_str(b, "operationName", "Microsoft.ApiManagement/GatewayLlmLogs");
    membuf_puts(b, "\"properties\":{");
    if (r->defect != DEFECT_NO_ID) {
        membuf_puts(b, "\"correlationId\":\"");
        put_request_id(b, key, r);
        membuf_puts(b, "\",");
    }
    membuf_puts(b, "\"requestId\":\"");
    put_message_id(b, key, r->n);
    membuf_puts(b, "\",");
    if (r->defect != DEFECT_NO_MODEL) {
        put_kv_str(b, "modelName", world_models[r->model].name);
        put_kv_str(b, "deploymentName", world_models[r->model].deployment);
    }
    put_kv_str(b, "apiVersion", "2023-06-01");
    membuf_puts(b, r->stream ? "\"isStreamCompletion\":true," : "\"isStreamCompletion\":false,");
    if (r->defect == DEFECT_NEGATIVE)
        put_kv_i64(b, "promptTokens", -r->input - 1, false);
    else if (r->defect == DEFECT_BAD_COUNT)
        put_kv_str(b, "promptTokens", "forty-two");
    else
        put_kv_i64(b, "promptTokens", r->input, false);
    put_kv_i64(b, "completionTokens", r->output, false);
    put_kv_i64(b, "totalTokens", r->input + r->output, false);
    put_kv_i64(b, "promptCachedTokens", r->cache_read, false);
    put_kv_i64(b, "sequenceNumber", sequence, false);
    put_close(b, '}');
    membuf_putc(b, '}');
}

static void render_gateway(uint64_t key, membuf *b, const sim_req *r)
{
    const sim_dev *d = r->dev;
    int64_t backend_ms = 400 + r->output * 12 + (int64_t)(r->n % 300);

    membuf_putc(b, '{');
    membuf_puts(b, "\"time\":\"");
    put_time_iso(b, r->time_us + (backend_ms + 20) * 1000);
    membuf_puts(b, "\",");
    put_kv_str(b, "resourceId", SIM_RESOURCE);
    put_kv_str(b, "category", "GatewayLogs");
    put_kv_str(b, "operationName", "Microsoft.ApiManagement/GatewayLogs");
    membuf_puts(b, "\"properties\":{\"correlationId\":\"");
    put_request_id(b, key, r);
    membuf_puts(b, "\",\"apimSubscriptionId\":\"claude-code-");
    world_team_name(b, d->team);
    membuf_puts(b, "\",");
    put_kv_str(b, "userId", "NA");
    put_kv_str(b, "apiId", "claude");
    put_kv_str(b, "operationId", "messages");
    put_kv_str(b, "method", "POST");
    put_kv_str(b, "url", "https://apim-contoso.azure-api.net/anthropic/v1/messages");
    put_kv_i64(b, "responseCode", 200, false);
    put_kv_i64(b, "backendResponseCode", 200, false);
    put_kv_i64(b, "totalTime", backend_ms + 20, false);
    put_kv_i64(b, "backendTime", backend_ms, false);
    membuf_puts(b, "\"isRequestSuccess\":true,");
    put_kv_str(b, "region", world_zones[d->zone].region);
    membuf_puts(b, "\"backendRequestHeaders\":{");
    put_kv_str(b, "x-tally-user-oid", d->oid);
    put_kv_str(b, "x-tally-user-upn", d->upn);
    put_close(b, '}');
    membuf_puts(b, "}}");
}

static void put_llm_records(uint64_t key, membuf *b, const sim_req *r, bool chunked)
{
    render_llm(key, b, r, 0);
    if (chunked) {
        membuf_putc(b, ',');
        render_llm(key, b, r, 1);
    }
}

/* Renders a monitor request into line, or its first half into line and the second
 * into side. */
static int render_monitor(uint64_t key, uint64_t *rng, const sim_req *r, membuf *line, membuf *side)
{
    bool chunked = r->output * SIM_BYTES_PER_TOKEN > SIM_CHUNK_BYTES;
    uint64_t x = rng_next(rng) % SIM_PPM;
    int flags = chunked ? RENDER_CHUNKED : 0;

    if (r->defect != DEFECT_NONE) {
        membuf_puts(line, RECORDS_OPEN);
        render_llm(key, line, r, 0);
        membuf_puts(line, "]}");
        return 0;
    }
    membuf_puts(line, RECORDS_OPEN);
    if (x < PPM_DEFER_GATEWAY + PPM_DEFER_LLM) {
        membuf_reset(side);
        membuf_puts(side, RECORDS_OPEN);
        if (x < PPM_DEFER_GATEWAY) {
            put_llm_records(key, line, r, chunked);
            render_gateway(key, side, r);
        } else {
            render_gateway(key, line, r);
            put_llm_records(key, side, r, chunked);
        }
        membuf_puts(line, "]}");
        membuf_puts(side, "]}");
        return flags | RENDER_SPLIT;
    }
    if (x < PPM_DEFER_GATEWAY + PPM_DEFER_LLM + PPM_GATEWAY_FIRST) {
        render_gateway(key, line, r);
        membuf_putc(line, ',');
        put_llm_records(key, line, r, chunked);
    } else {
        put_llm_records(key, line, r, chunked);
        membuf_putc(line, ',');
        render_gateway(key, line, r);
    }
    membuf_puts(line, "]}");
    return flags;
}

int render_request(event_format format, uint64_t id_key, uint64_t *rng, const sim_req *r,
                   membuf *line, membuf *side)
{
    membuf_reset(line);
    if (r->defect == DEFECT_NOT_JSON) {
        membuf_puts(line, NOT_JSON[r->n % NB(NOT_JSON)]);
        return 0;
    }
    switch (format) {
    case EVENT_FORMAT_LEGACY:
        render_legacy(id_key, line, r);
        return 0;
    case EVENT_FORMAT_MONITOR:
        return render_monitor(id_key, rng, r, line, side);
    default:
        render_usage(id_key, line, r);
        return 0;
    }
}

void render_join(membuf *line, const membuf *side)
{
    /* the line's "]}" gives way to a comma and the side's records */
    line->len -= 2;
    membuf_putc(line, ',');
    membuf_put(line, side->data + strlen(RECORDS_OPEN), side->len - strlen(RECORDS_OPEN));
}
