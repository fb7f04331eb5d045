/* imap-cmd-fetch.c - FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516
 * BINARY; RFC 7162 CHANGEDSINCE / VANISHED; RFC 8514; RFC 8474).
 *
 * Output is incremental with back-pressure: messages are handled in UID
 * order, records come in batches (imap-fetch-batch.c), and one message's
 * response at a time is built as a list of segments (text in a buffer,
 * large literals pointing straight into the mapped message). When the
 * connection's output is full the handler returns CMD_MORE and resumes
 * from on_drain exactly where it stopped, so a huge FETCH never holds more
 * than about one message plus the connection's queue.
 *
 * ENVELOPE, BODY, BODYSTRUCTURE and whole-message header sections come
 * from the cache; only content sections read (and, for parts, parse) the
 * message.
 */
#include "imap-fetch.h"
#include "imap-search.h"
#include "mime.h"
#include "log.h"

#define FETCH_CHUNK (256 * 1024)        /* largest single write */
#define FETCH_INLINE_MAX (16 * 1024)    /* literals up to this are copied into the text */
#define FETCH_YIELD_MSGS 20000
#define FETCH_FLUSH_AT (64 * 1024)      /* small responses are written together */          /* yield to the event loop this often */

struct fetch_seg {
    const char *ext;    /* external data, or NULL: text at [off, off+len) of out */
    size_t off, len;
    bool nonul;         /* ext data that contains NUL: written with NUL -> 0x80 */
};

struct fetch_state {
    struct fetch_req req;
    uint32_t *uids;
    size_t nuids;
    struct rec_batch batch;
    size_t bi;
    bool *seen_set;             /* per batch record: \Seen set by this FETCH */
    size_t seen_cap;
    size_t gone;                /* messages that vanished while fetching */
    bool unknown_cte;
    bool failed;                /* storage error */
    size_t since_yield;
    bool uid_cmd;               /* UID FETCH: UID in every response */

    /* the message being written */
    struct buf out;
    size_t mark;                /* start of the pending text segment */
    struct fetch_seg *segs;
    size_t nsegs, segcap, segpos, segoff;
    bool have_cache, have_content;
    struct msg_cache cache;
    struct msg_content content;
    struct mime_message *mime;
    struct buf *bufs;           /* decoded data referenced by segments */
    size_t nbufs;
    bool has_ext;               /* a segment points into the resources above */
    bool flushing;              /* segments queued for writing */
    struct buf scratch;         /* one chunk of a NUL-replaced segment */
};

static void push_seg(struct fetch_state *st, const char *ext, size_t off, size_t len)
{
    if (len == 0)
        return;
    if (st->nsegs >= st->segcap) {
        st->segcap = st->segcap ? st->segcap * 2 : 8;
        st->segs = xrealloc(st->segs, st->segcap * sizeof(*st->segs));
    }
    st->segs[st->nsegs++] = (struct fetch_seg){ext, off, len, false};
}

/* NUL in a non-binary response string (see emit_literal). */
#define NUL_REPLACEMENT '\x80'

static void replace_nuls(char *p, size_t n)
{
    char *e = p + n;
    while ((p = memchr(p, '\0', (size_t)(e - p))) != NULL)
        *p++ = NUL_REPLACEMENT;
}

static void close_text(struct fetch_state *st)
{
    push_seg(st, NULL, st->mark, st->out.len - st->mark);
    st->mark = st->out.len;
}

/* Resources of the message just built (inlined data no longer needs them). */
static void res_release(struct fetch_state *st)
{
    if (st->have_cache)
        msg_cache_free(&st->cache);
    if (st->mime)
        mime_free(st->mime);
    if (st->have_content)
        msg_content_release(&st->content);
    for (size_t i = 0; i < st->nbufs; i++)
        buf_free(&st->bufs[i]);
    free(st->bufs);
    st->bufs = NULL;
    st->nbufs = 0;
    st->have_cache = st->have_content = false;
    st->mime = NULL;
}

static void out_reset(struct fetch_state *st)
{
    buf_reset(&st->out);
    st->mark = 0;
    st->nsegs = st->segpos = st->segoff = 0;
    st->has_ext = false;
}

static void msg_release(struct fetch_state *st)
{
    res_release(st);
    out_reset(st);
}

