/* imap-cmd-append.c - APPEND with MULTIAPPEND (RFC 9051 6.3.12, RFC 3502),
 * binary literals (RFC 3516) and APPENDUID (RFC 4315); REPLACE and UID
 * REPLACE (RFC 8508), which share its parsing, checks and job.
 *
 * Every message of the command is parsed and validated first; then all
 * are added in one append transaction, so either all become visible or
 * none (RFC 3502 requires the atomicity).
 *
 * Off the loop (issue 10): the checks that need no I/O, the target's
 * resolution and rights and opening its handle run on the loop; writing
 * and fsyncing the message files, parsing them for the cache, the
 * directory fsync and the metadata commit run on the pool as a job of
 * kind "append" keyed by the target store, so that APPENDs and LMTP
 * deliveries into one store that coincide are group-committed
 * (storage.h, mailbox_append_batch). The session waits parked; the
 * tagged OK [APPENDUID] is written by the finish step, on the loop, only
 * after the commit returned. The checks before a literal is accepted
 * (imap_append_precheck: rights, size, quota) are unchanged.
 */
#include "imap-fetch.h"
#include "imap-catenate.h"
#include "config.h"
#include "log.h"

#include <strings.h>
#include <unistd.h>

struct append_item {
    struct append_msg m;
    char *keywords;         /* owned */
    struct cat_msg *cat;    /* CATENATE (RFC 4469): the parts; owned */
};

static void free_items(struct append_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].keywords);
        imap_catenate_free(items[i].cat);
    }
    free(items);
}

/* Incremental scan of a message's header block for 8-bit octets: the
 * header ends at the first empty line (LF [CR] LF). */
struct hdr_scan {
    int nl;             /* 1 after LF, 2 after LF CR */
    bool done, eightbit;
};

static void hdr_scan(struct hdr_scan *h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n && !h->done; i++) {
        unsigned char c = p[i];
        if (c >= 0x80)
            h->eightbit = true;
        if (c == '\n') {
            if (h->nl)
                h->done = true;
            h->nl = 1;
        } else if (c == '\r' && h->nl == 1) {
            h->nl = 2;
        } else if (c != '\r') {
            h->nl = 0;
        }
    }
}

/* Does the header of this message contain an 8-bit octet? For a spilled
 * literal the file is read in chunks up to the end of the header. */
static bool header_has_8bit(const struct append_msg *m)
{
    struct hdr_scan h = {.nl = 1};  /* an empty first line ends the header too */
    if (m->fd < 0) {
        hdr_scan(&h, (const unsigned char *)m->data, m->len);
        return h.eightbit;
    }
    unsigned char chunk[16384];
    size_t off = 0;
    while (off < m->len && !h.done && !h.eightbit) {
        ssize_t r = pread(m->fd, chunk, MIN(sizeof(chunk), m->len - off), (off_t)off);
        if (r <= 0)
            break;  /* read errors surface when the message is stored */
        hdr_scan(&h, chunk, (size_t)r);
        off += (size_t)r;
    }
    return h.eightbit;
}

/* ---- checks before a message literal is accepted (imap-reader.c) ---------- */

struct room {
    int64_t bytes, msgs;
};

static int room_cb(const struct quota_root *q, void *arg)
{
    struct room *r = arg;
    if (q->storage_limit_kb >= 0) {
        /* STORAGE is in KiB (RFC 9208 5.1); QUOTA_MAX_LIMIT keeps *1024 in range */
        int64_t lim = q->storage_limit_kb > QUOTA_MAX_LIMIT ? INT64_MAX : q->storage_limit_kb * 1024;
        int64_t left = q->storage_used >= lim ? 0 : lim - MAX(q->storage_used, (int64_t)0);
        r->bytes = MIN(r->bytes, left);
    }
    if (q->message_limit >= 0) {
        int64_t left = q->message_used >= q->message_limit ? 0 : q->message_limit - MAX(q->message_used, (int64_t)0);
        r->msgs = MIN(r->msgs, left);
    }
    return 0;
}

