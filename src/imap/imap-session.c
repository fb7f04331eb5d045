/* imap-session.c - per-connection state machine and command dispatch.
 *
 * States follow RFC 9051 3: not authenticated -> authenticated ->
 * selected -> logout. A command is looked up in the table below, checked
 * against the state, and run. A handler either finishes (CMD_DONE) or
 * suspends: CMD_MORE (output full, resumed from on_drain), CMD_WAIT (the
 * next client line goes to cmd->on_line: AUTHENTICATE, IDLE) or CMD_DEFER
 * (a timer finishes it via imap_cmd_finish). Input is paused while a
 * command is suspended other than in CMD_WAIT, so pipelined commands run
 * strictly in order.
 *
 * Lifetime: the conn calls on_close once; we free the session then, unless
 * we are inside one of our own callbacks (busy > 0), in which case the
 * outermost imap_session_leave() frees it.
 */
#include "imap.h"
#include "auth.h"
#include "config.h"
#include "connlimits.h"
#include "jobs.h"
#include "log.h"
#include "notify.h"
#include <ctype.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TICK_MS (30 * 1000)       /* periodic re-check in IDLE (dropped notify datagrams) */
#define IDLE_KEEPALIVE_TICKS 4         /* "* OK Still here" every ~2 min */

enum {
    S_NOTAUTH = 1u << IMAP_NOTAUTH,
    S_AUTH = 1u << IMAP_AUTH,
    S_SEL = 1u << IMAP_SELECTED,
    S_ANY = S_NOTAUTH | S_AUTH | S_SEL,
    S_AUTHSEL = S_AUTH | S_SEL,
};

struct cmd_def {
    const char *name;
    imap_cmd_fn fn;
    unsigned states;
    bool uid;                   /* "UID <name>" form exists */
};

static const struct cmd_def commands[] = {
    {"CAPABILITY", cmd_capability, S_ANY, false},
    {"NOOP", cmd_noop, S_ANY, false},
    {"LOGOUT", cmd_logout, S_ANY, false},
    {"ID", cmd_id, S_ANY, false},
    {"ENABLE", cmd_enable, S_AUTHSEL, false},
    {"STARTTLS", cmd_starttls, S_NOTAUTH, false},
    {"AUTHENTICATE", cmd_authenticate, S_NOTAUTH, false},
    {"LOGIN", cmd_login, S_NOTAUTH, false},
    {"UNAUTHENTICATE", cmd_unauthenticate, S_AUTHSEL, false},
    {"SELECT", cmd_select, S_AUTHSEL, false},
    {"EXAMINE", cmd_examine, S_AUTHSEL, false},
    {"CREATE", cmd_create, S_AUTHSEL, false},
    {"DELETE", cmd_delete, S_AUTHSEL, false},
    {"RENAME", cmd_rename, S_AUTHSEL, false},
    {"SUBSCRIBE", cmd_subscribe, S_AUTHSEL, false},
    {"UNSUBSCRIBE", cmd_unsubscribe, S_AUTHSEL, false},
    {"NAMESPACE", cmd_namespace, S_AUTHSEL, false},
    {"STATUS", cmd_status, S_AUTHSEL, false},
    {"LIST", cmd_list, S_AUTHSEL, false},
    {"LSUB", cmd_lsub, S_AUTHSEL, false},
    {"APPEND", cmd_append, S_AUTHSEL, false},
    {"IDLE", cmd_idle, S_AUTHSEL, false},
    {"NOTIFY", cmd_notify, S_AUTHSEL, false},
    {"CHECK", cmd_check, S_SEL, false},
    {"CLOSE", cmd_close, S_SEL, false},
    {"UNSELECT", cmd_unselect, S_SEL, false},
    {"EXPUNGE", cmd_expunge, S_SEL, true},
    {"SEARCH", cmd_search, S_SEL, true},
    {"ESEARCH", cmd_esearch, S_AUTHSEL, false},
    {"SORT", cmd_sort, S_SEL, true},
    {"THREAD", cmd_thread, S_SEL, true},
    {"CANCELUPDATE", cmd_cancelupdate, S_SEL, false},
    {"FETCH", cmd_fetch, S_SEL, true},
    {"STORE", cmd_store, S_SEL, true},
    {"COPY", cmd_copy, S_SEL, true},
    {"MOVE", cmd_move, S_SEL, true},
    {"REPLACE", cmd_replace, S_SEL, true},
    {"GETQUOTA", cmd_getquota, S_AUTHSEL, false},
    {"GETQUOTAROOT", cmd_getquotaroot, S_AUTHSEL, false},
    {"SETQUOTA", cmd_setquota, S_AUTHSEL, false},
    {"SETACL", cmd_setacl, S_AUTHSEL, false},
    {"DELETEACL", cmd_deleteacl, S_AUTHSEL, false},
    {"GETACL", cmd_getacl, S_AUTHSEL, false},
    {"LISTRIGHTS", cmd_listrights, S_AUTHSEL, false},
    {"MYRIGHTS", cmd_myrights, S_AUTHSEL, false},
    {"GETMETADATA", cmd_getmetadata, S_AUTHSEL, false},
    {"SETMETADATA", cmd_setmetadata, S_AUTHSEL, false},
    {"COMPRESS", cmd_compress, S_AUTHSEL, false},
    {"GENURLAUTH", cmd_genurlauth, S_AUTHSEL, false},
    {"RESETKEY", cmd_resetkey, S_AUTHSEL, false},
    {"URLFETCH", cmd_urlfetch, S_AUTHSEL, false},
};

