/* delivery-sendmail.c - hand a message to the local MTA's sendmail program.
 *
 * The command line is the one every sendmail-compatible MTA (Postfix,
 * Exim, sendmail, OpenSMTPD) understands and Cyrus and Pigeonhole use:
 *
 *     sendmail -i -f SENDER -- RECIPIENT...
 *
 * -i: a line with a single "." is data, not the end of the message (the
 * message comes on stdin, read to EOF). -f: the envelope sender; the null
 * reverse-path (RFC 5321 4.5.5, for vacation replies and MDNs) is written
 * "<>", which Postfix and Exim document as the null sender and sendmail
 * accepts. "--" ends the options, so a recipient starting with '-' can
 * never become one.
 *
 * This is blocking work for a job thread. It touches no global state:
 * the child is started with posix_spawn (no fork of a threaded process's
 * address space; file actions instead of code between fork and exec), its
 * descriptors are our pipe ends as 0, 1 and 2 and nothing else (every
 * other descriptor closed in the child, whatever its O_CLOEXEC state),
 * its environment is PATH only (nothing of ours leaks into the MTA), its
 * signal mask is empty and its dispositions the defaults (the worker
 * blocks signals for its signalfd and ignores SIGPIPE; both would be
 * inherited through exec; glibc's two internal real-time signals, which
 * no mask can name, stay ignored). stdin is one end of a socketpair, so our
 * writes use MSG_NOSIGNAL and a program that exits without reading gives
 * EPIPE instead of a process-wide SIGPIPE. The child is its own process
 * group, so a timeout kills a shell-script wrapper and what it started.
 * We wait for exactly our pid (pidfd when the kernel has it), never
 * waitpid(-1), so no other child of the process is reaped here.
 */
#include "delivery.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sendmail_opts_from_config(struct sendmail_opts *o)
{
    snprintf(o->program, sizeof(o->program), "%s", config_str(CFG_SENDMAIL));
    o->timeout = (unsigned)config_int(CFG_SENDMAIL_TIMEOUT);
}

/* An address we may put on a command line: not empty, bounded, no
 * control characters or spaces (an envelope address never has them
 * unquoted, and a quoted local part with one is not worth the risk). */
static bool addr_ok(const char *a, bool allow_empty)
{
    size_t n = strlen(a);
    if (n == 0)
        return allow_empty;
    if (n >= DELIVERY_MAX_ADDR)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The message as the program reads it: CRLF -> LF. Fills out (cap bytes)
 * from the head and the file; *pos counts input bytes consumed over both.
 * A CR at the end of a chunk is held back until its successor is known
 * (*held). Returns the bytes produced, 0 at the end, -1 on read error. */
struct feeder {
    const struct sendmail_msg *m;
    uint64_t pos;       /* input offset: head first, then the file */
    bool held_cr;       /* a CR waiting to see whether LF follows */
    bool eof;
};

static ssize_t feed(struct feeder *f, char *out, size_t cap)
{
    char in[8192];
    size_t inlen = 0;
    uint64_t total = f->m->head_len + (f->m->fd >= 0 ? f->m->fd_len : 0);
    if (f->pos < total) {
        if (f->pos < f->m->head_len) {
            inlen = MIN(sizeof(in), (size_t)(f->m->head_len - f->pos));
            memcpy(in, f->m->head + f->pos, inlen);
        } else {
            uint64_t off = f->pos - f->m->head_len;
            size_t want = (size_t)MIN((uint64_t)sizeof(in), f->m->fd_len - off);
            ssize_t r;
            do
                r = pread(f->m->fd, in, want, (off_t)(f->m->fd_off + off));
            while (r < 0 && errno == EINTR);
            if (r < 0)
                return -1;
            if (r == 0) {
                errno = EIO; /* the file is shorter than it should be */
                return -1;
            }
            inlen = (size_t)r;
        }
        f->pos += inlen;
    }
    size_t o = 0;
    (void)cap; /* cap >= sizeof(in) + 1 */
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (f->held_cr) {
            f->held_cr = false;
            if (c != '\n')
                out[o++] = '\r';
        }
        if (c == '\r')
            f->held_cr = true;
        else
            out[o++] = c;
    }
    if (f->pos >= total && inlen == 0) {
        if (f->held_cr) {
            f->held_cr = false;
            out[o++] = '\r';
        }
        f->eof = o == 0;
    }
    return (ssize_t)o;
}

