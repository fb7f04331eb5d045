/* test-jobs.c - the per-worker thread pool (src/net/jobs.c).
 *
 * Synchronisation is by condition variables and the event loop, never by
 * sleeping; unit_deadline turns a hang (a serialisation bug that would
 * deadlock) into a failure. Also built and run under ThreadSanitizer
 * (make test-tsan).
 */
#include "unit.h"
#include "common.h"
#include "event.h"
#include "jobs.h"
#include <pthread.h>
#include <stdatomic.h>

static struct event_loop *loop;
static pthread_t loop_thread;

/* A gate a job can wait on until the test opens it. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int arrived;
};
#define GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0}

static void gate_wait(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_await_arrivals(struct gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

struct rec {
    int id;
    int run_seq;            /* order in which run started (per key) */
    int done_seq;
    bool ran;
    bool done_on_loop;
    bool failed;            /* run reported a failure */
    struct gate *gate;      /* wait here in run, if set */
    atomic_int *inside;     /* concurrency probe for one key */
    atomic_int *order;
    int *done_order;
    int *ndone;
    int want_done;
    size_t batched;         /* jobs taken by jobs_batch_take */
    int *batch_ids;
};

static void rec_run(struct job *job, void *arg)
{
    (void)job;
    struct rec *r = arg;
    if (r->inside) {
        int n = atomic_fetch_add(r->inside, 1) + 1;
        if (n != 1)
            r->failed = true; /* two jobs of one key at once */
    }
    if (r->order)
        r->run_seq = atomic_fetch_add(r->order, 1);
    if (r->gate)
        gate_wait(r->gate);
    r->ran = true;
    if (r->inside)
        atomic_fetch_sub(r->inside, 1);
}

static void rec_done(void *arg)
{
    struct rec *r = arg;
    r->done_on_loop = pthread_equal(pthread_self(), loop_thread);
    r->done_seq = (*r->ndone)++;
    if (r->done_order)
        r->done_order[r->done_seq] = r->id;
    if (*r->ndone == r->want_done)
        event_loop_stop(loop);
}

static void test_runs_and_completes_on_loop(void)
{
    enum { N = 200 };
    struct rec *r = xcalloc(N, sizeof(*r));
    int ndone = 0;
    for (int i = 0; i < N; i++) {
        r[i].id = i;
        r[i].ndone = &ndone;
        r[i].want_done = N;
        jobs_submit("unit", NULL, rec_run, rec_done, &r[i]);
    }
    event_loop_run(loop);
    CHECK_INT(ndone, N);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (!r[i].ran || !r[i].done_on_loop)
            bad++;
    CHECK_INT(bad, 0);
    CHECK_INT(jobs_pending(), 0);
    free(r);
}

/* Same key: never two at once, started in submission order, even when
 * many are queued behind a key whose first job is held. */
static void test_same_key_serial_in_order(void)
{
    enum { N = 60 };
    static int key;
    struct rec *r = xcalloc(N, sizeof(*r));
    atomic_int inside = 0, order = 0;
    int ndone = 0;
    struct gate g = GATE_INIT;
    for (int i = 0; i < N; i++) {
        r[i].id = i;
        r[i].ndone = &ndone;
        r[i].want_done = N;
        r[i].inside = &inside;
        r[i].order = &order;
        if (i == 0)
            r[i].gate = &g;
        jobs_submit("unit", &key, rec_run, rec_done, &r[i]);
    }
    gate_await_arrivals(&g, 1);
    gate_open(&g);
    event_loop_run(loop);
    CHECK_INT(ndone, N);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (r[i].failed || r[i].run_seq != i)
            bad++;
    CHECK_INT(bad, 0);
    free(r);
}

/* Different keys run in parallel: job A waits until job B (another key)
 * has started; a pool that serialised them would never finish (the
 * deadline fails the test). */
static void test_other_keys_in_parallel(void)
{
    static int ka, kb;
    struct gate ga = GATE_INIT, gb = GATE_INIT;
    int ndone = 0;
    struct rec a = {.id = 1, .gate = &ga, .ndone = &ndone, .want_done = 2};
    struct rec b = {.id = 2, .gate = &gb, .ndone = &ndone, .want_done = 2};
    jobs_submit("unit", &ka, rec_run, rec_done, &a);
    jobs_submit("unit", &kb, rec_run, rec_done, &b);
    gate_await_arrivals(&ga, 1);
    gate_await_arrivals(&gb, 1); /* both inside run at the same time */
    gate_open(&ga);
    gate_open(&gb);
    event_loop_run(loop);
    CHECK_INT(ndone, 2);
    CHECK(a.ran && b.ran);
}

/* A full pool: every thread busy with a held job; many more jobs queue
 * and all complete once the held ones finish. */
static void test_full_pool_queues(void)
{
    enum { HELD = 4, MORE = 100 };
    struct rec *r = xcalloc(HELD + MORE, sizeof(*r));
    struct gate g = GATE_INIT;
    int ndone = 0;
    static int keys[HELD];
    for (int i = 0; i < HELD + MORE; i++) {
        r[i].id = i;
        r[i].ndone = &ndone;
        r[i].want_done = HELD + MORE;
        if (i < HELD)
            r[i].gate = &g;
        jobs_submit("unit", i < HELD ? (const void *)&keys[i] : NULL, rec_run, rec_done, &r[i]);
    }
    gate_await_arrivals(&g, HELD);
    CHECK_INT(jobs_pending(), HELD + MORE);
    gate_open(&g);
    event_loop_run(loop);
    CHECK_INT(ndone, HELD + MORE);
    CHECK_INT(jobs_pending(), 0);
    free(r);
}