static bool anonymous_refused(struct imap_session *s, struct imap_cmd *cmd, const char *name);

static const struct cmd_def *find_command(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------ */

struct imap_session *imap_session_new(struct conn *c, bool implicit_tls)
{
    struct imap_session *s = xcalloc(1, sizeof(*s));
    s->conn = c;
    s->state = IMAP_NOTAUTH;
    s->literal_fd = -1;
    s->implicit_tls = implicit_tls;
    s->tls = implicit_tls;
    s->pa = (struct limits_preauth)LIMITS_PREAUTH_INIT;
    if (imap_loop())
        s->connected_at = event_loop_now(imap_loop());
    return s;
}

static void cmd_free(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!cmd)
        return;
    if (s->cmd_timer) {
        ev_timer_cancel(imap_loop(), s->cmd_timer);
        s->cmd_timer = 0;
    }
    if (s->progress_timer) {
        ev_timer_cancel(imap_loop(), s->progress_timer);
        s->progress_timer = 0;
    }
    s->progress_on = false;
    s->progress_mid = false;
    s->msglimit_code[0] = '\0';
    if (cmd->state_free && cmd->state)
        cmd->state_free(cmd->state);
    /* LOGIN's password may sit in the text (a literal) or in copies */
    bool secret = strcmp(cmd->name, "LOGIN") == 0 || strcmp(cmd->name, "AUTHENTICATE") == 0;
    if (secret && cmd->ct.text.data)
        explicit_bzero(cmd->ct.text.data, cmd->ct.text.len);
    for (size_t i = 0; i < cmd->nallocs; i++)
        free(cmd->allocs[i]);
    free(cmd->allocs);
    imap_cmdtext_free(&cmd->ct);
    free(cmd);
}

void imap_session_free(struct imap_session *s)
{
    struct event_loop *loop = imap_loop();
    if (s->timeout_timer)
        ev_timer_cancel(loop, s->timeout_timer);
    if (s->input_timer)
        ev_timer_cancel(loop, s->input_timer);
    struct imap_cmd *cmd = s->cmd;
    s->cmd = NULL;
    cmd_free(s, cmd);
    imap_notify_session_free(s);
    if (s->view) {
        imap_view_free(s->view);
        s->view = NULL;
    }
    if (s->mu)
        mail_user_close(s->mu);
    access_who_free(&s->who);
    if (s->counted_user && s->user)
        limits_login_release(s->user, s->peer);
    limits_preauth_end(&s->pa);
    if (s->counted_conn)
        limits_conn_release(s->peer);
    fe_unlink(&s->link);
    imap_reader_reset(s);
    free(s->user);
    free(s->client_id);
    free(s->bye_after_job);
    free(s);
}

void imap_session_release_stores(struct imap_session *s)
{
    /* Not under a running handler, nor under a job that uses the view or
     * the store: the job's end frees them (the session is closing). */
    if (s->in_cmd || s->in_job)
        return;
    struct imap_cmd *cmd = s->cmd;
    s->cmd = NULL;
    s->cmd_status = CMD_DONE;
    s->idling = false;
    cmd_free(s, cmd);
    if (s->view) {
        imap_view_free(s->view);
        s->view = NULL;
    }
    if (s->mu) {
        mail_user_close(s->mu);
        s->mu = NULL;
    }
}

void imap_session_enter(struct imap_session *s)
{
    s->busy++;
}

void imap_session_leave(struct imap_session *s)
{
    if (--s->busy == 0 && s->closed)
        imap_session_free(s);
}

void imap_session_on_close(struct imap_session *s)
{
    s->closed = true;
    s->conn = NULL;
    if (s->busy == 0)
        imap_session_free(s);
}