enum append_pre imap_append_precheck(struct imap_session *s, const struct imap_cmdtext *ct, size_t marker_off,
                                     uint64_t n, int64_t *room_bytes, int64_t *room_msgs)
{
    const char *t = ct->text.data;
    size_t tl = 0;
    while (tl < ct->text.len && t[tl] != ' ')
        tl++;
    if (!imap_valid_tag(t, tl)) {
        /* what imap_session_execute would answer */
        imap_untagged(s, "BAD Invalid tag");
        return APPEND_PRE_REFUSED;
    }
    struct imap_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.tag = cmd_strndup(&cmd, t, tl);
    snprintf(cmd.name, sizeof(cmd.name), "APPEND");
    struct imap_parser *ps = &cmd.ps;
    imap_parser_init(ps, ct, tl, (s->enabled & (EN_UTF8 | EN_IMAP4REV2)) != 0);
    enum append_pre res = APPEND_PRE_REFUSED;
    struct imap_str mbox;
    struct mbox_ref ref;
    struct mail_user *store = NULL;
    acl_rights_t rights = 0;
    s->in_cmd = true;   /* a BYE from the pre-reply sync waits for our reply */
    const char *verb = NULL;
    bool syntax = imap_p_sp(ps) && (verb = imap_p_atom(ps, &cmd)) != NULL && imap_p_sp(ps);
    if (syntax && strcasecmp(verb, "UID") == 0)     /* UID REPLACE */
        syntax = (verb = imap_p_atom(ps, &cmd)) != NULL && imap_p_sp(ps);
    if (syntax && strcasecmp(verb, "REPLACE") == 0) {
        /* RFC 8508: REPLACE message-id mailbox ...: the target as APPEND's */
        snprintf(cmd.name, sizeof(cmd.name), "REPLACE");
        /* seq-number: a number or "*" (not an atom); cmd_replace checks it */
        struct seqset set = {0};
        syntax = imap_p_seqset(ps, &set) && imap_p_sp(ps);
        seqset_free(&set);
    }
    if (!syntax) {
        imap_tagged(s, &cmd, "BAD", "Expected: %s mailbox [flags] [date-time] literal",
                    strcmp(cmd.name, "REPLACE") == 0 ? "REPLACE seq-number" : "APPEND");
    } else if (ps->p == t + marker_off) {
        /* This literal is the mailbox name itself; the message literals
         * follow it and are checked then. A name that long cannot exist
         * (imap_resolve says the same), and must not go to a file. */
        if (n > 4 * (uint64_t)IMAP_MAX_CLIENT_NAME)
            imap_tagged(s, &cmd, "NO", "[NONEXISTENT] Mailbox name too long");
        else
            res = APPEND_PRE_MAILBOX_LITERAL;
    } else if (!imap_p_astring(ps, &cmd, &mbox) || mbox.file || ps->p > t + marker_off) {
        imap_tagged(s, &cmd, "BAD", "Expected: APPEND mailbox [flags] [date-time] literal");
    } else if (s->who.anonymous) {
        imap_tagged(s, &cmd, "NO", "[NOPERM] Not permitted for anonymous users");
    } else if (imap_resolve_target(s, &cmd, &mbox, &ref, &store, &rights)) {
        /* RFC 9208: the STORAGE and MESSAGE resources of every quota root
         * covering the target; the commit checks again (usage may change
         * meanwhile), this only spares reading what cannot fit. */
        struct room room = {INT64_MAX, INT64_MAX};
        /* REPLACE: the quota counts the net change (RFC 8508 3.4), which
         * needs the replaced message's size: left to the commit. */
        int r = strcmp(cmd.name, "REPLACE") == 0 ? 0 : quota_roots_of(store, ref.name, room_cb, &room);
        if (r < 0)
            log_warn("APPEND: quota of %s/%s: %s", mail_user_name(store), ref.name, storage_strerror(r));
        *room_bytes = room.bytes;
        *room_msgs = room.msgs;
        mail_user_close(store);
        res = APPEND_PRE_OK;
    }
    s->in_cmd = false;
    if (s->close_after_cmd && !s->closed)
        imap_session_close(s, NULL);
    for (size_t i = 0; i < cmd.nallocs; i++)
        free(cmd.allocs[i]);
    free(cmd.allocs);
    if (s->closed && res != APPEND_PRE_REFUSED)
        res = APPEND_PRE_REFUSED;
    return res;
}

/* ---- the job ------------------------------------------------------------ */

/* Results of the before step (positive: storage.h, append_req.before). */
enum { APPEND_8BIT = 1 };

struct append_job {
    struct append_req req;      /* the batch item (storage.h) */
    struct mail_user *store;
    struct mailbox *mb;         /* a handle of the job's own */
    struct append_item *items;  /* keywords owned; data points into the command */
    size_t nitems;
    struct append_msg *msgs;
    uint32_t *uids;
    bool selected;              /* the target is the selected mailbox */
    bool check_8bit;
    bool reader_seen;
    bool *want_seen;
    /* REPLACE (RFC 8508) */
    uint32_t old_uid;           /* the message replaced (0: APPEND) */
    struct mailbox *xmb;        /* same store: a handle of the source for the
                                   one-transaction expunge (req.expunge_mb) */
    bool cross;                 /* another store: expunged after the append */
    struct mailbox *smb;        /* (cross) the selected mailbox, used on the
                                   pool only while the session is parked */
    struct mail_user *sstore;   /* (cross) its store, no reference */
    int xr;                     /* (cross) the expunge's result */
    bool xdone;                 /* (cross) it expunged the message */
};

