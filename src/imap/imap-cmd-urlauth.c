/* imap-cmd-urlauth.c - URLAUTH (RFC 4467): GENURLAUTH, RESETKEY,
 * URLFETCH with the extended parameters of URLAUTH=BINARY (RFC 5524),
 * and URLAUTH-authorized URLs in CATENATE (RFC 4469 + 4467).
 *
 * Mailbox access keys (RFC 4467 2.2): 128 random bits (OpenSSL
 * RAND_bytes) per user and mailbox, in the user's own store (storage.h
 * urlauth_key, table urlauth_key of schema 12), keyed by the mailbox's
 * store and MAILBOXID. GENURLAUTH makes one when there is none; RESETKEY
 * mailbox replaces it (every URL made with the old one stops working);
 * RESETKEY alone drops the user's whole table.
 *
 * The INTERNAL mechanism: the token is "01" (the algorithm's version,
 * RFC 4467 2.4.1 SHOULD) followed by the hex HMAC-SHA1 of the rump URL
 * (the URL exactly as sent up to ";URLAUTH=<access>", RFC 4467 5, 6)
 * keyed with the mailbox access key; compared in constant time.
 *
 * Validation of a URLAUTH URL (URLFETCH, CATENATE), RFC 4467 3, 6. On
 * the loop the URL is only parsed and its mailbox name converted
 * (imap_url_prepare): the same steps whoever it names. Everything else
 * runs in the job that reads the source (imap_url_read_source, then
 * imap_urlauth_verify), with the handles of that pool thread:
 *  - an absolute URL of this server (servername) with a user, a UID, the
 *    INTERNAL mechanism and a token; not past its ;EXPIRE=;
 *  - the access identifier admits the session: "anonymous" anyone,
 *    "authuser" any non-anonymous login, "user+NAME" the login NAME,
 *    "submit+NAME" the login NAME or a global admin (this server has no
 *    separate submission role; a submission server logs in as the user
 *    or as an admin);
 *  - the URL's user exists (the key table's owner: their store opened),
 *    the mailbox, named as that user names it, exists, and that user
 *    holds "r" on it now (RFC 4467 URLFETCH: the access of the URL's
 *    user, as it is now);
 *  - the key of that user for that mailbox, and the token, compared with
 *    CRYPTO_memcmp. Whatever failed before, the token is computed (with
 *    a random key when there is no mailbox or key, RFC 4467 6), so every
 *    failure costs the same kind of work.
 * A URL that fails any of these is NIL in URLFETCH (RFC 4467 URLFETCH
 * response) and BADURL in CATENATE: one answer and one code path for
 * every reason (no such user, mailbox, UID or part, no right, a wrong
 * token, expired, an access identifier that does not admit the session);
 * the reason is logged at debug level only, by the job.
 *
 * URLFETCH runs one job per URL, every URL (the source message is read
 * and the response data built on the pool, never on the loop) and
 * writes one "* URLFETCH url data" response per URL (the grammar allows
 * several URL/data pairs in one response; one per URL keeps one message
 * in memory at a time); output back pressure is honoured between URLs.
 */
#include "imap-catenate.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "mime.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <strings.h>
#include <time.h>

#define UA_MAX_URLS 100             /* URLs in one GENURLAUTH / URLFETCH */
#define UA_TOKEN_VERSION "01"
#define UA_TOKEN_HEX (2 + 2 * 20)   /* version + HMAC-SHA1 */

