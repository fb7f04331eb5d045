/* support.c - see support.h. */
#include "support.h"
#include "auth.h"
#include "config.h"
#include "connlimits.h"
#include "imap.h"
#include "log.h"
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

bool __wrap_password_verify(const char *password, const char *hash)
{
    /* Constant work whatever the hash: only the password matters (the
     * accounts of the targets all have FUZZ_PASSWORD). */
    (void)hash;
    return password && strcmp(password, FUZZ_PASSWORD) == 0;
}

void fuzz_quiet(const char *role)
{
    const char *e = getenv("DARIUS_FUZZ_LOG");
    bool on = e && *e && strcmp(e, "0") != 0;
    log_init(role, on, false, NULL);
    if (!on)
        log_set_level(LOG_LVL_ERR);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- temporary directory ------------------------------------------------ */

static char g_tmp[512];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static void rm_tmp(void)
{
    if (g_tmp[0])
        nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    if (g_tmp[0])
        return g_tmp;
    const char *base = getenv("DARIUS_FUZZ_TMPDIR");
    if (!base || !*base) {
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        if (!base || !*base)
            base = "/tmp";
    }
    snprintf(g_tmp, sizeof(g_tmp), "%s/darius-fuzz-XXXXXX", base);
    if (!mkdtemp(g_tmp)) {
        fprintf(stderr, "fuzz: mkdtemp %s: %s\n", g_tmp, strerror(errno));
        exit(2);
    }
    atexit(rm_tmp);
    return g_tmp;
}

/* ---- configuration, store, users ---------------------------------------- */

void fuzz_set(const char *key, const char *value)
{
    char err[256];
    if (!config_set(config_current(), key, value, err, sizeof(err))) {
        fprintf(stderr, "fuzz: config_set %s: %s\n", key, err);
        exit(2);
    }
}

void fuzz_config(const char *datadir)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "fuzz: config_load: %s\n", err);
        exit(2);
    }
    config_install(c);
    if (datadir)
        fuzz_set("datadir", datadir);
    fuzz_set("servername", "fuzz.test");
    fuzz_set("allowplaintext", "yes");
    /* A failed login must not make the next input wait, nor change how
     * the next one is answered. */
    fuzz_set("auth_failure_delay", "0");
    fuzz_set("auth_failures_per_host", "0");
    limits_init();
}

void fuzz_store_open(const char *dir)
{
    if (storage_init(dir) != 0 || userdb_open(dir) != AUTH_OK) {
        fprintf(stderr, "fuzz: cannot open the store in %s\n", dir);
        exit(2);
    }
}

void fuzz_add_user(const char *name)
{
    int r = userdb_add(name, FUZZ_PASSWORD);
    if (r != AUTH_OK) {
        fprintf(stderr, "fuzz: userdb_add %s: %s\n", name, auth_strerror(r));
        exit(2);
    }
}

static void fp_cb(const struct mailbox_info *i, void *arg)
{
    buf_printf(arg, "%s %u %u %llu %u %u %u %llu %u %d [%s]\n", i->name, i->uidvalidity, i->uidnext,
               (unsigned long long)i->highestmodseq, i->messages, i->unseen, i->deleted,
               (unsigned long long)i->size, i->special_use, i->subscribed, i->acl ? i->acl : "");
}

static void fp_sub_cb(const char *name, void *arg)
{
    buf_printf(arg, "sub %s\n", name);
}

bool fuzz_store_fingerprint(const char *user, struct buf *out)
{
    buf_reset(out);
    struct mail_user *u = NULL;
    if (mail_user_open(user, false, &u) != 0 || !u)
        return false;
    mailbox_list(u, fp_cb, out);
    mailbox_list_subscriptions(u, fp_sub_cb, out);
    mail_user_close(u);
    if (!out->data)
        buf_append(out, "", 0);
    return true;
}

void fuzz_store_delete(const char *user)
{
    struct mail_user *u = NULL;
    if (mail_user_open(user, false, &u) != 0 || !u)
        return;
    mail_user_close(u);
    int r = mail_user_delete_store(user);
    if (r != 0) {
        fprintf(stderr, "fuzz: cannot delete the store of %s: %s\n", user, storage_strerror(r));
        abort();
    }
}

static char *store_dir(const char *user)
{
    return xasprintf("%s/user/%c/%s", storage_datadir(), user[0], user);
}

static char *template_dir(const char *user)
{
    return xasprintf("%s/templates/%s", fuzz_tmpdir(), user);
}

