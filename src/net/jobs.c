/* jobs.c - the per-worker thread pool (see jobs.h for the contract).
 *
 * One mutex guards everything: the ready queue, the per-key wait lists,
 * the completed list and the counters. Critical sections are a few
 * pointer moves, so contention is not an issue at the rates a worker
 * sees (thousands of jobs per second at most).
 *
 * Keys: a key is "busy" from the moment a job with it enters the ready
 * queue until that job has run; further jobs with the key wait on the
 * key's own list (struct keyq), not in the ready queue, so a pool thread
 * never picks a job only to find it cannot run it. When the running job
 * ends, the next waiting job of its key moves to the ready queue's tail,
 * behind whatever other users queued meanwhile (fairness across keys).
 *
 * Completion: a finished job goes on the completed list and the loop is
 * woken through an eventfd; the loop runs the done callbacks in order.
 */
#include "jobs.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct job {
    struct job *next;
    const char *kind;
    const void *key;
    job_run_fn run;
    job_done_fn done;
    void *arg;
    struct job *batch, *batch_tail;     /* taken by jobs_batch_take */
    job_batch_fn bfn;                   /* jobs_submit_batch: the batch work */
    void *bitem;                        /* ... and this job's item of it */
};

struct keyq {
    struct keyq *next;
    const void *key;
    struct job *head, *tail;            /* waiting behind the busy key */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work;                /* ready queue non-empty, or stop */
    pthread_cond_t finished;            /* a job completed (jobs_drain) */
    struct job *rhead, *rtail;          /* ready to run */
    struct job *dhead, *dtail;          /* run, done not yet called */
    struct keyq *keys;                  /* busy keys */
    size_t pending;                     /* submitted, done not yet called */
    size_t running;
    bool stop;
    bool started;
    pthread_t th[JOBS_MAX_THREADS];
    unsigned nth;
    int efd;
    struct event_loop *loop;
    char *hold_dir;                     /* DARIUS_TEST_HOLD_DIR */
} P = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .finished = PTHREAD_COND_INITIALIZER,
    .efd = -1,
};

static void q_push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static struct keyq *key_find(const void *key)
{
    for (struct keyq *k = P.keys; k; k = k->next)
        if (k->key == key)
            return k;
    return NULL;
}

/* The job that held key has run: hand the key to its next waiter, or
 * free it. Called with P.mu held. */
static void key_release(const void *key)
{
    struct keyq **pp = &P.keys;
    while (*pp && (*pp)->key != key)
        pp = &(*pp)->next;
    struct keyq *k = *pp;
    if (!k)
        return;
    if (k->head) {
        struct job *j = k->head;
        k->head = j->next;
        if (!k->head)
            k->tail = NULL;
        q_push(&P.rhead, &P.rtail, j);
        pthread_cond_signal(&P.work);
        return;
    }
    *pp = k->next;
    free(k);
}

/* Test hook: wait while DARIUS_TEST_HOLD_DIR/<kind> exists. Polling is
 * fine here: it runs on a pool thread, only in tests. */
static void test_hold(const char *kind)
{
    if (!P.hold_dir)
        return;
    char path[4096], started[4200];
    snprintf(path, sizeof(path), "%s/%s", P.hold_dir, kind);
    if (access(path, F_OK) != 0)
        return;
    snprintf(started, sizeof(started), "%s.started", path);
    int fd = open(started, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    struct timespec ts = {0, 2 * 1000 * 1000};
    for (int i = 0; i < 60 * 500 && access(path, F_OK) == 0; i++)
        nanosleep(&ts, NULL);
}

static void *thread_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.rhead && !P.stop)
            pthread_cond_wait(&P.work, &P.mu);
        if (!P.rhead)
            break; /* stop, and nothing left to run */
        struct job *j = P.rhead;
        P.rhead = j->next;
        if (!P.rhead)
            P.rtail = NULL;
        P.running++;
        pthread_mutex_unlock(&P.mu);

        test_hold(j->kind);
        j->run(j, j->arg);

        pthread_mutex_lock(&P.mu);
        P.running--;
        struct job *batch = j->batch;
        q_push(&P.dhead, &P.dtail, j);
        while (batch) {
            struct job *n = batch->next;
            q_push(&P.dhead, &P.dtail, batch);
            batch = n;
        }
        if (j->key)
            key_release(j->key);
        pthread_cond_broadcast(&P.finished);
        if (P.efd >= 0) {
            uint64_t one = 1;
            ssize_t w = write(P.efd, &one, sizeof(one));
            (void)w; /* EAGAIN: the counter is already non-zero, the loop will look */
        }
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

/* Run the done callbacks of completed jobs (loop thread). */
static void run_completions(void)
{
    pthread_mutex_lock(&P.mu);
    struct job *list = P.dhead;
    P.dhead = P.dtail = NULL;
    pthread_mutex_unlock(&P.mu);
    while (list) {
        struct job *n = list->next;
        list->done(list->arg);
        free(list);
        pthread_mutex_lock(&P.mu);
        P.pending--;
        pthread_mutex_unlock(&P.mu);
        list = n;
    }
}

static void efd_cb(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    (void)arg;
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
    run_completions();
}