static void ua_token(const unsigned char key[URLAUTH_KEY_LEN], const char *rump, size_t len,
                     char out[UA_TOKEN_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (!HMAC(EVP_sha1(), key, URLAUTH_KEY_LEN, (const unsigned char *)rump, len, mac, &ml) || ml != 20) {
        memset(mac, 0, sizeof(mac));
        ml = 20;
        RAND_bytes(mac, 20);     /* never matches anything */
    }
    static const char hx[] = "0123456789abcdef";
    memcpy(out, UA_TOKEN_VERSION, 2);
    for (unsigned i = 0; i < ml; i++) {
        out[2 + 2 * i] = hx[mac[i] >> 4];
        out[3 + 2 * i] = hx[mac[i] & 15];
    }
    out[2 + 2 * ml] = '\0';
}

static bool random_key(unsigned char key[URLAUTH_KEY_LEN])
{
    return RAND_bytes(key, URLAUTH_KEY_LEN) == 1;
}

/* Does the access identifier admit the session sess? (RFC 4467 3) */
static bool access_admits(const struct access_who *sess, const struct imap_url *u)
{
    switch (u->access) {
    case URL_ACCESS_ANONYMOUS:
        return true;
    case URL_ACCESS_AUTHUSER:
        return !sess->anonymous;
    case URL_ACCESS_USER:
    case URL_ACCESS_SUBMIT: {
        if (sess->anonymous)
            return false;
        char canon[AUTH_MAX_USERNAME + 1];
        if (u->access == URL_ACCESS_SUBMIT && sess->admin)
            return true;
        return u->access_user && userdb_normalize_name(u->access_user, canon) && strcmp(canon, sess->user) == 0;
    }
    default:
        return false;
    }
}

bool imap_urlauth_verify(const struct cat_part *p, const struct url_src *src, const char **why)
{
    const struct imap_url *u = &p->u;
    const char *fail = NULL;
    /* Every check is made, whichever fails first, and the token is
     * computed in every case: with the mailbox access key of the URL's
     * user when there is one, else with a random "plausible" key (RFC
     * 4467 6: against timing attacks on user and mailbox names). */
    if (!p->prep_ok)
        fail = "not a usable message URL";
    else if (u->access == URL_ACCESS_NONE || !u->mech || !u->token)
        fail = "no URLAUTH token";
    else if (!u->has_server || !u->user)
        fail = "no user in the URL";
    else if (strcasecmp(u->mech, "INTERNAL") != 0)
        fail = "unknown URLAUTH mechanism";
    else if (u->has_expire && (int64_t)time(NULL) > u->expire)
        fail = "expired";       /* RFC 4467 3: MUST reject an expired URL */
    else if (!p->sess || !access_admits(p->sess, u))
        fail = "the access identifier does not admit this session";
    else if (!src || !src->owner || !src->store || !src->mb)
        fail = "no such user, mailbox or right";
    unsigned char key[URLAUTH_KEY_LEN];
    bool have = false;
    if (src && src->owner && src->store && src->mb) {
        const struct mailbox_info *info = mailbox_get_info(src->mb);
        int r = urlauth_key(src->owner, mail_user_name(src->store), info->mailboxid, URLAUTH_KEY_GET, key);
        have = r == 0;
        if (!have && !fail)
            fail = r == STORAGE_ERR_NOTFOUND ? "no key for the mailbox" : storage_strerror(r);
    }
    if (!have && !random_key(key))
        memset(key, 0x5a, sizeof(key));
    /* the rump URL: the URL as sent up to ";URLAUTH=<access>" (RFC 4467
     * 6: nothing decoded or case-folded); the whole text when it did not
     * parse */
    size_t rl = u->token && u->rump_len <= p->len ? u->rump_len : MIN(p->len, (size_t)IMAP_URL_MAX);
    char want[UA_TOKEN_HEX + 1];
    ua_token(key, p->text, rl, want);
    OPENSSL_cleanse(key, sizeof(key));
    char got[UA_TOKEN_HEX + 1];
    memset(got, 0, sizeof(got));
    size_t tl = u->token ? strlen(u->token) : 0;
    if (tl == UA_TOKEN_HEX) {
        for (size_t i = 0; i < tl; i++) {
            char c = u->token[i];
            got[i] = (char)((c >= 'A' && c <= 'F') ? c - 'A' + 'a' : c);
        }
    } else if (!fail) {
        fail = "token of the wrong length";
    }
    bool same = CRYPTO_memcmp(got, want, UA_TOKEN_HEX) == 0;
    if (!fail && !same)
        fail = "the token does not verify";
    *why = fail;
    return !fail && have && same;
}

/* ---- GENURLAUTH (RFC 4467 7) ---------------------------------------------- */

struct gen_item {
    const char *rump;       /* in the command */
    size_t len;
    struct mail_user *store;
    char *mbox;
    char *url;              /* the result */
};

struct gen_job {
    struct gen_item *items;
    size_t n;
    struct mail_user *own;  /* the key table's store */
    int r;
};

static void gen_job_free(struct gen_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        if (j->items[i].store)
            mail_user_close(j->items[i].store);
        free(j->items[i].mbox);
        free(j->items[i].url);
    }
    free(j->items);
    if (j->own)
        mail_user_close(j->own);
    free(j);
}

