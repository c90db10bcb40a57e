/* test_server_slots.c: the server's pool of store handles (server.c,
 * srv_slot_get / srv_slot_put): a freed slot goes to the thread that has
 * waited longest, a newcomer never overtakes the queue, a timed-out waiter
 * leaves the queue without breaking it, and every slot comes back. */
#include "server/server.h"
#include "test.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

enum { NW = 6 };

static srv S;
static srv_slot slots[2];
static atomic_int order[NW], next_rank;

static void setup(int n_slots, int timeout_s) {
    memset(&S, 0, sizeof S);
    memset(slots, 0, sizeof slots);
    pthread_mutex_init(&S.mu, NULL);
    S.slots = slots;
    S.n_slots = n_slots;
    S.o.timeout_s = timeout_s;
}

/* Waiter i takes a slot, records its rank, gives the slot back. */
static void *waiter(void *p) {
    int i = (int)(intptr_t)p;
    srv_slot *sl = srv_slot_get(&S);
    if (!sl) { order[i] = -1; return NULL; }
    order[i] = atomic_fetch_add(&next_rank, 1);
    srv_slot_put(&S, sl);
    return NULL;
}

/* Blocks until the queue's tail changes from what it was (a new waiter). */
static bool wait_new_tail(const void *old) {
    for (int t = 0; t < 2000; t++) {
        pthread_mutex_lock(&S.mu);
        const void *tail = S.wait_tail;
        pthread_mutex_unlock(&S.mu);
        if (tail && tail != old) return true;
        usleep(1000);
    }
    return false;
}

static void test_fifo(void) {
    setup(1, 30);
    srv_slot *held = srv_slot_get(&S);
    REQUIRE(held == &slots[0]);
    CHECK(slots[0].busy);
    next_rank = 0;
    pthread_t th[NW];
    /* Queue the waiters one after another, each seen in the queue before
     * the next starts, so their arrival order is known. */
    for (int i = 0; i < NW; i++) {
        pthread_mutex_lock(&S.mu);
        const void *tail = S.wait_tail;
        pthread_mutex_unlock(&S.mu);
        REQUIRE(pthread_create(&th[i], NULL, waiter, (void *)(intptr_t)i) == 0);
        CHECKF(wait_new_tail(tail), "waiter %d never queued", i);
    }
    srv_slot_put(&S, held);      /* hands over down the queue, in order */
    for (int i = 0; i < NW; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NW; i++) CHECKF(order[i] == i, "waiter %d served as #%d", i, order[i]);
    CHECK(!slots[0].busy);
    CHECK(S.wait_head == NULL && S.wait_tail == NULL);
    /* Free again: an immediate get. */
    srv_slot *again = srv_slot_get(&S);
    CHECK(again == &slots[0]);
    srv_slot_put(&S, again);
    pthread_mutex_destroy(&S.mu);
}

static void *timed(void *p) {
    (void)p;
    return srv_slot_get(&S);   /* NULL after the timeout */
}

static void test_timeout(void) {
    setup(2, 1);
    srv_slot *a = srv_slot_get(&S), *b = srv_slot_get(&S);
    REQUIRE(a && b && a != b);
    /* Two waiters; the first (1 s) times out at the head of the queue, the
     * second (30 s) is then served by the next put. */
    pthread_t t1, t2;
    REQUIRE(pthread_create(&t1, NULL, timed, NULL) == 0);
    REQUIRE(wait_new_tail(NULL));
    pthread_mutex_lock(&S.mu);
    const void *first = S.wait_tail;
    S.o.timeout_s = 30;
    pthread_mutex_unlock(&S.mu);
    REQUIRE(pthread_create(&t2, NULL, timed, NULL) == 0);
    REQUIRE(wait_new_tail(first));
    void *r1 = (void *)1;
    pthread_join(t1, &r1);
    CHECK(r1 == NULL);
    pthread_mutex_lock(&S.mu);
    CHECK(S.wait_head != NULL && S.wait_head == S.wait_tail && S.wait_head != first);
    pthread_mutex_unlock(&S.mu);
    srv_slot_put(&S, a);
    void *r2 = NULL;
    pthread_join(t2, &r2);
    CHECK(r2 == a);
    CHECK(S.wait_head == NULL && S.wait_tail == NULL);
    srv_slot_put(&S, r2);
    srv_slot_put(&S, b);
    CHECK(!slots[0].busy && !slots[1].busy);
    pthread_mutex_destroy(&S.mu);
}

TEST_MAIN(test_fifo, test_timeout)