/* On the pool thread, before anything is written. RFC 6855 4 (RFC 9755
 * 4): unless the client did ENABLE UTF8=ACCEPT, an APPEND with 8-bit
 * octets in header fields MUST be refused with NO. An IMAP4rev2 client
 * may append them (RFC 9051 6.3.12, UTF-8 header fields are part of
 * IMAP4rev2). A spilled literal's header is read from its file, so this
 * runs here, not on the loop. */
static int append_before(struct append_req *r)
{
    struct append_job *j = (struct append_job *)r;
    for (size_t i = 0; j->check_8bit && i < j->nitems; i++)
        if (header_has_8bit(&j->msgs[i]))
            return APPEND_8BIT;
    return 0;
}

/* On the pool thread, after the commit: the appender's own \Seen. */
static void append_after(struct append_req *r)
{
    struct append_job *j = (struct append_job *)r;
    if (r->result != 0 || !j->reader_seen)
        return;
    uint32_t *seen = xmalloc(j->nitems * sizeof(uint32_t));
    size_t nseen = 0;
    for (size_t i = 0; i < j->nitems; i++)
        if (j->want_seen[i] && j->uids[i])
            seen[nseen++] = j->uids[i];    /* ascending: one transaction's UIDs */
    if (nseen > 0) {
        struct store_req req = {.mode = STORE_ADD, .flags = MSG_SEEN};
        int sr = mailbox_store(j->mb, seen, nseen, &req, NULL, NULL, NULL, NULL);
        if (sr < 0)
            log_warn("APPEND to %s/%s: setting the reader's \\Seen failed: %s", mail_user_name(j->store),
                     mailbox_get_info(j->mb)->name, storage_strerror(sr));
    }
    free(seen);
}

static void append_job_free(struct append_job *j)
{
    if (j->xmb && j->xmb != j->mb)
        mailbox_close(j->xmb);
    mailbox_close(j->mb);
    mail_user_close(j->store);
    free_items(j->items, j->nitems);
    free(j->msgs);
    free(j->uids);
    free(j->want_seen);
    free(j);
}

/* ---- REPLACE (RFC 8508) ------------------------------------------------ */

static int replace_expunged_cb(uint32_t uid, void *arg)
{
    struct append_job *j = arg;
    j->xdone = j->xdone || uid == j->old_uid;
    return 0;
}

/* (cross-store REPLACE, on the pool) The old message's expunge, after
 * the new one is durable in the target: a crash in between leaves both,
 * never neither. */
static void replace_expunge_job(struct job *job, void *arg)
{
    (void)job;
    struct append_job *j = arg;
    if ((j->xr = storage_job_begin(j->sstore, NULL)) < 0)
        return;
    j->xr = mailbox_expunge_uids(j->smb, &j->old_uid, 1, replace_expunged_cb, j);
    storage_job_end(j->sstore, NULL);
}

/* The replaced message is gone: its EXPUNGE (or VANISHED), then the
 * tagged OK. RFC 8508 4.3: the APPENDUID went in an untagged OK before. */
static enum cmd_result replace_done(struct imap_session *s, struct imap_cmd *cmd, struct append_job *j)
{
    imap_view_expunged_many(s, &j->old_uid, 1);
    imap_tagged(s, cmd, "OK", "Replace completed");
    append_job_free(j);
    return CMD_DONE;
}

static enum cmd_result replace_expunge_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct append_job *j = arg;
    if (!s) {
        append_job_free(j);
        return CMD_DONE;
    }
    if (j->xr < 0 || !j->xdone) {
        if (j->xr < 0 && imap_view_gone_err(s, j->xr))
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] Selected mailbox was deleted; the new message was appended");
        else
            imap_tagged(s, cmd, "NO", "[%s] The new message was appended, but the old one could not be removed%s%s",
                        j->xr < 0 ? imap_storage_code(j->xr) : "EXPUNGEISSUED", j->xr < 0 ? ": " : "",
                        j->xr < 0 ? storage_strerror(j->xr) : "");
        append_job_free(j);
        return CMD_DONE;
    }
    return replace_done(s, cmd, j);
}

/* (on the loop) The replacement is committed: APPENDUID in an untagged OK
 * (RFC 8508 4.3), then - same store - the expunge committed with it is
 * reported, or - another store - the expunge runs as a job of its own. */
static enum cmd_result replace_appended(struct imap_session *s, struct imap_cmd *cmd, struct append_job *j)
{
    if (j->selected && j->items[0].m.keywords)
        imap_view_announce_keywords(s, j->items[0].m.keywords);
    imap_untagged(s, "OK [APPENDUID %u %u] Replacement Message ready", j->req.uidvalidity, j->uids[0]);
    if (!j->cross)
        return replace_done(s, cmd, j);
    if (!s->view) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Selected mailbox was closed; the new message was appended");
        append_job_free(j);
        return CMD_DONE;
    }
    j->smb = s->view->mb;
    j->sstore = imap_view_store(s->view);
    return imap_cmd_job(s, cmd, "replace", j->sstore, replace_expunge_job, replace_expunge_finish, j);
}