static void fetch_state_free(void *p)
{
    struct fetch_state *st = p;
    msg_release(st);
    buf_free(&st->out);
    buf_free(&st->scratch);
    free(st->segs);
    fetch_req_free(&st->req);
    free(st->uids);
    rec_batch_free(&st->batch);
    free(st->seen_set);
    free(st);
}

/* Write queued segments until done (true) or the connection is full. */
static bool write_segs(struct imap_session *s, struct fetch_state *st)
{
    if (!s->conn || s->closed) {
        st->segpos = st->nsegs;     /* nobody to write to */
        return true;
    }
    while (st->segpos < st->nsegs) {
        if (conn_output_full(s->conn))
            return false;
        const struct fetch_seg *g = &st->segs[st->segpos];
        const char *base = g->ext ? g->ext : st->out.data + g->off;
        size_t n = MIN(g->len - st->segoff, (size_t)FETCH_CHUNK);
        if (g->nonul) {
            /* the mapped message is read-only: fix up a copy, chunk by chunk */
            buf_reset(&st->scratch);
            buf_append(&st->scratch, base + st->segoff, n);
            replace_nuls(st->scratch.data, n);
            imap_write(s, st->scratch.data, n);
        } else {
            imap_write(s, base + st->segoff, n);
        }
        st->segoff += n;
        if (st->segoff == g->len) {
            st->segpos++;
            st->segoff = 0;
        }
    }
    return true;
}

/* A literal (or "" / NIL). Large data is referenced, not copied.
 *
 * NUL octets. A message stored from a binary APPEND (RFC 3516 4.4,
 * literal8) may contain NUL. Only the BINARY[...] data item may return it
 * as is, in a literal8 (RFC 3516 4.3; RFC 9051 4.3: "unencoded binary
 * strings are not permitted, unless returned in a <literal8> in response
 * to a BINARY.PEEK[...]/BINARY[...] FETCH"); BODY[...] and RFC822* are
 * nstrings, whose literals must not contain NUL (RFC 9051 9, rule 3 and
 * CHAR8 = %x01-ff). Sending "~{N}" there would break clients that follow
 * the grammar, so for the non-binary items every NUL is sent as the octet
 * 0x80 instead (as Dovecot does): the length stays that of the stored
 * message, so RFC822.SIZE and <partial> offsets remain consistent, and the
 * exact bytes stay available through BINARY[]. */
static void emit_literal(struct fetch_state *st, const char *data, size_t len, bool binary)
{
    if (!data) {
        buf_puts(&st->out, "NIL");
        return;
    }
    if (len == 0) {
        buf_puts(&st->out, "\"\"");
        return;
    }
    bool has_nul = memchr(data, '\0', len) != NULL;
    bool lit8 = binary && has_nul;   /* RFC 3516 4.3 */
    buf_printf(&st->out, "%s{%zu}\r\n", lit8 ? "~" : "", len);
    if (len <= FETCH_INLINE_MAX) {
        size_t at = st->out.len;
        buf_append(&st->out, data, len);
        if (has_nul && !binary)
            replace_nuls(st->out.data + at, len);
    } else {
        close_text(st);
        push_seg(st, data, 0, len);
        st->segs[st->nsegs - 1].nonul = has_nul && !binary;
        st->has_ext = true;
    }
}

static bool load_cache(struct fetch_state *st, struct mailbox *mb, uint32_t uid, int *err)
{
    if (st->have_cache)
        return true;
    int r = mailbox_get_cache(mb, uid, &st->cache);
    if (r < 0) {
        *err = r;
        return false;
    }
    st->have_cache = true;
    return true;
}

static bool load_content(struct fetch_state *st, struct mailbox *mb, uint32_t uid, int *err)
{
    if (st->have_content)
        return true;
    int r = mailbox_get_content(mb, uid, &st->content);
    if (r < 0) {
        *err = r;
        return false;
    }
    st->have_content = true;
    return true;
}

static struct buf *new_buf(struct fetch_state *st)
{
    st->bufs = xrealloc(st->bufs, (st->nbufs + 1) * sizeof(*st->bufs));
    struct buf *b = &st->bufs[st->nbufs++];
    buf_init(b);
    return b;
}