bool jobs_init(struct event_loop *loop, unsigned nthreads)
{
    if (P.started)
        return true;
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > JOBS_MAX_THREADS)
        nthreads = JOBS_MAX_THREADS;
    P.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (P.efd < 0) {
        log_err("jobs: eventfd: %s", strerror(errno));
        return false;
    }
    if (ev_fd_add(loop, P.efd, EV_READ, efd_cb, NULL) < 0) {
        log_err("jobs: cannot watch the completion eventfd");
        close(P.efd);
        P.efd = -1;
        return false;
    }
    P.loop = loop;
    const char *hold = getenv("DARIUS_TEST_HOLD_DIR");
    if (hold && *hold)
        P.hold_dir = xstrdup(hold);
    P.stop = false;
    /* Pool threads take no signals: the loop receives them through its
     * signalfd, which needs them blocked in every thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < nthreads; i++) {
        int rc = pthread_create(&P.th[P.nth], NULL, thread_main, NULL);
        if (rc != 0) {
            log_err("jobs: pthread_create: %s", strerror(rc));
            break;
        }
        P.nth++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (P.nth == 0) {
        ev_fd_del(loop, P.efd);
        close(P.efd);
        P.efd = -1;
        return false;
    }
    P.started = true;
    return true;
}

bool jobs_running(void)
{
    return P.started;
}

static void submit(struct job *j)
{
    const void *key = j->key;
    job_run_fn run = j->run;
    job_done_fn done = j->done;
    void *arg = j->arg;
    if (!P.started) {
        /* No pool (CLI, unit tests of the callers): same order, inline. */
        run(j, arg);
        done(arg);
        for (struct job *b = j->batch; b;) {
            struct job *n = b->next;
            b->done(b->arg);
            free(b);
            b = n;
        }
        free(j);
        return;
    }
    const char *kind = j->kind;
    pthread_mutex_lock(&P.mu);
    P.pending++;
    struct keyq *k = key ? key_find(key) : NULL;
    bool waits = k != NULL;
    if (k) {
        q_push(&k->head, &k->tail, j);
    } else {
        if (key) {
            k = xcalloc(1, sizeof(*k));
            k->key = key;
            k->next = P.keys;
            P.keys = k;
        }
        q_push(&P.rhead, &P.rtail, j);
        pthread_cond_signal(&P.work);
    }
    pthread_mutex_unlock(&P.mu);
    /* Tests (DARIUS_TEST_HOLD_DIR): say when a job queues behind another
     * of its key, so a test can tell, by reading the log, that jobs
     * waited behind a held one (group commit). j may be done by now. */
    if (waits && P.hold_dir)
        log_debug("jobs: %s job waits for its key", kind);
}

void jobs_submit(const char *kind, const void *key, job_run_fn run, job_done_fn done, void *arg)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    j->key = key;
    j->run = run;
    j->done = done;
    j->arg = arg;
    submit(j);
}

/* The run function of every jobs_submit_batch job: take the jobs queued
 * behind self on its key that do the same batch work, then do it for all
 * of them at once. */
static void batch_run(struct job *self, void *arg)
{
    (void)arg;
    void *items[JOBS_BATCH_MAX];
    items[0] = self->bitem;
    size_t n = 1;
    if (self->key && P.started) {
        pthread_mutex_lock(&P.mu);
        struct keyq *k = key_find(self->key);
        while (k && k->head && n < JOBS_BATCH_MAX && k->head->run == batch_run && k->head->bfn == self->bfn) {
            struct job *j = k->head;
            k->head = j->next;
            if (!k->head)
                k->tail = NULL;
            items[n++] = j->bitem;
            q_push(&self->batch, &self->batch_tail, j);
        }
        pthread_mutex_unlock(&P.mu);
    }
    self->bfn(items, n);
}

void jobs_submit_batch(const char *kind, const void *key, job_batch_fn fn, void *item, job_done_fn done,
                       void *arg)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    j->key = key;
    j->run = batch_run;
    j->done = done;
    j->arg = arg;
    j->bfn = fn;
    j->bitem = item;
    submit(j);
}

size_t jobs_batch_take(struct job *self, void **args, size_t max)
{
    if (!self->key || max == 0 || !P.started)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&P.mu);
    struct keyq *k = key_find(self->key);
    while (k && k->head && n < max && k->head->run == self->run) {
        struct job *j = k->head;
        k->head = j->next;
        if (!k->head)
            k->tail = NULL;
        args[n++] = j->arg;
        q_push(&self->batch, &self->batch_tail, j);
    }
    pthread_mutex_unlock(&P.mu);
    return n;
}

const char *jobs_kind(const struct job *job)
{
    return job->kind;
}

size_t jobs_pending(void)
{
    pthread_mutex_lock(&P.mu);
    size_t n = P.pending;
    pthread_mutex_unlock(&P.mu);
    return n;
}

size_t jobs_drain(uint64_t timeout_ms)
{
    if (!P.started)
        return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000);
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    size_t left;
    for (;;) {
        run_completions();
        pthread_mutex_lock(&P.mu);
        left = P.pending;
        if (left == 0 || P.dhead) {
            pthread_mutex_unlock(&P.mu);
            if (left == 0)
                break;
            continue;
        }
        int rc = pthread_cond_timedwait(&P.finished, &P.mu, &deadline);
        bool more = P.dhead != NULL;
        left = P.pending;
        pthread_mutex_unlock(&P.mu);
        if (rc == ETIMEDOUT && !more)
            break;
    }
    if (left) {
        /* Something is stuck (an fsync on a dead disk): leave the threads
         * to die with the process rather than hang the shutdown. */
        log_warn("jobs: %zu job(s) still running at shutdown", left);
        return left;
    }
    pthread_mutex_lock(&P.mu);
    P.stop = true;
    pthread_cond_broadcast(&P.work);
    pthread_mutex_unlock(&P.mu);
    for (unsigned i = 0; i < P.nth; i++)
        pthread_join(P.th[i], NULL);
    P.nth = 0;
    if (P.loop && P.efd >= 0)
        ev_fd_del(P.loop, P.efd);
    if (P.efd >= 0)
        close(P.efd);
    P.efd = -1;
    free(P.hold_dir);
    P.hold_dir = NULL;
    P.started = false;
    P.stop = false;
    return 0;
}