static void gen_job_run(struct job *job, void *arg)
{
    (void)job;
    struct gen_job *j = arg;
    for (size_t i = 0; i < j->n && j->r == 0; i++) {
        struct gen_item *it = &j->items[i];
        struct mail_user *other = strcmp(mail_user_name(it->store), mail_user_name(j->own)) != 0 ? it->store : NULL;
        if ((j->r = storage_job_begin(j->own, other)) < 0)
            break;
        struct mailbox_info info;
        unsigned char key[URLAUTH_KEY_LEN];
        j->r = mailbox_status(it->store, it->mbox, &info);
        if (j->r == 0 && !random_key(key))
            j->r = STORAGE_ERR_IO;
        if (j->r == 0)
            j->r = urlauth_key(j->own, mail_user_name(it->store), info.mailboxid, URLAUTH_KEY_GEN, key);
        storage_job_end(j->own, other);
        if (j->r < 0)
            break;
        char tok[UA_TOKEN_HEX + 1];
        ua_token(key, it->rump, it->len, tok);
        OPENSSL_cleanse(key, sizeof(key));
        struct buf b = BUF_INIT;
        buf_append(&b, it->rump, it->len);
        buf_puts(&b, ":internal:");
        buf_puts(&b, tok);
        it->url = xstrdup(buf_cstr(&b));
        buf_free(&b);
    }
}

static enum cmd_result gen_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct gen_job *j = arg;
    if (!s) {
        gen_job_free(j);
        return CMD_DONE;
    }
    if (j->r < 0) {
        if (j->r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox does not exist");
        else
            imap_reply_storage_error(s, cmd, j->r);
    } else {
        struct buf b = BUF_INIT;
        buf_puts(&b, "* GENURLAUTH");
        for (size_t i = 0; i < j->n; i++) {
            buf_putc(&b, ' ');
            imap_append_astring(&b, j->items[i].url);
        }
        buf_puts(&b, "\r\n");
        imap_write(s, b.data, b.len);
        buf_free(&b);
        imap_tagged(s, cmd, "OK", "GENURLAUTH completed");
    }
    gen_job_free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_genurlauth)
{
    struct imap_parser *ps = &cmd->ps;
    if (s->who.anonymous) {
        imap_tagged(s, cmd, "NO", "[NOPERM] Not permitted for anonymous users");
        return CMD_DONE;
    }
    struct gen_job *j = xcalloc(1, sizeof(*j));
    const char *bad = NULL;
    size_t cap = 0;
    /* genurlauth = "GENURLAUTH" 1*(SP url-rump SP mechanism) */
    do {
        struct imap_str url;
        char *mech;
        if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &url) || url.file || !imap_p_sp(ps) ||
            !(mech = imap_p_atom(ps, cmd))) {
            bad = "Expected: GENURLAUTH url-rump mechanism ...";
            break;
        }
        if (j->n >= UA_MAX_URLS) {
            bad = "Too many URLs";
            break;
        }
        if (strcasecmp(mech, "INTERNAL") != 0) {
            bad = "Unknown URLAUTH mechanism (only INTERNAL)";
            break;
        }
        struct imap_url u;
        const char *why = NULL;
        if (!imap_url_parse(url.s, url.len, &u, &why)) {
            bad = why;
            break;
        }
        char owner[AUTH_MAX_USERNAME + 1];
        if (!u.has_server || !u.user)
            bad = "missing owner username in supplied URL";
        else if (u.access == URL_ACCESS_NONE)
            bad = "missing access identifier in supplied URL";
        else if (u.mech || u.token)
            bad = "URL already has a URLAUTH token";
        else if (!u.uid || u.search)
            bad = "URLAUTH is only for a message or message part URL";
        else if (!imap_url_is_local(&u))
            bad = "URL names another server";
        else if (!userdb_normalize_name(u.user, owner) || strcmp(owner, s->who.user) != 0)
            bad = "URL owner is not the logged-in user";
        else if ((u.access == URL_ACCESS_USER || u.access == URL_ACCESS_SUBMIT) &&
                 !userdb_normalize_name(u.access_user, owner))
            bad = "Invalid user in the access identifier";
        if (!bad) {
            ARRAY_GROW(j->items, j->n, cap);
            struct gen_item *it = &j->items[j->n];
            memset(it, 0, sizeof(*it));
            acl_rights_t rights = 0;
            if (!u.mailbox || !imap_url_mailbox(s, &s->who, u.mailbox, &it->store, &it->mbox, &rights) ||
                !(rights & ACL_READ)) {
                if (it->store)
                    mail_user_close(it->store);
                free(it->mbox);
                bad = "URL names no mailbox this user may read";
            } else {
                it->rump = url.s;
                it->len = url.len;
                j->n++;
            }
        }
        imap_url_free(&u);
    } while (!bad && !imap_p_end(ps));
    if (bad) {
        imap_tagged(s, cmd, "BAD", "%s", bad);
        gen_job_free(j);
        return CMD_DONE;
    }
    if (mail_user_open(mail_user_name(s->mu), false, &j->own) < 0) {
        j->own = NULL;
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Cannot open the store");
        gen_job_free(j);
        return CMD_DONE;
    }
    return imap_cmd_job(s, cmd, "genurlauth", j->own, gen_job_run, gen_job_finish, j);
}

