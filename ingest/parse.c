/*
 * parse.c - detects a message's format and dispatches it to its parser (parse_usage.c,
 * parse_legacy.c, parse_monitor.c). The field helpers they share are in parse_fields.c.
 */
#include "parse_internal.h"

/* The format of one object, PARSE_AUTO if none fits. */
static parse_format detect_object(jv *obj)
{
    if (!jv_is_object(obj))
        return PARSE_AUTO;
    if (parse_get(obj, "schema"))
        return PARSE_USAGE;
    if (parse_get(obj, "records") || parse_get(obj, "category"))
        return PARSE_MONITOR;
    if (parse_get(obj, "promptTokens") || parse_get(obj, "responseTokens") ||
        parse_get(obj, "endUserId"))
        return PARSE_LEGACY;
    return PARSE_AUTO;
}

/* An array takes the format of its first object; an empty array is a monitor batch with
 * no records. */
static parse_format detect(jv *root)
{
    size_t i;
    jv *v;

    if (!jv_is_array(root))
        return detect_object(root);
    if (jv_size(root) == 0)
        return PARSE_MONITOR;
    jv_foreach(root, i, v)
    {
        if (jv_is_object(v))
            return detect_object(v);
    }
    return PARSE_AUTO;
}

int parse_message(const char *buf, size_t len, parse_format fmt, parse_emit_fn emit, void *ctx)
{
    parse_out out = {.emit = emit, .ctx = ctx, .count = 0};
    char reason[PARSE_REASON_MAX], err[JSON_ERROR_TEXT_LENGTH];
    jdoc doc;
    jv *root;

    if (buf == NULL) {
        buf = "";
        len = 0;
    }
    if (!jdoc_load(&doc, buf, len, false, err, sizeof(err))) {
        parse_set_reason(reason, "invalid JSON: %s", err);
        parse_reject(&out, buf, len, reason);
        return out.count;
    }
    root = doc.root;
    if (fmt == PARSE_AUTO)
        fmt = detect(root);
    switch (fmt) {
    case PARSE_USAGE:
        parse_usage(root, buf, len, &out);
        break;
    case PARSE_LEGACY:
        parse_legacy(root, buf, len, &out);
        break;
    case PARSE_MONITOR:
        parse_monitor(root, buf, len, &out);
        break;
    case PARSE_AUTO:
    default:
        parse_reject(&out, buf, len, "unknown format");
        break;
    }
    jdoc_free(&doc);
    return out.count;
}

int parse_format_from_name(const char *name)
{
    static const struct {
        const char *name;
        parse_format fmt;
    } names[] = {
        {"auto", PARSE_AUTO},
        {"usage", PARSE_USAGE},
        {"legacy", PARSE_LEGACY},
        {"monitor", PARSE_MONITOR},
    };
    size_t i;

    if (name == NULL)
        return -1;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (parse_key_eq(name, names[i].name))
            return (int)names[i].fmt;
    }
    return -1;
}
