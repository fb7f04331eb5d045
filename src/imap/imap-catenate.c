/* imap-catenate.c - APPEND ... CATENATE (RFC 4469): a message built from
 * TEXT literals and IMAP URLs (RFC 5092) of messages on this server.
 *
 * Three steps, in imap-cmd-append.c's order:
 *  - parse (loop): "CATENATE (" 1*cat-part ")" into a cat_msg; TEXT data
 *    stays where the reader put it (in the command text or a spilled
 *    literal's file), URLs are kept as sent;
 *  - prepare (loop): every URL parsed (imap-url.h) and named, nothing
 *    looked up (imap_url_prepare): for a plain URL, a message URL (with
 *    ;UID=) on this server (absolute URLs must name this server's name
 *    and the session's user, RFC 4469 3: only URLs of the current
 *    session are in scope), its mailbox name turned into the internal
 *    client name, its section parsed; a relative URL without a mailbox
 *    (";UID=n") refers to the selected mailbox (the base URL is
 *    "imap://user@server/mailbox", RFC 4469 3), noted. URLAUTH URLs
 *    (RFC 4467) are only parsed: their user is looked up in the job, so
 *    the loop does the same for a user that exists and one that does not;
 *  - build (pool, a job): the parts written in order to an unlinked
 *    temporary file in the store's tmp directory; each URL resolved here
 *    (imap_url_read_source: the user, the mailbox through the namespaces,
 *    the "r" right, for URLAUTH the key and the token), its message
 *    opened and read (the UIDVALIDITY checked, the section cut out and
 *    PARTIAL applied), never on the loop. The first URL that fails gives
 *    NO [BADURL url] (RFC 4469 4.1), whatever the reason. The result may
 *    not exceed maxmessagesize (or 4 GB): TOOBIG (RFC 4469 4.2), nor the
 *    quota room the command was given: OVERQUOTA (RFC 9208), checked as
 *    the parts are added so a hostile client cannot make us write more.
 */
#include "imap-catenate.h"
#include "imap-url.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "mime.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

void imap_cat_part_clear(struct cat_part *p)
{
    imap_url_free(&p->u);
    free(p->mbox);
    free(p->sel_store);
    free(p->sel_mbox);
    if (p->sess) {
        access_who_free(p->sess);
        free(p->sess);
    }
    for (size_t k = 0; k < p->sec.nfields; k++)
        free(p->sec.fields[k]);
    free(p->sec.fields);
    p->mbox = p->sel_store = p->sel_mbox = NULL;
    p->sess = NULL;
    p->sec.fields = NULL;
    p->sec.nfields = 0;
    p->prep_ok = false;
}

void imap_catenate_free(struct cat_msg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        imap_cat_part_clear(&m->parts[i]);
    free(m->parts);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
}

bool imap_catenate_parse(struct imap_session *s, struct imap_cmd *cmd, struct cat_msg **out, const char **err)
{
    (void)s;
    struct imap_parser *ps = &cmd->ps;
    *out = NULL;
    if (!imap_p_char(ps, '(')) {
        *err = "Expected ( after CATENATE";
        return false;
    }
    struct cat_msg *m = xcalloc(1, sizeof(*m));
    m->fd = -1;
    size_t cap = 0;
    for (;;) {
        if (m->n >= CAT_MAX_PARTS) {
            *err = "Too many CATENATE parts";
            goto fail;
        }
        char *kw = imap_p_atom(ps, cmd);
        if (!kw || !imap_p_sp(ps)) {
            *err = "Expected TEXT or URL part in CATENATE";
            goto fail;
        }
        ARRAY_GROW(m->parts, m->n, cap);
        struct cat_part *p = &m->parts[m->n];
        memset(p, 0, sizeof(*p));
        p->fd = -1;
        if (strcasecmp(kw, "TEXT") == 0) {
            /* text-literal = "TEXT" SP literal (literal8 with BINARY) */
            struct imap_str lit;
            if ((!imap_p_peek(ps, '{') && !imap_p_peek(ps, '~')) || !imap_p_string(ps, cmd, &lit) || !lit.literal) {
                *err = ps->error ? ps->error : "TEXT needs a literal";
                goto fail;
            }
            p->data = lit.file ? NULL : lit.s;
            p->fd = lit.file ? lit.file->fd : -1;
            p->len = lit.file ? lit.file->len : lit.len;
        } else if (strcasecmp(kw, "URL") == 0) {
            struct imap_str u;
            if (!imap_p_astring(ps, cmd, &u) || u.file) {
                *err = "URL needs an astring";
                goto fail;
            }
            p->url = true;
            p->text = u.s;
            p->len = u.len;
        } else {
            *err = "Expected TEXT or URL part in CATENATE";
            goto fail;
        }
        m->n++;
        if (imap_p_char(ps, ')'))
            break;
        if (!imap_p_sp(ps)) {
            *err = "Expected SP or ) in CATENATE";
            goto fail;
        }
    }
    *out = m;
    return true;
fail:
    imap_catenate_free(m);
    return false;
}