/* ---- RESETKEY (RFC 4467 7) ------------------------------------------------ */

struct reset_job {
    struct mail_user *own;
    struct mail_user *store;    /* NULL: every key */
    char *mbox;
    int r;
};

static void reset_job_free(struct reset_job *j)
{
    if (j->own)
        mail_user_close(j->own);
    if (j->store)
        mail_user_close(j->store);
    free(j->mbox);
    free(j);
}

static void reset_job_run(struct job *job, void *arg)
{
    (void)job;
    struct reset_job *j = arg;
    struct mail_user *other =
        j->store && strcmp(mail_user_name(j->store), mail_user_name(j->own)) != 0 ? j->store : NULL;
    if ((j->r = storage_job_begin(j->own, other)) < 0)
        return;
    if (!j->store) {
        j->r = urlauth_key(j->own, NULL, NULL, URLAUTH_KEY_DROP_ALL, NULL);
    } else {
        struct mailbox_info info;
        unsigned char key[URLAUTH_KEY_LEN];
        j->r = mailbox_status(j->store, j->mbox, &info);
        if (j->r == 0 && !random_key(key))
            j->r = STORAGE_ERR_IO;
        if (j->r == 0)
            j->r = urlauth_key(j->own, mail_user_name(j->store), info.mailboxid, URLAUTH_KEY_SET, key);
        OPENSSL_cleanse(key, sizeof(key));
    }
    storage_job_end(j->own, other);
}

static enum cmd_result reset_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct reset_job *j = arg;
    if (s) {
        if (j->r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox does not exist");
        else if (j->r < 0)
            imap_reply_storage_error(s, cmd, j->r);
        else if (!j->store)
            imap_tagged(s, cmd, "OK", "All keys removed");
        else
            imap_tagged(s, cmd, "OK", "[URLMECH INTERNAL] Key reset");
    }
    reset_job_free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_resetkey)
{
    struct imap_parser *ps = &cmd->ps;
    if (s->who.anonymous) {
        imap_tagged(s, cmd, "NO", "[NOPERM] Not permitted for anonymous users");
        return CMD_DONE;
    }
    struct reset_job *j = xcalloc(1, sizeof(*j));
    /* resetkey = "RESETKEY" [SP mailbox *(SP mechanism)] */
    if (!imap_p_end(ps)) {
        struct imap_str mbox;
        if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &mbox) || mbox.file) {
            imap_tagged(s, cmd, "BAD", "Expected: RESETKEY [mailbox [mechanism ...]]");
            reset_job_free(j);
            return CMD_DONE;
        }
        while (!imap_p_end(ps)) {
            char *mech;
            if (!imap_p_sp(ps) || !(mech = imap_p_atom(ps, cmd))) {
                imap_tagged(s, cmd, "BAD", "Expected: RESETKEY [mailbox [mechanism ...]]");
                reset_job_free(j);
                return CMD_DONE;
            }
            if (strcasecmp(mech, "INTERNAL") != 0) {
                imap_tagged(s, cmd, "BAD", "Unknown URLAUTH mechanism (only INTERNAL)");
                reset_job_free(j);
                return CMD_DONE;
            }
        }
        struct mbox_ref ref;
        acl_rights_t rights;
        if (!imap_resolve(s, cmd, &mbox, ACL_READ, true, &ref, &j->store, &rights)) {
            reset_job_free(j);
            return CMD_DONE;
        }
        j->mbox = xstrdup(ref.name);
    }
    if (mail_user_open(mail_user_name(s->mu), false, &j->own) < 0) {
        j->own = NULL;
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Cannot open the store");
        reset_job_free(j);
        return CMD_DONE;
    }
    return imap_cmd_job(s, cmd, "resetkey", j->own, reset_job_run, reset_job_finish, j);
}

