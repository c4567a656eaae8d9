#include "url.h"

#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

/* Whether host (hostlen bytes, an IPv6 address in brackets) is this machine: localhost,
 * 127.0.0.0/8 or ::1. */
static bool loopback_host(const char *host, size_t hostlen)
{
    char h[64];
    struct in_addr a4;

    if (hostlen == 0 || hostlen >= sizeof(h))
        return false;
    memcpy(h, host, hostlen);
    h[hostlen] = '\0';
    if (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
        return true;
    return inet_pton(AF_INET, h, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool url_https_or_loopback(const char *url)
{
    const char *host, *end;

    if (strncasecmp(url, "https://", 8) == 0)
        return true;
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    host = url + 7;
    end = host + strcspn(host, "/?#");
    /* userinfo: the host follows the last '@' of the authority */
    for (const char *p = host; p < end; p++)
        if (*p == '@')
            host = p + 1;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        return close && loopback_host(host, (size_t)(close + 1 - host));
    }
    return loopback_host(host, strcspn(host, ":/?#"));
}
