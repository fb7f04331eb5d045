/* event.c - the per-process event loop (see event.h).
 *
 * epoll (level-triggered) for fds, a binary min-heap for timers, a deferred
 * call queue and signalfd for signals.
 *
 * Timers are cancelled lazily: a timer id encodes a slot index and the
 * slot's generation; cancelling bumps the generation, and a heap entry
 * whose generation no longer matches is discarded when it reaches the top.
 * When cancelled entries outnumber live ones the heap is compacted, so a
 * protocol that re-arms an idle timer on every command cannot grow it
 * without bound.
 *
 * Fd watchers live in an array indexed by fd. Each epoll registration
 * carries (fd, generation) so an event reported for an fd that was closed
 * and reused by a callback earlier in the same batch is recognised as
 * stale and dropped.
 */
#include "event.h"
#include "log.h"
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

struct watcher {
    ev_fd_cb cb;
    void *arg;
    uint32_t gen;
    int events;
    bool active;
};

struct heap_ent {
    uint64_t when;
    uint64_t seq;   /* FIFO order among equal deadlines */
    uint64_t id;
    ev_timer_cb cb;
    void *arg;
};

struct timer_slot {
    uint32_t gen;
    bool live;
};

struct deferred {
    ev_timer_cb cb;
    void *arg;
};

struct sig_handler {
    int signo;
    ev_timer_cb cb;
    void *arg;
};

struct event_loop {
    int epfd;
    bool stop;
    uint64_t now;

    struct watcher *w;
    size_t nw;

    struct heap_ent *heap;
    size_t nheap, capheap;
    size_t ndead;           /* cancelled entries still in the heap */
    struct timer_slot *slots;
    size_t nslots, capslots;
    uint32_t *freeslots;
    size_t nfree, capfree;
    uint64_t seq;

    struct deferred *defq;
    size_t ndef, capdef;
    struct deferred *defrun;    /* the batch being run (swapped with defq) */
    size_t caprun;

    int sigfd;
    sigset_t sigmask;
    struct sig_handler *sigs;
    size_t nsigs, capsigs;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct event_loop *event_loop_new(void)
{
    struct event_loop *l = xcalloc(1, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        log_err("epoll_create1: %s", strerror(errno));
        free(l);
        return NULL;
    }
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    l->now = mono_ms();
    return l;
}

void event_loop_free(struct event_loop *l)
{
    if (!l)
        return;
    if (l->sigfd >= 0) {
        close(l->sigfd);
        sigprocmask(SIG_UNBLOCK, &l->sigmask, NULL);
    }
    close(l->epfd);
    free(l->w);
    free(l->heap);
    free(l->slots);
    free(l->freeslots);
    free(l->defq);
    free(l->defrun);
    free(l->sigs);
    free(l);
}

void event_loop_free_after_fork(struct event_loop *l)
{
    if (!l)
        return;
    if (l->sigfd >= 0)
        close(l->sigfd);
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    event_loop_free(l);
}

void event_loop_stop(struct event_loop *l)
{
    l->stop = true;
}

uint64_t event_loop_now(struct event_loop *l)
{
    return l->now;
}

size_t event_loop_timer_count(const struct event_loop *l)
{
    return l->nheap - l->ndead;
}

/* ---- fd watchers ------------------------------------------------------ */

static uint32_t to_epoll(int events)
{
    uint32_t e = 0;
    if (events & EV_READ)
        e |= EPOLLIN;
    if (events & EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

static uint64_t pack(int fd, uint32_t gen)
{
    return ((uint64_t)gen << 32) | (uint32_t)fd;
}

static int fd_add(struct event_loop *l, int fd, int events, ev_fd_cb cb, void *arg, bool exclusive)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if ((size_t)fd >= l->nw) {
        size_t n = l->nw ? l->nw : 64;
        while (n <= (size_t)fd)
            n *= 2;
        l->w = xrealloc(l->w, n * sizeof(*l->w));
        memset(l->w + l->nw, 0, (n - l->nw) * sizeof(*l->w));
        l->nw = n;
    }
    struct watcher *w = &l->w[fd];
    if (w->active) {
        errno = EEXIST;
        return -1;
    }
    w->gen++;
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = pack(fd, w->gen)};
    if (exclusive)
        ev.events |= EPOLLEXCLUSIVE;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    w->cb = cb;
    w->arg = arg;
    w->events = events;
    w->active = true;
    return 0;
}

int ev_fd_add(struct event_loop *l, int fd, int events, ev_fd_cb cb, void *arg)
{
    return fd_add(l, fd, events, cb, arg, false);
}

int ev_fd_add_exclusive(struct event_loop *l, int fd, ev_fd_cb cb, void *arg)
{
    return fd_add(l, fd, EV_READ, cb, arg, true);
}

int ev_fd_modify(struct event_loop *l, int fd, int events)
{
    if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].active) {
        errno = ENOENT;
        return -1;
    }
    struct watcher *w = &l->w[fd];
    if (w->events == events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = pack(fd, w->gen)};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -1;
    w->events = events;
    return 0;
}

