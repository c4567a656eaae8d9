/*
 * login.c - the sign-in of the overview page: GET /login (the form), POST /login (a
 * static API token posted from the form becomes a session cookie, report/signin.h), POST
 * /logout, and what every page shares: the session that signs a request in, and the reply
 * with its Content-Security-Policy. A token never travels in a URL: the form posts it in
 * the body and the cookie carries only the session id. CSRF: the cookie is SameSite=Strict
 * and a POST whose Origin is not this server's own is refused (403).
 */
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "log.h"
#include "routes.h"
#include "signin.h"

#define LOGIN_FORM_MAX 1024

static bool login_cookie_secure;
static int login_session_ttl_s = 28800;

void route_web_configure(bool cookie_secure, int session_ttl_s)
{
    login_cookie_secure = cookie_secure;
    login_session_ttl_s = session_ttl_s;
}

void route_page_reply(http_req *req, int status, membuf *page, const char *location,
                      const char *set_cookie)
{
    const char *headers[4][2] = {{"Content-Security-Policy", HTML_CSP},
                                 {"Referrer-Policy", "same-origin"}};
    int n = 2;

    if (page->oom) {
        membuf_free(page);
        http_reply_problem(req, 500, NULL, "out of memory");
        return;
    }
    if (location) {
        headers[n][0] = "Location";
        headers[n++][1] = location;
    }
    if (set_cookie) {
        headers[n][0] = "Set-Cookie";
        headers[n++][1] = set_cookie;
    }
    http_reply_page(req, status, "text/html; charset=utf-8", page->data ? page->data : "",
                    page->len, (const char *const(*)[2])headers, n);
    membuf_free(page);
}

/* A reply with no body but its Location (and cookie). */
static void login_redirect(http_req *req, const char *location, const char *set_cookie)
{
    membuf page = MEMBUF_INIT;

    html_put(&page, "<!DOCTYPE html>\n<title>See other</title><a href=\"%s\">%s</a>\n", location,
             location);
    route_page_reply(req, 303, &page, location, set_cookie);
}

bool route_page_principal(http_req *req, auth_principal *p)
{
    PGconn *conn = http_db(req);

    if (!conn)
        return false;
    switch (signin_lookup(conn, http_header(req, "Cookie"), p)) {
    case SIGNIN_OK:
        return true;
    case SIGNIN_ERROR:
        http_reply_db_error(req, NULL, NULL);
        return false;
    default:
        login_redirect(req, "/login", NULL);
        return false;
    }
}

/* True when the request's Origin is this server: scheme://Host, as the browser sent both. */
static bool login_same_origin(http_req *req)
{
    const char *origin = http_header(req, "Origin"), *host = http_header(req, "Host");
    const char *rest;

    if (!origin || !host || !*host)
        return false;
    if (strncmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    else
        return false;
    return strcmp(rest, host) == 0;
}

/*
 * The value of field name in an application/x-www-form-urlencoded body, decoded into out
 * (len bytes); false when it is absent, malformed, holds a control byte or does not fit.
 */
static bool login_form_value(const char *body, size_t blen, const char *name, char *out, size_t len)
{
    size_t nlen = strlen(name);

    for (size_t i = 0, end; i < blen; i = end + 1) {
        const char *amp = memchr(body + i, '&', blen - i);
        end = amp ? (size_t)(amp - body) : blen;
        if (end - i > nlen && body[i + nlen] == '=' && memcmp(body + i, name, nlen) == 0)
            return query_decode(body + i + nlen + 1, end - i - nlen - 1, out, len - 1) >= 0;
    }
    return false;
}

/* The sign-in form, with a message (text) when not NULL. */
static void login_form(http_req *req, int status, const char *message)
{
    membuf page = MEMBUF_INIT;

    html_page_begin(&page, "tokentally: sign in");
    html_put(&page, "<form class=\"login\" method=\"post\" action=\"/login\">"
                    "<h1>tokentally</h1><p>Sign in with an API token "
                    "(<code>tallyctl tokens create</code>).</p>");
    if (message)
        html_put(&page, "<p class=\"error\" id=\"error\">%s</p>", message);
    html_put(&page, "<label for=\"token\">Token</label>"
                    "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" "
                    "required autofocus><button type=\"submit\">Sign in</button></form>\n");
    html_page_end(&page);
    route_page_reply(req, status, &page, NULL, NULL);
}

static void login_post(http_req *req)
{
    char token[LOGIN_FORM_MAX], id[SIGNIN_ID_LEN + 1], cookie[256];
    size_t len = 0;
    const char *body = http_body(req, &len);
    auth_principal who;
    PGconn *conn;

    if (!login_same_origin(req)) {
        login_form(req, 403, "This form must be posted from this server's own page.");
        return;
    }
    if (!login_form_value(body, len, "token", token, sizeof(token))) {
        login_form(req, 400, "Enter a token.");
        return;
    }
    if (!(conn = http_db(req)))
        return;
    switch (signin_create(conn, token, login_session_ttl_s, id, &who)) {
    case SIGNIN_OK:
        break;
    case SIGNIN_ERROR:
        http_reply_db_error(req, NULL, NULL);
        return;
    default:
        login_form(req, 401, "Unknown or revoked token.");
        return;
    }
    log_info("signed in name=\"%s\" role=%s", who.name, auth_role_name(who.role));
    snprintf(cookie, sizeof(cookie),
             SIGNIN_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; "
                           "SameSite=Strict%s",
             id, login_session_ttl_s, login_cookie_secure ? "; Secure" : "");
    login_redirect(req, "/", cookie);
}

void route_login(http_req *req)
{
    if (http_req_method(req) == HTTP_POST)
        login_post(req);
    else
        login_form(req, 200, NULL);
}

void route_logout(http_req *req)
{
    char cookie[128];
    PGconn *conn;

    if (!login_same_origin(req)) {
        login_form(req, 403, "This form must be posted from this server's own page.");
        return;
    }
    if (!(conn = http_db(req)))
        return;
    if (signin_end(conn, http_header(req, "Cookie")) != SIGNIN_OK) {
        http_reply_db_error(req, NULL, NULL);
        return;
    }
    snprintf(cookie, sizeof(cookie),
             SIGNIN_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
             login_cookie_secure ? "; Secure" : "");
    login_redirect(req, "/login", cookie);
}
