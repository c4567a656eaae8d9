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

#include "authcode.h"
#include "hash.h"
#include "html.h"
#include "log.h"
#include "routes.h"
#include "signin.h"

#define LOGIN_FORM_MAX 1024
#define LOGIN_CODE_MAX 4096 /* Entra's authorization codes are 1-2 KB */

static bool login_cookie_secure;
static int login_session_ttl_s = 28800;
static const authcode *login_authcode;

void route_web_use_entra(const authcode *a)
{
    login_authcode = a;
}

void route_web_configure(bool cookie_secure, int session_ttl_s)
{
    login_cookie_secure = cookie_secure;
    login_session_ttl_s = session_ttl_s;
}

/* route_page_reply with up to two Set-Cookie headers (NULL ones left out). */
static void login_page_reply(http_req *req, int status, membuf *page, const char *location,
                             const char *cookie, const char *cookie2)
{
    const char *headers[5][2] = {{"Content-Security-Policy", HTML_CSP},
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
    for (int i = 0; i < 2; i++) {
        const char *c = i == 0 ? cookie : cookie2;
        if (c) {
            headers[n][0] = "Set-Cookie";
            headers[n++][1] = c;
        }
    }
    http_reply_page(req, status, "text/html; charset=utf-8", page->data ? page->data : "",
                    page->len, (const char *const(*)[2])headers, n);
    membuf_free(page);
}

void route_page_reply(http_req *req, int status, membuf *page, const char *location,
                      const char *set_cookie)
{
    login_page_reply(req, status, page, location, set_cookie, NULL);
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

/* The pre-session cookie of a sign-in with Microsoft: id for max_age s ("", 0: cleared). */
static void login_pending_cookie(char *cookie, size_t len, const char *id, int max_age)
{
    snprintf(cookie, len,
             SIGNIN_PENDING_COOKIE "=%s; Path=/login/entra; Max-Age=%d; HttpOnly; SameSite=Lax%s",
             id, max_age, login_cookie_secure ? "; Secure" : "");
}

/* The sign-in form, with a message (text) when not NULL, and the pre-session cookie cleared
 * when clear_pending. */
static void login_form_page(http_req *req, int status, const char *message, bool clear_pending)
{
    membuf page = MEMBUF_INIT;
    char clear[128];

    html_page_begin(&page, "tokentally: sign in");
    html_put(&page, "<form class=\"login\" method=\"post\" action=\"/login\">"
                    "<h1>tokentally</h1><p>Sign in with an API token "
                    "(<code>tallyctl tokens create</code>).</p>");
    if (message)
        html_put(&page, "<p class=\"error\" id=\"error\">%s</p>", message);
    html_put(&page, "<label for=\"token\">Token</label>"
                    "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" "
                    "required autofocus><button type=\"submit\">Sign in</button>");
    /* a link, not a form: form-action 'self' would stop the redirect to the IdP */
    if (login_authcode)
        html_put(&page, "<p><a id=\"entra\" href=\"/login/entra\">Sign in with Microsoft</a></p>");
    html_put(&page, "</form>\n");
    html_page_end(&page);
    login_pending_cookie(clear, sizeof(clear), "", 0);
    login_page_reply(req, status, &page, NULL, clear_pending ? clear : NULL, NULL);
}

static void login_form(http_req *req, int status, const char *message)
{
    login_form_page(req, status, message, false);
}

/* The session cookie of id. */
static void login_session_cookie(char *cookie, size_t len, const char *id)
{
    snprintf(cookie, len,
             SIGNIN_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; "
                           "SameSite=Strict%s",
             id, login_session_ttl_s, login_cookie_secure ? "; Secure" : "");
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
    login_session_cookie(cookie, sizeof(cookie), id);
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

/* The database of a sign-in with Microsoft; NULL after replying (404 page when not configured). */
static PGconn *login_entra_db(http_req *req)
{
    if (!login_authcode) {
        login_form(req, 404, "Sign-in with Microsoft is not configured on this server.");
        return NULL;
    }
    return http_db(req);
}

/*
 * GET /login/entra: a new sign-in (state, nonce, PKCE verifier kept in web_signins) named by a
 * pre-session cookie, and a 303 to the authorize endpoint. The cookie is SameSite=Lax, not
 * Strict: the identity provider sends the browser back with a cross-site top-level GET, on
 * which a browser sends Lax cookies but not Strict ones, and the callback must see it to
 * check the state. Path=/login/entra and 10 minutes keep it to the callback.
 */
void route_login_entra(http_req *req)
{
    char id[SIGNIN_ID_LEN + 1], cookie[256];
    membuf url = MEMBUF_INIT, page = MEMBUF_INIT;
    signin_pending s;
    PGconn *conn;

    if (!(conn = login_entra_db(req)))
        return;
    if (signin_pending_start(conn, id, &s) != SIGNIN_OK) {
        http_reply_db_error(req, NULL, NULL);
        return;
    }
    authcode_authorize_url(login_authcode, s.state, s.nonce, s.verifier, &url);
    membuf_putc(&url, '\0');
    login_pending_cookie(cookie, sizeof(cookie), id, SIGNIN_PENDING_TTL_S);
    if (url.oom) {
        page.oom = true;
    } else {
        html_put(&page,
                 "<!DOCTYPE html>\n<title>Sign in with Microsoft</title><a href=\"%s\">"
                 "Sign in with Microsoft</a>\n",
                 url.data);
    }
    login_page_reply(req, 303, &page, url.data, cookie, NULL);
    membuf_free(&url);
}

/*
 * GET /login/entra/callback?code=…&state=… (or error=…): takes the sign-in of the pre-session
 * cookie (once: a replay finds nothing), checks the state, exchanges the code with the PKCE
 * verifier, verifies the tokens (authcode.h) and starts a session for the Entra principal.
 * Failures are the sign-in form with what went wrong: 400 for a sign-in that is unknown,
 * expired, used or whose state differs, 401 when the IdP or tokentally refused it, 503 when
 * the token endpoint or the signing keys cannot be had. The reply that sets the Strict session
 * cookie is a page that refreshes to /, not a 303: a browser that follows a redirect in a chain
 * begun at another site treats the next request as cross-site and leaves the new Strict cookie
 * out, so / would send it back to /login; a refresh is a navigation of this site's own page.
 */
void route_login_entra_callback(http_req *req)
{
    char code[LOGIN_CODE_MAX], state[SIGNIN_STATE_LEN + 2], error[64], id[SIGNIN_ID_LEN + 1];
    char cookie[256], clear[128], message[256];
    size_t qlen = 0;
    const char *q = http_raw_query(req, &qlen), *detail = NULL;
    membuf page = MEMBUF_INIT;
    signin_pending s;
    auth_principal who;
    int64_t exp = 0;
    PGconn *conn;

    if (!(conn = login_entra_db(req)))
        return;
    switch (signin_pending_take(conn, http_header(req, "Cookie"), &s)) {
    case SIGNIN_OK:
        break;
    case SIGNIN_ERROR:
        http_reply_db_error(req, NULL, NULL);
        return;
    default:
        log_info("entra sign-in refused: no sign-in under way for this browser");
        login_form_page(req, 400,
                        "This sign-in has expired, was used already or was not started in this "
                        "browser. Sign in again.",
                        true);
        return;
    }
    if (!login_form_value(q, qlen, "state", state, sizeof(state)) ||
        strlen(state) != SIGNIN_STATE_LEN || !hash_equal(state, s.state, SIGNIN_STATE_LEN)) {
        log_info("entra sign-in refused: the state is not the sign-in's");
        login_form_page(req, 400, "The sign-in's state does not match. Sign in again.", true);
        return;
    }
    if (login_form_value(q, qlen, "error", error, sizeof(error))) {
        if (strspn(error, "abcdefghijklmnopqrstuvwxyz_") != strlen(error))
            snprintf(error, sizeof(error), "?");
        log_info("entra sign-in refused by the identity provider: %s", error);
        snprintf(message, sizeof(message), "Microsoft did not sign you in (%s).", error);
        login_form_page(req, 401, message, true);
        return;
    }
    if (!login_form_value(q, qlen, "code", code, sizeof(code)) || code[0] == '\0') {
        login_form_page(req, 400, "The identity provider sent no sign-in code. Sign in again.",
                        true);
        return;
    }
    switch (authcode_exchange(login_authcode, code, s.verifier, s.nonce, &who, &exp, &detail)) {
    case AUTHCODE_OK:
        break;
    case AUTHCODE_UNAVAILABLE:
        snprintf(message, sizeof(message),
                 "Sign-in with Microsoft is unavailable: %s. Try again later.", detail);
        login_form_page(req, 503, message, true);
        return;
    default:
        snprintf(message, sizeof(message), "Sign-in with Microsoft refused: %s.", detail);
        login_form_page(req, 401, message, true);
        return;
    }
    if (signin_create_principal(conn, &who, exp, login_session_ttl_s, id) != SIGNIN_OK) {
        http_reply_db_error(req, NULL, NULL);
        return;
    }
    log_info("signed in name=\"%s\" role=%s (entra)", who.name, auth_role_name(who.role));
    login_session_cookie(cookie, sizeof(cookie), id);
    login_pending_cookie(clear, sizeof(clear), "", 0);
    html_put(&page, "<!DOCTYPE html>\n<meta http-equiv=\"refresh\" content=\"0; url=/\">"
                    "<title>Signed in</title><a id=\"continue\" href=\"/\">Continue</a>\n");
    login_page_reply(req, 200, &page, NULL, cookie, clear);
}