void ev_fd_del(struct event_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].active)
        return;
    struct watcher *w = &l->w[fd];
    /* May fail with EBADF when the caller already closed the fd; the
     * kernel then dropped the registration itself. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->active = false;
    w->gen++; /* invalidates events already fetched for this fd */
    w->cb = NULL;
    w->arg = NULL;
}

/* ---- timers ----------------------------------------------------------- */

static bool ent_before(const struct heap_ent *a, const struct heap_ent *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_up(struct heap_ent *h, size_t i)
{
    struct heap_ent e = h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_before(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static void heap_down(struct heap_ent *h, size_t n, size_t i)
{
    struct heap_ent e = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ent_before(&h[c + 1], &h[c]))
            c++;
        if (!ent_before(&h[c], &e))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = e;
}

static bool timer_live(const struct event_loop *l, uint64_t id)
{
    uint32_t slot = (uint32_t)(id & 0xffffffffu);
    uint32_t gen = (uint32_t)(id >> 32);
    return slot < l->nslots && l->slots[slot].live && l->slots[slot].gen == gen;
}

static void slot_release(struct event_loop *l, uint32_t slot)
{
    l->slots[slot].live = false;
    l->slots[slot].gen++;
    if (l->slots[slot].gen == 0)
        l->slots[slot].gen = 1; /* ids are never 0 */
    ARRAY_GROW(l->freeslots, l->nfree, l->capfree);
    l->freeslots[l->nfree++] = slot;
}

static void heap_compact(struct event_loop *l)
{
    size_t j = 0;
    for (size_t i = 0; i < l->nheap; i++)
        if (timer_live(l, l->heap[i].id))
            l->heap[j++] = l->heap[i];
    l->nheap = j;
    l->ndead = 0;
    for (size_t i = l->nheap / 2; i-- > 0;)
        heap_down(l->heap, l->nheap, i);
}

uint64_t ev_timer_add(struct event_loop *l, uint64_t ms, ev_timer_cb cb, void *arg)
{
    uint32_t slot;
    if (l->nfree) {
        slot = l->freeslots[--l->nfree];
    } else {
        ARRAY_GROW(l->slots, l->nslots, l->capslots);
        slot = (uint32_t)l->nslots++;
        l->slots[slot].gen = 1;
    }
    l->slots[slot].live = true;
    uint64_t id = ((uint64_t)l->slots[slot].gen << 32) | slot;

    if (ms > UINT64_MAX / 2)
        ms = UINT64_MAX / 2;
    ARRAY_GROW(l->heap, l->nheap, l->capheap);
    /* A delay counts from the clock now, not from the start of this
     * iteration: a callback that ran long (password hashing) would
     * otherwise get its timer early, by the time already spent in the
     * iteration - and delays computed against the real clock
     * (connlimits.c spaces failed logins one step apart) would come out
     * shorter than asked. ms = 0 keeps the iteration's time, so such a
     * timer set from an I/O callback still runs in this iteration. */
    uint64_t base = ms ? mono_ms() : l->now;
    l->heap[l->nheap] = (struct heap_ent){base + ms, ++l->seq, id, cb, arg};
    heap_up(l->heap, l->nheap);
    l->nheap++;
    return id;
}

void ev_timer_cancel(struct event_loop *l, uint64_t id)
{
    if (!id || !timer_live(l, id))
        return;
    slot_release(l, (uint32_t)(id & 0xffffffffu));
    l->ndead++;
    if (l->ndead > 64 && l->ndead > l->nheap / 2)
        heap_compact(l);
}

/* Pop and run every timer that is due. Timers added by callbacks with
 * ms = 0 run in the next iteration, not this one (no starvation). */
static void run_timers(struct event_loop *l)
{
    uint64_t limit = l->seq;
    while (l->nheap && !l->stop) {
        struct heap_ent top = l->heap[0];
        bool live = timer_live(l, top.id);
        if (live && (top.when > l->now || top.seq > limit))
            break;
        l->heap[0] = l->heap[--l->nheap];
        if (l->nheap)
            heap_down(l->heap, l->nheap, 0);
        if (!live) {
            if (l->ndead)
                l->ndead--;
            continue;
        }
        slot_release(l, (uint32_t)(top.id & 0xffffffffu));
        top.cb(l, top.arg);
    }
}

/* Milliseconds until the next live timer, -1 when none. */
static int next_timeout(struct event_loop *l)
{
    while (l->nheap && !timer_live(l, l->heap[0].id)) {
        l->heap[0] = l->heap[--l->nheap];
        if (l->nheap)
            heap_down(l->heap, l->nheap, 0);
        if (l->ndead)
            l->ndead--;
    }
    if (!l->nheap)
        return -1;
    uint64_t when = l->heap[0].when;
    if (when <= l->now)
        return 0;
    uint64_t d = when - l->now;
    return d > 60000 ? 60000 : (int)d;
}

/* ---- deferred calls --------------------------------------------------- */

void ev_defer(struct event_loop *l, ev_timer_cb cb, void *arg)
{
    ARRAY_GROW(l->defq, l->ndef, l->capdef);
    l->defq[l->ndef++] = (struct deferred){cb, arg};
}

/* Run the calls queued so far; calls queued while running wait for the
 * next iteration so a callback that re-defers itself cannot starve I/O. */
static void run_deferred(struct event_loop *l)
{
    size_t n = l->ndef;
    if (!n)
        return;
    /* Swap the queue with the (empty) run buffer: no copying, no
     * allocation in the steady state. */
    struct deferred *batch = l->defq;
    size_t cap = l->capdef;
    l->defq = l->defrun;
    l->capdef = l->caprun;
    l->ndef = 0;
    l->defrun = NULL;
    l->caprun = 0;
    for (size_t i = 0; i < n; i++)
        batch[i].cb(l, batch[i].arg);
    l->defrun = batch;
    l->caprun = cap;
}

/* ---- signals ---------------------------------------------------------- */

static void signal_ready(struct event_loop *l, int fd, int events, void *arg)
{
    (void)events; (void)arg;
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = read(fd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si))
            break;
        for (size_t i = 0; i < l->nsigs; i++)
            if (l->sigs[i].signo == (int)si.ssi_signo)
                l->sigs[i].cb(l, l->sigs[i].arg);
    }
}