/* The data of a BODY[section]: *data NULL means NIL (no such part). */
static bool section_data(struct fetch_state *st, struct mailbox *mb, uint32_t uid, const struct fetch_section *sec,
                         const char **data, size_t *len, int *err)
{
    *data = NULL;
    *len = 0;
    const char *hdr = NULL, *body = NULL;
    size_t hdr_len = 0, body_len = 0;
    bool is_header = sec->kind == SEC_HEADER || sec->kind == SEC_HEADER_FIELDS || sec->kind == SEC_HEADER_FIELDS_NOT;

    if (!sec->part[0] && is_header) {
        if (!load_cache(st, mb, uid, err))
            return false;
        if (st->cache.header) {
            hdr = st->cache.header;
            hdr_len = st->cache.header_len;
        }
    }
    if (!hdr) {
        if (!load_content(st, mb, uid, err))
            return false;
        const char *d = st->content.data;
        size_t l = st->content.len;
        if (!sec->part[0]) {
            if (sec->kind == SEC_ALL) {
                *data = d;
                *len = l;
                return true;
            }
            hdr_len = mime_header_length(d, l);
            hdr = d;
            body = d + hdr_len;
            body_len = l - hdr_len;
        } else {
            if (!st->mime)
                st->mime = mime_parse(d, l);
            const struct mime_part *p = mime_find_section(st->mime, sec->part);
            if (!p)
                return true;    /* NIL */
            if (sec->kind == SEC_ALL) {
                *data = d + p->body_off;
                *len = p->body_len;
                return true;
            }
            if (sec->kind == SEC_MIME) {
                *data = d + p->hdr_off;
                *len = p->hdr_len;
                return true;
            }
            /* HEADER / TEXT of a part: only for message/rfc822 parts. */
            if (!p->message)
                return true;    /* NIL */
            hdr = d + p->message->hdr_off;
            hdr_len = p->message->hdr_len;
            body = d + p->message->body_off;
            body_len = p->message->body_len;
        }
    }
    switch (sec->kind) {
    case SEC_HEADER:
        *data = hdr;
        *len = hdr_len;
        break;
    case SEC_TEXT:
        *data = body ? body : "";
        *len = body ? body_len : 0;
        break;
    case SEC_HEADER_FIELDS:
    case SEC_HEADER_FIELDS_NOT: {
        struct buf *b = new_buf(st);
        mime_header_filter(b, hdr, hdr_len, (const char *const *)sec->fields, sec->nfields,
                           sec->kind == SEC_HEADER_FIELDS_NOT);
        *data = b->data ? b->data : "";
        *len = b->len;
        break;
    }
    default:
        break;
    }
    return true;
}

/* Decoded content of BINARY[part]. *unknown set for an unknown CTE. */
static bool binary_data(struct fetch_state *st, struct mailbox *mb, uint32_t uid, const struct fetch_section *sec,
                        const char **data, size_t *len, bool *unknown, int *err)
{
    *data = NULL;
    *len = 0;
    *unknown = false;
    if (!load_content(st, mb, uid, err))
        return false;
    if (!st->mime)
        st->mime = mime_parse(st->content.data, st->content.len);
    const struct mime_part *p = mime_find_section(st->mime, sec->part);
    if (!p)
        return true;    /* NIL */
    const char *raw = st->content.data + p->body_off;
    if (p->nchildren || p->message) {
        /* A multipart or message body has no transfer decoding of its own. */
        if (!sec->part[0]) {
            *data = st->content.data;
            *len = st->content.len;
        } else {
            *data = raw;
            *len = p->body_len;
        }
        return true;
    }
    if (!p->encoding || strcmp(p->encoding, "7bit") == 0 || strcmp(p->encoding, "8bit") == 0 ||
        strcmp(p->encoding, "binary") == 0) {
        /* Nothing to decode: the part (or whole message) as stored. */
        *data = sec->part[0] ? raw : st->content.data;
        *len = sec->part[0] ? p->body_len : st->content.len;
        return true;
    }
    struct buf *b = new_buf(st);
    if (!sec->part[0]) {
        /* BINARY[] is the whole message: its header, then the decoded
         * body (RFC 3516 4.2 applies the decoding to the content). */
        buf_append(b, st->content.data + p->hdr_off, p->hdr_len);
    }
    if (!mime_decode_transfer(p->encoding, raw, p->body_len, b)) {
        *unknown = true;
        return true;
    }
    *data = b->data ? b->data : "";
    *len = b->len;
    return true;
}

