/* event.h - the per-process event loop (epoll) with timers.
 *
 * One loop per worker process serves thousands of connections. Callbacks
 * run to completion; nothing in them may block for long (disk I/O on the
 * local store is the accepted exception). Timers live in a binary heap.
 */
#ifndef DARIUS_EVENT_H
#define DARIUS_EVENT_H

#include "common.h"

struct event_loop;

/* EV_ERROR is reported (never requested) on EPOLLERR/EPOLLHUP, together
 * with the requested directions, so the callback's read/write sees it. */
enum { EV_READ = 1, EV_WRITE = 2, EV_ERROR = 4 };

typedef void (*ev_fd_cb)(struct event_loop *loop, int fd, int events, void *arg);
typedef void (*ev_timer_cb)(struct event_loop *loop, void *arg);

struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop *loop);
/* In a child after fork(): release the parent's loop (closes its epoll
 * and signal fds) without touching the signal mask, so signals stay
 * blocked until the child's own loop takes them over. */
void event_loop_free_after_fork(struct event_loop *loop);
/* Run until event_loop_stop(). Returns 0. */
int event_loop_run(struct event_loop *loop);
void event_loop_stop(struct event_loop *loop);
/* Monotonic milliseconds, cached per loop iteration. */
uint64_t event_loop_now(struct event_loop *loop);

/* Watch fd for events (EV_READ|EV_WRITE). One watcher per fd. */
int ev_fd_add(struct event_loop *loop, int fd, int events, ev_fd_cb cb, void *arg);
int ev_fd_modify(struct event_loop *loop, int fd, int events);
void ev_fd_del(struct event_loop *loop, int fd);
/* Like ev_fd_add(fd, EV_READ) but with EPOLLEXCLUSIVE: when several
 * processes share a listening socket only one of them is woken per
 * connection (no thundering herd). Cannot be modified, only deleted. */
int ev_fd_add_exclusive(struct event_loop *loop, int fd, ev_fd_cb cb, void *arg);

/* One-shot timer after ms milliseconds. Returns an id > 0. Cancelling an
 * id that already fired is harmless. */
uint64_t ev_timer_add(struct event_loop *loop, uint64_t ms, ev_timer_cb cb, void *arg);
void ev_timer_cancel(struct event_loop *loop, uint64_t id);

/* Deferred call at the end of the current loop iteration (used to resume
 * work without recursion). */
void ev_defer(struct event_loop *loop, ev_timer_cb cb, void *arg);

/* Signals delivered through signalfd so handlers run in loop context. */
int ev_signal_add(struct event_loop *loop, int signo, ev_timer_cb cb, void *arg);

/* Number of fd watchers / pending timers (tests, debugging). */
size_t event_loop_timer_count(const struct event_loop *loop);

#endif
