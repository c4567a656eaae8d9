#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

log_level log_current_level = LOG_INFO;
static char log_prog[64] = "tally";

static const char *const LOG_NAMES[] = {"error", "warn", "info", "debug"};

int log_init(const char *prog, const char *level_name)
{
    if (prog)
        snprintf(log_prog, sizeof(log_prog), "%s", prog);
    if (!level_name)
        return 0;
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcasecmp(level_name, LOG_NAMES[i]) == 0) {
            log_current_level = (log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_write(log_level level, const char *fmt, ...)
{
    char msg[2048];
    char line[4400];
    struct timespec now;
    struct tm tm;
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = (size_t)snprintf(line, sizeof(line),
                         "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s msg=\"",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, now.tv_nsec / 1000000, LOG_NAMES[level], log_prog);
    /* escape so that one event stays one line */
    for (const char *p = msg; *p && n < sizeof(line) - 3; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            line[n++] = '\\';
            line[n++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            line[n++] = ' ';
        } else if (c < 0x20) {
            line[n++] = '?';
        } else {
            line[n++] = (char)c;
        }
    }
    line[n++] = '"';
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}