/* On the loop, after the job (s == NULL: the client went away; whatever
 * was committed stays, as if the OK had been lost on the wire). */
static enum cmd_result append_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct append_job *j = arg;
    if (!s) {
        append_job_free(j);
        return CMD_DONE;
    }
    int r = j->req.result;
    if (r == APPEND_8BIT) {
        imap_tagged(s, cmd, "NO", "[CANNOT] 8-bit header fields require ENABLE UTF8=ACCEPT");
    } else if (r < 0) {
        if (r == STORAGE_ERR_IO)
            log_err("APPEND to %s: %s", mailbox_get_info(j->mb)->name, storage_strerror(r));
        if (j->old_uid && r == STORAGE_ERR_EXPUNGED)
            imap_tagged(s, cmd, "NO", "Replace failed: the message to replace does not exist any more");
        else
            imap_tagged(s, cmd, "NO", "[%s] %s failed: %s", r == STORAGE_ERR_NOTFOUND ? "TRYCREATE" : imap_storage_code(r),
                        j->old_uid ? "Replace" : "Append", storage_strerror(r));
    } else if (j->old_uid) {
        return replace_appended(s, cmd, j);
    } else {
        struct buf set = BUF_INIT;
        seqset_write_uids(&set, j->uids, j->nitems);
        /* imap_tagged syncs first: EXISTS for the selected mailbox; new
         * keywords there are announced with FLAGS. */
        for (size_t i = 0; j->selected && i < j->nitems; i++)
            if (j->items[i].m.keywords)
                imap_view_announce_keywords(s, j->items[i].m.keywords);
        imap_tagged(s, cmd, "OK", "[APPENDUID %u %s] Append completed", j->req.uidvalidity, buf_cstr(&set));
        buf_free(&set);
    }
    append_job_free(j);
    return CMD_DONE;
}

/* One message of APPEND or REPLACE (RFC 4466 append-message without
 * extensions): [flag-list SP] [date-time SP] (literal / literal8 /
 * "UTF8" SP "(" literal8 ")"), after its SP. *it is filled (keywords
 * owned) on success; false with *err for a tagged BAD. A message that
 * is empty or too large sets *no_code / *no_text (the first only) for
 * the tagged NO given once the command is read. The message may also be
 * CATENATE (RFC 4469 5; for REPLACE, RFC 8508 4.2), whose parts are
 * counted in *ncatparts. */
static bool parse_message(struct imap_session *s, struct imap_cmd *cmd, struct buf *kw, struct append_item *it,
                          long long maxsize, size_t *ncatparts, const char **err, const char **no_code,
                          const char **no_text)
{
    struct imap_parser *ps = &cmd->ps;
    uint32_t flags = 0;
    buf_reset(kw);
    if (imap_p_peek(ps, '(')) {
        if (!imap_parse_flags(ps, cmd, true, &flags, kw, err))
            return false;
        if (!imap_p_sp(ps)) {
            *err = "Expected SP after flag list";
            return false;
        }
    }
    int64_t date = 0;
    int tz = 0;
    if (imap_p_peek(ps, '"')) {
        if (!imap_p_datetime(ps, &date, &tz)) {
            *err = "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")";
            return false;
        }
        if (!imap_p_sp(ps)) {
            *err = "Expected SP after date-time";
            return false;
        }
    }
    /* RFC 4469 5: "CATENATE" SP "(" cat-part *(SP cat-part) ")" */
    if (ncatparts && (imap_p_peek(ps, 'C') || imap_p_peek(ps, 'c'))) {
        char *a = imap_p_atom(ps, cmd);
        if (!a || strcasecmp(a, "CATENATE") != 0 || !imap_p_sp(ps)) {
            *err = "Expected CATENATE (parts) or a message literal";
            return false;
        }
        struct cat_msg *cat = NULL;
        if (!imap_catenate_parse(s, cmd, &cat, err))
            return false;
        /* every part is prepared on the loop and resolved in the job:
         * bound them per command */
        *ncatparts += cat->n;
        if (*ncatparts > IMAP_MAX_LITERALS) {
            imap_catenate_free(cat);
            *err = "Too many CATENATE parts in one APPEND";
            return false;
        }
        memset(it, 0, sizeof(*it));
        it->cat = cat;
        it->keywords = kw->len ? xstrdup(buf_cstr(kw)) : NULL;
        it->m.data = NULL;
        it->m.fd = -1;
        it->m.flags = flags;
        it->m.keywords = it->keywords;
        it->m.internaldate = date;
        it->m.internaldate_tz = tz;
        return true;
    }
    /* RFC 6855 4: after ENABLE UTF8=ACCEPT, "UTF8 (literal8)". */
    bool utf8 = false;
    if (imap_p_peek(ps, 'U') || imap_p_peek(ps, 'u')) {
        char *a = imap_p_atom(ps, cmd);
        if (!a || strcasecmp(a, "UTF8") != 0 || !(s->enabled & EN_UTF8) || !imap_p_sp(ps) ||
            !imap_p_char(ps, '(')) {
            *err = (s->enabled & EN_UTF8) ? "Expected UTF8 (literal8)" : "UTF8 data requires ENABLE UTF8=ACCEPT";
            return false;
        }
        utf8 = true;
    }
    if (!imap_p_peek(ps, '{') && !imap_p_peek(ps, '~')) {
        *err = "Message literal expected";
        return false;
    }
    struct imap_str lit;
    if (!imap_p_string(ps, cmd, &lit) || !lit.literal) {
        *err = ps->error ? ps->error : "Invalid message literal";
        return false;
    }
    if (utf8 && !imap_p_char(ps, ')')) {
        *err = "Missing ')' after UTF8 literal";
        return false;
    }
    size_t len = lit.file ? lit.file->len : lit.len;
    if (!*no_code && len == 0) {
        *no_code = "CANNOT";
        *no_text = "Empty message";
    }
    if (!*no_code && maxsize > 0 && (unsigned long long)len > (unsigned long long)maxsize) {
        *no_code = "TOOBIG";
        *no_text = "Message too large";
    }
    memset(it, 0, sizeof(*it));
    it->keywords = kw->len ? xstrdup(buf_cstr(kw)) : NULL;
    it->m.data = lit.file ? NULL : lit.s;
    it->m.fd = lit.file ? lit.file->fd : -1;
    it->m.len = len;
    it->m.flags = flags;
    it->m.keywords = it->keywords;
    it->m.internaldate = date;
    it->m.internaldate_tz = tz;
    return true;
}

