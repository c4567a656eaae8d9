/*
 * pool.h - a fixed-size pool of PostgreSQL connections shared by threads (the report
 * server's request threads). A caller waits up to wait_ms for a free slot; a slot's
 * connection is opened on first use, checked for liveness before each use (a server
 * restart or pg_terminate_backend leaves a dead idle connection) and reopened, and each
 * new connection runs the owner's session setup hook. No HTTP here: callers map the
 * statuses to their replies.
 *
 * Thread-safe: acquire, release and stats may be called from any thread; the PGconn of
 * an acquired slot belongs to the acquiring thread until it releases the slot.
 */
#ifndef TALLY_POOL_H
#define TALLY_POOL_H

#include <stdbool.h>

#include <libpq-fe.h>

typedef struct pool pool;

/* Runs on every new connection; false drops it (the acquire then fails with POOL_DOWN). */
typedef bool (*pool_setup_fn)(PGconn *conn, void *ctx);

typedef struct pool_config {
    const char *conninfo; /* libpq conninfo; must outlive the pool */
    int size;             /* connections, at least 1 */
    int wait_ms;          /* how long acquire waits for a free slot */
    pool_setup_fn setup;  /* may be NULL */
    void *setup_ctx;
} pool_config;

typedef enum {
    POOL_OK,
    POOL_BUSY, /* every connection stayed busy for wait_ms */
    POOL_DOWN, /* connecting (or the session setup) failed; logged */
} pool_status;

/* A pool with no connection open yet; NULL when out of memory. Free with pool_free. */
pool *pool_new(const pool_config *cfg);

/* Closes every connection. The slots must have been released. pool_free(NULL) is a no-op. */
void pool_free(pool *p);

/* Takes a slot (*slot >= 0 on POOL_OK, else -1); its connection is pool_conn(p, *slot). */
pool_status pool_acquire(pool *p, int *slot);

/* The connection of an acquired slot (owned by the pool). */
PGconn *pool_conn(const pool *p, int slot);

/* Gives a slot back; a connection left mid-query or mid-transaction is closed. slot < 0
   is a no-op. */
void pool_release(pool *p, int slot);

/* Slots in use, connections open, and the pool's size, read under its lock. */
void pool_stats(pool *p, int *busy, int *open, int *size);

#endif