/* ---- resolving the URLs (loop) ------------------------------------------ */

const char *imap_server_name(void)
{
    static char host[256];
    const char *n = config_str(CFG_SERVERNAME);
    if (n && *n)
        return n;
    if (!host[0] && gethostname(host, sizeof(host) - 1) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    return host[0] ? host : "localhost";
}

bool imap_url_is_local(const struct imap_url *u)
{
    if (!u->host)
        return true;
    if (u->host[0] == '[')
        return false;
    return strcasecmp(u->host, imap_server_name()) == 0;
}

/* The mailbox of a URL (UTF-8, RFC 5092 3.2 / 9) as the client would
 * name it in this session, then as the internal client name. */
bool imap_url_mailbox_name(struct imap_session *s, const char *name, char internal[IMAP_MAX_CLIENT_NAME + 1])
{
    size_t len = strlen(name);
    if (len > 4 * IMAP_MAX_CLIENT_NAME || !utf8_valid(name, len))
        return false;
    struct buf cn = BUF_INIT;
    if (s->enabled & (EN_UTF8 | EN_IMAP4REV2))
        buf_append(&cn, name, len);
    else
        utf8_to_mutf7(name, len, &cn);
    bool ok = cn.len <= 4 * IMAP_MAX_CLIENT_NAME && imap_mailbox_from_client(s, buf_cstr(&cn), cn.len, internal, NULL);
    buf_free(&cn);
    return ok;
}

/* ... and to its store and who's rights there; true with *store (a
 * reference) and *inname. */
bool imap_url_mailbox(struct imap_session *s, const struct access_who *who, const char *name,
                      struct mail_user **store, char **inname, acl_rights_t *rights)
{
    *store = NULL;
    *inname = NULL;
    *rights = 0;
    char internal[IMAP_MAX_CLIENT_NAME + 1];
    if (!imap_url_mailbox_name(s, name, internal))
        return false;
    struct mbox_ref ref;
    if (access_resolve(who, internal, &ref) < 0)
        return false;
    int err = (s->mu && strcmp(ref.store, mail_user_name(s->mu)) == 0)
                  ? mail_user_open(mail_user_name(s->mu), false, store)
                  : access_open_store(&ref, store);
    if (err < 0) {
        *store = NULL;
        return false;
    }
    if (access_rights(who, &ref, rights) < 0) {
        mail_user_close(*store);
        *store = NULL;
        return false;
    }
    *inname = xstrdup(ref.name);
    return true;
}

/* A section-spec from a URL, parsed as FETCH parses BODY[...]. */
static bool parse_url_section(struct imap_cmd *cmd, const char *text, struct fetch_section *sec)
{
    struct imap_cmdtext ct;
    memset(&ct, 0, sizeof(ct));
    buf_puts(&ct.text, text);
    buf_putc(&ct.text, ']');
    struct imap_parser ps;
    imap_parser_init(&ps, &ct, 0, true);
    const char *err = NULL;
    bool ok = fetch_parse_section(&ps, cmd, false, sec, &err) && ps.p == ps.end;
    if (!ok && err == NULL) {
        for (size_t k = 0; k < sec->nfields; k++)
            free(sec->fields[k]);
        free(sec->fields);
        memset(sec, 0, sizeof(*sec));
    }
    buf_free(&ct.text);
    return ok;
}

void imap_url_prepare(struct imap_session *s, struct imap_cmd *cmd, struct cat_part *p, bool ua)
{
    /* Only what needs the session and no lookup: the same steps for any
     * URL, whoever and whatever it names (a URLAUTH URL's user and
     * mailbox are looked up in the job, RFC 4467 6). */
    p->prep_ok = false;
    p->ua = ua;
    p->sess = xmalloc(sizeof(*p->sess));
    access_who_copy(p->sess, &s->who);
    if (p->len > IMAP_URL_MAX || !imap_url_parse(p->text, p->len, &p->u, NULL))
        return;
    p->ua = ua || p->u.access != URL_ACCESS_NONE;
    if (p->u.uid == 0 || p->u.search)
        return;
    if (!imap_url_is_local(&p->u))
        return;     /* another server (the name compared here: config) */
    if (!p->ua && p->u.has_server && !(p->u.user && s->user && strcmp(p->u.user, s->user) == 0))
        return;     /* RFC 4469 3: URLs of the current session only: an
                       absolute URL must name this server and its user */
    if (p->u.mailbox) {
        char internal[IMAP_MAX_CLIENT_NAME + 1];
        if (!imap_url_mailbox_name(s, p->u.mailbox, internal))
            return;
        p->mbox = xstrdup(internal);
    } else {
        /* relative to the selected mailbox (the base URL is
         * "imap://user@server/mailbox", RFC 4469 3): not for URLAUTH,
         * whose URLs are absolute */
        if (p->ua || s->state != IMAP_SELECTED || !s->view || s->view->gone)
            return;
        p->sel_store = xstrdup(mail_user_name(imap_view_store(s->view)));
        p->sel_mbox = xstrdup(mailbox_get_info(s->view->mb)->name);
        p->sel_rights = s->view->rights;
    }
    if (p->u.section) {
        if (!parse_url_section(cmd, p->u.section, &p->sec))
            return;
        p->has_sec = true;
    }
    p->prep_ok = true;
}

void imap_catenate_prepare(struct imap_session *s, struct imap_cmd *cmd, struct cat_msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->parts[i].url)
            imap_url_prepare(s, cmd, &m->parts[i], false);
}