/* The checked target and messages to the append job (takes items and
 * store). old_uid: REPLACE's message in the selected mailbox (0: APPEND). */
static enum cmd_result append_queue(struct imap_session *s, struct imap_cmd *cmd, struct append_item *items,
                                    size_t nitems, struct mail_user *store, const char *name, acl_rights_t rights,
                                    uint32_t old_uid)
{
    /* RFC 4314 4: each message keeps only the flags the user may set in
     * the target (\Seen needs s, \Deleted t, the others and keywords w);
     * the APPEND itself does not fail because of them. */
    uint32_t allowed = imap_rights_flag_mask(rights);
    for (size_t i = 0; i < nitems; i++) {
        items[i].m.flags &= allowed;
        if (!(rights & ACL_WRITE))
            items[i].m.keywords = NULL;
    }

    /* A handle of its own for the job, also when the target is the
     * selected mailbox: the session's view stays the loop's alone (its
     * handle is read by notifications while the job runs). It is opened
     * in the target's store (the quota that applies is that store's), as
     * the session's user, so that a per-reader \Seen given with the
     * message is that reader's. */
    struct mailbox *mb = NULL;
    bool same_store = s->view && strcmp(mail_user_name(imap_view_store(s->view)), mail_user_name(store)) == 0;
    bool selected = same_store && strcmp(mailbox_get_info(s->view->mb)->name, name) == 0;
    int r = imap_open_target(s, store, name, &mb);
    if (r < 0) {
        if (r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_INVALID)
            imap_tagged(s, cmd, "NO", "[TRYCREATE] Mailbox does not exist");
        else
            imap_tagged(s, cmd, "NO", "[%s] Cannot open mailbox: %s", imap_storage_code(r), storage_strerror(r));
        goto out;
    }

    struct append_job *j = xcalloc(1, sizeof(*j));
    j->store = store;
    store = NULL;       /* the job's now: closed by its finish */
    j->mb = mb;
    j->items = items;
    j->nitems = nitems;
    items = NULL;
    j->selected = selected;
    j->check_8bit = !(s->enabled & (EN_UTF8 | EN_IMAP4REV2));
    /* Per-reader \Seen (a mailbox of another store without sharedseen):
     * the message rows carry the owner's \Seen, so an appender's \Seen is
     * not written with the message but set afterwards through this
     * (reader) handle, as the appender's own state. */
    j->reader_seen = !imap_is_own_store(s, j->store) && !mailbox_get_info(mb)->sharedseen;
    j->want_seen = xcalloc(nitems, sizeof(bool));
    j->msgs = xcalloc(nitems, sizeof(*j->msgs));
    j->uids = xcalloc(nitems, sizeof(uint32_t));
    for (size_t i = 0; i < nitems; i++) {
        if (j->reader_seen) {
            j->want_seen[i] = (j->items[i].m.flags & MSG_SEEN) != 0;
            j->items[i].m.flags &= ~(uint32_t)MSG_SEEN;
        }
        j->msgs[i] = j->items[i].m;
    }
    j->req.store = j->store;
    j->req.mb = mb;
    j->req.msgs = j->msgs;
    j->req.nmsgs = nitems;
    j->req.uids = j->uids;
    j->req.before = append_before;
    j->req.after = append_after;
    if (old_uid) {
        /* REPLACE: the old message of the selected mailbox goes in the
         * same store transaction when it is in the target's store (a
         * handle of the job's own, as for the target), else after the
         * append (replace_appended). */
        j->old_uid = old_uid;
        j->cross = !same_store;
        if (same_store) {
            if (selected) {
                j->xmb = mb;
            } else if ((r = imap_open_target(s, j->store, mailbox_get_info(s->view->mb)->name, &j->xmb)) < 0) {
                j->xmb = NULL;
                imap_tagged(s, cmd, "NO", "[%s] Cannot open the selected mailbox: %s", imap_storage_code(r),
                            storage_strerror(r));
                append_job_free(j);
                return CMD_DONE;
            }
            j->req.expunge_mb = j->xmb;
            j->req.expunge_uid = old_uid;
        }
    }
    return imap_cmd_job_batch(s, cmd, old_uid ? "replace" : "append", j->store, mailbox_append_batch, &j->req,
                              append_finish, j);
out:
    if (store)
        mail_user_close(store);
    free_items(items, nitems);
    return CMD_DONE;
}

