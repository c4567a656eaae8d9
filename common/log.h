/*
 * log.h - one line per event to stderr, key=value: ts=… level=… prog=… msg="…".
 *
 * The level is checked before the message is formatted. log_write is thread-safe:
 * each line goes out in a single write(2).
 */
#ifndef TALLY_LOG_H
#define TALLY_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

extern log_level log_current_level;

/* Sets the program name and level; returns -1 for an unknown level name. */
int log_init(const char *prog, const char *level_name);

void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= log_current_level)                                                            \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
