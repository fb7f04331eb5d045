/* jobs.h - the per-worker thread pool: work that may block or burn CPU
 * runs here, never on the event loop.
 *
 * Why: a worker's event loop serves thousands of connections; one
 * password hash (tens of milliseconds), one fsync or one scan over a big
 * mailbox run inline would make every other connection of the worker wait
 * behind it. So a front-end parks the session (no more input, no timers
 * of its own), hands the slow step to the pool as a job, and finishes the
 * command in the job's done callback, which always runs on the loop thread.
 *
 * Contract:
 * - run(job, arg) executes on a pool thread. It must not touch the
 *   session, its connection, the event loop or anything else owned by the
 *   loop thread; it works on what the submitter copied into arg.
 * - done(arg) is called exactly once per submitted job, on the loop
 *   thread, after run has returned (also when the client went away
 *   meanwhile: done decides what to write and frees arg). Done callbacks
 *   run in completion order.
 * - Jobs with the same non-NULL key never run at the same time and start
 *   in submission order (the key is usually a store handle: one store's
 *   write transactions are serial anyway, and queueing them here keeps
 *   pool threads free for other users' work instead of blocking on a
 *   lock). Jobs with different keys run in parallel.
 * - A running job may take the jobs queued behind it on its key that have
 *   the same run function (jobs_batch_take) and do their work together
 *   with its own: group commit of concurrent appends into one store. The
 *   taken jobs' done callbacks follow the taker's.
 * - jobs_drain() (worker exit) waits for queued and running jobs up to a
 *   deadline, then stops the threads.
 *
 * Test hook: with DARIUS_TEST_HOLD_DIR set, a job of kind K waits before
 * running while the file $DARIUS_TEST_HOLD_DIR/K exists (and one that
 * appears while it waits, $DARIUS_TEST_HOLD_DIR/K.started, is created when
 * it starts to wait), so system tests can hold one session's job and prove
 * that other sessions are served meanwhile, by behaviour, not by timing.
 */
#ifndef DARIUS_JOBS_H
#define DARIUS_JOBS_H

#include "common.h"
#include "event.h"

struct job;
typedef void (*job_run_fn)(struct job *job, void *arg);
typedef void (*job_done_fn)(void *arg);

#define JOBS_DEFAULT_THREADS 4
#define JOBS_MAX_THREADS 64

/* Start the pool for this process: nthreads threads (clamped to
 * 1..JOBS_MAX_THREADS) and an eventfd watched by loop for completions.
 * Returns false (logged) when threads or the eventfd cannot be created. */
bool jobs_init(struct event_loop *loop, unsigned nthreads);
bool jobs_running(void);

/* Queue a job. kind is a static string naming the work ("auth",
 * "search", "append", ...; logs and the test hook). key may be NULL. Never
 * fails: without a pool (jobs_init not called, e.g. the CLI or a unit
 * test), run and then done are called right here, in order. */
void jobs_submit(const char *kind, const void *key, job_run_fn run, job_done_fn done, void *arg);

/* From inside run(): take up to max jobs queued on self's key with the
 * same run function, in submission order; their args are stored in
 * args[]. The caller does their work as part of its own; their done
 * callbacks are called after self's, in order. Returns how many. */
size_t jobs_batch_take(struct job *self, void **args, size_t max);
const char *jobs_kind(const struct job *job);

/* Group commit across front-ends: a job whose whole work is "do this batch
 * of items together" (an append into a store, whether it comes from IMAP
 * APPEND or an LMTP delivery). fn(items, n) runs on a pool thread with
 * item first, followed by the items of the jobs queued behind it on key
 * that were submitted with the same fn (up to JOBS_BATCH_MAX in all, in
 * submission order; jobs_batch_take does the taking). Each job still has
 * its own done(arg), called on the loop after fn returned, in order; item
 * and arg are separate so a front-end can wrap arg (its session) around a
 * lower layer's item (storage's struct append_req). Without a pool, fn
 * runs with n = 1 and then done, right here. */
#define JOBS_BATCH_MAX 64
typedef void (*job_batch_fn)(void **items, size_t n);
void jobs_submit_batch(const char *kind, const void *key, job_batch_fn fn, void *item, job_done_fn done,
                       void *arg);

/* Jobs queued or running (tests, shutdown, stats). */
size_t jobs_pending(void);
/* Wait up to timeout_ms for every job to finish (their done callbacks are
 * run from here, on the calling loop thread), then stop and join the
 * threads. Returns the number of jobs still running at the deadline (the
 * process is about to exit; their work is never acknowledged). */
size_t jobs_drain(uint64_t timeout_ms);

#endif