void imap_session_close(struct imap_session *s, const char *bye)
{
    if (s->closed || !s->conn || s->logout)
        return;
    if (bye)
        imap_printf(s, "* BYE %s\r\n", bye);
    s->logout = true;
    s->idling = false;
    conn_pause_input(s->conn);
    conn_close(s->conn);
}

bool imap_session_has_pending(const struct imap_session *s)
{
    return s->view && s->view->pending;
}

/* ---- timers -------------------------------------------------------------- */

void imap_session_touch(struct imap_session *s)
{
    s->last_activity = event_loop_now(imap_loop());
}

static uint64_t idle_limit_ms(void)
{
    return (uint64_t)config_int(CFG_TIMEOUT) * 60 * 1000;
}

/* Before login the whole phase is bounded from connect (preauth_timeout),
 * not from the last byte: a client trickling a byte now and then, or
 * never finishing its TLS handshake, still goes at the deadline. */
static uint64_t preauth_deadline(const struct imap_session *s)
{
    return s->connected_at + (uint64_t)config_int(CFG_PREAUTH_TIMEOUT) * 1000;
}

static void timeout_cb(struct event_loop *loop, void *arg);

static void arm_in(struct imap_session *s, uint64_t ms)
{
    struct event_loop *loop = imap_loop();
    if (s->timeout_timer)
        ev_timer_cancel(loop, s->timeout_timer);
    s->timeout_timer = ev_timer_add(loop, ms ? ms : 1, timeout_cb, s);
}

void imap_session_arm_timer(struct imap_session *s)
{
    if (s->closed)
        return;
    if (s->idling) {
        arm_in(s, IDLE_TICK_MS);
        return;
    }
    uint64_t now = event_loop_now(imap_loop());
    if (s->state == IMAP_NOTAUTH) {
        uint64_t d = preauth_deadline(s);
        arm_in(s, d > now ? d - now : 1);
        return;
    }
    uint64_t limit = idle_limit_ms();
    uint64_t since = now > s->last_activity ? now - s->last_activity : 0;
    arm_in(s, since >= limit ? 1 : limit - since);
}

static void timeout_cb(struct event_loop *loop, void *arg)
{
    struct imap_session *s = arg;
    s->timeout_timer = 0;
    if (s->closed || s->logout)
        return;
    imap_session_enter(s);
    if (s->idling) {
        /* RFC 2177: the client re-issues IDLE every 29 minutes; we keep an
         * IDLE session alive and look for missed changes periodically. */
        /* rights too: a group file change sends no hint */
        if (s->view && imap_view_recheck_rights(s))
            imap_sync(s, true);
        if (!s->logout && ++s->idle_ticks >= IDLE_KEEPALIVE_TICKS) {
            s->idle_ticks = 0;
            imap_untagged(s, "OK Still here");
        }
        imap_session_arm_timer(s);
    } else if (s->state == IMAP_NOTAUTH) {
        /* Absolute: also while a command is suspended (a throttled LOGIN,
         * an AUTHENTICATE exchange) - no pre-auth phase outlives it. */
        if (event_loop_now(loop) >= preauth_deadline(s)) {
            log_info("imap: pre-authentication time limit reached: addr=%s", s->peer);
            imap_session_close(s, "[UNAVAILABLE] Autologout; pre-authentication time limit reached");
        } else {
            imap_session_arm_timer(s);
        }
    } else {
        uint64_t now = event_loop_now(loop);
        uint64_t limit = idle_limit_ms();
        /* A command waiting on a timer is ours to finish; a command
         * waiting for the client to read (CMD_MORE) counts as idle when
         * the client stops reading (on_drain touches the session). */
        bool running = s->cmd && s->cmd_status == CMD_DEFER;
        if (!running && now >= s->last_activity + limit) {
            log_info("imap: autologout: user=%s addr=%s", s->user ? s->user : "-", s->peer);
            imap_session_close(s, "Autologout; idle for too long");
        } else {
            imap_session_arm_timer(s);
        }
    }
    imap_session_leave(s);
}

/* ---- input scheduling ------------------------------------------------ */

static void kick_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct imap_session *s = arg;
    s->input_timer = 0;
    if (s->closed)
        return;
    imap_session_enter(s);
    imap_reader_input(s);
    imap_session_leave(s);
}

void imap_session_kick(struct imap_session *s)
{
    if (s->closed || s->input_timer)
        return;
    s->input_timer = ev_timer_add(imap_loop(), 0, kick_cb, s);
}

/* ---- running commands -------------------------------------------------- */

