/*
 * url.h - where the programs may send a credential or fetch what they trust (an OAuth
 * token endpoint, the Entra ID signing keys): https://, or plain http:// to this machine
 * only, for tests and local stand-ins. Pure; thread-safe.
 */
#ifndef TALLY_URL_H
#define TALLY_URL_H

#include <stdbool.h>

/* Whether url is https://, or http:// to localhost, 127.0.0.0/8 or [::1]. */
bool url_https_or_loopback(const char *url);

#endif