int ev_signal_add(struct event_loop *l, int signo, ev_timer_cb cb, void *arg)
{
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
        return -1;
    sigaddset(&l->sigmask, signo);
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        if (ev_fd_add(l, fd, EV_READ, signal_ready, NULL) < 0)
            return -1;
    }
    ARRAY_GROW(l->sigs, l->nsigs, l->capsigs);
    l->sigs[l->nsigs++] = (struct sig_handler){signo, cb, arg};
    return 0;
}

/* ---- the loop --------------------------------------------------------- */

int event_loop_run(struct event_loop *l)
{
    struct epoll_event evs[256];
    l->stop = false;
    while (!l->stop) {
        l->now = mono_ms();
        int timeout = l->ndef ? 0 : next_timeout(l);
        int n = epoll_wait(l->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
        if (n < 0 && errno != EINTR) {
            log_err("epoll_wait: %s", strerror(errno));
            return -1;
        }
        l->now = mono_ms();
        for (int i = 0; i < n && !l->stop; i++) {
            int fd = (int)(uint32_t)(evs[i].data.u64 & 0xffffffffu);
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            if ((size_t)fd >= l->nw)
                continue;
            struct watcher *w = &l->w[fd];
            if (!w->active || w->gen != gen)
                continue; /* deleted (and maybe reused) during this batch */
            int got = 0;
            if (evs[i].events & EPOLLIN)
                got |= EV_READ;
            if (evs[i].events & EPOLLOUT)
                got |= EV_WRITE;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                got |= EV_ERROR | (w->events & (EV_READ | EV_WRITE));
            if (got)
                w->cb(l, fd, got, w->arg);
        }
        if (!l->stop)
            run_timers(l);
        if (!l->stop)
            run_deferred(l);
    }
    return 0;
}