static void handle_result(struct imap_session *s, struct imap_cmd *cmd, enum cmd_result r)
{
    s->in_cmd = false;
    if (s->close_after_cmd && !s->closed) {
        /* the selected mailbox was deleted while the command ran: its BYE
         * and tagged reply are written; now close (imap-sync.c) */
        imap_session_close(s, NULL);
    }
    if (s->closed) {
        if (s->cmd != cmd)
            cmd_free(s, cmd);
        return;
    }
    switch (r) {
    case CMD_DONE:
        if (s->cmd == cmd)
            s->cmd = NULL;
        cmd_free(s, cmd);
        if (s->conn && !s->logout)
            conn_resume_input(s->conn);
        break;
    case CMD_MORE:
        s->cmd = cmd;
        s->cmd_status = CMD_MORE;
        conn_pause_input(s->conn);
        conn_want_drain(s->conn);
        break;
    case CMD_WAIT:
        s->cmd = cmd;
        s->cmd_status = CMD_WAIT;
        break;
    case CMD_DEFER:
        s->cmd = cmd;
        s->cmd_status = CMD_DEFER;
        conn_pause_input(s->conn);
        break;
    }
}

void imap_cmd_finish(struct imap_session *s)
{
    struct imap_cmd *cmd = s->cmd;
    s->cmd = NULL;
    s->idling = false;
    if (cmd)
        cmd_free(s, cmd);
    if (s->closed || !s->conn || s->logout)
        return;
    conn_resume_input(s->conn);
    imap_session_arm_timer(s);
    imap_session_kick(s);
}

/* ---- slow steps on the pool (imap_cmd_job) --------------------------------- */

struct imap_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    imap_job_run_fn run;
    imap_job_finish_fn finish;
    void *arg;
    char origin[NOTIFY_ORIGIN_MAX];     /* imap_notify_origin of the session */
    struct imap_progress *prog;     /* &s->progress when it reports */
};

/* ---- INPROGRESS (RFC 9585) ---- */

/* The progress counters of the command whose job this pool thread runs. */
static _Thread_local struct imap_progress *tl_progress;
static _Thread_local bool tl_progress_held;

/* Test hook (imap.h): hold a job once it is half done. Polling is fine:
 * a pool thread, tests only. */
static void progress_test_hold(void)
{
    const char *dir = getenv("DARIUS_TEST_HOLD_DIR");
    if (!dir)
        return;
    char path[4096], started[4200];
    snprintf(path, sizeof(path), "%s/progress", dir);
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

void imap_progress_add(uint64_t n)
{
    struct imap_progress *p = tl_progress;
    if (!p || n == 0)
        return;
    uint64_t c = atomic_fetch_add_explicit(&p->count, n, memory_order_relaxed) + n;
    if (!tl_progress_held) {
        uint64_t g = atomic_load_explicit(&p->goal, memory_order_relaxed);
        if (g > 1 ? c >= g / 2 && c < g : g == 0) {
            tl_progress_held = true;
            progress_test_hold();
        }
    }
}

static void progress_cb(struct event_loop *loop, void *arg);

static void progress_arm(struct imap_session *s)
{
    int64_t ms = config_int(CFG_IMAP_INPROGRESS_INTERVAL_MS);
    if (ms > 0 && !s->progress_timer && imap_loop())
        s->progress_timer = ev_timer_add(imap_loop(), (uint64_t)ms, progress_cb, s);
}

void imap_progress_start(struct imap_session *s, uint64_t goal)
{
    atomic_store(&s->progress.count, 0);
    atomic_store(&s->progress.goal, goal);
    s->progress_on = true;
    progress_arm(s);
}

/* On the loop, every interval while the command runs: the notification is
 * sent only while the session is parked in one of the command's jobs (so
 * everything written before is whole responses, RFC 9585 4: untagged OK
 * only, never in the tagged reply) and never inside a response
 * (progress_mid). PROGRESS is kept below GOAL (it MUST be less). */
static void progress_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct imap_session *s = arg;
    s->progress_timer = 0;
    if (s->closed || !s->conn || !s->cmd || !s->progress_on)
        return;
    if (s->in_job && !s->progress_mid && (s->state == IMAP_AUTH || s->state == IMAP_SELECTED)) {
        uint64_t c = atomic_load(&s->progress.count);
        uint64_t g = atomic_load(&s->progress.goal);
        const char *tag = s->cmd->tag;
        struct buf b = BUF_INIT;
        if (strchr(tag, ']'))
            buf_puts(&b, "OK [INPROGRESS (NIL");
        else
            buf_printf(&b, "OK [INPROGRESS (\"%s\"", tag);
        if (g == 0 && c == 0) {
            buf_puts(&b, " NIL NIL)] Still working on it");
        } else if (g == 0) {
            buf_printf(&b, " %llu NIL)] Processed %llu items so far", (unsigned long long)c,
                       (unsigned long long)c);
        } else {
            if (c >= g)
                c = g - 1;
            buf_printf(&b, " %llu %llu)] Processed %llu%% of the items", (unsigned long long)c,
                       (unsigned long long)g, (unsigned long long)(c * 100 / g));
        }
        imap_untagged(s, "%s", buf_cstr(&b));
        buf_free(&b);
    }
    progress_arm(s);
}

