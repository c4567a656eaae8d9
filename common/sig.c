#include "sig.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t sig_stop = 0;
volatile sig_atomic_t sig_reload = 0;

static void sig_on_stop(int signo)
{
    (void)signo;
    if (sig_stop)
        _exit(1); /* second signal: the operator means it */
    sig_stop = 1;
}

static void sig_on_hup(int signo)
{
    (void)signo;
    sig_reload = 1;
}

void sig_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = sig_on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = sig_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

void sig_sleep_ms(long ms)
{
    while (ms > 0 && !sig_stop) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}
