/* imap-harness.h - drive the real IMAP front-end in-process over a
 * socketpair, through the real event loop and conn layer.
 *
 *   #include "unit.h"
 *   #include "imap-harness.h"
 *   ...
 *   imap_harness_config(datadir);   (log, config, limits; datadir may be NULL)
 *   ... storage_init / userdb_open when the test logs in ...
 *   imap_harness_start();           (event loop + imap_init)
 *   RUN(...);                       (start_session(); SEND(...); end_session();)
 *   imap_harness_stop();
 *
 * `got` collects everything the server sent; exchange() runs the loop
 * until a given substring shows up in it (or EOF). A guard timer of
 * IMAP_HARNESS_WAIT_MS only catches hangs; it is not a synchronisation
 * point. Define IMAP_HARNESS_WAIT_MS before the include to change it.
 *
 * Everything is static inline so that a test using only part of it
 * still builds with -Werror (no -Wunused-function). */
#ifndef DARIUS_IMAP_HARNESS_H
#define DARIUS_IMAP_HARNESS_H

#include "imap.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef IMAP_HARNESS_WAIT_MS
#define IMAP_HARNESS_WAIT_MS 20000
#endif

static struct event_loop *loop;
static int cfd = -1;             /* client end */
static struct buf got;           /* everything the server sent */
static const char *want;         /* stop when this substring appears */
static bool eof;

static inline void on_client(struct event_loop *l, int fd, int events, void *arg)
{
    (void)events; (void)arg;
    char tmp[65536];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            buf_append(&got, tmp, (size_t)n);
            continue;
        }
        if (n == 0) {
            eof = true;
            ev_fd_del(l, fd);
            event_loop_stop(l);
        }
        break;
    }
    /* only the tail can hold a new tagged line (a big FETCH makes the
     * whole buffer too long to search on every read) */
    if (want) {
        size_t wl = strlen(want), from = got.len > wl + 65536 + 64 ? got.len - wl - 65536 - 64 : 0;
        if (memmem(got.data + from, got.len - from, want, wl))
            event_loop_stop(l);
    }
}

static inline void guard(struct event_loop *l, void *arg)
{
    *(bool *)arg = true;
    event_loop_stop(l);
}

static inline bool contains(const char *s)
{
    return got.len && memmem(got.data, got.len, s, strlen(s)) != NULL;
}

/* contains(), and with TEST_VERBOSE set, show what was missing */
static inline bool has(const char *s)
{
    bool ok = contains(s);
    if (!ok && getenv("TEST_VERBOSE"))
        fprintf(stderr, "--- not found: %s\n--- in: %.*s\n", s, (int)MIN(got.len, 2000), buf_cstr(&got));
    return ok;
}

/* Send data (may be NULL), run until `until` appears in the output. */
static inline bool exchange(const char *data, size_t len, const char *until)
{
    size_t off = 0;
    while (data && off < len) {
        ssize_t w = write(cfd, data + off, len - off);
        if (w < 0 && errno == EAGAIN) {
            /* let the server drain */
            bool fired = false;
            uint64_t t = ev_timer_add(loop, 1, guard, &fired);
            event_loop_run(loop);
            ev_timer_cancel(loop, t);
            continue;
        }
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    want = until;
    bool timed_out = false;
    if (!contains(until) && !eof) {
        uint64_t t = ev_timer_add(loop, IMAP_HARNESS_WAIT_MS, guard, &timed_out);
        event_loop_run(loop);
        ev_timer_cancel(loop, t);
    }
    want = NULL;
    return contains(until);
}
#define SEND(s, until) exchange((s), strlen(s), (until))

/* A new session; the greeting is left in `got`. */
static inline void connect_session(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    cfd = sv[1];
    eof = false;
    buf_reset(&got);
    ev_fd_add(loop, cfd, EV_READ, on_client, NULL);
    struct sockaddr_un peer = {.sun_family = AF_UNIX};
    imap_accept(sv[0], (struct sockaddr *)&peer, sizeof(peer), false);
}

/* A new session past its greeting, with `got` empty. */
static inline void start_session(void)
{
    connect_session();
    exchange(NULL, 0, "\r\n");
    buf_reset(&got);
}

static inline void end_session(void)
{
    if (!eof)
        ev_fd_del(loop, cfd);
    close(cfd);
    cfd = -1;
    /* let the server notice the EOF and free the session */
    bool fired = false;
    for (int i = 0; i < 50 && imap_session_count() > 0; i++) {
        uint64_t t = ev_timer_add(loop, 2, guard, &fired);
        event_loop_run(loop);
        ev_timer_cancel(loop, t);
    }
}

/* Logging, a config with allowplaintext (and datadir unless NULL), and
 * the connection limits. */
static inline void imap_harness_config(const char *datadir)
{
    log_init("test", false, false, NULL);
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    config_set(c, "allowplaintext", "yes", err, sizeof(err));
    if (datadir)
        config_set(c, "datadir", datadir, err, sizeof(err));
    config_install(c);
    limits_init();
}

static inline void imap_harness_start(void)
{
    loop = event_loop_new();
    imap_init(loop);
}

static inline void imap_harness_stop(void)
{
    buf_free(&got);
    event_loop_free(loop);
}

#endif
