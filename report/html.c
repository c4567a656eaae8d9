#include "html.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HTML_ROW_PX 24
#define HTML_LABEL_PX 200
#define HTML_BAR_PX 300
#define HTML_CHART_PX 600

static void html_escape(membuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            membuf_puts(b, "&amp;");
            break;
        case '<':
            membuf_puts(b, "&lt;");
            break;
        case '>':
            membuf_puts(b, "&gt;");
            break;
        case '"':
            membuf_puts(b, "&quot;");
            break;
        case '\'':
            membuf_puts(b, "&#39;");
            break;
        default:
            membuf_putc(b, *s);
        }
    }
}

void html_put(membuf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            membuf_putc(b, *p);
            continue;
        }
        p++;
        if (*p == '%') {
            membuf_putc(b, '%');
        } else if (*p == 's') {
            html_escape(b, va_arg(ap, const char *));
        } else if (*p == 'd') {
            membuf_printf(b, "%d", va_arg(ap, int));
        } else if (strncmp(p, "ld", 2) == 0) {
            membuf_printf(b, "%ld", va_arg(ap, long));
            p++;
        } else if (strncmp(p, "lld", 3) == 0) {
            membuf_printf(b, "%lld", va_arg(ap, long long));
            p += 2;
        } else {
            break; /* not a conversion of this formatter */
        }
    }
    va_end(ap);
}

void html_url_value(membuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            membuf_putc(b, (char)c);
        else
            membuf_printf(b, "%%%02X", c);
    }
}

/* Copies at most max characters of UTF-8 text s into out (size len), "…" when cut. */
static void html_cut(const char *s, int max, char *out, size_t len)
{
    size_t i = 0;
    int chars = 0;

    while (s[i] && chars < max) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars++;
    }
    if (!s[i])
        snprintf(out, len, "%s", s);
    else
        snprintf(out, len, "%.*s\xe2\x80\xa6", (int)i, s);
}

void html_bar_chart(membuf *b, const char *id, const char *title, const html_bar *bars, int n)
{
    int height = n * HTML_ROW_PX + 4;

    if (n == 0) {
        html_put(b, "<p class=\"none\" id=\"%s\">none</p>\n", id);
        return;
    }
    html_put(b,
             "<svg id=\"%s\" role=\"img\" aria-label=\"%s\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
             id, title, HTML_CHART_PX, height, HTML_CHART_PX, height);
    for (int i = 0; i < n; i++) {
        const html_bar *r = &bars[i];
        int len = r->length < 0 ? 0 : r->length > HTML_BAR_FULL ? HTML_BAR_FULL : r->length;
        int w = len * HTML_BAR_PX / HTML_BAR_FULL, y = i * HTML_ROW_PX + 2;
        char label[HTML_LABEL_CHARS * 4 + 4];

        html_cut(r->label ? r->label : "", HTML_LABEL_CHARS, label, sizeof(label));
        html_put(b, "<g class=\"bar\" data-key=\"%s\"", r->key);
        if (r->usd)
            html_put(b, " data-usd=\"%s\"", r->usd);
        if (r->requests)
            html_put(b, " data-requests=\"%s\"", r->requests);
        html_put(b, "><title>%s: %s</title>", r->label, r->value);
        html_put(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", HTML_LABEL_PX - 8,
                 y + 16, label);
        html_put(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\" rx=\"2\"/>", HTML_LABEL_PX,
                 y + 2, w < 1 ? 1 : w);
        html_put(b, "<text x=\"%d\" y=\"%d\">%s</text></g>\n", HTML_LABEL_PX + w + 6, y + 16,
                 r->value);
    }
    membuf_puts(b, "</svg>\n");
}

static const char HTML_STYLE[] =
    "body{font:14px/1.4 sans-serif;margin:0;color:#1d2330;background:#f4f6f9}"
    "header{display:flex;align-items:center;gap:16px;padding:10px 20px;background:#1d2a44;"
    "color:#fff}header h1{font-size:18px;margin:0}header .who{margin-left:auto}"
    "header form{display:inline;margin:0}header input{width:9em}"
    "header a{color:#cfe0ff}main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);"
    "gap:14px;padding:14px 20px}"
    "section{background:#fff;border:1px solid #d8dde6;border-radius:6px;padding:8px 14px;"
    "overflow-x:auto}svg{max-width:100%;height:auto}"
    "section.wide{grid-column:1/3}h2{font-size:15px;margin:4px 0 8px}"
    ".cards{display:flex;gap:28px}.card b{display:block;font-size:22px}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 8px 2px 0;"
    "border-bottom:1px solid #eef0f4}td.n,th.n{text-align:right}"
    "svg text{font:12px sans-serif;fill:#1d2330}svg rect{fill:#3f6fc4}"
    ".warn{color:#a4262c;font-weight:bold}.none{color:#667}.meter{display:inline-block;"
    "height:10px;background:#3f6fc4;vertical-align:middle}.meter.high{background:#c4453f}"
    "form.login{max-width:420px;margin:80px auto;background:#fff;padding:20px 24px;"
    "border:1px solid #d8dde6;border-radius:6px}form.login input{width:100%;margin:8px 0}"
    ".error{color:#a4262c}";

void html_page_begin(membuf *b, const char *title)
{
    html_put(b,
             "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             "<title>%s</title><style>",
             title);
    membuf_puts(b, HTML_STYLE);
    membuf_puts(b, "</style></head><body>\n");
}

void html_page_end(membuf *b)
{
    membuf_puts(b, "</body></html>\n");
}