/* ---- MESSAGELIMIT (RFC 9738) ---- */

uint32_t imap_messagelimit(void)
{
    return (uint32_t)config_int(CFG_IMAP_MESSAGELIMIT);
}

bool imap_messagelimit_apply(struct imap_session *s, uint32_t *uids, size_t *n)
{
    uint32_t lim = imap_messagelimit();
    if (lim == 0 || *n <= lim)
        return false;
    memmove(uids, uids + (*n - lim), lim * sizeof(uint32_t));
    *n = lim;
    snprintf(s->msglimit_code, sizeof(s->msglimit_code), "[MESSAGELIMIT %u %u] ", lim, uids[0]);
    return true;
}

void imap_messagelimit_note(struct imap_session *s, uint32_t lowest_uid)
{
    snprintf(s->msglimit_code, sizeof(s->msglimit_code), "[MESSAGELIMIT %u %u] ", imap_messagelimit(),
             lowest_uid);
}

const char *imap_msglimit_code(const struct imap_session *s)
{
    return s->msglimit_code;
}

static void imap_job_run(struct job *job, void *arg)
{
    struct imap_job *j = arg;
    /* the events of this job's changes name the session (NOTIFY: it is
     * not told of its own changes) */
    notify_set_origin(j->origin);
    tl_progress = j->prog;
    tl_progress_held = false;
    j->run(job, j->arg);
    tl_progress = NULL;
    notify_set_origin(NULL);
}

void imap_cmd_park(struct imap_session *s, struct imap_cmd *cmd)
{
    /* The session outlives the wait: freed at the latest by
     * imap_cmd_unpark's imap_session_leave. */
    imap_session_enter(s);
    s->in_job = true;
    s->cmd = cmd;
    s->cmd_status = CMD_DEFER;
    if (s->conn)
        conn_pause_input(s->conn);
}

void imap_cmd_unpark(struct imap_session *s, struct imap_cmd *cmd, imap_job_finish_fn finish, void *farg)
{
    s->in_job = false;
    if (s->closed || !s->conn || s->cmd != cmd) {
        /* The client went away (or the session was torn down): nothing to
         * say to anyone; the command is freed with the session. Whatever
         * the job made durable stays (a client that disconnects after
         * APPEND's literal gets no OK, but the message is there, as if the
         * OK had been lost on the wire). */
        finish(NULL, cmd, farg);
        imap_session_leave(s);
        return;
    }
    s->in_cmd = true;
    enum cmd_result r = finish(s, cmd, farg);
    if (r == CMD_DEFER && s->in_job) {
        /* finish queued the next step */
        s->in_cmd = false;
        imap_session_leave(s);
        return;
    }
    handle_result(s, cmd, r);
    if (s->bye_after_job && !s->closed) {
        /* the server is shutting down (imap_shutdown): the reply is
         * written, now the BYE */
        imap_session_close(s, s->bye_after_job);
    } else if (r == CMD_WAIT && !s->closed && s->conn && !s->logout) {
        /* the next step needs client input (a SASL challenge was sent) */
        conn_resume_input(s->conn);
        imap_session_kick(s);
    } else if (r == CMD_DONE && !s->closed && s->conn && !s->logout) {
        imap_session_arm_timer(s);
        imap_session_kick(s); /* pipelined commands already read */
    }
    /* Chosen for eviction while its login was being checked, and still
     * not logged in: it goes now (imap_evict_marked left it alone). */
    if (!s->closed && s->state == IMAP_NOTAUTH && limits_preauth_evicted(&s->pa))
        imap_evict_marked();
    imap_session_leave(s);
}

static void imap_job_done(void *arg)
{
    struct imap_job *j = arg;
    struct imap_session *s = j->s;
    struct imap_cmd *cmd = j->cmd;
    imap_job_finish_fn finish = j->finish;
    void *farg = j->arg;
    free(j);
    imap_cmd_unpark(s, cmd, finish, farg);
}

static void imap_job_inline_done(void *arg)
{
    (void)arg;
}

