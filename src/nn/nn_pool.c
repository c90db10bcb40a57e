/* nn_pool.c: the thread pool the matrix products run on.
 *
 * A run publishes (fn, ctx, n_chunks) and bumps a generation counter; every
 * thread, the caller included, then claims chunks from a shared counter
 * until none are left. The caller returns when the done counter reaches
 * n_chunks: it never waits for a worker that has not claimed anything, so a
 * worker whose core is taken by another process costs at most the chunk it
 * holds (llama.cpp's fixed split waits for every thread and its long-spinning
 * workers collapse in that situation).
 *
 * Idle workers poll the generation for a short while (cheap hand-off between
 * the many small products of token generation, yielding the core now and
 * then), then sleep on a condition variable. Lost wake-ups are excluded
 * Dekker-style: a sleeper announces itself (sequentially consistent) before
 * re-checking under the mutex, and the publisher changes the state before
 * reading the announcement; one of the two always sees the other.
 *
 * Each side of such a pair stores, then loads the other side's variable;
 * where the store is a plain one (not a read-modify-write) a sequentially
 * consistent fence follows it (store_then_fence). C11 orders a seq_cst
 * store before a later seq_cst load already, but the fence states it where
 * it matters and keeps it where an implementation gets it wrong: qemu-user
 * 7.2 running ARMv8.0 code (STLR then LDAR, no LSE atomics) on an x86 host
 * lets the load pass the store, and the pool hung there in CI.
 *
 * A late worker may wake after its run finished. It registers in `active`
 * and then checks that the run is still open (`closed` != its generation)
 * before touching the job; the next run waits for active == 0 before it
 * rewrites the job, so a stale worker never sees a half-written one. */
#include "nn/nn_impl.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

struct ken_pool;

typedef struct {
    struct ken_pool *p;
    int ith;
} worker;

struct ken_pool {
    int n;                       /* threads including the caller */
    pthread_t *th;
    worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    atomic_uint_fast64_t gen;    /* bumped once per run */
    atomic_uint_fast64_t closed; /* generation whose chunks are all done */
    atomic_int_fast64_t next;    /* next chunk to claim */
    atomic_int_fast64_t done;    /* chunks finished */
    atomic_int active;           /* workers inside a run */
    atomic_int n_sleep;          /* workers waiting (or about to) on cv_work */
    atomic_int main_sleep;       /* the caller waiting (or about to) on cv_done */
    atomic_int stop;
    atomic_uint spin;
    atomic_int busy;             /* a run is in progress (catches concurrent runs) */
    ken_pool_fn fn;              /* the job: written before gen is bumped */
    void *ctx;
    int64_t n_chunks;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Polls cond(p) up to `spin` times, yielding the core every 64 polls so a
 * thread of ours that was descheduled can run; true when cond held. */
#define SPIN_UNTIL(p, cond)                                                        \
    do {                                                                           \
        const unsigned spins_ = atomic_load_explicit(&(p)->spin, memory_order_relaxed); \
        for (unsigned i_ = 0; i_ < spins_ && !(cond); i_++) {                      \
            if ((i_ & 63) == 63) sched_yield();                                    \
            else cpu_relax();                                                      \
        }                                                                          \
    } while (0)

/* A store that a later load of another variable must not pass (above). */
#define store_then_fence(obj, v)                                                   \
    do {                                                                           \
        atomic_store(obj, v);                                                      \
        atomic_thread_fence(memory_order_seq_cst);                                 \
    } while (0)

static void wake_main(ken_pool *p) {
    if (atomic_load(&p->main_sleep)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Claims and runs chunks until none are left. */
static void run_chunks(ken_pool *p, int ith) {
    const int64_t n = p->n_chunks;
    for (;;) {
        const int64_t c = atomic_fetch_add(&p->next, 1);
        if (c >= n) break;
        p->fn(p->ctx, c, ith);
        if (atomic_fetch_add(&p->done, 1) + 1 == n) wake_main(p);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ken_pool *p = w->p;
    uint64_t seen = 0;
    for (;;) {
        SPIN_UNTIL(p, atomic_load(&p->gen) != seen || atomic_load(&p->stop));
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleep, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_work, &p->mu);
            atomic_fetch_sub(&p->n_sleep, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load(&p->gen);
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->closed) != seen && atomic_load(&p->gen) == seen) run_chunks(p, w->ith);
        if (atomic_fetch_sub(&p->active, 1) == 1) wake_main(p);
    }
    return NULL;
}

/* Waits (spin, then sleep) until cond holds; cond is re-read under the mutex
 * after main_sleep is raised, and the workers signal after changing it. */
#define WAIT_MAIN(p, cond)                                                         \
    do {                                                                           \
        SPIN_UNTIL(p, cond);                                                       \
        if (!(cond)) {                                                             \
            pthread_mutex_lock(&(p)->mu);                                          \
            store_then_fence(&(p)->main_sleep, 1);                                 \
            while (!(cond)) pthread_cond_wait(&(p)->cv_done, &(p)->mu);            \
            atomic_store(&(p)->main_sleep, 0);                                     \
            pthread_mutex_unlock(&(p)->mu);                                        \
        }                                                                          \
    } while (0)

static void stop_workers(ken_pool *p, int n_started) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < n_started; i++) pthread_join(p->th[i], NULL);
}