/* Build one message's FETCH response into st. Returns false when the
 * message could not be read (st->gone / st->failed / st->unknown_cte). */
static bool build_msg(struct imap_session *s, struct fetch_state *st, const struct msg_record *rec, bool seen_now)
{
    struct imap_view *v = s->view;
    struct mailbox *mb = v->mb;
    uint32_t msn = imap_view_msn(v, rec->uid);
    if (msn == 0)
        return true;
    const struct fetch_req *req = &st->req;
    struct buf *o = &st->out;
    int err = 0;
    bool first = true;
    /* Where this message starts, to take it back on failure; several
     * small responses share one buffer and one write. */
    size_t out_start = o->len, mark_start = st->mark, segs_start = st->nsegs;

    buf_printf(o, "* %u FETCH (", msn);
#define SEP() do { if (!first) buf_putc(o, ' '); first = false; } while (0)
    if (st->uid_cmd) {
        SEP();
        buf_printf(o, "UID %u", rec->uid);
    }
    for (size_t i = 0; i < req->nitems; i++) {
        const struct fetch_item *it = &req->items[i];
        switch (it->type) {
        case FI_UID:
            if (st->uid_cmd)
                break;
            SEP();
            buf_printf(o, "UID %u", rec->uid);
            break;
        case FI_FLAGS:
            SEP();
            buf_puts(o, "FLAGS ");
            imap_write_flag_list(o, rec->flags, rec->keywords, imap_view_recent(v, rec->uid));
            break;
        case FI_INTERNALDATE:
            SEP();
            buf_puts(o, "INTERNALDATE \"");
            imap_format_datetime(o, rec->internaldate, rec->internaldate_tz);
            buf_putc(o, '"');
            break;
        case FI_RFC822_SIZE:
            SEP();
            buf_printf(o, "RFC822.SIZE %llu", (unsigned long long)rec->size);
            break;
        case FI_MODSEQ:
            SEP();
            buf_printf(o, "MODSEQ (%llu)", (unsigned long long)rec->modseq);
            break;
        case FI_SAVEDATE:
            SEP();
            if (rec->savedate) {
                buf_puts(o, "SAVEDATE \"");
                imap_format_datetime(o, rec->savedate, 0);   /* our clock: UTC */
                buf_putc(o, '"');
            } else {
                buf_puts(o, "SAVEDATE NIL");
            }
            break;
        case FI_EMAILID: {
            char id[40];
            search_emailid(rec, id);
            SEP();
            buf_printf(o, "EMAILID (%s)", id);
            break;
        }
        case FI_THREADID:
            SEP();
            if (rec->threadid[0])
                buf_printf(o, "THREADID (T%s)", rec->threadid);
            else
                buf_puts(o, "THREADID NIL");
            break;
        case FI_ENVELOPE:
        case FI_BODY:
        case FI_BODYSTRUCTURE: {
            if (!load_cache(st, mb, rec->uid, &err))
                goto fail;
            const char *txt = it->type == FI_ENVELOPE ? st->cache.envelope
                              : it->type == FI_BODY   ? st->cache.body
                                                      : st->cache.bodystructure;
            if (!txt) {
                err = STORAGE_ERR_IO;
                goto fail;
            }
            SEP();
            buf_printf(o, "%s %s", it->name, txt);
            break;
        }
        case FI_SECTION: {
            const char *data;
            size_t len, start, n;
            if (!section_data(st, mb, rec->uid, &it->sec, &data, &len, &err))
                goto fail;
            SEP();
            buf_printf(o, "%s ", it->name);
            fetch_partial_slice(len, it->partial, it->offset, it->count, &start, &n);
            emit_literal(st, data ? data + start : NULL, n, false);
            break;
        }
        case FI_BINARY:
        case FI_BINARY_SIZE: {
            const char *data;
            size_t len, start, n;
            bool unknown;
            if (!binary_data(st, mb, rec->uid, &it->sec, &data, &len, &unknown, &err))
                goto fail;
            if (unknown) {
                st->unknown_cte = true;
                goto undo;
            }
            SEP();
            if (it->type == FI_BINARY_SIZE) {
                buf_printf(o, "%s %zu", it->name, data ? len : 0);
                break;
            }
            buf_printf(o, "%s ", it->name);
            fetch_partial_slice(len, it->partial, it->offset, it->count, &start, &n);
            emit_literal(st, data ? data + start : NULL, n, true);
            break;
        }
        }
    }
    /* RFC 9051 6.4.5: an implicit \Seen change is reported with FLAGS;
     * with CONDSTORE enabled also with UID and MODSEQ (RFC 7162 3.2.4:
     * "a FETCH/UID FETCH that implicitly set the \Seen flag"). */
    if (seen_now) {
        if (!req->has[FI_FLAGS]) {
            SEP();
            buf_puts(o, "FLAGS ");
            imap_write_flag_list(o, rec->flags, rec->keywords, imap_view_recent(v, rec->uid));
        }
        if (v->condstore && !st->uid_cmd && !req->has[FI_UID]) {
            SEP();
            buf_printf(o, "UID %u", rec->uid);
        }
        if (v->condstore && !req->has[FI_MODSEQ]) {
            SEP();
            buf_printf(o, "MODSEQ (%llu)", (unsigned long long)rec->modseq);
        }
    }
#undef SEP
    buf_puts(o, ")\r\n");
    return true;
fail:
    if (err == STORAGE_ERR_NOTFOUND || err == STORAGE_ERR_EXPUNGED) {
        st->gone++;
    } else {
        log_err("FETCH uid %u in %s: %s", rec->uid, mailbox_get_info(mb)->name, storage_strerror(err));
        st->failed = true;
    }
undo:
    buf_truncate(o, out_start);
    st->mark = mark_start;
    st->nsegs = segs_start;
    st->has_ext = false;
    res_release(st);
    return false;
}