/* ---- CATENATE: the messages built first, in a job of their own ---------- */

struct cat_job {
    struct append_item *items;
    size_t nitems;
    struct mail_user *store;    /* the target's */
    char *name;
    acl_rights_t rights;
    uint32_t old_uid;           /* REPLACE (RFC 8508 4.2) */
    uint64_t max;
    uint64_t room;              /* STORAGE quota left for the built messages */
    int result;
    struct cat_part *bad;
};

static void cat_job_free(struct cat_job *j)
{
    if (j->store)
        mail_user_close(j->store);
    free_items(j->items, j->nitems);
    free(j->name);
    free(j);
}

/* On the pool: every CATENATE message written to its temporary file,
 * its source messages read here (never on the loop). */
static void cat_job_run(struct job *job, void *arg)
{
    (void)job;
    struct cat_job *j = arg;
    /* The whole command is bounded as its literals are (imap-reader.c:
     * IMAP_MULTIAPPEND_MAX_FACTOR x maxmessagesize): URL parts carry no
     * literal, and up to IMAP_MAX_LITERALS messages each up to the
     * message limit would otherwise all be written out first. */
    uint64_t budget = j->max * IMAP_MULTIAPPEND_MAX_FACTOR;
    for (size_t i = 0; i < j->nitems; i++)
        if (!j->items[i].cat)
            budget -= MIN(budget, (uint64_t)j->items[i].m.len);
    for (size_t i = 0; i < j->nitems && j->result == 0; i++) {
        struct cat_msg *c = j->items[i].cat;
        if (!c)
            continue;
        j->result = imap_catenate_build(c, MIN(j->max, budget), j->room, &j->bad);
        budget -= MIN(budget, (uint64_t)c->len);
        j->room -= MIN(j->room, (uint64_t)c->len);
    }
}

static enum cmd_result cat_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct cat_job *j = arg;
    if (!s) {
        cat_job_free(j);
        return CMD_DONE;
    }
    if (j->result == CAT_ERR_BADURL && j->bad) {
        struct buf b = BUF_INIT;
        imap_write_badurl(&b, j->bad);
        imap_tagged(s, cmd, "NO", "[BADURL %s] CATENATE: the URL names no readable message or part", buf_cstr(&b));
        buf_free(&b);
        cat_job_free(j);
        return CMD_DONE;
    }
    if (j->result == CAT_ERR_TOOBIG) {
        imap_tagged(s, cmd, "NO", "[TOOBIG] Message too large");
        cat_job_free(j);
        return CMD_DONE;
    }
    if (j->result == CAT_ERR_OVERQUOTA) {
        imap_tagged(s, cmd, "NO", "[OVERQUOTA] Quota exceeded");
        cat_job_free(j);
        return CMD_DONE;
    }
    if (j->result != 0) {
        imap_tagged(s, cmd, "NO", "[%s] CATENATE failed: %s", imap_storage_code(j->result),
                    storage_strerror(j->result));
        cat_job_free(j);
        return CMD_DONE;
    }
    for (size_t i = 0; i < j->nitems; i++) {
        struct append_item *it = &j->items[i];
        if (!it->cat)
            continue;
        if (it->cat->len == 0) {
            imap_tagged(s, cmd, "NO", "[CANNOT] Empty message");
            cat_job_free(j);
            return CMD_DONE;
        }
        it->m.fd = it->cat->fd;     /* still the cat_msg's: closed with it */
        it->m.len = it->cat->len;
    }
    struct append_item *items = j->items;
    size_t nitems = j->nitems;
    struct mail_user *store = j->store;
    j->items = NULL;
    j->nitems = 0;
    j->store = NULL;
    enum cmd_result r = append_queue(s, cmd, items, nitems, store, j->name, j->rights, j->old_uid);
    cat_job_free(j);
    return r;
}

