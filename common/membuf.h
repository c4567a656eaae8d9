/*
 * membuf.h - the one growable byte buffer of the code base: COPY text, CSV and JSON
 * output, Prometheus exposition, HTTP bodies read by libcurl, simulated event lines.
 *
 * A zeroed membuf is empty and ready (MEMBUF_INIT). Appends never fail loudly: an
 * allocation that fails sets oom, later appends are ignored, and the caller checks oom
 * once at the end (the content is then incomplete and must not be used). data is always
 * NUL-terminated after a successful append (the NUL is not counted in len), so text can
 * be read as a C string. Pure, no I/O; a buffer belongs to one thread.
 */
#ifndef TALLY_MEMBUF_H
#define TALLY_MEMBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct membuf {
    char *data; /* owned; NULL until the first append */
    size_t len, cap;
    bool oom; /* an allocation failed: the content is incomplete */
} membuf;

#define MEMBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

/* Makes room for n more bytes (and a NUL); false (and oom set) if memory ran out. */
bool membuf_reserve(membuf *b, size_t n);

/* Appends n bytes. */
void membuf_put(membuf *b, const void *s, size_t n);

/* Appends a NUL-terminated string, or one byte. */
void membuf_puts(membuf *b, const char *s);
void membuf_putc(membuf *b, char c);

/* Appends formatted text. */
void membuf_printf(membuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the first n bytes (what has been sent or written). */
void membuf_consume(membuf *b, size_t n);

/* Empties the buffer and clears oom, keeping its memory for reuse. */
void membuf_reset(membuf *b);

/* Frees the data; the struct is empty and may be reused after. membuf_free(NULL) is a no-op. */
void membuf_free(membuf *b);

/* Hands the data (NUL-terminated; NULL if empty or oom) to the caller, who frees it with
 * free(); the buffer is empty after. */
char *membuf_steal(membuf *b, size_t *len);

#endif