/* ---- URLFETCH (RFC 4467 7, RFC 5524) ------------------------------------- */

enum { UF_BODY = 1, UF_BINARY = 2, UF_BPS = 4 };

struct uf_item {
    const char *url;        /* in the command */
    size_t len;
    bool ext;               /* "(" url params ")" (RFC 5524 3.1) */
    unsigned want;
};

struct uf_state {
    struct uf_item *items;
    size_t n, next;
};

static void uf_state_free(void *arg)
{
    struct uf_state *st = arg;
    free(st->items);
    free(st);
}

struct uf_job {
    struct cat_part p;
    struct uf_item *it;
    size_t max;
    struct buf data;        /* the part as stored */
    int r;
    struct url_part_info info;  /* URLAUTH=BINARY */
    struct buf resp;            /* the response, built by the job */
};

static int uf_sink(void *arg, const char *d, size_t n)
{
    struct uf_job *j = arg;
    if (j->data.len + n > j->max)
        return CAT_ERR_TOOBIG;
    buf_append(&j->data, d, n);
    return 0;
}

static void uf_build(struct buf *out, const struct uf_item *it, const struct uf_job *j);

static void uf_job_run(struct job *job, void *arg)
{
    (void)job;
    struct uf_job *j = arg;
    j->r = imap_url_read_source_info(&j->p, uf_sink, j, &j->info);
    uf_build(&j->resp, j->it, j);
    buf_free(&j->data);
    buf_free(&j->info.bps);
    buf_free(&j->info.bin);
}

static void uf_job_free(struct uf_job *j)
{
    imap_cat_part_clear(&j->p);
    buf_free(&j->data);
    buf_free(&j->info.bps);
    buf_free(&j->info.bin);
    buf_free(&j->resp);
    free(j);
}

static bool has_nul(const char *d, size_t n)
{
    return n > 0 && memchr(d, '\0', n) != NULL;
}

/* The whole "* URLFETCH url data" response, built in the job (the
 * literal's copy included), so the loop only hands it to the connection. */
static void uf_build(struct buf *out, const struct uf_item *it, const struct uf_job *j)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "* URLFETCH ");
    imap_append_string(&b, it->url, it->len);
    if (j->r != 0) {
        buf_puts(&b, " NIL");
    } else if (!it->ext || it->want == 0) {
        /* RFC 4467 9 / RFC 5524 5: urldata-simple is an nstring, which
         * cannot carry a NUL octet (only BINARY may be a literal8) */
        if (has_nul(j->data.data, j->data.len)) {
            buf_puts(&b, " NIL");
        } else {
            buf_printf(&b, " {%zu}\r\n", j->data.len);
            buf_append(&b, j->data.data ? j->data.data : "", j->data.len);
        }
    } else {
        if (it->want & UF_BPS)
        {
            buf_puts(&b, " (BODYPARTSTRUCTURE ");
            if (j->info.bps.len) {
                buf_append(&b, j->info.bps.data, j->info.bps.len);
            } else {
                /* a section that is no body part (HEADER, TEXT, MIME,
                 * HEADER.FIELDS): RFC 5524 5 still wants a body, so
                 * the data is described as the text it is */
                size_t lines = 0;
                for (size_t k = 0; k < j->data.len; k++)
                    lines += j->data.data[k] == '\n';
                buf_printf(&b, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" %zu %zu)", j->data.len, lines);
            }
            buf_putc(&b, ')');
        }
        if (it->want & UF_BINARY) {
            if (!j->info.bin_ok) {
                buf_puts(&b, " (BINARY NIL)");
            } else {
                /* RFC 5524 3.1: literal8 when there is a NUL */
                const struct buf *bin = &j->info.bin;
                buf_printf(&b, " (BINARY %s{%zu}\r\n", has_nul(bin->data, bin->len) ? "~" : "", bin->len);
                buf_append(&b, bin->data ? bin->data : "", bin->len);
                buf_putc(&b, ')');
            }
        }
        if (it->want & UF_BODY) {
            /* url-meta-body = "BODY" SP nstring: no NUL octet */
            if (has_nul(j->data.data, j->data.len)) {
                buf_puts(&b, " (BODY NIL)");
            } else {
                buf_printf(&b, " (BODY {%zu}\r\n", j->data.len);
                buf_append(&b, j->data.data ? j->data.data : "", j->data.len);
                buf_putc(&b, ')');
            }
        }
    }
    buf_puts(&b, "\r\n");
    *out = b;
}