static bool wanted(const struct fetch_state *st, const struct msg_record *rec)
{
    return !st->req.has_changedsince || rec->modseq > st->req.changedsince;
}

/* The implicit \Seen write of a non-PEEK content fetch (RFC 9051 6.4.5):
 * one storage transaction for the unseen messages of a batch that the
 * request returns. Self-contained - it touches the mailbox handle, the
 * batch, seen_set and *own_modseq, never the session or its view - so it
 * can run where the batch is read, also in a job on the pool holding the
 * store (storage_job_begin). Records it changed get their new flags and
 * modseq in the batch and seen_set[i] = true; *own_modseq gets the
 * transaction's modseq (0: nothing changed), for imap_view_note_own on
 * the loop. Returns 0 or a storage error (logged by the caller). */
struct seen_ctx {
    struct rec_batch *b;
    bool *seen_set;
    uint64_t modseq;
};

static int seen_changed_cb(const struct msg_record *rec, void *arg)
{
    struct seen_ctx *c = arg;
    struct rec_batch *b = c->b;
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->recs[mid].uid < rec->uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->n && b->recs[lo].uid == rec->uid) {
        b->recs[lo].flags = rec->flags;
        b->recs[lo].modseq = rec->modseq;
        c->seen_set[lo] = true;
    }
    c->modseq = rec->modseq;    /* one transaction: one modseq */
    return 0;
}

static int fetch_store_seen(struct mailbox *mb, const struct fetch_state *st, struct rec_batch *b, bool *seen_set,
                            uint64_t *own_modseq)
{
    *own_modseq = 0;
    uint32_t *todo = xmalloc(b->n * sizeof(uint32_t) + 1);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!(b->recs[i].flags & MSG_SEEN) && wanted(st, &b->recs[i]))
            todo[n++] = b->recs[i].uid;
    int r = 0;
    if (n > 0) {
        struct store_req sr = {.mode = STORE_ADD, .flags = MSG_SEEN};
        struct seen_ctx c = {b, seen_set, 0};
        r = mailbox_store(mb, todo, n, &sr, seen_changed_cb, &c, NULL, NULL);
        *own_modseq = c.modseq;
    }
    free(todo);
    return r;
}

/* Set \Seen on the batch's unseen messages when the request reads content
 * (RFC 9051 6.4.5), in one storage transaction per batch. Still on the
 * loop: it runs inside fetch_run's batch loop, between reading a batch of
 * records and writing their responses, which is where the off-loop read
 * of FETCH puts its job; fetch_store_seen belongs in that job (it takes
 * no session), so it moves with it instead of getting a second hand-off
 * per batch of its own. */