ken_status ken_pool_new(int n_threads, ken_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > KEN_POOL_MAX_THREADS) return KEN_ERR_INVALID;
    ken_pool *p = calloc(1, sizeof *p);
    if (!p) return KEN_ERR_NOMEM;
    p->n = n_threads;
    atomic_init(&p->spin, KEN_POOL_SPIN_DEFAULT);
    if (n_threads == 1) {
        *out = p;
        return KEN_OK;
    }
    p->th = calloc((size_t)n_threads - 1, sizeof *p->th);
    p->w = calloc((size_t)n_threads - 1, sizeof *p->w);
    if (!p->th || !p->w) goto out_free;
    if (pthread_mutex_init(&p->mu, NULL)) goto out_free;
    if (pthread_cond_init(&p->cv_work, NULL)) goto out_mu;
    if (pthread_cond_init(&p->cv_done, NULL)) goto out_cv;
    for (int i = 0; i < n_threads - 1; i++) {
        p->w[i] = (worker){p, i + 1};
        if (pthread_create(&p->th[i], NULL, worker_main, &p->w[i])) {
            stop_workers(p, i);
            pthread_cond_destroy(&p->cv_done);
            goto out_cv;
        }
    }
    *out = p;
    return KEN_OK;
out_cv:
    pthread_cond_destroy(&p->cv_work);
out_mu:
    pthread_mutex_destroy(&p->mu);
out_free:
    free(p->th);
    free(p->w);
    free(p);
    return KEN_ERR_NOMEM;
}

void ken_pool_free(ken_pool *p) {
    if (!p) return;
    if (p->n > 1) {
        stop_workers(p, p->n - 1);
        pthread_cond_destroy(&p->cv_done);
        pthread_cond_destroy(&p->cv_work);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->th);
    free(p->w);
    free(p);
}

int ken_pool_threads(const ken_pool *p) { return p ? p->n : 1; }

void ken_pool_set_spin(ken_pool *p, uint32_t spin_iters) {
    if (p) atomic_store(&p->spin, spin_iters);
}

void ken_pool_run(ken_pool *p, int64_t n_chunks, ken_pool_fn fn, void *ctx) {
    if (n_chunks <= 0) return;
    if (!p || p->n == 1 || n_chunks == 1) {
        for (int64_t c = 0; c < n_chunks; c++) fn(ctx, c, 0);
        return;
    }
    KEN_ASSERT(atomic_exchange(&p->busy, 1) == 0);   /* one run at a time per pool */
    /* stale workers of the previous run must be out before the job changes */
    WAIT_MAIN(p, atomic_load(&p->active) == 0);
    p->fn = fn;
    p->ctx = ctx;
    p->n_chunks = n_chunks;
    atomic_store(&p->next, 0);
    atomic_store(&p->done, 0);
    const uint64_t g = atomic_fetch_add(&p->gen, 1) + 1;
    if (atomic_load(&p->n_sleep) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, 0);
    WAIT_MAIN(p, atomic_load(&p->done) == n_chunks);
    store_then_fence(&p->closed, g);   /* before the next run reads active */
    atomic_store(&p->busy, 0);
}

void ken_pool_split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end) {
    const int64_t per = n / nth, rem = n % nth;
    *begin = ith * per + (ith < rem ? ith : rem);
    *end = *begin + per + (ith < rem ? 1 : 0);
}