static void output_add(struct sendmail_result *r, const char *p, size_t n)
{
    size_t room = SENDMAIL_MAX_OUTPUT - r->output_len;
    if (n > room)
        n = room;
    memcpy(r->output + r->output_len, p, n);
    r->output_len += n;
    r->output[r->output_len] = '\0';
}

/* The output for a log line: control characters (line ends) shown as
 * spaces, so one log line stays one line. */
static void output_for_log(const struct sendmail_result *r, char *out, size_t outlen)
{
    size_t n = MIN(r->output_len, outlen - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)r->output[i];
        out[i] = c < ' ' || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = '\0';
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static enum sendmail_status run(const struct sendmail_opts *opts, const char *sender, const char *const *rcpts,
                                size_t nrcpts, const struct sendmail_msg *msg, struct sendmail_result *r)
{
    /* argv: program -i -f sender -- rcpt... NULL */
    const char **argv = xcalloc(nrcpts + 7, sizeof(*argv));
    size_t ac = 0;
    argv[ac++] = opts->program;
    argv[ac++] = "-i";
    argv[ac++] = "-f";
    argv[ac++] = *sender ? sender : "<>";
    argv[ac++] = "--";
    for (size_t i = 0; i < nrcpts; i++)
        argv[ac++] = rcpts[i];
    argv[ac] = NULL;
    static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

    int in[2] = {-1, -1}, out[2] = {-1, -1};
    enum sendmail_status st = SENDMAIL_IO;
    pid_t pid = -1;
    int pidfd = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    bool fa_ok = false, at_ok = false;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        r->detail = errno;
        goto done;
    }
    if (posix_spawn_file_actions_init(&fa) != 0 || posix_spawnattr_init(&at) != 0) {
        r->detail = ENOMEM;
        goto done;
    }
    fa_ok = at_ok = true;
    int e = posix_spawn_file_actions_adddup2(&fa, in[1], 0);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, out[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Descriptors opened elsewhere without O_CLOEXEC (a library's) must
     * not reach the MTA. */
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &all);
    if (!e)
        e = posix_spawnattr_setpgroup(&at, 0);
    if (!e)
        e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP |
                                              POSIX_SPAWN_USEVFORK);
    if (!e)
        e = posix_spawn(&pid, opts->program, &fa, &at, (char *const *)argv, envp);
    if (e) {
        pid = -1;
        st = SENDMAIL_SPAWN;
        r->detail = e;
        goto done;
    }
    close(in[1]);
    close(out[1]);
    in[1] = out[1] = -1;
    pidfd = pidfd_open_(pid);
    if (fcntl(in[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        r->detail = errno;
        goto kill;
    }

    int64_t deadline = now_ms() + (int64_t)(opts->timeout ? opts->timeout : 60) * 1000;
    struct feeder f = {.m = msg};
    char obuf[8192 + 2];
    size_t olen = 0, ooff = 0;
    bool writing = true, reading = true, write_failed = false;
    int status = 0;
    /* Until the program exits - not until its output ends: an MTA's
     * sendmail may leave a background delivery process behind that
     * still holds the output pipe (Exim's -odb), and the exit status
     * alone says whether the message was accepted. */
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            r->detail = errno;
            goto kill;
        }
        if (writing && ooff == olen) {
            ssize_t n = feed(&f, obuf, sizeof(obuf));
            if (n < 0) {
                r->detail = errno;
                goto kill;
            }
            olen = (size_t)n;
            ooff = 0;
            if (f.eof) {
                close(in[0]);
                in[0] = -1;
                writing = false;
                continue;
            }
            if (n == 0)
                continue; /* only a held-back CR so far */
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            st = SENDMAIL_TIMEOUT;
            goto kill;
        }
        struct pollfd p[3];
        nfds_t np = 0;
        int wi = -1, ri = -1;
        if (writing) {
            p[np] = (struct pollfd){.fd = in[0], .events = POLLOUT};
            wi = (int)np++;
        }
        if (reading) {
            p[np] = (struct pollfd){.fd = out[0], .events = POLLIN};
            ri = (int)np++;
        }
        if (pidfd >= 0)
            p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        /* Without a pidfd (kernels before 5.3) the exit is noticed by
         * waitpid above, every 20 ms. */
        int pr = poll(p, np, (int)MIN(left, pidfd >= 0 ? 1000 : 20));
        if (pr < 0 && errno != EINTR) {
            r->detail = errno;
            goto kill;
        }
        if (pr <= 0)
            continue;
        if (ri >= 0 && p[ri].revents) {
            char rb[4096];
            ssize_t n = read(out[0], rb, sizeof(rb));
            if (n > 0) {
                output_add(r, rb, (size_t)n);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                reading = false;
            }
        }
        if (wi >= 0 && p[wi].revents) {
            ssize_t n = send(in[0], obuf + ooff, olen - ooff, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                ooff += (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                /* EPIPE: it stopped reading (exited, or refused the
                 * message). Its exit status tells which; a zero status
                 * after an unread message is still a failure below. */
                write_failed = true;
                close(in[0]);
                in[0] = -1;
                writing = false;
            }
        }
    }
    pid = -1;
    /* It exited before the whole message was written: it cannot have
     * read it to the end (-i: the end is EOF). */
    if (writing)
        write_failed = true;
    /* What it wrote before exiting (a process left behind may still
     * write; what is there now is enough for the log). */
    while (reading) {
        char rb[4096];
        ssize_t n = read(out[0], rb, sizeof(rb));
        if (n > 0 && r->output_len < SENDMAIL_MAX_OUTPUT)
            output_add(r, rb, (size_t)n);
        else
            reading = false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !write_failed) {
        st = SENDMAIL_OK;
    } else if (WIFEXITED(status)) {
        st = SENDMAIL_EXIT;
        r->detail = WEXITSTATUS(status);
        if (r->detail == 0) {
            st = SENDMAIL_IO;
            r->detail = EPIPE;
        }
    } else {
        st = SENDMAIL_SIGNAL;
        r->detail = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    goto done;

kill:
    /* The whole group, then the child itself (in case it left it). */
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    {
        int status2;
        while (waitpid(pid, &status2, 0) < 0 && errno == EINTR)
            ;
    }
    pid = -1;
done:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (at_ok)
        posix_spawnattr_destroy(&at);
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    if (pidfd >= 0)
        close(pidfd);
    free(argv);
    return st;
}

enum sendmail_status delivery_sendmail(const struct sendmail_opts *opts, const char *sender,
                                       const char *const *rcpts, size_t nrcpts, const struct sendmail_msg *msg,
                                       struct sendmail_result *res)
{
    struct sendmail_result local;
    struct sendmail_result *r = res ? res : &local;
    memset(r, 0, sizeof(*r));
    const char *from = sender ? sender : "";
    bool ok = addr_ok(from, true) && nrcpts > 0 && nrcpts <= SENDMAIL_MAX_RCPTS && opts->program[0] == '/';
    for (size_t i = 0; ok && i < nrcpts; i++)
        ok = rcpts[i] && addr_ok(rcpts[i], false);
    if (!ok) {
        r->status = SENDMAIL_BADARG;
        log_warn("sendmail: refused: an address unfit for the command line, no recipient or a relative program");
        return r->status;
    }
    r->status = run(opts, from, rcpts, nrcpts, msg, r);
    char out[SENDMAIL_MAX_OUTPUT + 1];
    output_for_log(r, out, sizeof(out));
    const char *rc0 = rcpts[0];
    switch (r->status) {
    case SENDMAIL_OK:
        log_info("sendmail: from=<%s> to=<%s>%s: sent", from, rc0, nrcpts > 1 ? " (and more)" : "");
        break;
    case SENDMAIL_EXIT:
        log_warn("sendmail: from=<%s> to=<%s>: %s exited with %d: %s", from, rc0, opts->program, r->detail, out);
        break;
    case SENDMAIL_SIGNAL:
        log_warn("sendmail: from=<%s> to=<%s>: %s killed by signal %d: %s", from, rc0, opts->program, r->detail,
                 out);
        break;
    case SENDMAIL_TIMEOUT:
        log_warn("sendmail: from=<%s> to=<%s>: %s did not finish within %u s, killed: %s", from, rc0, opts->program,
                 opts->timeout, out);
        break;
    case SENDMAIL_SPAWN:
        log_warn("sendmail: cannot run %s: %s", opts->program, strerror(r->detail));
        break;
    default:
        log_warn("sendmail: from=<%s> to=<%s>: %s: %s: %s", from, rc0, opts->program, strerror(r->detail), out);
        break;
    }
    return r->status;
}