static void mark_seen(struct imap_session *s, struct fetch_state *st)
{
    struct rec_batch *b = &st->batch;
    if (b->n > st->seen_cap) {
        st->seen_cap = b->n;
        st->seen_set = xrealloc(st->seen_set, st->seen_cap * sizeof(bool));
    }
    if (b->n)
        memset(st->seen_set, 0, b->n * sizeof(bool));
    /* RFC 4314 4: an implicit \Seen is set only with the "s" right (else
     * BODY[] acts as BODY.PEEK[]), and never in a read-only view. In a
     * shared mailbox without sharedseen the handle (mailbox_open_as)
     * stores the reader's own \Seen. */
    if (!st->req.sets_seen || !imap_view_may_set_seen(s->view))
        return;
    uint64_t own = 0;
    int r = fetch_store_seen(s->view->mb, st, b, st->seen_set, &own);
    if (own)
        imap_view_note_own(s->view, 0, own);
    if (r < 0)
        log_warn("FETCH: setting \\Seen failed: %s", storage_strerror(r));
}

static void fetch_finish(struct imap_session *s, struct imap_cmd *cmd, struct fetch_state *st)
{
    if (st->unknown_cte)
        imap_tagged(s, cmd, "NO", "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding");
    else if (st->failed)
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Internal error reading messages");
    else if (!st->uid_cmd && (st->gone || st->batch.missing))
        /* RFC 9051 7.5.1: the MSNs still name messages another session
         * expunged whose data is not available any more (normally it is:
         * storage keeps it until this client is told, RFC 2180 4.1.1;
         * not e.g. for messages RENAME INBOX moved away); UID FETCH
         * simply ignores UIDs that are gone. */
        imap_tagged(s, cmd, "NO", "[EXPUNGEISSUED] Some messages were expunged");
    else
        imap_tagged(s, cmd, "OK", "Fetch completed");
}

static enum cmd_result fetch_run(struct imap_session *s, struct imap_cmd *cmd)
{
    struct fetch_state *st = cmd->state;
    if (!s->view) {
        imap_tagged(s, cmd, "NO", "Mailbox closed");
        return CMD_DONE;
    }
    for (;;) {
        if (st->flushing) {
            if (!write_segs(s, st)) {
                cmd->resume = fetch_run;
                return CMD_MORE;
            }
            msg_release(st);
            st->flushing = false;
        }
        if (st->unknown_cte || st->failed || s->closed || !s->conn)
            break;
        if (st->bi >= st->batch.n) {
            int r = rec_batch_next(s->view->mb, &st->batch);
            st->bi = 0;
            if (r < 0) {
                if (!imap_view_gone_err(s, r))
                    log_err("FETCH: reading records: %s", storage_strerror(r));
                st->failed = true;
                break;
            }
            if (st->batch.n == 0)
                break;
            mark_seen(s, st);
        }
        size_t i = st->bi++;
        const struct msg_record *rec = &st->batch.recs[i];
        if (!wanted(st, rec))
            continue;
        build_msg(s, st, rec, st->seen_set[i]);
        if (!st->has_ext)
            res_release(st);    /* all data was copied into the text */
        if (st->has_ext || st->out.len >= FETCH_FLUSH_AT) {
            close_text(st);
            st->flushing = true;
        }
        /* Let other connections run now and then even if this client
         * reads fast enough never to fill its output queue. */
        if (++st->since_yield >= FETCH_YIELD_MSGS && s->conn && conn_output_pending(s->conn) > 0) {
            st->since_yield = 0;
            close_text(st);
            st->flushing = true;
            cmd->resume = fetch_run;
            return CMD_MORE;
        }
    }
    close_text(st);
    if (!write_segs(s, st)) {
        st->flushing = true;
        cmd->resume = fetch_run;
        return CMD_MORE;
    }
    msg_release(st);
    fetch_finish(s, cmd, st);
    return CMD_DONE;
}

/* Non-UID sets must name existing messages (RFC 9051 6.4.5 / 9). */
static bool msn_set_valid(const struct seqset *set, uint32_t count)
{
    if (set->dollar)
        return true;
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
        if (count == 0)
            return false;
        if ((lo != UINT32_MAX && lo > count) || (hi != UINT32_MAX && hi > count))
            return false;
    }
    return true;
}

