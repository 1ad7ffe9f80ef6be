/*
 * featbench's compiled timed path: a block of PostgreSQL requests, no Python per request.
 *
 * Plain C, no Python API: built by setuptools as an optional extension and loaded with
 * ctypes (backends/pg_native.py), which releases the GIL for the call. libpq is the one
 * psycopg loaded; its functions come in as pointers (no libpq headers needed), so this
 * file declares the few it calls. Times are CLOCK_MONOTONIC, the clock of Python's
 * time.perf_counter_ns, so they mix with the client's own.
 */
#include <stdint.h>
#include <time.h>

typedef void *(*exec_prepared_fn)(void *conn, const char *name, int n_params,
                                  const char *const *values, const int *lengths,
                                  const int *formats, int result_format);
typedef int (*result_status_fn)(const void *res);
typedef int (*ntuples_fn)(const void *res);
typedef void (*clear_fn)(void *res);

#define PGRES_TUPLES_OK 2

/* Field order and types must match pg_native._Args. */
typedef struct {
    /* libpq */
    exec_prepared_fn exec_prepared;
    result_status_fn result_status;
    ntuples_fn ntuples;
    clear_fn clear;
    void *conn;
    /* the block */
    const int64_t *rows;   /* (n, n_e): each request's key index per entity */
    int64_t n;
    int64_t k0;            /* first recording slot */
    int64_t deadline;      /* stop after a request ending past this; open loop: before one starting past it */
    /* the plan: statements in send order */
    int64_t n_s;
    int64_t n_e;
    const char *const *names;
    const int64_t *n_params;
    const int64_t *pv_off;     /* a statement's parameter pointers start at pv[pv_off[s]] */
    const int64_t *slot_lo;    /* its key slots: slot_lo[s] .. slot_hi[s] */
    const int64_t *slot_hi;
    const int64_t *slot_pv;    /* the pv index of a key slot */
    const int64_t *slot_ent;   /* the entity whose key goes there */
    const int64_t *group;      /* the entity timed around the statement, -1 for none */
    const int64_t *looked;     /* lookups the statement stands for */
    const int64_t *hit_rows;   /* 1: every row is one lookup that found its key */
    int64_t fail_looked;       /* 1: a failed statement still counts its lookups, found 0 */
    const char **pv;           /* parameter pointers (fixed extras pre-filled) */
    const char *const *key_ptr; /* every key's NUL-terminated text */
    const int64_t *ent_base;   /* an entity's first index in key_ptr */
    /* recording (the client's arrays) */
    int64_t *start;
    int64_t *end;
    int64_t *found;
    int64_t *keys_found;
    int64_t *looked_out;
    int64_t *entity_ns;        /* (slots, n_e) */
    int64_t write_ent;
    /* open loop (sched == NULL: closed loop) */
    const int64_t *sched;      /* (n,) intended starts */
    int64_t *sched_out;
    int64_t last_pause;
    int64_t idle_min;          /* hand back before a request when the gap to its start is */
    int64_t idle_every;        /* longer than this and the last pause older than that */
    int64_t spin;              /* sleep until this close to a start, then spin */
    /* out */
    int64_t done;
    int64_t failed;            /* 1: the last request run failed */
    void *failed_result;       /* its result (NULL: none), for the caller to read and clear */
} fb_block;

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void wait_until(int64_t target, int64_t now, int64_t spin) {
    int64_t wait = target - now - spin;
    if (wait > 0) {
        struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
        nanosleep(&ts, NULL);
    }
    while (now_ns() < target) {
    }
}

int64_t fb_run_block(fb_block *a) {
    const int64_t n_e = a->n_e;
    a->done = 0;
    a->failed = 0;
    a->failed_result = NULL;
    for (int64_t i = 0; i < a->n; i++) {
        const int64_t k = a->k0 + i;
        if (a->sched != NULL) {
            /* The first request's wait was the caller's. Later ones: hand back where a
             * pause is due or the start is past the deadline; else wait for the start. */
            const int64_t target = a->sched[i];
            const int64_t now = now_ns();
            if (i > 0 && (target > a->deadline ||
                          (target - now > a->idle_min && now - a->last_pause > a->idle_every))) {
                a->done = i;
                return i;
            }
            wait_until(target, now, a->spin);
            a->sched_out[k] = target;
        }
        for (int64_t s = 0; s < a->n_s; s++) {
            for (int64_t q = a->slot_lo[s]; q < a->slot_hi[s]; q++) {
                const int64_t e = a->slot_ent[q];
                a->pv[a->slot_pv[q]] = a->key_ptr[a->ent_base[e] + a->rows[i * n_e + e]];
            }
        }
        if (a->write_ent) {
            for (int64_t e = 0; e < n_e; e++) a->entity_ns[k * n_e + e] = -1;
        }
        int64_t found = 0, hit = 0, nl = 0;
        int failed = 0;
        const int64_t t0 = now_ns();
        int64_t g = -1, g0 = t0;
        for (int64_t s = 0; s < a->n_s; s++) {
            if (a->group[s] != g) {
                if (g >= 0) {
                    const int64_t t = now_ns();
                    a->entity_ns[k * n_e + g] = t - g0;
                    g0 = t;
                }
                g = a->group[s];
            }
            void *res = a->exec_prepared(a->conn, a->names[s], (int)a->n_params[s],
                                         a->pv + a->pv_off[s], NULL, NULL, 0);
            if (res == NULL || a->result_status(res) != PGRES_TUPLES_OK) {
                failed = 1;
                a->failed_result = res;
                if (a->fail_looked) nl += a->looked[s];
                g = -1;
                break;
            }
            const int m = a->ntuples(res);
            a->clear(res);
            found += m;
            hit += a->hit_rows[s] ? m : (m > 0);
            nl += a->looked[s];
        }
        const int64_t t1 = now_ns();
        if (g >= 0) a->entity_ns[k * n_e + g] = t1 - g0;
        if (failed && a->fail_looked) found = hit = 0;
        a->start[k] = t0;
        a->end[k] = t1;
        a->found[k] = found;
        a->keys_found[k] = hit;
        a->looked_out[k] = nl;
        if (failed) {
            a->done = i + 1;
            a->failed = 1;
            return i + 1;
        }
        if (a->sched == NULL && t1 > a->deadline) {
            a->done = i + 1;
            return i + 1;
        }
    }
    a->done = a->n;
    return a->n;
}
