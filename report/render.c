#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "decimal.h"

typedef struct render_col {
    char *name;
    render_role role;
    dec_sum count;      /* RENDER_COUNT: the sum, exact past 2^63 (a bigint per row) */
    dec_sum money;      /* RENDER_MONEY: the sum */
    long long unpriced; /* RENDER_MONEY: NULL values */
} render_col;

struct render {
    render_format format;
    bool totals;
    json_t *header;
    int ncols;
    render_col *cols;
    long long nrows;
};

render *render_new(render_format format, const render_column *cols, int ncols, json_t *header,
                   bool totals)
{
    render *r = calloc(1, sizeof(*r));

    if (!r)
        goto fail;
    r->format = format;
    r->totals = totals;
    r->header = header;
    header = NULL; /* owned by r now */
    r->cols = calloc((size_t)ncols + 1, sizeof(*r->cols));
    if (!r->cols)
        goto fail;
    r->ncols = ncols;
    for (int i = 0; i < ncols; i++) {
        r->cols[i].name = strdup(cols[i].name);
        if (!r->cols[i].name)
            goto fail;
        r->cols[i].role = cols[i].role;
        dec_init(&r->cols[i].count);
        dec_init(&r->cols[i].money);
    }
    return r;
fail:
    json_decref(header);
    render_free(r);
    return NULL;
}

void render_free(render *r)
{
    if (!r)
        return;
    for (int i = 0; r->cols && i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    json_decref(r->header);
    free(r);
}

void render_begin(render *r, membuf *out)
{
    if (r->format != RENDER_JSON) {
        for (int i = 0; i < r->ncols; i++)
            csv_field(out, r->cols[i].name, strlen(r->cols[i].name), i == 0);
        csv_end_row(out);
        return;
    }
    membuf_putc(out, '{');
    if (r->header && json_object_size(r->header) > 0) {
        char *h = json_dumps(r->header, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (h) {
            /* the members of the header object, without its braces */
            membuf_put(out, h + 1, strlen(h) - 2);
            membuf_putc(out, ',');
            free(h);
        } else {
            out->oom = true;
        }
    }
    membuf_puts(out, "\"rows\":[");
}

/* Adds a value to its column's total; false when it cannot be summed. */
static bool render_sum(render_col *c, const char *v)
{
    if (c->role == RENDER_COUNT && v && !dec_add(&c->count, v))
        return false;
    if (c->role == RENDER_MONEY) {
        if (!v)
            c->unpriced++;
        else if (!dec_add(&c->money, v))
            return false;
    }
    return true;
}

static void render_csv_cell(membuf *out, const render *r, const render_col *c, const char *v,
                            size_t vl, bool first)
{
    if (!v)
        csv_field(out, "", 0, first);
    else if (c->role == RENDER_TEXT && r->format == RENDER_CSV)
        csv_text_field(out, v, vl, first);
    else if (c->role == RENDER_BOOL)
        csv_field(out, v[0] == 't' ? "true" : "false", v[0] == 't' ? 4 : 5, first);
    else
        csv_field(out, v, vl, first);
}

static json_t *render_json_value(const render_col *c, const char *v, size_t vl)
{
    json_t *jv;

    if (!v)
        return json_null();
    switch (c->role) {
    case RENDER_INT:
    case RENDER_COUNT:
        jv = json_integer(strtoll(v, NULL, 10));
        break;
    case RENDER_BOOL:
        jv = json_boolean(v[0] == 't');
        break;
    default:
        jv = json_stringn(v, vl); /* NULL for invalid UTF-8 */
        break;
    }
    return jv ? jv : json_null();
}

bool render_row(render *r, membuf *out, const char *const *values, const size_t *lens)
{
    json_t *row = r->format == RENDER_JSON ? json_object() : NULL;
    char num[128];

    if (r->format == RENDER_JSON && !row)
        return false;
    for (int i = 0; i < r->ncols; i++) {
        render_col *c = &r->cols[i];
        const char *v = values[i];
        size_t vl = v ? lens[i] : 0;

        if (v && (c->role == RENDER_DECIMAL || c->role == RENDER_MONEY) && vl < sizeof(num)) {
            memcpy(num, v, vl);
            num[vl] = '\0';
            dec_trim(num);
            v = num;
            vl = strlen(num);
        }
        if (!render_sum(c, v)) {
            json_decref(row);
            return false;
        }
        if (row)
            json_object_set_new(row, c->name, render_json_value(c, v, vl));
        else
            render_csv_cell(out, r, c, v, vl, i == 0);
    }
    if (row) {
        char *text = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(row);
        if (!text)
            return false;
        if (r->nrows > 0)
            membuf_putc(out, ',');
        membuf_puts(out, text);
        free(text);
    } else {
        csv_end_row(out);
    }
    r->nrows++;
    return !out->oom;
}

/* Appends ,"name": (the name JSON-escaped); the first member has no comma. */
static void render_key(membuf *out, const char *name)
{
    json_t *key = json_string(name);
    char *text = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;

    json_decref(key);
    if (!text) {
        out->oom = true;
        return;
    }
    membuf_putc(out, ',');
    membuf_puts(out, text);
    membuf_putc(out, ':');
    free(text);
}

void render_end(render *r, membuf *out)
{
    char num[DEC_INT + DEC_FRAC + 4];
    bool unpriced_done = false;

    if (r->format != RENDER_JSON)
        return;
    membuf_putc(out, ']');
    if (r->totals) {
        /* written by hand, not through jansson: a count's sum may not fit its json_int_t */
        snprintf(num, sizeof(num), "%lld", r->nrows);
        membuf_puts(out, ",\"totals\":{\"rows\":");
        membuf_puts(out, num);
        for (int i = 0; i < r->ncols; i++) {
            if (r->cols[i].role != RENDER_COUNT)
                continue;
            if (!dec_format(&r->cols[i].count, num, sizeof(num)))
                out->oom = true; /* cannot happen: num holds any sum */
            render_key(out, r->cols[i].name);
            membuf_puts(out, num);
        }
        for (int i = 0; i < r->ncols; i++) {
            if (r->cols[i].role != RENDER_MONEY)
                continue;
            if (!dec_format(&r->cols[i].money, num, sizeof(num)))
                out->oom = true;
            render_key(out, r->cols[i].name);
            membuf_putc(out, '"');
            membuf_puts(out, num);
            membuf_putc(out, '"');
            if (!unpriced_done) {
                snprintf(num, sizeof(num), "%lld", r->cols[i].unpriced);
                membuf_puts(out, ",\"unpriced_rows\":");
                membuf_puts(out, num);
                unpriced_done = true;
            }
        }
        membuf_putc(out, '}');
    }
    membuf_puts(out, "}\n");
}

long long render_nrows(const render *r)
{
    return r->nrows;
}
