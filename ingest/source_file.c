/*
 * source_file.c - backfill from a file or standard input.
 *
 * The whole input is mapped (or read, for a pipe) first: the rejects' keys need the
 * file's SHA-256 before the first batch is written, and one JSON document spanning many
 * lines has to be parsed whole anyway.
 */
#include "source_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backoff.h"
#include "hash.h"
#include "log.h"
#include "sig.h"

#define FILE_PROGRESS_MS 500

typedef struct file_input {
    const char *data;
    size_t len;
    void *map; /* mmap'd, or NULL */
    char *buf; /* read into memory, or NULL */
} file_input;

static bool read_all(int fd, file_input *in)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);

    while (buf) {
        ssize_t n;
        if (len == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p)
                break;
            buf = p;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0) {
            in->data = in->buf = buf;
            in->len = len;
            return true;
        }
        len += (size_t)n;
    }
    free(buf);
    return false;
}

static bool open_input(const char *path, file_input *in)
{
    struct stat st;
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
    bool ok = false;

    memset(in, 0, sizeof(*in));
    if (fd < 0) {
        log_error("could not open \"%s\": %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        in->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (in->map != MAP_FAILED) {
            in->data = in->map;
            in->len = (size_t)st.st_size;
            ok = true;
        } else {
            in->map = NULL;
        }
    }
    if (!ok)
        ok = read_all(fd, in);
    if (!ok)
        log_error("could not read \"%s\": %s", path, strerror(errno));
    if (fd != STDIN_FILENO)
        close(fd);
    return ok;
}

static void close_input(file_input *in)
{
    if (in->map)
        munmap(in->map, in->len);
    free(in->buf);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* One JSON document spanning lines, rather than JSON lines: the input starts a document
 * that the first line does not complete, and the whole input is one document. */
static bool one_document(const file_input *in)
{
    size_t i = 0, eol;
    json_t *doc;

    while (i < in->len && is_blank(in->data[i]))
        i++;
    if (i == in->len || (in->data[i] != '{' && in->data[i] != '['))
        return false;
    for (eol = i; eol < in->len && in->data[eol] != '\n'; eol++)
        ;
    doc = json_loadb(in->data + i, eol - i, 0, NULL);
    if (doc) {
        json_decref(doc);
        return false;
    }
    doc = json_loadb(in->data, in->len, 0, NULL);
    json_decref(doc);
    return doc != NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Commits the batch, retrying with backoff while the database is away. */
static bool commit(sink_pg *sink, batch *b, ingest_metrics *m, source_file_summary *sum)
{
    backoff delay = BACKOFF_INIT(BACKOFF_PG_FIRST_MS, BACKOFF_PG_MAX_MS);

    for (;;) {
        sink_result r;
        int64_t t0 = now_ms();

        if (sink_pg_commit(sink, b, &r) == SINK_OK) {
            metrics_batch(m, b, &r, (double)(now_ms() - t0) / 1000.0);
            metrics_db_up(m, true);
            sum->read += b->nrecords;
            sum->rejected += b->nrejects + r.refused;
            sum->inserted += r.inserted;
            sum->duplicates += r.duplicates;
            sum->reattributed += r.reattributed;
            batch_reset(b);
            return true;
        }
        metrics_db_up(m, false);
        if (sig_stop)
            return false;
        sig_sleep_ms(backoff_next(&delay));
        if (!sink_pg_ok(sink))
            sink_pg_reconnect(sink, 1, &sig_stop);
    }
}

static void progress(const char *name, size_t done, size_t total, const source_file_summary *sum,
                     const batch *b)
{
    fprintf(stderr, "\r%s: %3d%% read=%" PRIu64 " inserted=%" PRIu64 " rejected=%" PRIu64 "  ",
            name, total ? (int)(done * 100 / total) : 100, sum->read + b->nrecords, sum->inserted,
            sum->rejected + b->nrejects);
}

int source_file_run(const char *path, parse_format fmt, int batch_size, sink_pg *sink,
                    ingest_metrics *m, source_file_summary *sum)
{
    char sha[HASH_HEX_LEN + 1], key[128], source[600];
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    bool tty = isatty(STDERR_FILENO), ok = true;
    int64_t last_progress = now_ms();
    file_input in;
    batch b;
    size_t pos = 0;
    long line = 0;

    memset(sum, 0, sizeof(*sum));
    if (!open_input(path, &in))
        return 1;
    hash_sha256_hex(in.data, in.len, sha);
    batch_init(&b);
    if (one_document(&in)) {
        snprintf(key, sizeof(key), "file:%s:1", sha);
        snprintf(source, sizeof(source), "%s:1", name);
        batch_message(&b, key, source, in.data, in.len);
        parse_message(in.data, in.len, fmt, batch_emit, &b);
        pos = in.len;
        if (batch_oom(&b)) {
            log_error("out of memory");
            ok = false;
        }
    }
    while (ok && pos < in.len && !sig_stop) {
        const char *start = in.data + pos, *nl = memchr(start, '\n', in.len - pos);
        size_t len = nl ? (size_t)(nl - start) : in.len - pos;
        size_t used = len;

        pos += len + (nl ? 1 : 0);
        line++;
        while (used > 0 && is_blank(start[used - 1]))
            used--;
        if (used == 0)
            continue;
        /* keyed by the line's own bytes, not the file's: running a file again after
         * lines were appended to it must find its old rejects under the same keys */
        hash_sha256_hex(start, used, sha);
        snprintf(key, sizeof(key), "file:%s:%ld", sha, line);
        snprintf(source, sizeof(source), "%s:%ld", name, line);
        batch_message(&b, key, source, start, used);
        parse_message(start, used, fmt, batch_emit, &b);
        if (batch_oom(&b)) {
            log_error("out of memory");
            ok = false;
            break;
        }
        if (b.nrecords >= (size_t)batch_size || b.nmessages >= (size_t)batch_size)
            ok = commit(sink, &b, m, sum);
        if (tty && now_ms() - last_progress >= FILE_PROGRESS_MS) {
            progress(name, pos, in.len, sum, &b);
            last_progress = now_ms();
        }
    }
    if (ok && !batch_empty(&b))
        ok = commit(sink, &b, m, sum);
    if (tty) {
        progress(name, pos, in.len, sum, &b);
        fputc('\n', stderr);
    }
    if (ok && pos < in.len) {
        log_error("stopped before the end of \"%s\" (line %ld): run it again to finish", name,
                  line);
        ok = false;
    } else if (!ok) {
        log_error("could not write \"%s\" to postgres: run it again to finish", name);
    }
    batch_cleanup(&b);
    close_input(&in);
    return ok ? 0 : 1;
}

void source_file_print_summary(const source_file_summary *sum, FILE *out)
{
    fprintf(out, "read=%" PRIu64 " inserted=%" PRIu64 " duplicates=%" PRIu64 " rejected=%" PRIu64,
            sum->read, sum->inserted, sum->duplicates, sum->rejected);
    if (sum->reattributed)
        fprintf(out, " reattributed=%" PRIu64, sum->reattributed);
    fputc('\n', out);
}