/* Park the session for a job (both kinds below). */
static struct imap_job *job_park(struct imap_session *s, struct imap_cmd *cmd, imap_job_run_fn run,
                                 imap_job_finish_fn finish, void *arg)
{
    struct imap_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    j->run = run;
    j->finish = finish;
    j->arg = arg;
    if (s->notify)
        imap_notify_origin(s, j->origin, sizeof(j->origin));
    j->prog = s->progress_on ? &s->progress : NULL;
    imap_cmd_park(s, cmd);
    return j;
}

enum cmd_result imap_cmd_job(struct imap_session *s, struct imap_cmd *cmd, const char *kind, const void *key,
                             imap_job_run_fn run, imap_job_finish_fn finish, void *arg)
{
    if (!jobs_running()) {
        /* No pool (unit tests, fuzz targets): the same steps, inline. */
        struct imap_job j = {s, cmd, run, finish, arg, "", NULL};
        if (s->notify)
            imap_notify_origin(s, j.origin, sizeof(j.origin));
        jobs_submit(kind, key, imap_job_run, imap_job_inline_done, &j);
        return finish(s, cmd, arg);
    }
    struct imap_job *j = job_park(s, cmd, run, finish, arg);
    jobs_submit(kind, key, imap_job_run, imap_job_done, j);
    return CMD_DEFER;
}

enum cmd_result imap_cmd_job_batch(struct imap_session *s, struct imap_cmd *cmd, const char *kind, const void *key,
                                   job_batch_fn fn, void *item, imap_job_finish_fn finish, void *arg)
{
    if (!jobs_running()) {
        fn(&item, 1);
        return finish(s, cmd, arg);
    }
    struct imap_job *j = job_park(s, cmd, NULL, finish, arg);
    jobs_submit_batch(kind, key, fn, item, imap_job_done, j);
    return CMD_DEFER;
}

void imap_session_on_drain(struct imap_session *s)
{
    if (s->closed)
        return;
    imap_session_touch(s);
    struct imap_cmd *cmd = s->cmd;
    if (cmd && s->cmd_status == CMD_MORE && cmd->resume) {
        s->in_cmd = true;
        enum cmd_result r = cmd->resume(s, cmd);
        handle_result(s, cmd, r);
        if (r != CMD_DONE)
            return;
    } else if (cmd) {
        return;
    }
    if (s->conn && !s->logout) {
        conn_resume_input(s->conn);
        imap_reader_input(s);
    }
}