/* A job whose work fails: done still comes, once, with the failure. */
static void fail_run(struct job *job, void *arg)
{
    (void)job;
    struct rec *r = arg;
    r->failed = true;
}

static void test_failing_job(void)
{
    int ndone = 0;
    struct rec r = {.id = 1, .ndone = &ndone, .want_done = 1};
    jobs_submit("unit", NULL, fail_run, rec_done, &r);
    event_loop_run(loop);
    CHECK_INT(ndone, 1);
    CHECK(r.failed);
    CHECK(r.done_on_loop);
}

/* Group commit: the first job of a key takes the jobs queued behind it
 * with the same run function (not others), and their done callbacks
 * follow its own, in submission order. */
static struct gate batch_gate = GATE_INIT;
static void batch_run(struct job *job, void *arg)
{
    struct rec *r = arg;
    if (r->gate)
        gate_wait(r->gate);
    void *args[16];
    r->batched = jobs_batch_take(job, args, 16);
    for (size_t i = 0; i < r->batched; i++)
        ((struct rec *)args[i])->ran = true;
    r->ran = true;
}

static void test_batch_take(void)
{
    static int key;
    enum { N = 8 };
    struct rec r[N + 1];
    memset(r, 0, sizeof(r));
    int ndone = 0, order[N + 1];
    for (int i = 0; i <= N; i++) {
        r[i].id = i;
        r[i].ndone = &ndone;
        r[i].want_done = N + 1;
        r[i].done_order = order;
    }
    r[0].gate = &batch_gate;
    jobs_submit("unit", &key, batch_run, rec_done, &r[0]);
    gate_await_arrivals(&batch_gate, 1);
    for (int i = 1; i < N; i++)
        jobs_submit("unit", &key, batch_run, rec_done, &r[i]);
    /* a different kind of work on the same key ends the batch */
    jobs_submit("unit", &key, rec_run, rec_done, &r[N]);
    gate_open(&batch_gate);
    event_loop_run(loop);
    CHECK_INT(ndone, N + 1);
    CHECK_INT(r[0].batched, N - 1);
    int bad = 0;
    for (int i = 0; i <= N; i++)
        if (!r[i].ran || order[i] != i)
            bad++;
    CHECK_INT(bad, 0);
}

/* Shutdown with jobs in flight: drain waits for them and runs their done
 * callbacks; then the pool is stopped and jobs run inline. */
static void *open_later(void *arg)
{
    struct gate *g = arg;
    gate_await_arrivals(g, 2);
    gate_open(g);
    return NULL;
}

static void test_drain_waits(void)
{
    static int k1, k2;
    struct gate g = GATE_INIT;
    int ndone = 0;
    struct rec a = {.id = 1, .gate = &g, .ndone = &ndone, .want_done = 100};
    struct rec b = {.id = 2, .gate = &g, .ndone = &ndone, .want_done = 100};
    jobs_submit("unit", &k1, rec_run, rec_done, &a);
    jobs_submit("unit", &k2, rec_run, rec_done, &b);
    pthread_t t;
    pthread_create(&t, NULL, open_later, &g);
    CHECK_INT(jobs_drain(30000), 0);
    pthread_join(t, NULL);
    CHECK_INT(ndone, 2);
    CHECK(a.ran && b.ran && a.done_on_loop && b.done_on_loop);
    CHECK(!jobs_running());
    /* without a pool: inline, run then done */
    struct rec c = {.id = 3, .ndone = &ndone, .want_done = 100};
    jobs_submit("unit", NULL, rec_run, rec_done, &c);
    CHECK(c.ran);
    CHECK_INT(ndone, 3);
}

/* A job that never finishes: drain gives up at its deadline and says so. */
static void test_drain_deadline(void)
{
    CHECK(jobs_init(loop, 2));
    static struct gate g = GATE_INIT;
    static int ndone;
    static struct rec a;
    a = (struct rec){.id = 1, .gate = &g, .ndone = &ndone, .want_done = 100};
    jobs_submit("unit", NULL, rec_run, rec_done, &a);
    gate_await_arrivals(&g, 1);
    CHECK_INT(jobs_drain(50), 1);
    CHECK_INT(ndone, 0);
    gate_open(&g); /* the job ends now; a second drain collects it */
    CHECK_INT(jobs_drain(30000), 0);
    CHECK_INT(ndone, 1);
}

int main(void)
{
    unit_deadline(120);
    loop_thread = pthread_self();
    loop = event_loop_new();
    CHECK(jobs_init(loop, 4));
    RUN(test_runs_and_completes_on_loop);
    RUN(test_same_key_serial_in_order);
    RUN(test_other_keys_in_parallel);
    RUN(test_full_pool_queues);
    RUN(test_failing_job);
    RUN(test_batch_take);
    RUN(test_drain_waits);
    RUN(test_drain_deadline);
    return unit_done();
}