static void copy_tree(const char *from, const char *to)
{
    struct stat st;
    if (lstat(from, &st) != 0) {
        fprintf(stderr, "fuzz: %s: %s\n", from, strerror(errno));
        abort();
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(to, st.st_mode & 07777) != 0 && errno != EEXIST) {
            fprintf(stderr, "fuzz: mkdir %s: %s\n", to, strerror(errno));
            abort();
        }
        DIR *d = opendir(from);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *a = xasprintf("%s/%s", from, de->d_name), *b = xasprintf("%s/%s", to, de->d_name);
            copy_tree(a, b);
            free(a);
            free(b);
        }
        if (d)
            closedir(d);
        return;
    }
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
    if (in < 0 || out < 0) {
        fprintf(stderr, "fuzz: copy %s to %s: %s\n", from, to, strerror(errno));
        abort();
    }
    char tmp[65536];
    ssize_t n;
    while ((n = read(in, tmp, sizeof(tmp))) > 0) {
        if (write(out, tmp, (size_t)n) != n) {
            fprintf(stderr, "fuzz: write %s: %s\n", to, strerror(errno));
            abort();
        }
    }
    close(in);
    close(out);
}

void fuzz_store_save(const char *user)
{
    char *from = store_dir(user), *to = template_dir(user);
    char *parent = xasprintf("%s/templates", fuzz_tmpdir());
    mkdir(parent, 0700);
    nftw(to, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    copy_tree(from, to);
    free(parent);
    free(from);
    free(to);
}

void fuzz_store_restore(const char *user)
{
    char *from = template_dir(user), *to = store_dir(user);
    nftw(to, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    copy_tree(from, to);
    free(from);
    free(to);
}

void fuzz_store_append(const char *user, const char *mailbox, const char *data, size_t len, uint32_t flags)
{
    struct mail_user *u = NULL;
    int r = mail_user_open(user, true, &u);
    if (r == 0) {
        r = mailbox_create(u, mailbox, 0);
        if (r == STORAGE_ERR_EXISTS)
            r = 0;
    }
    if (r == 0) {
        struct append_msg m = {.data = data, .fd = -1, .len = len, .flags = flags,
                               .internaldate = 760686745, .internaldate_tz = -480};
        uint32_t uv, uid;
        r = mailbox_append_by_name(u, mailbox, &m, &uv, &uid);
    }
    if (u)
        mail_user_close(u);
    if (r != 0) {
        fprintf(stderr, "fuzz: cannot append to %s of %s: %s\n", mailbox, user, storage_strerror(r));
        exit(2);
    }
}

static const char msg_simple[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: =?ISO-8859-1?Q?Caf=E9?= afternoon meeting\r\n"
    "To: mooch@owatagu.siam.edu.example\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

static const char msg_multipart[] =
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.net>, \"Smith, Carol\" <carol@example.com>\r\n"
    "Cc: team: dave@example.com, erin@example.com;\r\n"
    "Subject: =?UTF-8?B?UXVhcnRlcmx5IOKAkyBmaW5hbA==?=\r\n"
    "Date: Tue, 3 Oct 2023 10:00:00 +0200\r\n"
    "Message-ID: <multi@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    FUZZ_MSG_OUTER_PARTS
    "Content-Type: application/octet-stream; name*=UTF-8''r%C3%A9sum%C3%A9.bin\r\n"
    "Content-Disposition: attachment; filename=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.bin?=\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQFBgcICQ==\r\n"
    "--outer--\r\n";

static const char msg_bare_lf[] =
    "From: lf@example.com\n"
    "Subject: bare LF and dots\n"
    "\n"
    ".leading dot\n"
    "..two dots\n"
    ".\n"
    "last line without a line end";

void fuzz_populate(const char *user)
{
    fuzz_store_append(user, "INBOX", msg_simple, sizeof(msg_simple) - 1, 0);
    fuzz_store_append(user, "INBOX", msg_multipart, sizeof(msg_multipart) - 1, 0);
    fuzz_store_append(user, "INBOX", msg_bare_lf, sizeof(msg_bare_lf) - 1, 0);
}

/* ---- conversations -------------------------------------------------------- */

static struct event_loop *g_loop;

struct event_loop *fuzz_loop(void)
{
    if (!g_loop)
        g_loop = event_loop_new();
    return g_loop;
}

struct conv {
    int fd;
    const char *prefix;
    size_t plen, poff;
    const uint8_t *in;
    size_t len, off;
    bool shut;          /* our sending side is shut down */
    bool closed;        /* the server closed the connection */
    bool hung;          /* the guard timer fired */
    struct buf *out;
};

static void conv_stop_writing(struct conv *c)
{
    if (c->shut)
        return;
    shutdown(c->fd, SHUT_WR);
    c->shut = true;
    if (!c->closed)
        ev_fd_modify(g_loop, c->fd, EV_READ);
}

static void conv_write(struct conv *c)
{
    while (!c->shut) {
        const void *p;
        size_t n;
        if (c->poff < c->plen) {
            p = c->prefix + c->poff;
            n = c->plen - c->poff;
        } else if (c->off < c->len) {
            p = c->in + c->off;
            n = c->len - c->off;
        } else {
            conv_stop_writing(c);
            return;
        }
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w <= 0) {
            /* the server is gone: the rest of the input is moot */
            c->off = c->len;
            c->poff = c->plen;
            conv_stop_writing(c);
            return;
        }
        if (c->poff < c->plen)
            c->poff += (size_t)w;
        else
            c->off += (size_t)w;
    }
}

static void conv_io(struct event_loop *l, int fd, int events, void *arg)
{
    struct conv *c = arg;
    if (events & (EV_WRITE | EV_ERROR))
        conv_write(c);
    char tmp[65536];
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0) {
            if (c->out)
                buf_append(c->out, tmp, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        /* EOF or reset: the server closed its end */
        c->closed = true;
        ev_fd_del(l, fd);
        event_loop_stop(l);
        break;
    }
}

static void conv_guard(struct event_loop *l, void *arg)
{
    ((struct conv *)arg)->hung = true;
    event_loop_stop(l);
}

static void conv_tick(struct event_loop *l, void *arg)
{
    (void)arg;
    event_loop_stop(l);
}

void fuzz_converse(void (*accept_fn)(int fd, void *arg), void *arg, size_t (*count)(void), const char *prefix,
                   const uint8_t *in, size_t len, struct buf *out)
{
    struct event_loop *l = fuzz_loop();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("fuzz: socketpair");
        abort();
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    /* DARIUS_FUZZ_VERBOSE=1: show the server's answers (corpus work) */
    struct buf shown = BUF_INIT;
    if (!out && getenv("DARIUS_FUZZ_VERBOSE"))
        out = &shown;
    struct conv c = {.fd = sv[1], .prefix = prefix, .plen = prefix ? strlen(prefix) : 0, .in = in,
                     .len = len, .out = out};
    ev_fd_add(l, c.fd, EV_READ | EV_WRITE, conv_io, &c);
    accept_fn(sv[0], arg);
    uint64_t guard = ev_timer_add(l, 20000, conv_guard, &c);
    while (!c.closed && !c.hung)
        event_loop_run(l);
    /* the session may be freed a loop turn after its connection closed */
    for (int i = 0; i < 1000 && count() > 0 && !c.hung; i++) {
        uint64_t t = ev_timer_add(l, 1, conv_tick, NULL);
        event_loop_run(l);
        ev_timer_cancel(l, t);
    }
    ev_timer_cancel(l, guard);
    if (c.hung || count() > 0) {
        fprintf(stderr, "fuzz: the session %s (%zu of %zu input bytes sent, %zu sessions left)\n",
                c.closed ? "was not freed after its connection closed" : "was still open 20 s after the client's EOF",
                c.off, c.len, count());
        abort();
    }
    /* every connection slot taken at accept is given back (a leaked
     * slot is a slow denial of service: maxconnections fills up) */
    if (limits_conn_total() != 0) {
        fprintf(stderr, "fuzz: %u connection slot(s) still taken after the session ended\n", limits_conn_total());
        abort();
    }
    if (!c.closed)
        ev_fd_del(l, c.fd);
    close(c.fd);
    if (out == &shown) {
        fprintf(stderr, "--- server:\n%s--- end\n", buf_cstr(&shown));
        buf_free(&shown);
    }
}

/* ---- input helpers -------------------------------------------------------- */

void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *alen,
                const uint8_t **b, size_t *blen)
{
    size_t sl = strlen(sep);
    const uint8_t *m = sl && size >= sl ? memmem(data, size, sep, sl) : NULL;
    *a = data;
    if (!m) {
        *alen = size;
        *b = data + size;
        *blen = 0;
        return;
    }
    *alen = (size_t)(m - data);
    *b = m + sl;
    *blen = size - *alen - sl;
}

void fuzz_imap_cmd_init(struct imap_cmd *cmd, struct imap_parser *ps, const uint8_t *data, size_t len, bool utf8)
{
    memset(cmd, 0, sizeof(*cmd));
    buf_append(&cmd->ct.text, data, len);
    if (!cmd->ct.text.data)
        buf_reserve(&cmd->ct.text, 1);
    imap_parser_init(ps, &cmd->ct, 0, utf8);
}

void fuzz_imap_cmd_free(struct imap_cmd *cmd)
{
    for (size_t i = 0; i < cmd->nallocs; i++)
        free(cmd->allocs[i]);
    free(cmd->allocs);
    buf_free(&cmd->ct.text);
}
