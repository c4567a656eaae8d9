/* prom_http: a minimal /metrics listener for daemons that serve no other HTTP. */
#include "prom.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"

struct prom_http {
    struct MHD_Daemon *daemon;
    prom_registry *reg;
};

bool prom_parse_listen(const char *listen, char *host, size_t hostlen, unsigned short *port)
{
    const char *colon;
    char *end;
    long p;

    if (!listen || !*listen)
        return false;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return false;
        snprintf(host, hostlen, "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return false;
        snprintf(host, hostlen, "%.*s", (int)(colon - listen), listen);
    }
    p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return false;
    *port = (unsigned short)p;
    return true;
}

static enum MHD_Result prom_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                         const char *method, const char *version,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **req_cls)
{
    prom_http *h = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned int status = MHD_HTTP_OK;
    char *body;
    size_t len;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        body = strdup("method not allowed\n");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") != 0) {
        body = strdup("not found\n");
        status = MHD_HTTP_NOT_FOUND;
    } else {
        body = prom_render(h->reg, NULL);
    }
    if (!body)
        return MHD_NO;
    len = strlen(body);
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type",
                            status == MHD_HTTP_OK ? PROM_CONTENT_TYPE : "text/plain");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void prom_http_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void prom_http_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_warn("metrics http: %s", msg);
}

prom_http *prom_http_start(prom_registry *r, const char *listen)
{
    char host[256];
    unsigned short port;
    struct sockaddr_in sin;
    prom_http *h;

    if (!prom_parse_listen(listen, host, sizeof(host), &port)) {
        log_error("invalid metrics listen address \"%s\": expected ADDR:PORT", listen);
        return NULL;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (*host && inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        log_error("invalid metrics listen address \"%s\": expected an IPv4 address", listen);
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->reg = r;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL,
                                 NULL, prom_http_handler, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 prom_http_log, NULL, MHD_OPTION_SOCK_ADDR, &sin,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
    if (!h->daemon) {
        log_error("could not listen for metrics on \"%s\"", listen);
        free(h);
        return NULL;
    }
    log_info("serving metrics on http://%s/metrics", listen);
    return h;
}

void prom_http_stop(prom_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