void imap_write_badurl(struct buf *b, const struct cat_part *p)
{
    /* url-resp-text: TEXT-CHARs except ']' (RFC 4469 5) */
    size_t n = MIN(p->len, (size_t)1024);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p->text[i];
        buf_putc(b, (c < 0x20 || c >= 0x7f || c == ']') ? '?' : (char)c);
    }
    if (n == 0)
        buf_putc(b, '?');
}

/* ---- building (pool) ----------------------------------------------------- */

static int tmpfile_open(void)
{
    const char *dir = storage_tmpdir();
    if (!dir || !*dir)
        dir = "/tmp";
    int fd;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    snprintf(path, sizeof(path), "%s/imap-catenate-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    unlink(path);
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* The octets of BODY[section] of the message d[0..l) (RFC 9051 6.4.5);
 * false: no such part (NIL, which a URL may not name). Filtered header
 * fields go to tmp. */
static bool section_bytes(const char *d, size_t l, const struct cat_part *p, struct buf *tmp, const char **data,
                          size_t *len)
{
    if (!p->has_sec || (!p->sec.part[0] && p->sec.kind == SEC_ALL)) {
        *data = d;
        *len = l;
        return true;
    }
    const char *hdr, *body;
    size_t hl, bl;
    struct mime_message *mm = NULL;
    bool ok = true;
    if (!p->sec.part[0]) {
        hl = mime_header_length(d, l);
        hdr = d;
        body = d + hl;
        bl = l - hl;
    } else {
        mm = mime_parse(d, l);
        const struct mime_part *mp = mm ? mime_find_section(mm, p->sec.part) : NULL;
        if (!mp) {
            mime_free(mm);
            return false;
        }
        if (p->sec.kind == SEC_ALL || p->sec.kind == SEC_MIME) {
            *data = d + (p->sec.kind == SEC_ALL ? mp->body_off : mp->hdr_off);
            *len = p->sec.kind == SEC_ALL ? mp->body_len : mp->hdr_len;
            mime_free(mm);
            return true;
        }
        if (!mp->message) {
            mime_free(mm);
            return false;
        }
        hdr = d + mp->message->hdr_off;
        hl = mp->message->hdr_len;
        body = d + mp->message->body_off;
        bl = mp->message->body_len;
    }
    switch (p->sec.kind) {
    case SEC_HEADER:
        *data = hdr;
        *len = hl;
        break;
    case SEC_TEXT:
        *data = body;
        *len = bl;
        break;
    case SEC_HEADER_FIELDS:
    case SEC_HEADER_FIELDS_NOT:
        mime_header_filter(tmp, hdr, hl, (const char *const *)p->sec.fields, p->sec.nfields,
                           p->sec.kind == SEC_HEADER_FIELDS_NOT);
        *data = tmp->data ? tmp->data : "";
        *len = tmp->len;
        break;
    default:
        ok = false;
        break;
    }
    mime_free(mm);
    return ok;
}

/* RFC 5524 3.2 for the part a URL names: its BODYPARTSTRUCTURE (as
 * returned: with BINARY, the identity encoding and the decoded size) and
 * its content without the transfer encoding. A section that is not a
 * whole part (HEADER, TEXT, MIME, HEADER.FIELDS) has no structure (NIL)
 * and no encoding to undo. A multipart or message/rfc822 part, or the
 * whole message, has no transfer encoding of its own (RFC 2045 6.4). */
static void part_info(const char *d, size_t l, const struct cat_part *p, struct url_part_info *info)
{
    bool whole = !p->has_sec || p->sec.kind == SEC_ALL;
    struct mime_message *mm = whole ? mime_parse(d, l) : NULL;
    const struct mime_part *mp = NULL;
    if (mm)
        mp = p->has_sec && p->sec.part[0] ? mime_find_section(mm, p->sec.part) : &mm->root;
    const char *raw = d;
    size_t rl = l;
    bool leaf = mp && p->has_sec && p->sec.part[0] && !mp->nchildren && !mp->message;
    if (mp && p->has_sec && p->sec.part[0]) {
        raw = d + mp->body_off;
        rl = mp->body_len;
    }
    if (info->want_binary) {
        struct buf dec = BUF_INIT;
        if (!mp) {
            /* not a part: the section's octets as they are */
            struct buf tmp = BUF_INIT;
            const char *sd;
            size_t sl;
            info->bin_ok = section_bytes(d, l, p, &tmp, &sd, &sl);
            if (info->bin_ok)
                buf_append(&dec, sd, sl);
            buf_free(&tmp);
        } else {
            info->bin_ok = leaf ? mime_decode_transfer(mp->encoding, raw, rl, &dec) : (buf_append(&dec, raw, rl), true);
        }
        if (info->bin_ok) {
            size_t start = 0, cnt = dec.len;
            if (p->u.has_partial)
                fetch_partial_slice(dec.len, true, p->u.partial_off,
                                    p->u.partial_len ? p->u.partial_len : (uint64_t)dec.len, &start, &cnt);
            buf_append(&info->bin, dec.data ? dec.data + start : "", cnt);
        }
        buf_free(&dec);
    }
    if (info->want_bps && mp) {
        struct mime_part cp = *mp;
        if (leaf && info->want_binary && info->bin_ok) {
            cp.encoding = (char *)"binary";
            cp.body_len = info->bin.len;
            size_t lines = 0;
            for (size_t i = 0; i < info->bin.len; i++)
                lines += info->bin.data[i] == '\n';
            cp.body_lines = lines;
        }
        mime_write_bodystructure(&info->bps, d, &cp, false);
    }
    mime_free(mm);
}

int imap_url_read_source(const struct cat_part *p, int (*sink)(void *arg, const char *d, size_t n), void *arg)
{
    return imap_url_read_source_info(p, sink, arg, NULL);
}

/* Resolve p's source for the job: whose access (the session's, or for
 * URLAUTH the URL's user's, RFC 4467 URLFETCH), the mailbox through the
 * namespaces as that user, the stores (this thread's own handles), the
 * "r" right (RFC 4314; RFC 4467: the URL's user's access as it is now),
 * the mailbox opened read-only. 0, or CAT_ERR_BADURL / a storage error
 * with *why; src holds what was opened either way (url_src_close). */
static int url_src_open(const struct cat_part *p, struct url_src *src, const char **why)
{
    bool decoy = false;
    if (!p->prep_ok) {
        *why = "not a usable message URL";
        return CAT_ERR_BADURL;
    }
    if (p->ua) {
        char owner[AUTH_MAX_USERNAME + 1];
        if (!p->u.user || !userdb_normalize_name(p->u.user, owner)) {
            *why = "no valid user in the URL";
            return CAT_ERR_BADURL;
        }
        access_who_init(&src->who, owner);
        src->who_set = true;
        /* the key table's store: the URL's user's own */
        if (mail_user_open(owner, false, &src->owner) < 0) {
            src->owner = NULL;
            /* No such user: the same work on a decoy, the session's own
             * user (whose store exists), failing at the end whatever it
             * finds - a missing store fails in a third of the time a real
             * one takes to open and search, which would tell which users
             * exist (RFC 4467 6: a failure must not say why). */
            if (!p->sess || p->sess->anonymous || mail_user_open(p->sess->user, false, &src->owner) < 0) {
                src->owner = NULL;
                *why = "no such user";
                return CAT_ERR_BADURL;
            }
            access_who_free(&src->who);
            access_who_copy(&src->who, p->sess);   /* a copy: no second lookup */
            decoy = true;
        }
    } else {
        access_who_copy(&src->who, p->sess);
        src->who_set = true;
    }
    acl_rights_t rights = 0;
    const char *name;
    struct mbox_ref ref;
    if (p->mbox) {
        if (access_resolve(&src->who, p->mbox, &ref) < 0) {
            *why = "no such mailbox";
            return CAT_ERR_BADURL;
        }
        if (mail_user_open(ref.store, false, &src->store) < 0) {
            src->store = NULL;
            *why = "no such mailbox";
            return CAT_ERR_BADURL;
        }
        if (access_rights(&src->who, &ref, &rights) < 0) {
            *why = "no such mailbox";
            return CAT_ERR_BADURL;
        }
        name = ref.name;
    } else {
        if (mail_user_open(p->sel_store, false, &src->store) < 0) {
            src->store = NULL;
            *why = "the selected mailbox's store is gone";
            return CAT_ERR_BADURL;
        }
        rights = p->sel_rights;
        name = p->sel_mbox;
    }
    if (!(rights & ACL_READ)) {
        *why = "no read right on the mailbox";
        return CAT_ERR_BADURL;
    }
    bool own = strcmp(mail_user_name(src->store), src->who.user) == 0;
    /* the decoy looks for a mailbox that is not there, as a URL naming a
     * missing mailbox of a real user does (measured: within 10 us) */
    if (decoy)
        name = "Darius-URLAUTH-decoy";
    int r = own ? mailbox_open(src->store, name, true, false, NULL, &src->mb)
                : mailbox_open_as(src->store, name, src->who.user, true, NULL, &src->mb);
    if (r < 0) {
        src->mb = NULL;
        *why = "the mailbox cannot be opened";
        return r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_INVALID ? CAT_ERR_BADURL : r;
    }
    if (decoy) {
        *why = "no such user";
        return CAT_ERR_BADURL;
    }
    return 0;
}

/* Store handles a build keeps open between its URL parts (this pool
 * thread's own: opening one is a full database open, and the parts of
 * one message mostly name one or two stores); closed by url_keep_end. */
#define URL_KEEP_MAX 4
struct url_keep {
    struct mail_user *u[URL_KEEP_MAX];
    size_t n;
};

static void keep_or_close(struct url_keep *k, struct mail_user *u)
{
    if (!u)
        return;
    if (k) {
        for (size_t i = 0; i < k->n; i++) {
            if (k->u[i] == u) {
                mail_user_close(u);     /* kept already: one reference is enough */
                return;
            }
        }
        if (k->n < URL_KEEP_MAX) {
            k->u[k->n++] = u;
            return;
        }
    }
    mail_user_close(u);
}

static void url_keep_end(struct url_keep *k)
{
    for (size_t i = 0; i < k->n; i++)
        mail_user_close(k->u[i]);
    k->n = 0;
}

static void url_src_close(struct url_src *src, struct url_keep *keep)
{
    if (src->mb)
        mailbox_close(src->mb);
    keep_or_close(keep, src->store);
    keep_or_close(keep, src->owner);
    if (src->who_set)
        access_who_free(&src->who);
    memset(src, 0, sizeof(*src));
}

static int url_read(const struct cat_part *p, int (*sink)(void *arg, const char *d, size_t n), void *arg,
                    struct url_part_info *info, struct url_keep *keep);

int imap_url_read_source_info(const struct cat_part *p, int (*sink)(void *arg, const char *d, size_t n), void *arg,
                              struct url_part_info *info)
{
    return url_read(p, sink, arg, info, NULL);
}

static int url_read(const struct cat_part *p, int (*sink)(void *arg, const char *d, size_t n), void *arg,
                    struct url_part_info *info, struct url_keep *keep)
{
    struct url_src src;
    memset(&src, 0, sizeof(src));
    const char *why = NULL;
    int r = url_src_open(p, &src, &why);
    /* URLAUTH (RFC 4467 6): one path for every failure - the token is
     * computed in any case (with a random key when there is no mailbox or
     * key), and whatever failed, the URL fails the same way. */
    if (p->ua) {
        const char *vwhy = NULL;
        bool ok = imap_urlauth_verify(p, r == 0 ? &src : NULL, &vwhy);
        /* A storage error (busy, I/O) of a mailbox that exists must not
         * answer otherwise than BADURL before the token verified: that
         * would tell a forger the mailbox is there. */
        if (!ok) {
            if (r < 0)
                log_debug("imap: CATENATE URLAUTH: %s (%s)", why ? why : "storage error", storage_strerror(r));
            r = CAT_ERR_BADURL;
            why = vwhy;
        }
    }
    if (r == 0 && p->u.uidvalidity && mailbox_get_info(src.mb)->uidvalidity != p->u.uidvalidity) {
        r = CAT_ERR_BADURL;
        why = "another UIDVALIDITY";
    }
    struct msg_content c;
    memset(&c, 0, sizeof(c));
    if (r == 0) {
        r = mailbox_get_content(src.mb, p->u.uid, &c);
        if (r < 0)
            why = r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_INVALID ? "no such message" : storage_strerror(r);
    }
    if (r == 0) {
        struct buf tmp = BUF_INIT;
        const char *d = NULL;
        size_t n = 0;
        if (!section_bytes(c.data, c.len, p, &tmp, &d, &n)) {
            r = CAT_ERR_BADURL;
            why = "no such part";
        } else {
            size_t start = 0, cnt = n;
            if (p->u.has_partial)
                fetch_partial_slice(n, true, p->u.partial_off, p->u.partial_len ? p->u.partial_len : (uint64_t)n,
                                    &start, &cnt);
            r = sink(arg, d + start, cnt);
            if (r == 0 && info)
                part_info(c.data, c.len, p, info);
        }
        buf_free(&tmp);
        msg_content_release(&c);
    }
    if (r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_INVALID)
        r = CAT_ERR_BADURL;     /* no such mailbox or message (expunged) */
    if (r == CAT_ERR_BADURL || (p->ua && r < 0)) {
        /* URLAUTH: the reason only at debug level, and only from here (a
         * failure is one answer whatever the reason, RFC 4467 6) */
        log_debug("%s: %.*s: %s", p->ua ? "URLAUTH" : "CATENATE", (int)MIN(p->len, (size_t)200), p->text,
                  why ? why : "unusable");
    } else if (r < 0) {
        log_warn("CATENATE: reading %s/%s UID %u: %s", src.store ? mail_user_name(src.store) : "?",
                 src.mb ? mailbox_get_info(src.mb)->name : "?", p->u.uid, storage_strerror(r));
    }
    url_src_close(&src, keep);
    return r;
}

struct cat_sink {
    struct cat_msg *m;
    uint64_t max;       /* TOOBIG beyond */
    uint64_t room;      /* OVERQUOTA beyond (unless also TOOBIG) */
    bool over_room;     /* past room: only counted, no more written */
};

static int cat_add(void *arg, const char *d, size_t n)
{
    struct cat_sink *k = arg;
    if ((uint64_t)k->m->len + n > k->max)
        return CAT_ERR_TOOBIG;
    /* Past the quota room the rest is still counted (not written), to
     * tell TOOBIG, which a plain APPEND's precheck says first, from
     * OVERQUOTA. */
    if ((uint64_t)k->m->len + n > k->room)
        k->over_room = true;
    if (!k->over_room && !write_all(k->m->fd, d, n))
        return STORAGE_ERR_IO;
    k->m->len += n;
    return 0;
}

/* A TEXT part (in memory or a spilled literal's file) into the sink. */
static int cat_add_text(struct cat_sink *k, const struct cat_part *p)
{
    if (p->fd < 0)
        return cat_add(k, p->data, p->len);
    char chunk[65536];
    size_t off = 0;
    while (off < p->len) {
        ssize_t r = pread(p->fd, chunk, MIN(sizeof(chunk), p->len - off), (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return STORAGE_ERR_IO;
        int a = cat_add(k, chunk, (size_t)r);
        if (a != 0)
            return a;
        off += (size_t)r;
    }
    return 0;
}

int imap_catenate_build(struct cat_msg *m, uint64_t max, uint64_t room, struct cat_part **bad)
{
    *bad = NULL;
    m->len = 0;
    m->fd = tmpfile_open();
    if (m->fd < 0) {
        log_err("CATENATE: cannot create a temporary file in %s: %s", storage_tmpdir(), strerror(errno));
        return STORAGE_ERR_IO;
    }
    struct cat_sink k = {m, max, room, false};
    struct url_keep keep = {{NULL}, 0};
    int r = 0;
    for (size_t i = 0; i < m->n && r == 0; i++) {
        struct cat_part *p = &m->parts[i];
        if (!p->url) {
            r = (uint64_t)m->len + p->len > max ? CAT_ERR_TOOBIG : cat_add_text(&k, p);
        } else {
            r = url_read(p, cat_add, &k, NULL, &keep);
            if (r == CAT_ERR_BADURL)
                *bad = p;
        }
    }
    url_keep_end(&keep);
    if (r != 0)
        return r;
    return k.over_room ? CAT_ERR_OVERQUOTA : 0;
}