static enum cmd_result uf_step(struct imap_session *s, struct imap_cmd *cmd);

static enum cmd_result uf_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct uf_job *j = arg;
    if (!s) {
        uf_job_free(j);
        return CMD_DONE;
    }
    /* one answer for every failure (the job logged why, at debug level) */
    imap_write(s, j->resp.data, j->resp.len);
    uf_job_free(j);
    return uf_step(s, cmd);
}

static enum cmd_result uf_step(struct imap_session *s, struct imap_cmd *cmd)
{
    struct uf_state *st = cmd->state;
    while (st->next < st->n) {
        if (s->conn && conn_output_full(s->conn)) {
            cmd->resume = uf_step;
            return CMD_MORE;
        }
        struct uf_item *it = &st->items[st->next++];
        struct uf_job *j = xcalloc(1, sizeof(*j));
        j->p.fd = -1;
        j->p.url = true;
        j->p.text = it->url;
        j->p.len = it->len;
        j->it = it;
        j->info.want_bps = it->ext && (it->want & UF_BPS);
        j->info.want_binary = it->ext && (it->want & UF_BINARY);
        long long maxsize = config_int(CFG_MAXMESSAGESIZE);
        j->max = maxsize > 0 ? (size_t)maxsize : UINT32_MAX;
        /* Every URL goes through the job, whatever it names (or fails to
         * name): the loop only parses it (imap_url_prepare); the user, the
         * mailbox, the rights, the key, the token and the message are all
         * looked at in the job, and any failure is the same NIL (RFC 4467
         * 6 and URLFETCH response). */
        imap_url_prepare(s, cmd, &j->p, true);
        return imap_cmd_job(s, cmd, "urlfetch", NULL, uf_job_run, uf_job_finish, j);
    }
    imap_tagged(s, cmd, "OK", "URLFETCH completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_urlfetch)
{
    struct imap_parser *ps = &cmd->ps;
    struct uf_state *st = xcalloc(1, sizeof(*st));
    size_t cap = 0;
    const char *bad = NULL;
    /* urlfetch = "URLFETCH" 1*(SP url-fetch-arg) (RFC 5524 5) */
    do {
        if (!imap_p_sp(ps)) {
            bad = "Expected: URLFETCH url ...";
            break;
        }
        if (st->n >= UA_MAX_URLS) {
            bad = "Too many URLs";
            break;
        }
        ARRAY_GROW(st->items, st->n, cap);
        struct uf_item *it = &st->items[st->n];
        memset(it, 0, sizeof(*it));
        it->ext = imap_p_char(ps, '(');
        struct imap_str url;
        if (!imap_p_astring(ps, cmd, &url) || url.file) {
            bad = "Expected a URL";
            break;
        }
        it->url = url.s;
        it->len = url.len;
        while (it->ext && !imap_p_char(ps, ')')) {
            char *a;
            if (!imap_p_sp(ps) || !(a = imap_p_atom(ps, cmd))) {
                bad = "Expected URLFETCH parameter or )";
                break;
            }
            unsigned w = strcasecmp(a, "BODY") == 0                ? UF_BODY
                         : strcasecmp(a, "BINARY") == 0            ? UF_BINARY
                         : strcasecmp(a, "BODYPARTSTRUCTURE") == 0 ? UF_BPS
                                                                   : 0;
            if (!w) {
                bad = "Unknown URLFETCH parameter";
                break;
            }
            if (it->want & w) {
                bad = "URLFETCH parameter given twice";   /* RFC 5524 3.1 */
                break;
            }
            it->want |= w;
            if ((it->want & (UF_BODY | UF_BINARY)) == (UF_BODY | UF_BINARY)) {
                bad = "BODY and BINARY together";
                break;
            }
        }
        if (bad)
            break;
        st->n++;
    } while (!imap_p_end(ps));
    if (bad) {
        imap_tagged(s, cmd, "BAD", "%s", bad);
        uf_state_free(st);
        return CMD_DONE;
    }
    cmd->state = st;
    cmd->state_free = uf_state_free;
    return uf_step(s, cmd);
}