void imap_session_execute(struct imap_session *s, struct imap_cmdtext *ct)
{
    const char *t = ct->text.data ? ct->text.data : "";
    size_t len = ct->text.len;
    if (len == 0) {
        imap_cmdtext_free(ct);
        return; /* empty line: ignore (some clients send stray CRLF) */
    }
    size_t tl = 0;
    while (tl < len && t[tl] != ' ')
        tl++;
    if (!imap_valid_tag(t, tl)) {
        imap_untagged(s, "BAD %s", tl == 0 || tl == len ? "Missing tag" : "Invalid tag");
        imap_cmdtext_free(ct);
        return;
    }
    struct imap_cmd *cmd = xcalloc(1, sizeof(*cmd));
    cmd->ct = *ct;
    memset(ct, 0, sizeof(*ct));
    cmd->tag = cmd_strndup(cmd, t, tl);
    t = cmd->ct.text.data;

    imap_parser_init(&cmd->ps, &cmd->ct, tl, (s->enabled & (EN_UTF8 | EN_IMAP4REV2)) != 0);
    struct imap_parser *ps = &cmd->ps;
    char *name = NULL;
    if (!imap_p_sp(ps) || !(name = imap_p_atom(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Missing command");
        cmd_free(s, cmd);
        return;
    }
    for (char *p = name; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (strcmp(name, "UID") == 0) {
        cmd->uid = true;
        if (!imap_p_sp(ps) || !(name = imap_p_atom(ps, cmd))) {
            imap_tagged(s, cmd, "BAD", "Missing command after UID");
            cmd_free(s, cmd);
            return;
        }
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    }
    const struct cmd_def *def = strlen(name) < 16 ? find_command(name) : NULL;
    if (!def || (cmd->uid && !def->uid)) {
        imap_tagged(s, cmd, "BAD", "Unknown command");
        cmd_free(s, cmd);
        return;
    }
    snprintf(cmd->name, sizeof(cmd->name), "%s%s", cmd->uid ? "UID " : "", def->name);
    /* RFC 9586 3.2: with UIDONLY the forms that take message numbers are
     * refused (their UID forms are not); EXPUNGE takes none. */
    if ((s->enabled & EN_UIDONLY) && def->uid && !cmd->uid && def->fn != cmd_expunge) {
        imap_tagged(s, cmd, "BAD", "[UIDREQUIRED] Message numbers are not allowed once UIDONLY is enabled");
        cmd_free(s, cmd);
        return;
    }
    /* Rights on the selected mailbox as they are now (issue 9: an ACL or
     * group change since the last command), before the state check: a
     * session that lost "r" is no longer in the selected state (IMAP4rev2,
     * "* OK [CLOSED]"), or is told BYE and this command refused. */
    if (s->state == IMAP_SELECTED) {
        s->in_cmd = true;
        bool kept = imap_view_recheck_rights(s);
        if (!kept && !s->view && s->close_after_cmd) {
            /* LOGOUT still gets its OK after the BYE (RFC 9051 6.1.3: BYE
             * then the tagged OK); anything else is refused. */
            if (def->fn == cmd_logout)
                imap_tagged(s, cmd, "OK", "LOGOUT completed");
            else
                imap_tagged(s, cmd, "NO", "[NOPERM] Access to the selected mailbox was revoked");
            handle_result(s, cmd, CMD_DONE);
            return;
        }
        s->in_cmd = false;
    }
    if (!(def->states & (1u << s->state))) {
        imap_tagged(s, cmd, "BAD", "Command not allowed in this state");
        cmd_free(s, cmd);
        return;
    }
    /* A selected mailbox deleted by another session: never run a command
     * against it (imap_view_check_gone sends BYE and closes). */
    s->in_cmd = true;
    if (s->state == IMAP_SELECTED && imap_view_check_gone(s)) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Selected mailbox was deleted");
        handle_result(s, cmd, CMD_DONE);
        return;
    }
    if (config_bool(CFG_DEBUG))
        log_debug("imap: %s: %s %s", s->user ? s->user : s->peer, cmd->tag, cmd->name);
    if (s->state != IMAP_NOTAUTH && anonymous_refused(s, cmd, def->name)) {
        handle_result(s, cmd, CMD_DONE);
        return;
    }
    enum cmd_result r = def->fn(s, cmd);
    handle_result(s, cmd, r);
}

/* ---- login -------------------------------------------------------------- */

/* Cyrus motd: "* OK [ALERT] <first line>" right after a successful login,
 * before the tagged OK (RFC 9051 7.1: ALERT text must be shown to the
 * user). The daemon reads the file (fe_set_motd). */
static void send_motd(struct imap_session *s)
{
    const char *line = fe_motd();
    if (line && line[0])
        imap_untagged(s, "OK [ALERT] %s", line);
}

/* The parts of a login common to users and anonymous sessions. */
static void login_done(struct imap_session *s, const char *user, const char *mech)
{
    s->counted_user = true;
    free(s->user);
    s->user = xstrdup(user);
    s->state = IMAP_AUTH;
    /* Logged in: no longer counted per host before login, never evicted.
     * Except anonymously: nobody has been authenticated, so an anonymous
     * session keeps its pre-auth place - counted per host and evicted
     * when the server is full (imap_evict_marked) - or a client could
     * fill the server with anonymous sessions that nothing ever frees.
     * Not the pre-auth deadline: it may stay as long as a user may. */
    if (!s->who.anonymous)
        limits_preauth_login(&s->pa);
    /* A right password clears the address's failed logins; an anonymous
     * login proves nothing, and clearing them would let a client reset
     * its own throttling between guesses. */
    if (!s->who.anonymous)
        limits_auth_success(s->peer);
    log_info("login: user=%s addr=%s mech=%s tls=%s%s%s", user, s->peer, mech,
             s->conn && conn_is_tls(s->conn) ? "yes" : "no", s->client_id ? " client=" : "",
             s->client_id ? s->client_id : "");
    imap_session_touch(s);
    send_motd(s);
}

const char *imap_session_login_begin(struct imap_session *s, const char *user, const char *mech, bool *done)
{
    *done = false;
    /* "anonymous" is never a userdb account (auth refuses the name), so
     * only the anonymous mechanisms (imap-cmd-auth.c) get here with it;
     * the check on mech is a second line of defence. */
    bool anonymous = strcmp(user, AUTH_ANONYMOUS_USER) == 0;
    if (anonymous && (strcmp(mech, "ANONYMOUS") != 0 || !auth_anonymous_allowed()))
        return "[AUTHENTICATIONFAILED] Authentication failed";
    const char *which = NULL;
    /* Anonymous sessions count as user "anonymous" for maxlogins_per_user
     * (a bound on the whole public archive) and per host as usual. */
    if (!limits_login_acquire(user, s->peer, &which)) {
        log_notice("imap: login refused (too many logins per %s): user=%s addr=%s", which, user, s->peer);
        return strcmp(which, "host") == 0 ? "[LIMIT] Too many logins from your address"
                                           : "[LIMIT] Too many logins for this user";
    }
    if (anonymous) {
        /* No personal store (s->mu stays NULL): the session sees only
         * mailboxes whose ACL grants "anonymous" (or "anyone") rights,
         * capped to ACL_ANONYMOUS_MAX (access.h). */
        access_who_free(&s->who);
        access_who_init_anonymous(&s->who);
        s->is_admin = false;
        login_done(s, user, mech);
        *done = true;
        return NULL;
    }
    return NULL;
}

const char *imap_session_login_end(struct imap_session *s, const char *user, const char *mech, int err)
{
    struct mail_user *mu = NULL;
    /* err: access_provision_user's, run on the pool (imap-cmd-auth.c) */
    if (err >= 0)
        err = mail_user_open(user, false, &mu);
    if (err < 0) {
        limits_login_release(user, s->peer);
        if (err == STORAGE_ERR_BUSY) {
            /* a partition move or account rename holds the store: transient */
            log_notice("imap: login deferred, mail store busy: user=%s addr=%s", user, s->peer);
            return "[UNAVAILABLE] Mail store is being moved, try again later";
        }
        log_err("imap: cannot open mail store of %s: %s", user, storage_strerror(err));
        return "[UNAVAILABLE] Mail store unavailable";
    }
    s->mu = mu;
    access_who_free(&s->who);
    access_who_init(&s->who, user);
    /* Global and domain admins may administer (SETQUOTA, accounts). */
    s->is_admin = s->who.admin || s->who.domain_admin;
    login_done(s, user, mech);
    return NULL;
}

/* An anonymous session has no personal store (s->mu NULL). Commands that
 * can only act on or for a personal store are answered here, so no
 * handler ever sees s->mu == NULL for them: subscriptions are personal
 * (LSUB lists none), and anonymous rights are capped to "lr"
 * (ACL_ANONYMOUS_MAX), so nothing can be created, changed or stored. */
static bool anonymous_refused(struct imap_session *s, struct imap_cmd *cmd, const char *name)
{
    if (!s->who.anonymous)
        return false;
    static const char *const refused[] = {
        "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "APPEND", "COPY", "MOVE",
        "SETQUOTA", "SETACL", "DELETEACL", "EXPUNGE",
    };
    if (strcmp(name, "LSUB") == 0) {
        imap_tagged(s, cmd, "OK", "LSUB completed");
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        if (strcmp(name, refused[i]) == 0) {
            imap_tagged(s, cmd, "NO", "[NOPERM] Not permitted for anonymous users");
            return true;
        }
    }
    return false;
}

const char *imap_session_try_login(struct imap_session *s, const char *user, const char *mech)
{
    bool done;
    const char *why = imap_session_login_begin(s, user, mech, &done);
    if (why || done)
        return why;
    return imap_session_login_end(s, user, mech, access_provision_user(user, NULL));
}

void imap_session_login(struct imap_session *s, const char *user)
{
    (void)imap_session_try_login(s, user, "unknown");
}

/* UNAUTHENTICATE (RFC 8437 3, 4.1): every state of the login goes, the
 * TLS layer and ID's client name stay. The selected mailbox is left as
 * UNSELECT leaves it (no expunge); with the view go its SEARCHRES result
 * and CONDSTORE/QRESYNC state; ENABLEd extensions are forgotten; the
 * identity (groups, admin) is dropped; the store and the login-limit slot
 * are released. The pre-authentication time limit starts again; the
 * connection is not counted as pre-authentication again (it logged in
 * once; ManageSieve's UNAUTHENTICATE does the same). The failed-login
 * count stays, so the throttling cannot be reset this way. */
void imap_session_unauthenticate(struct imap_session *s)
{
    log_info("imap: unauthenticate: user=%s addr=%s", s->user ? s->user : "-", s->peer);
    imap_notify_session_free(s);
    if (s->view) {
        imap_view_free(s->view);    /* closes the mailbox, off the loop */
        s->view = NULL;
    }
    if (s->mu) {
        mail_user_close(s->mu);
        s->mu = NULL;
    }
    if (s->counted_user && s->user)
        limits_login_release(s->user, s->peer);
    s->counted_user = false;
    free(s->user);
    s->user = NULL;
    access_who_free(&s->who);
    memset(&s->who, 0, sizeof(s->who));
    s->is_admin = false;
    s->enabled = 0;
    s->state = IMAP_NOTAUTH;
    if (imap_loop())
        s->connected_at = event_loop_now(imap_loop());
    imap_session_arm_timer(s);
}