struct vanished_ctx {
    const struct seqset *set;
    uint32_t max;
    uint32_t *uids;
    size_t n, cap;
};

static int vanished_cb(uint32_t uid, void *arg)
{
    struct vanished_ctx *c = arg;
    if (!seqset_contains(c->set, uid, c->max))
        return 0;
    if (c->n >= c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->uids = xrealloc(c->uids, c->cap * sizeof(uint32_t));
    }
    c->uids[c->n++] = uid;
    return 0;
}

/* RFC 7162 3.2.6: "* VANISHED (EARLIER) uids" before the FETCH responses. */
static void write_vanished_earlier(struct imap_session *s, const struct seqset *set, uint64_t since)
{
    struct mailbox *mb = s->view->mb;
    const struct mailbox_info *info = mailbox_get_info(mb);
    struct vanished_ctx c = {.set = set, .max = info->uidnext > 0 ? info->uidnext - 1 : 0};
    if (set->dollar)
        return;
    int r = mailbox_vanished_since(mb, since, vanished_cb, &c);
    if (r < 0) {
        log_warn("VANISHED (EARLIER): %s", storage_strerror(r));
    } else if (c.n > 0) {
        /* Sort is guaranteed by storage (ascending). */
        struct buf b = BUF_INIT;
        buf_puts(&b, "* VANISHED (EARLIER) ");
        seqset_write_uids(&b, c.uids, c.n);
        buf_puts(&b, "\r\n");
        imap_write(s, b.data, b.len);
        buf_free(&b);
    }
    free(c.uids);
}

IMAP_CMD(cmd_fetch)
{
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return CMD_DONE;
    }
    struct seqset set = {0};
    if (!imap_p_sp(&cmd->ps) || !imap_p_seqset(&cmd->ps, &set)) {
        seqset_free(&set);
        imap_tagged(s, cmd, "BAD", "Invalid sequence set");
        return CMD_DONE;
    }
    struct fetch_state *st = xcalloc(1, sizeof(*st));
    const char *err = NULL;
    if (!fetch_parse(&cmd->ps, cmd, &st->req, &err)) {
        imap_tagged(s, cmd, "BAD", "%s", err ? err : "Invalid FETCH items");
        goto out_free;
    }
    if (!cmd->uid && !msn_set_valid(&set, s->view->count)) {
        imap_tagged(s, cmd, "BAD", "Invalid message sequence number");
        goto out_free;
    }
    if (st->req.vanished && (!cmd->uid || !(s->enabled & EN_QRESYNC))) {
        /* RFC 7162 3.2.6: only UID FETCH, only after ENABLE QRESYNC. */
        imap_tagged(s, cmd, "BAD", "VANISHED requires UID FETCH and ENABLE QRESYNC");
        goto out_free;
    }
    if (st->req.has_changedsince || st->req.has[FI_MODSEQ])
        imap_enable_condstore(s);      /* RFC 7162 3.1: enables CONDSTORE */

    st->uids = imap_view_resolve(s, &set, cmd->uid, &st->nuids);
    if (st->req.vanished)
        write_vanished_earlier(s, &set, st->req.changedsince);
    seqset_free(&set);
    st->batch.uids = st->uids;
    st->batch.nuids = st->uids ? st->nuids : 0;
    /* Few records per batch when each needs content: bounded memory and
     * \Seen stores; many when only metadata is fetched. */
    st->batch.max = st->req.need_content ? 64 : 4096;
    /* RFC 2180 4.1.1: a message another session expunged is returned as
     * it was until this client has been sent its EXPUNGE (which RFC 9051
     * 7.5.1 forbids during a FETCH), instead of failing the FETCH. Not
     * with VANISHED (RFC 7162 3.2.6): the VANISHED (EARLIER) just sent
     * already reported those UIDs as expunged. */
    st->batch.expunged_too = !st->req.vanished;
    st->uid_cmd = cmd->uid;
    cmd->state = st;
    cmd->state_free = fetch_state_free;
    return fetch_run(s, cmd);

out_free:
    seqset_free(&set);
    fetch_state_free(st);
    return CMD_DONE;
}
