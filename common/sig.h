/*
 * sig.h - signal handling for the daemons: handlers only set flags, the loops act on
 * them. SIGPIPE is ignored. A second SIGINT/SIGTERM exits at once.
 */
#ifndef TALLY_SIG_H
#define TALLY_SIG_H

#include <signal.h>

extern volatile sig_atomic_t sig_stop;   /* SIGINT or SIGTERM seen: finish and exit */
extern volatile sig_atomic_t sig_reload; /* SIGHUP seen */

/* Installs the handlers; call once from main() before the loop. */
void sig_install(void);

/* Sleeps up to ms milliseconds, returning early once sig_stop is set. */
void sig_sleep_ms(long ms);

#endif
