#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "db.h"

struct pool {
    pool_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PGconn **conns;
    bool *busy;
    int nbusy;
};

pool *pool_new(const pool_config *cfg)
{
    pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->cfg = *cfg;
    p->conns = calloc((size_t)cfg->size, sizeof(PGconn *));
    p->busy = calloc((size_t)cfg->size, sizeof(bool));
    if (!p->conns || !p->busy) {
        free(p->conns);
        free(p->busy);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->cfg.size; i++)
        PQfinish(p->conns[i]);
    free(p->conns);
    free(p->busy);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

/*
 * False when the server closed an idle connection meanwhile (restart,
 * pg_terminate_backend): it sends a FATAL message, then EOF, which libpq only notices
 * when it reads. Nothing is pending on a healthy idle connection, so this costs a poll.
 */
static bool pool_conn_alive(PGconn *conn)
{
    for (int i = 0; i < 3; i++) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};

        if (PQstatus(conn) != CONNECTION_OK || pfd.fd < 0)
            return false;
        if (poll(&pfd, 1, 0) <= 0)
            return true;
        if (!PQconsumeInput(conn))
            return false;
    }
    return PQstatus(conn) == CONNECTION_OK;
}

static void pool_free_slot(pool *p, int slot)
{
    pthread_mutex_lock(&p->mu);
    p->busy[slot] = false;
    p->nbusy--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

pool_status pool_acquire(pool *p, int *slot_out)
{
    struct timespec deadline;
    int slot = -1;

    *slot_out = -1;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += p->cfg.wait_ms / 1000;
    deadline.tv_nsec += (long)(p->cfg.wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (p->nbusy == p->cfg.size) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    if (p->nbusy < p->cfg.size) {
        /* prefer a slot that already has a connection */
        for (int i = 0; i < p->cfg.size; i++) {
            if (!p->busy[i] && (slot < 0 || (p->conns[i] && !p->conns[slot])))
                slot = i;
        }
        p->busy[slot] = true;
        p->nbusy++;
    }
    pthread_mutex_unlock(&p->mu);
    if (slot < 0)
        return POOL_BUSY;
    if (p->conns[slot] && !pool_conn_alive(p->conns[slot])) {
        PQfinish(p->conns[slot]);
        p->conns[slot] = NULL;
    }
    if (!p->conns[slot]) {
        p->conns[slot] = db_connect(p->cfg.conninfo, 1, NULL);
        if (p->conns[slot] && p->cfg.setup && !p->cfg.setup(p->conns[slot], p->cfg.setup_ctx)) {
            PQfinish(p->conns[slot]);
            p->conns[slot] = NULL;
        }
        if (!p->conns[slot]) {
            pool_free_slot(p, slot);
            return POOL_DOWN;
        }
    }
    *slot_out = slot;
    return POOL_OK;
}

PGconn *pool_conn(const pool *p, int slot)
{
    return slot >= 0 ? p->conns[slot] : NULL;
}

void pool_release(pool *p, int slot)
{
    PGconn *conn;

    if (slot < 0)
        return;
    conn = p->conns[slot];
    if (conn && (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)) {
        PQfinish(conn);
        p->conns[slot] = NULL;
    }
    pool_free_slot(p, slot);
}

void pool_stats(pool *p, int *busy, int *open, int *size)
{
    int nopen = 0;

    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->cfg.size; i++)
        nopen += p->conns[i] != NULL;
    *busy = p->nbusy;
    pthread_mutex_unlock(&p->mu);
    *open = nopen;
    *size = p->cfg.size;
}