/* The rest of APPEND and REPLACE once the command is parsed: the target
 * (any namespace) and the "i" right on it (RFC 4314 4), the deferred NO
 * of a message that is empty or too large, then the job. Takes items.
 * old_uid: REPLACE's message in the selected mailbox (0: APPEND). */
static enum cmd_result append_submit(struct imap_session *s, struct imap_cmd *cmd, const struct imap_str *mbox,
                                     struct append_item *items, size_t nitems, const char *no_code,
                                     const char *no_text, uint32_t old_uid)
{
    /* The target (any namespace) and the "i" right on it (RFC 4314 4). */
    struct mbox_ref ref;
    struct mail_user *store = NULL;
    acl_rights_t rights = 0;
    if (!imap_resolve_target(s, cmd, mbox, &ref, &store, &rights))
        goto out;
    const char *name = ref.name;
    if (no_code) {
        imap_tagged(s, cmd, "NO", "[%s] %s", no_code, no_text);
        goto out;
    }
    /* CATENATE (RFC 4469): the URLs only prepared here (parsed and
     * named: imap_catenate_prepare); the catenate job resolves them (the
     * user, the mailbox, the rights on it, URLAUTH's key), reads the
     * sources and builds the messages, then the append job follows as
     * for a literal. */
    bool catenate = false;
    uint64_t plain_bytes = 0;
    for (size_t i = 0; i < nitems; i++) {
        catenate |= items[i].cat != NULL;
        if (!items[i].cat)
            plain_bytes += items[i].m.len;
    }
    if (catenate) {
        /* The checks the reader makes before a message literal is read
         * (imap_append_precheck and its per-literal checks), which a
         * CATENATE message, having no literal of its own, has not had:
         * RFC 9738 3.1, MESSAGELIMIT counts every message of the command
         * (MULTIAPPEND is atomic: nothing is appended); RFC 9208, the
         * MESSAGE quota left for all of them, here, and the STORAGE quota
         * left for their octets, in the job as the messages are built
         * (OVERQUOTA before TOOBIG only when the message fits
         * maxmessagesize, as for a literal). REPLACE leaves the quota to
         * the commit (the net change, RFC 8508 3.4), as the reader does. */
        uint32_t lim = imap_messagelimit();
        if (lim && nitems > lim) {
            imap_tagged(s, cmd, "NO", "[MESSAGELIMIT %u] Too many messages in one APPEND", lim);
            goto out;
        }
        struct room room = {INT64_MAX, INT64_MAX};
        int qr = old_uid ? 0 : quota_roots_of(store, name, room_cb, &room);
        if (qr < 0)
            log_warn("APPEND: quota of %s/%s: %s", mail_user_name(store), name, storage_strerror(qr));
        if ((int64_t)nitems > room.msgs || (int64_t)plain_bytes > room.bytes) {
            imap_tagged(s, cmd, "NO", "[OVERQUOTA] Quota exceeded");
            goto out;
        }
        for (size_t i = 0; i < nitems; i++)
            if (items[i].cat)
                imap_catenate_prepare(s, cmd, items[i].cat);
        struct cat_job *cj = xcalloc(1, sizeof(*cj));
        cj->items = items;
        cj->nitems = nitems;
        cj->store = store;
        cj->name = xstrdup(name);
        cj->rights = rights;
        cj->old_uid = old_uid;
        /* RFC 4469 4.2: TOOBIG over the server's limit, and never over 4 GB */
        long long maxsize = config_int(CFG_MAXMESSAGESIZE);
        cj->max = maxsize > 0 ? (uint64_t)maxsize : UINT32_MAX;
        cj->room = (uint64_t)(room.bytes - (int64_t)plain_bytes);
        return imap_cmd_job(s, cmd, "catenate", NULL, cat_job_run, cat_job_finish, cj);
    }
    return append_queue(s, cmd, items, nitems, store, name, rights, old_uid);
out:
    if (store)
        mail_user_close(store);
    free_items(items, nitems);
    return CMD_DONE;
}

