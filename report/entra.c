#include "entra.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jwt.h>

#include "hash.h"
#include "log.h"
#include "url.h"

#define ENTRA_TEAM_MAX (sizeof(((auth_principal *)0)->scope_team) - 1)
#define ENTRA_OID_MAX (sizeof(((auth_principal *)0)->scope_oid) - 1)

/* A token verified before: OpenSSL 3 takes over a millisecond to read the PEM libjwt needs
 * for each verification, and clients send the same token for its whole life. */
typedef struct entra_verified {
    char digest[HASH_HEX_LEN + 1]; /* SHA-256 of the token; "" = empty slot */
    unsigned long generation;      /* of the key set that verified it */
    int64_t valid_until;           /* exp + leeway */
    auth_principal p;
} entra_verified;

struct entra {
    entra_rules rules;
    jwks_cache *keys;
    pthread_mutex_t lock;     /* guards verified */
    entra_verified *verified; /* ENTRA_VERIFIED_SLOTS, direct-mapped by digest */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Sets why (for the log) and its public detail; returns false, for `return refuse(…)`. */
static bool refuse(entra_refusal *why, const char *detail, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool refuse(entra_refusal *why, const char *detail, const char *fmt, ...)
{
    va_list ap;

    why->detail = detail;
    va_start(ap, fmt);
    vsnprintf(why->why, sizeof(why->why), fmt, ap);
    va_end(ap);
    return false;
}

static bool unset(const char *s)
{
    return !s || s[0] == '\0';
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool entra_jwt_shaped(const char *token, size_t n)
{
    size_t dots[2], ndots = 0;

    for (size_t i = 0; i < n; i++) {
        if (token[i] == '.') {
            if (ndots == 2)
                return false;
            dots[ndots++] = i;
        } else if (!b64url_char(token[i])) {
            return false;
        }
    }
    return ndots == 2 && dots[0] > 0 && dots[1] > dots[0] + 1;
}

/* ---- rules ---- */

static bool guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool role_from_name(const char *name, auth_role *role)
{
    static const auth_role all[] = {AUTH_DEVELOPER, AUTH_LEAD, AUTH_FINANCE, AUTH_PLATFORM};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(name, auth_role_name(all[i])) == 0) {
            *role = all[i];
            return true;
        }
    return false;
}

/* The precedence of a role when a token carries several: the broadest view wins. */
static int role_rank(auth_role role)
{
    switch (role) {
    case AUTH_DEVELOPER:
        return 1;
    case AUTH_LEAD:
        return 2;
    case AUTH_FINANCE:
        return 3;
    case AUTH_PLATFORM:
        return 4;
    }
    return 0;
}

/* A copy of s[0..n) without surrounding blanks, or NULL (out of memory). */
static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/*
 * Splits a comma-separated list; each item is "left=right" when pairs is set (split at
 * the first '='). Calls add for each item; false with the reason in err.
 */
typedef bool (*list_add_fn)(entra_rules *r, char *left, char *right, char *err, size_t errlen);

static bool parse_list(entra_rules *r, const char *key, const char *text, bool pairs,
                       list_add_fn add, char *err, size_t errlen)
{
    const char *p = text;

    while (*p) {
        size_t len = strcspn(p, ",");
        const char *eq = pairs ? memchr(p, '=', len) : NULL;
        char *left = trimmed(p, eq ? (size_t)(eq - p) : len);
        char *right = eq ? trimmed(eq + 1, len - (size_t)(eq + 1 - p)) : NULL;
        char why[160] = "";

        if (!left || (eq && !right))
            set_err(why, sizeof(why), "out of memory");
        else if (pairs && !eq)
            set_err(why, sizeof(why), "\"%.*s\" is not NAME=VALUE", (int)len, p);
        else if (left[0] == '\0' || (eq && right[0] == '\0'))
            set_err(why, sizeof(why), "an empty item");
        else if (add(r, left, right, why, sizeof(why)))
            left = right = NULL; /* owned by r now */
        if (left || right || why[0]) {
            free(left);
            free(right);
            set_err(err, errlen, "invalid value for \"%s\": %s", key, why);
            return false;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

static bool add_audience(entra_rules *r, char *aud, char *unused, char *err, size_t errlen)
{
    char **a = realloc(r->audiences, (size_t)(r->naudiences + 1) * sizeof(*a));

    (void)unused;
    if (!a) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    r->audiences = a;
    a[r->naudiences++] = aud;
    return true;
}

static bool add_role(entra_rules *r, char *app_role, char *name, char *err, size_t errlen)
{
    entra_role_entry *e;
    auth_role role;

    if (!role_from_name(name, &role)) {
        set_err(err, errlen, "\"%s\" is not one of developer, lead, finance, platform", name);
        return false;
    }
    for (int i = 0; i < r->nroles; i++)
        if (strcmp(r->roles[i].app_role, app_role) == 0) {
            set_err(err, errlen, "app role \"%s\" is mapped twice", app_role);
            return false;
        }
    e = realloc(r->roles, (size_t)(r->nroles + 1) * sizeof(*e));
    if (!e) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    r->roles = e;
    e[r->nroles].app_role = app_role;
    e[r->nroles++].role = role;
    free(name);
    return true;
}

static bool add_team(entra_rules *r, char *group, char *team, char *err, size_t errlen)
{
    entra_team_entry *e;

    if (strlen(team) > ENTRA_TEAM_MAX) {
        set_err(err, errlen, "team of group \"%s\" is longer than %zu bytes", group,
                ENTRA_TEAM_MAX);
        return false;
    }
    for (int i = 0; i < r->nteams; i++)
        if (strcasecmp(r->teams[i].group, group) == 0) {
            set_err(err, errlen, "group \"%s\" is mapped twice", group);
            return false;
        }
    e = realloc(r->teams, (size_t)(r->nteams + 1) * sizeof(*e));
    if (!e) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    r->teams = e;
    e[r->nteams].group = group;
    e[r->nteams++].team = team;
    return true;
}

bool entra_rules_init(entra_rules *r, const entra_rules_text *t, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (unset(t->tenant_id) || !guid(t->tenant_id)) {
        set_err(err, errlen,
                "invalid value for \"entra_tenant_id\": the directory (tenant) id, a GUID");
        goto fail;
    }
    if (unset(t->audience)) {
        set_err(err, errlen, "\"entra_audience\" is required with entra_tenant_id");
        goto fail;
    }
    r->tenant_id = strdup(t->tenant_id);
    if (unset(t->issuer)) {
        size_t n = strlen(ENTRA_AUTHORITY) + strlen(t->tenant_id) + 8;
        if ((r->issuer = malloc(n)))
            snprintf(r->issuer, n, "%s/%s/v2.0", ENTRA_AUTHORITY, t->tenant_id);
    } else {
        r->issuer = strdup(t->issuer);
    }
    r->team_claim = unset(t->team_claim) ? NULL : strdup(t->team_claim);
    if (!r->tenant_id || !r->issuer || (!unset(t->team_claim) && !r->team_claim)) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    if (!parse_list(r, "entra_audience", t->audience, false, add_audience, err, errlen) ||
        !parse_list(r, "entra_role_map", t->role_map ? t->role_map : "", true, add_role, err,
                    errlen) ||
        !parse_list(r, "entra_group_team_map", t->group_team_map ? t->group_team_map : "", true,
                    add_team, err, errlen))
        goto fail;
    if (r->naudiences == 0) {
        set_err(err, errlen, "invalid value for \"entra_audience\": no audience");
        goto fail;
    }
    if (r->nroles == 0) {
        set_err(err, errlen, "invalid value for \"entra_role_map\": no app role is mapped");
        goto fail;
    }
    r->leeway_s = t->leeway_s;
    return true;
fail:
    entra_rules_cleanup(r);
    return false;
}

void entra_rules_cleanup(entra_rules *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->naudiences; i++)
        free(r->audiences[i]);
    for (int i = 0; i < r->nroles; i++)
        free(r->roles[i].app_role);
    for (int i = 0; i < r->nteams; i++) {
        free(r->teams[i].group);
        free(r->teams[i].team);
    }
    free(r->audiences);
    free(r->roles);
    free(r->teams);
    free(r->tenant_id);
    free(r->issuer);
    free(r->team_claim);
    memset(r, 0, sizeof(*r));
}

/* ---- claims ---- */

static bool audience_is(const entra_rules *r, const char *aud)
{
    for (int i = 0; aud && i < r->naudiences; i++)
        if (strcmp(aud, r->audiences[i]) == 0)
            return true;
    return false;
}

/* aud is one string or an array of strings (RFC 7519 4.1.3) */
static bool audience_ok(const entra_rules *r, const json_t *aud)
{
    for (size_t i = 0; i < json_array_size(aud); i++)
        if (audience_is(r, json_string_value(json_array_get(aud, i))))
            return true;
    return audience_is(r, json_string_value(aud));
}

/* The broadest tally role the token's app roles map to, 0 when none does. */
static auth_role mapped_role(const entra_rules *r, const json_t *roles)
{
    auth_role best = 0;

    for (size_t i = 0; i < json_array_size(roles); i++) {
        const char *name = json_string_value(json_array_get(roles, i));
        for (int k = 0; name && k < r->nroles; k++)
            if (strcmp(name, r->roles[k].app_role) == 0 &&
                role_rank(r->roles[k].role) > role_rank(best))
                best = r->roles[k].role;
    }
    return best;
}

/* A lead's team: from its groups, else from the team claim. NULL with why set. */
static const char *lead_team(const entra_rules *r, const json_t *claims, entra_refusal *why)
{
    const json_t *groups = json_object_get(claims, "groups");
    const char *team = NULL;

    for (size_t i = 0; i < json_array_size(groups); i++) {
        const char *g = json_string_value(json_array_get(groups, i));
        for (int k = 0; g && k < r->nteams; k++) {
            if (strcasecmp(g, r->teams[k].group) != 0)
                continue;
            if (team && strcmp(team, r->teams[k].team) != 0) {
                refuse(why, ENTRA_NO_TEAM, "the lead's groups map to more than one team");
                return NULL;
            }
            team = r->teams[k].team;
        }
    }
    if (!team && r->team_claim) {
        team = json_string_value(json_object_get(claims, r->team_claim));
        if (team && (team[0] == '\0' || strlen(team) > ENTRA_TEAM_MAX)) {
            refuse(why, ENTRA_NO_TEAM, "the team claim is empty or too long");
            return NULL;
        }
    }
    if (!team)
        refuse(why, ENTRA_NO_TEAM, "%s",
               json_object_get(json_object_get(claims, "_claim_names"), "groups")
                   ? "no team for the lead: the token left its groups out (over 200 groups)"
                   : "no team for the lead: no group maps to one and no team claim");
    return team;
}

bool entra_claims_check(const entra_rules *r, const json_t *claims, int64_t now, auth_principal *p,
                        entra_refusal *why)
{
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *tid = json_string_value(json_object_get(claims, "tid"));
    const char *oid = json_string_value(json_object_get(claims, "oid"));
    const char *team = NULL;
    auth_role role;

    memset(p, 0, sizeof(*p));
    if (!json_is_integer(exp) || (nbf && !json_is_integer(nbf)))
        return refuse(why, ENTRA_MALFORMED, "exp missing, or exp or nbf not an integer");
    if (now - r->leeway_s >= json_integer_value(exp))
        return refuse(why, ENTRA_EXPIRED, "the token has expired");
    if (nbf && now + r->leeway_s < json_integer_value(nbf))
        return refuse(why, ENTRA_NOT_YET, "the token is not valid yet (nbf)");
    if (!iss || strcmp(iss, r->issuer) != 0)
        return refuse(why, ENTRA_WRONG_ISSUER, "wrong issuer (iss)");
    if (!audience_ok(r, json_object_get(claims, "aud")))
        return refuse(why, ENTRA_WRONG_AUDIENCE, "wrong audience (aud)");
    if (!tid || strcasecmp(tid, r->tenant_id) != 0)
        return refuse(why, ENTRA_WRONG_TENANT, "wrong tenant (tid)");
    if (!oid || oid[0] == '\0' || strlen(oid) > ENTRA_OID_MAX)
        return refuse(why, ENTRA_NO_OID, "no usable oid");
    role = mapped_role(r, json_object_get(claims, "roles"));
    if (role == 0)
        return refuse(why, ENTRA_NO_ROLE, "no app role of the token maps to a tally role");
    if (role == AUTH_LEAD && !(team = lead_team(r, claims, why)))
        return false;
    p->role = role;
    snprintf(p->name, sizeof(p->name), "entra:%s", oid);
    if (role == AUTH_LEAD)
        snprintf(p->scope_team, sizeof(p->scope_team), "%s", team);
    if (role == AUTH_DEVELOPER)
        snprintf(p->scope_oid, sizeof(p->scope_oid), "%s", oid);
    return true;
}

/* ---- verification ---- */

/* Reads the header and its kid; refuses any algorithm but RS256 before a key is used. */
static bool header_kid(const char *token, char *kid, size_t kidlen, entra_refusal *why)
{
    unsigned char raw[ENTRA_HEADER_MAX];
    size_t rawlen;
    json_t *h;
    const char *alg, *k, *typ;
    bool ok = false;

    if (!jwks_b64url_decode(token, strcspn(token, "."), raw, sizeof(raw), &rawlen) ||
        !(h = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL)))
        return refuse(why, ENTRA_MALFORMED, "the header is not base64url JSON");
    alg = json_string_value(json_object_get(h, "alg"));
    k = json_string_value(json_object_get(h, "kid"));
    typ = json_string_value(json_object_get(h, "typ"));
    if (!alg || strcmp(alg, "RS256") != 0)
        refuse(why, ENTRA_BAD_ALG, "the algorithm is not RS256");
    else if (json_object_get(h, "crit"))
        refuse(why, ENTRA_MALFORMED, "the header has critical extensions");
    else if (json_object_get(h, "typ") && (!typ || strcasecmp(typ, "JWT") != 0))
        refuse(why, ENTRA_MALFORMED, "the header's typ is not JWT");
    else if (!k || k[0] == '\0' || strlen(k) >= kidlen)
        refuse(why, ENTRA_MALFORMED, "the header has no usable kid");
    else
        ok = snprintf(kid, kidlen, "%s", k) > 0;
    json_decref(h);
    return ok;
}

entra *entra_new(entra_rules *r, const jwks_cache_config *keys)
{
    entra *v = calloc(1, sizeof(*v));

    if (!v)
        return NULL;
    v->verified = calloc(ENTRA_VERIFIED_SLOTS, sizeof(*v->verified));
    if (!v->verified || !(v->keys = jwks_cache_new(keys)) ||
        pthread_mutex_init(&v->lock, NULL) != 0) {
        jwks_cache_free(v->keys);
        free(v->verified);
        free(v);
        return NULL;
    }
    v->rules = *r;
    memset(r, 0, sizeof(*r)); /* owned by v now */
    return v;
}

void entra_free(entra *v)
{
    if (!v)
        return;
    jwks_cache_free(v->keys);
    entra_rules_cleanup(&v->rules);
    pthread_mutex_destroy(&v->lock);
    free(v->verified);
    free(v);
}

jwks_cache *entra_keys(entra *v)
{
    return v->keys;
}

static entra_verified *verified_slot(entra *v, const char *digest)
{
    unsigned long h = 0;

    for (int i = 0; i < 8; i++) /* lower-case hex */
        h = h * 16 + (unsigned long)(isdigit((unsigned char)digest[i]) ? digest[i] - '0'
                                                                       : digest[i] - 'a' + 10);
    return &v->verified[h % ENTRA_VERIFIED_SLOTS];
}

/* Whether digest was verified with the current key set and is still valid at now. */
static bool verified_get(entra *v, const char *digest, int64_t now, auth_principal *p)
{
    unsigned long generation = jwks_cache_generation(v->keys);
    entra_verified *e;
    bool hit;

    pthread_mutex_lock(&v->lock);
    e = verified_slot(v, digest);
    hit = hash_equal(e->digest, digest, HASH_HEX_LEN) && e->generation == generation &&
          now < e->valid_until;
    if (hit)
        *p = e->p;
    pthread_mutex_unlock(&v->lock);
    return hit;
}

static void verified_put(entra *v, const char *digest, unsigned long generation,
                         int64_t valid_until, const auth_principal *p)
{
    entra_verified *e;

    pthread_mutex_lock(&v->lock);
    e = verified_slot(v, digest);
    memcpy(e->digest, digest, sizeof(e->digest));
    e->generation = generation;
    e->valid_until = valid_until;
    e->p = *p;
    pthread_mutex_unlock(&v->lock);
}

auth_status entra_verify_at(entra *v, const char *token, size_t n, int64_t now, auth_principal *p,
                            const char **detail)
{
    char kid[JWKS_KID_MAX + 1], *copy = NULL, *pem = NULL, *text = NULL;
    char digest[HASH_HEX_LEN + 1];
    entra_refusal why = {NULL, ""};
    size_t pem_len = 0;
    unsigned long generation = 0;
    jwt_t *jwt = NULL;
    json_t *claims = NULL;
    auth_status st = AUTH_REFUSED;

    memset(p, 0, sizeof(*p));
    *detail = NULL;
    if (n > ENTRA_TOKEN_MAX) {
        refuse(&why, ENTRA_MALFORMED, "longer than %d bytes", ENTRA_TOKEN_MAX);
        goto out;
    }
    hash_sha256_hex(token, n, digest);
    if (verified_get(v, digest, now, p))
        return AUTH_OK;
    if (!(copy = strndup(token, n))) {
        refuse(&why, ENTRA_NO_MEMORY, "out of memory");
        st = AUTH_UNAVAILABLE;
        goto out;
    }
    if (!header_kid(copy, kid, sizeof(kid), &why))
        goto out;
    switch (jwks_cache_pem(v->keys, kid, &pem, &pem_len, &generation)) {
    case JWKS_FOUND:
        break;
    case JWKS_UNKNOWN_KID:
        refuse(&why, ENTRA_UNKNOWN_KEY, "no signing key has its kid");
        goto out;
    case JWKS_UNAVAILABLE: /* not the token's fault: nothing to check it with yet */
        refuse(&why, ENTRA_NO_KEYS, "the signing keys could not be fetched");
        st = AUTH_UNAVAILABLE;
        goto out;
    case JWKS_NO_MEMORY:
        refuse(&why, ENTRA_NO_MEMORY, "out of memory");
        st = AUTH_UNAVAILABLE;
        goto out;
    }
    if (jwt_decode(&jwt, copy, (const unsigned char *)pem, (int)pem_len) != 0 || !jwt) {
        refuse(&why, ENTRA_BAD_SIGNATURE, "bad signature or malformed token");
        goto out;
    }
    if (jwt_get_alg(jwt) != JWT_ALG_RS256) { /* the header was read as RS256 above */
        refuse(&why, ENTRA_BAD_ALG, "the algorithm is not RS256");
        goto out;
    }
    text = jwt_get_grants_json(jwt, NULL);
    claims = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(claims)) {
        refuse(&why, ENTRA_MALFORMED, "the claims are not a JSON object");
        goto out;
    }
    if (!entra_claims_check(&v->rules, claims, now, p, &why))
        goto out;
    verified_put(v, digest, generation,
                 json_integer_value(json_object_get(claims, "exp")) + v->rules.leeway_s, p);
    st = AUTH_OK;
out:
    if (st != AUTH_OK) {
        memset(p, 0, sizeof(*p));
        *detail = why.detail;
        log_info("entra token %s: %s", st == AUTH_UNAVAILABLE ? "not checked" : "refused", why.why);
    }
    json_decref(claims);
    free(text);
    jwt_free(jwt);
    free(pem);
    free(copy);
    return st;
}

auth_status entra_verify(entra *v, const char *token, size_t n, auth_principal *p,
                         const char **detail)
{
    return entra_verify_at(v, token, n, (int64_t)time(NULL), p, detail);
}

/* ---- configuration ---- */

int entra_from_cfg(const cfg *c, entra **out)
{
    entra_rules_text t = {
        .tenant_id = cfg_str(c, "entra_tenant_id"),
        .audience = cfg_str(c, "entra_audience"),
        .issuer = cfg_str(c, "entra_issuer"),
        .role_map = cfg_str(c, "entra_role_map"),
        .group_team_map = cfg_str(c, "entra_group_team_map"),
        .team_claim = cfg_str(c, "entra_team_claim"),
        .leeway_s = (int)cfg_int(c, "entra_leeway_s"),
    };
    const char *url = cfg_str(c, "entra_jwks_url");
    char err[512], def_url[256];
    jwks_cache_config kc = {0};
    entra_rules r;

    *out = NULL;
    if (unset(t.tenant_id))
        return CFG_EXIT_OK;
    if (!entra_rules_init(&r, &t, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", c->prog, err);
        return CFG_EXIT_USAGE;
    }
    if (unset(url)) {
        snprintf(def_url, sizeof(def_url), "%s/%s/discovery/v2.0/keys", ENTRA_AUTHORITY,
                 r.tenant_id);
        url = def_url;
    } else if (!url_https_or_loopback(url)) {
        fprintf(stderr,
                "%s: invalid value for \"entra_jwks_url\": an https:// URL (http:// only to "
                "localhost, 127.0.0.0/8 or [::1])\n",
                c->prog);
        entra_rules_cleanup(&r);
        return CFG_EXIT_USAGE;
    }
    kc.url = url;
    kc.ttl_s = (int)cfg_int(c, "entra_jwks_ttl_s");
    kc.refetch_s = (int)cfg_int(c, "entra_jwks_refetch_s");
    kc.timeout_ms = (int)cfg_int(c, "entra_jwks_timeout_s") * 1000;
    *out = entra_new(&r, &kc);
    entra_rules_cleanup(&r);
    if (!*out) {
        fprintf(stderr, "%s: out of memory\n", c->prog);
        return CFG_EXIT_RUNTIME;
    }
    return CFG_EXIT_OK;
}