IMAP_CMD(cmd_append)
{
    struct imap_parser *ps = &cmd->ps;
    if (s->state != IMAP_AUTH && s->state != IMAP_SELECTED) {
        imap_tagged(s, cmd, "BAD", "Not authenticated");
        return CMD_DONE;
    }
    struct imap_str mbox;
    if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &mbox) || mbox.file) {
        imap_tagged(s, cmd, "BAD", "Expected: APPEND mailbox [flags] [date-time] literal");
        return CMD_DONE;
    }

    long long maxsize = config_int(CFG_MAXMESSAGESIZE);
    struct append_item *items = NULL;
    size_t nitems = 0;
    const char *err = NULL;
    const char *no_code = NULL, *no_text = NULL;
    struct buf kw = BUF_INIT;
    size_t ncatparts = 0;

    /* 1*(SP [flag-list SP] [date-time SP] literal) */
    do {
        if (!imap_p_sp(ps)) {
            err = "Expected SP before message";
            goto bad;
        }
        if (nitems >= IMAP_MAX_LITERALS) {
            err = "Too many messages in one APPEND";
            goto bad;
        }
        items = xrealloc(items, (nitems + 1) * sizeof(*items));
        if (!parse_message(s, cmd, &kw, &items[nitems], maxsize, &ncatparts, &err, &no_code, &no_text))
            goto bad;
        nitems++;
    } while (!imap_p_end(ps));
    buf_free(&kw);

    return append_submit(s, cmd, &mbox, items, nitems, no_code, no_text, 0);
bad:
    buf_free(&kw);
    imap_tagged(s, cmd, "BAD", "%s", err);
    free_items(items, nitems);
    return CMD_DONE;
}

/* REPLACE and UID REPLACE (RFC 8508): replace = "REPLACE" SP seq-number
 * SP mailbox append-message (one message, as APPEND's), selected state
 * only (the command table; UIDONLY refuses the message-number form,
 * RFC 9586 3.2, before this runs). The new message is appended to the
 * mailbox and the old one expunged from the selected mailbox as one
 * action (3.4): one store transaction when both are in one store
 * (mailbox_append_batch with append_req.expunge_mb), else the append
 * first and then the expunge, so a crash never loses the message. The
 * checks come before anything is written: the message exists, the rights
 * of UID STORE \Deleted ("t") and UID EXPUNGE ("e") on the selected
 * mailbox and of APPEND ("i") on the target (4.1), a read-write view. */
IMAP_CMD(cmd_replace)
{
    struct imap_parser *ps = &cmd->ps;
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return CMD_DONE;
    }
    struct seqset set = {0};
    struct imap_str mbox;
    if (!imap_p_sp(ps) || !imap_p_seqset(ps, &set) || set.dollar || set.n != 1 || set.r[0].lo != set.r[0].hi ||
        !imap_p_sp(ps) || !imap_p_astring(ps, cmd, &mbox) || mbox.file || !imap_p_sp(ps)) {
        seqset_free(&set);
        imap_tagged(s, cmd, "BAD", "Expected: %s %s mailbox [flags] [date-time] literal", cmd->name,
                    cmd->uid ? "uid" : "seq-number");
        return CMD_DONE;
    }
    const char *err = NULL, *no_code = NULL, *no_text = NULL;
    struct buf kw = BUF_INIT;
    struct append_item *item = xcalloc(1, sizeof(*item));
    /* RFC 8508 4.2: with CATENATE advertised, REPLACE takes it too */
    size_t ncatparts = 0;
    bool parsed =
        parse_message(s, cmd, &kw, item, config_int(CFG_MAXMESSAGESIZE), &ncatparts, &err, &no_code, &no_text);
    buf_free(&kw);
    if (parsed && !imap_p_end(ps)) {
        err = "Junk after the message (REPLACE takes one message)";
        parsed = false;
    }
    if (!parsed) {
        seqset_free(&set);
        imap_tagged(s, cmd, "BAD", "%s", err);
        free_items(item, 1);
        return CMD_DONE;
    }
    uint32_t count = s->view->count;
    if (!cmd->uid && (count == 0 || (set.r[0].lo != SEQ_STAR && set.r[0].lo > count))) {
        seqset_free(&set);
        free_items(item, 1);
        imap_tagged(s, cmd, "BAD", "Invalid message sequence number");
        return CMD_DONE;
    }
    size_t n = 0;
    uint32_t *uids = imap_view_resolve(s, &set, cmd->uid, &n);
    seqset_free(&set);
    uint32_t old_uid = uids && n == 1 ? uids[0] : 0;
    free(uids);
    if (!old_uid) {
        /* UID REPLACE of a UID that is not (or no longer) in the mailbox */
        imap_tagged(s, cmd, "NO", "Replace failed: no such message");
        free_items(item, 1);
        return CMD_DONE;
    }
    if (s->view->readonly) {
        imap_tagged(s, cmd, "NO", "[READ-ONLY] Mailbox is read-only");
        free_items(item, 1);
        return CMD_DONE;
    }
    if ((imap_view_rights(s->view) & (ACL_DELETEMSG | ACL_EXPUNGE)) != (ACL_DELETEMSG | ACL_EXPUNGE)) {
        imap_tagged(s, cmd, "NO", "[NOPERM] You may not remove messages from this mailbox");
        free_items(item, 1);
        return CMD_DONE;
    }
    return append_submit(s, cmd, &mbox, item, 1, no_code, no_text, old_uid);
}
