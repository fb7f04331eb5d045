/* imap-cmd-fetch.c - FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516
 * BINARY; RFC 7162 CHANGEDSINCE / VANISHED; RFC 8514; RFC 8474; RFC 8970
 * PREVIEW).
 *
 * Output is incremental with back-pressure: messages are handled in UID
 * order, records come in batches (imap-fetch-batch.c), and a chunk of
 * responses is built as a list of segments (text in a buffer, large
 * literals pointing straight into the mapped messages). When the
 * connection's output is full the handler returns CMD_MORE and resumes
 * from on_drain exactly where it stopped, so a huge FETCH never holds more
 * than one chunk (below) plus the connection's queue.
 *
 * ENVELOPE, BODY, BODYSTRUCTURE and whole-message header sections come
 * from the cache; only content sections read (and, for parts, parse) the
 * message.
 *
 * Off the loop (issue 10, jobs.h): reading records and caches, setting
 * \Seen, opening, mapping and parsing message files, decoding, and
 * building the responses run as jobs on the pool ("fetch", keyed by the
 * store), one chunk at a time: a job takes the next batch of records (a
 * snapshot of their MSNs and \Recent made on the loop: the job never
 * touches the session) and builds responses until FETCH_PREP_BYTES are
 * prepared, making the message data its literals point to resident, at
 * most FETCH_RESIDENT_BYTES at a time. The loop only writes the chunk,
 * with the same back-pressure as before, and asks for the next chunk (or
 * the next resident window of a big literal) when it is written. Small
 * FETCHes of record and cache items stay on the loop (fetch_on_loop).
 */
#include "imap-fetch.h"
#include "imap-search.h"
#include "jobs.h"
#include "mime.h"
#include "log.h"

#define FETCH_CHUNK (256 * 1024)        /* largest single write */
#define FETCH_INLINE_MAX (16 * 1024)    /* literals up to this are copied into the text */
/* A chunk: responses built by one job, text plus the data their literals
 * point to; at least one message, however big. */
#define FETCH_PREP_BYTES (4 * 1024 * 1024)
/* Message data made resident ahead of the writes, per job. */
#define FETCH_RESIDENT_BYTES (4 * 1024 * 1024)
/* FETCHes that stay on the loop: no section or BINARY item (only record
 * fields and cached ENVELOPE/BODY/BODYSTRUCTURE, which never read a
 * message file) over at most this many messages (records only / with
 * cache items). Measured handler times on the 2-core test machine
 * (median, 90th percentile): FLAGS of 256 records 0.28/0.46 ms, five
 * record items of 256 0.53/1.0 ms, of a 4096-record batch 5 ms;
 * ENVELOPE+BODYSTRUCTURE (a cache query each) of 32 messages 0.25/0.31
 * ms, of 128 1.5 ms. Hence 128 records (~0.15-0.25 ms) and 16 with cache
 * items (~0.13 ms); anything more is a job. */
#define FETCH_LOOP_RECORDS 128
#define FETCH_LOOP_CACHED 16

struct fetch_seg {
    const char *ext;    /* external data, or NULL: text at [off, off+len) of out */
    size_t off, len;
    bool nonul;         /* ext data that contains NUL: written with NUL -> 0x80 */
};

/* Resources of a built message that its segments point into, kept
 * until the chunk is written. */
struct fetch_held {
    bool have_cache, have_content;
    struct msg_cache cache;
    struct msg_content content;
    struct buf *bufs;
    size_t nbufs;
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
    bool uid_cmd;               /* UID FETCH: UID in every response */
    bool uidonly;               /* RFC 9586: "* uid UIDFETCH (...)", UID item only when asked */

    /* what the building (a job, or the loop for small FETCHes) uses
     * instead of the session: copied on the loop */
    struct mailbox *mb;         /* the selected mailbox; on the pool only
                                   through storage_job_begin, while the
                                   session is parked */
    struct imap_view_snap vs;   /* MSNs and \Recent of the batch's UIDs */
    size_t win_end;             /* the batch reads uids[batch.pos, win_end) */
    bool condstore;             /* view->condstore */
    bool may_set_seen;          /* imap_view_may_set_seen */
    bool on_loop;               /* small: built on the loop (fetch_on_loop) */
    bool eof;                   /* every record has been read */
    int rc;                     /* error reading records (reported on the loop) */
    struct { uint32_t uid; uint64_t modseq; } *own; /* \Seen set: imap_view_note_own on the loop */
    /* PREVIEW texts computed for messages stored without one, saved at
     * the end of the step (mailbox_save_previews) */
    char (*pv_guids)[33];
    char **pv_texts;
    size_t npv, cpv;
    size_t nown, cown;
    struct fetch_held *held;    /* messages of the chunk being written */
    size_t nheld, cheld;
    size_t ext_bytes;           /* bytes of external segments in the chunk */
    size_t res_seg, res_off;    /* external data before this point is resident */

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
    if (ext)
        st->ext_bytes += len;
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
    st->ext_bytes = 0;
    st->res_seg = st->res_off = 0;
}

/* The message just built has segments pointing into its resources: keep
 * them until the chunk is written (its parse tree is no longer needed). */
static void hold_res(struct fetch_state *st)
{
    ARRAY_GROW(st->held, st->nheld, st->cheld);
    struct fetch_held *h = &st->held[st->nheld++];
    h->have_cache = st->have_cache;
    h->cache = st->cache;
    h->have_content = st->have_content;
    h->content = st->content;
    h->bufs = st->bufs;
    h->nbufs = st->nbufs;
    st->have_cache = st->have_content = false;
    memset(&st->cache, 0, sizeof(st->cache));
    memset(&st->content, 0, sizeof(st->content));
    st->bufs = NULL;
    st->nbufs = 0;
    if (st->mime)
        mime_free(st->mime);
    st->mime = NULL;
}

/* The chunk is written: release everything it pointed into. */
static void msg_release(struct fetch_state *st)
{
    res_release(st);
    for (size_t i = 0; i < st->nheld; i++) {
        struct fetch_held *h = &st->held[i];
        if (h->have_cache)
            msg_cache_free(&h->cache);
        if (h->have_content)
            msg_content_release(&h->content);
        for (size_t j = 0; j < h->nbufs; j++)
            buf_free(&h->bufs[j]);
        free(h->bufs);
    }
    st->nheld = 0;
    out_reset(st);
}

static void fetch_state_free(void *p)
{
    struct fetch_state *st = p;
    msg_release(st);
    free(st->held);
    buf_free(&st->out);
    buf_free(&st->scratch);
    free(st->segs);
    fetch_req_free(&st->req);
    free(st->uids);
    rec_batch_free(&st->batch);
    free(st->seen_set);
    imap_view_snap_free(&st->vs);
    free(st->own);
    for (size_t i = 0; i < st->npv; i++)
        free(st->pv_texts[i]);
    free(st->pv_texts);
    free(st->pv_guids);
    free(st);
}

/* Save the previews computed by this step (a cache fill: best effort). */
static void save_previews(struct fetch_state *st)
{
    if (!st->npv)
        return;
    mailbox_save_previews(st->mb, (const char(*)[33])st->pv_guids, st->pv_texts, st->npv);
    for (size_t i = 0; i < st->npv; i++)
        free(st->pv_texts[i]);
    st->npv = 0;
}

/* Is the next n bytes of external segment segpos (from segoff) known to
 * be resident? */
static bool seg_resident(const struct fetch_state *st, size_t n)
{
    return st->segpos < st->res_seg || (st->segpos == st->res_seg && st->segoff + n <= st->res_off);
}

/* (pool, or the loop without one) Make the external data from the write
 * position on resident, up to FETCH_RESIDENT_BYTES, and move the mark. */
static void prefault_segs(struct fetch_state *st)
{
    size_t seg = st->segpos, off = st->segoff, budget = FETCH_RESIDENT_BYTES;
    if (st->res_seg > seg || (st->res_seg == seg && st->res_off > off)) {
        seg = st->res_seg;   /* already resident up to here */
        off = st->res_off;
    }
    while (seg < st->nsegs && budget > 0) {
        const struct fetch_seg *g = &st->segs[seg];
        if (g->ext) {
            size_t n = MIN(g->len - off, budget);
            msg_content_prefault(g->ext + off, n);
            budget -= n;
            off += n;
            if (off < g->len)
                break;
        }
        seg++;
        off = 0;
    }
    st->res_seg = seg;
    st->res_off = off;
}

enum write_result { WRITE_DONE, WRITE_FULL, WRITE_PREFAULT };

/* Write queued segments until done, the connection is full, or the next
 * piece of message data is not known to be resident (a job makes it so:
 * the loop never waits for the disk). */
static enum write_result write_segs(struct imap_session *s, struct fetch_state *st)
{
    if (!s->conn || s->closed) {
        st->segpos = st->nsegs;     /* nobody to write to */
        return WRITE_DONE;
    }
    while (st->segpos < st->nsegs) {
        if (conn_output_full(s->conn))
            return WRITE_FULL;
        const struct fetch_seg *g = &st->segs[st->segpos];
        const char *base = g->ext ? g->ext : st->out.data + g->off;
        size_t n = MIN(g->len - st->segoff, (size_t)FETCH_CHUNK);
        if (g->ext && !seg_resident(st, n))
            return WRITE_PREFAULT;
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
    return WRITE_DONE;
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
    if (lit8)
        buf_putc(&st->out, '~');
    buf_putc(&st->out, '{');
    buf_put_uint(&st->out, len);
    buf_puts(&st->out, "}\r\n");
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

/* The PREVIEW item (RFC 8970): the text stored with the message, else
 * (not LAZY) computed from its content here, in the job, and kept to be
 * saved; LAZY answers NIL instead (RFC 8970 4.1: not available "without
 * undue delay"). */
static bool preview_item(struct fetch_state *st, struct mailbox *mb, uint32_t uid, bool lazy, struct buf *o, int *err)
{
    char *pv = NULL;
    char guid[33];
    int r = mailbox_get_preview(mb, uid, &pv, guid);
    if (r < 0) {
        *err = r;
        return false;
    }
    if (!pv && !lazy) {
        if (!load_content(st, mb, uid, err))
            return false;
        if (!st->mime)
            st->mime = mime_parse(st->content.data, st->content.len);
        struct buf b = BUF_INIT;
        mime_preview_build(&b, st->mime);
        pv = xstrdup(buf_cstr(&b));
        buf_free(&b);
        if (guid[0] && st->npv < 4096) {
            if (st->npv >= st->cpv) {
                st->cpv = st->cpv ? st->cpv * 2 : 16;
                st->pv_guids = xrealloc(st->pv_guids, st->cpv * sizeof(*st->pv_guids));
                st->pv_texts = xrealloc(st->pv_texts, st->cpv * sizeof(*st->pv_texts));
            }
            memcpy(st->pv_guids[st->npv], guid, 33);
            st->pv_texts[st->npv++] = xstrdup(pv);
        }
    }
    buf_puts(o, "PREVIEW ");
    if (pv)
        mime_write_imap_string(o, pv, strlen(pv));
    else
        buf_puts(o, "NIL");
    free(pv);
    return true;
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
 * message could not be read (st->gone / st->failed / st->unknown_cte).
 * Runs on the pool (or the loop for small FETCHes): no session here. */
static bool build_msg(struct fetch_state *st, const struct msg_record *rec, bool seen_now)
{
    struct mailbox *mb = st->mb;
    uint32_t msn = imap_view_snap_msn(&st->vs, rec->uid);
    if (msn == 0)
        return true;
    const struct fetch_req *req = &st->req;
    struct buf *o = &st->out;
    int err = 0;
    bool first = true;
    /* Where this message starts, to take it back on failure; several
     * small responses share one buffer and one write. */
    size_t out_start = o->len, mark_start = st->mark, segs_start = st->nsegs, ext_start = st->ext_bytes;

    /* No printf on this path: it runs for every message of every FETCH,
     * and buf_printf formats twice (length, then text). */
    buf_puts(o, "* ");
    buf_put_uint(o, st->uidonly ? rec->uid : msn);
    buf_puts(o, st->uidonly ? " UIDFETCH (" : " FETCH (");
#define SEP() do { if (!first) buf_putc(o, ' '); first = false; } while (0)
    if (st->uid_cmd && !st->uidonly) {
        SEP();
        buf_puts(o, "UID ");
            buf_put_uint(o, rec->uid);
    }
    for (size_t i = 0; i < req->nitems; i++) {
        const struct fetch_item *it = &req->items[i];
        switch (it->type) {
        case FI_UID:
            if (st->uid_cmd && !st->uidonly)
                break;
            SEP();
            buf_puts(o, "UID ");
            buf_put_uint(o, rec->uid);
            break;
        case FI_FLAGS:
            SEP();
            buf_puts(o, "FLAGS ");
            imap_write_flag_list(o, rec->flags, rec->keywords, imap_view_snap_recent(&st->vs, rec->uid));
            break;
        case FI_INTERNALDATE:
            SEP();
            buf_puts(o, "INTERNALDATE \"");
            imap_format_datetime(o, rec->internaldate, rec->internaldate_tz);
            buf_putc(o, '"');
            break;
        case FI_RFC822_SIZE:
            SEP();
            buf_puts(o, "RFC822.SIZE ");
            buf_put_uint(o, rec->size);
            break;
        case FI_MODSEQ:
            SEP();
            buf_puts(o, "MODSEQ (");
            buf_put_uint(o, rec->modseq);
            buf_putc(o, ')');
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
            buf_puts(o, it->name);
            buf_putc(o, ' ');
            buf_puts(o, txt);
            break;
        }
        case FI_PREVIEW:
            SEP();
            if (!preview_item(st, mb, rec->uid, it->lazy, o, &err))
                goto fail;
            break;
        case FI_SECTION: {
            const char *data;
            size_t len, start, n;
            if (!section_data(st, mb, rec->uid, &it->sec, &data, &len, &err))
                goto fail;
            SEP();
            buf_puts(o, it->name);
            buf_putc(o, ' ');
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
            imap_write_flag_list(o, rec->flags, rec->keywords, imap_view_snap_recent(&st->vs, rec->uid));
        }
        if (st->condstore && !st->uid_cmd && !req->has[FI_UID]) {
            SEP();
            buf_puts(o, "UID ");
            buf_put_uint(o, rec->uid);
        }
        if (st->condstore && !req->has[FI_MODSEQ]) {
            SEP();
            buf_puts(o, "MODSEQ (");
            buf_put_uint(o, rec->modseq);
            buf_putc(o, ')');
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
    st->ext_bytes = ext_start;
    st->has_ext = false;
    res_release(st);
    return false;
}

static bool wanted(const struct fetch_state *st, const struct msg_record *rec)
{
    return !st->req.has_changedsince || rec->modseq > st->req.changedsince;
}

struct seen_ctx {
    struct fetch_state *st;
};

static int seen_changed_cb(const struct msg_record *rec, void *arg)
{
    struct seen_ctx *c = arg;
    struct rec_batch *b = &c->st->batch;
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
        c->st->seen_set[lo] = true;
    }
    /* imap_view_note_own, on the loop (fetch_stepped) */
    struct fetch_state *st = c->st;
    ARRAY_GROW(st->own, st->nown, st->cown);
    st->own[st->nown].uid = rec->uid;
    st->own[st->nown].modseq = rec->modseq;
    st->nown++;
    return 0;
}

/* Set \Seen on the batch's unseen messages when the request reads content
 * (RFC 9051 6.4.5), in one storage transaction per batch. */
static void mark_seen(struct fetch_state *st)
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
    if (!st->req.sets_seen || !st->may_set_seen)
        return;
    uint32_t *todo = xmalloc(b->n * sizeof(uint32_t) + 1);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!(b->recs[i].flags & MSG_SEEN) && wanted(st, &b->recs[i]))
            todo[n++] = b->recs[i].uid;
    if (n > 0) {
        struct store_req sr = {.mode = STORE_ADD, .flags = MSG_SEEN};
        struct seen_ctx c = {st};
        int r = mailbox_store(st->mb, todo, n, &sr, seen_changed_cb, &c, NULL, NULL);
        if (r < 0)
            log_warn("FETCH: setting \\Seen failed: %s", storage_strerror(r));
    }
    free(todo);
}

static void fetch_finish(struct imap_session *s, struct imap_cmd *cmd, struct fetch_state *st)
{
    if (st->unknown_cte)
        imap_tagged(s, cmd, "NO", "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding");
    else if (st->failed)
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Internal error reading messages");
    else if (!st->uid_cmd && (st->gone || st->batch.missing)) {
        /* RFC 9051 7.5.1: the MSNs still name messages another session
         * expunged whose data is not available any more (normally it is:
         * storage keeps it until this client is told, RFC 2180 4.1.1;
         * not e.g. for messages RENAME INBOX moved away); UID FETCH
         * simply ignores UIDs that are gone. RFC 9738 3.1: with both
         * codes, MESSAGELIMIT goes in an untagged NO. */
        if (*imap_msglimit_code(s))
            imap_untagged(s, "NO %sFetch completed with %u partial results", imap_msglimit_code(s),
                          imap_messagelimit());
        imap_tagged(s, cmd, "NO", "[EXPUNGEISSUED] Some messages were expunged");
    } else if (*imap_msglimit_code(s))
        imap_tagged(s, cmd, "OK", "%sFetch completed with %u partial results", imap_msglimit_code(s),
                    imap_messagelimit());
    else
        imap_tagged(s, cmd, "OK", "Fetch completed");
}

/* (pool, or the loop for small FETCHes) The next chunk: the next batch
 * of records if this one is used up (with \Seen set on it), then
 * responses built until FETCH_PREP_BYTES are prepared or the loop's window
 * (win_end) ends. A window holds up to batch.max UIDs but a batch ends at
 * a big UID gap (rec_batch_next), and a long-lived mailbox's newest
 * messages are full of gaps: one batch per step made a 100-message FETCH
 * about 60 round trips between the loop and the pool. */
static void fetch_step(struct fetch_state *st)
{
    for (;;) {
        if (st->bi >= st->batch.n) {
            /* exactly the UIDs whose MSNs the loop put in st->vs */
            size_t total = st->batch.nuids;
            st->batch.nuids = st->win_end;
            int r = rec_batch_next(st->mb, &st->batch);
            st->batch.nuids = total;
            st->bi = 0;
            if (r < 0) {
                st->rc = r;
                st->failed = true;
                break;
            }
            if (st->batch.n == 0) {
                st->eof = st->batch.pos >= total;
                break;
            }
            mark_seen(st);
        }
        while (st->bi < st->batch.n && !st->unknown_cte && !st->failed) {
            size_t i = st->bi++;
            imap_progress_add(1);   /* INPROGRESS (RFC 9585) */
            const struct msg_record *rec = &st->batch.recs[i];
            if (!wanted(st, rec))
                continue;
            st->has_ext = false;
            build_msg(st, rec, st->seen_set[i]);
            if (st->has_ext)
                hold_res(st);       /* segments point into it until written */
            else
                res_release(st);    /* all data was copied into the text */
            if (st->out.len + st->ext_bytes >= FETCH_PREP_BYTES)
                break;
        }
        if (st->bi < st->batch.n || st->unknown_cte || st->failed ||
            st->out.len + st->ext_bytes >= FETCH_PREP_BYTES || st->batch.pos >= st->win_end)
            break;
    }
    save_previews(st);
    close_text(st);
}

/* Does a step of this FETCH write nothing (no implicit \Seen)? */
static bool fetch_reads_only(const struct fetch_state *st)
{
    return !st->req.sets_seen || !st->may_set_seen;
}

/* On the pool: a chunk, on the store's job connection, and the start of
 * its message data made resident. */
static void fetch_job(struct job *job, void *arg)
{
    (void)job;
    struct fetch_state *st = arg;
    struct mail_user *u = mailbox_user(st->mb);
    /* A FETCH that sets no \Seen only reads: one of the store's reader
     * connections, in parallel with its other jobs (fetch_offload). */
    bool reads_only = fetch_reads_only(st);
    int r = reads_only ? storage_read_begin(u) : storage_job_begin(u, NULL);
    if (r < 0) {
        st->rc = r;
        st->failed = true;
        return;
    }
    fetch_step(st);
    if (reads_only)
        storage_read_end(u);
    else
        storage_job_end(u, NULL);
    prefault_segs(st);
}

/* On the pool: the next window of a big literal's data made resident. */
static void fetch_prefault_job(struct job *job, void *arg)
{
    (void)job;
    prefault_segs(arg);
}

/* On the loop after a step: what it did to the session's view. */
static void fetch_stepped(struct imap_session *s, struct fetch_state *st)
{
    for (size_t i = 0; s->view && i < st->nown; i++)
        imap_view_note_own(s->view, st->own[i].uid, st->own[i].modseq);
    st->nown = 0;
    if (st->rc < 0) {
        if (!imap_view_gone_err(s, st->rc))
            log_err("FETCH: reading records: %s", storage_strerror(st->rc));
        st->rc = 0;
    }
    st->flushing = true;
}

static enum cmd_result fetch_job_done(struct imap_session *s, struct imap_cmd *cmd, void *arg);

/* Hand the next step to the pool: returns false with *r the handler's
 * result (the session is parked). Without a pool (unit tests, fuzz
 * targets) the step runs right here and this returns true: go on (no
 * recursion through imap_cmd_job for every chunk). */
static bool fetch_offload(struct imap_session *s, struct imap_cmd *cmd, struct fetch_state *st, imap_job_run_fn run,
                          enum cmd_result *r)
{
    if (!jobs_running()) {
        run(NULL, st);
        if (!st->flushing)
            fetch_stepped(s, st);
        return true;
    }
    /* Key: the store when the step writes (\Seen; its job connection),
     * none when it only reads (a reader connection); the session is
     * parked and RFC 9051 7.5.1 holds: nothing is sent to it meanwhile. */
    /* a literal's next window is fetched in the middle of a response:
     * no INPROGRESS notification may be written then */
    s->progress_mid = run == fetch_prefault_job;
    *r = imap_cmd_job(s, cmd, "fetch", fetch_reads_only(st) ? NULL : mailbox_user(st->mb), run, fetch_job_done,
                      st);
    return false;
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
            enum write_result w = write_segs(s, st);
            if (w == WRITE_FULL) {
                cmd->resume = fetch_run;
                return CMD_MORE;
            }
            if (w == WRITE_PREFAULT) {
                /* (never on_loop: nothing read from files there) */
                enum cmd_result r;
                if (!fetch_offload(s, cmd, st, fetch_prefault_job, &r))
                    return r;
                continue;
            }
            msg_release(st);
            st->flushing = false;
        }
        if (s->logout || s->bye_after_job) {
            /* BYE sent, or due once this step returns (shutdown during
             * the FETCH): nothing more of it */
            msg_release(st);
            return CMD_DONE;
        }
        if (st->unknown_cte || st->failed || s->closed || !s->conn)
            break;
        if (st->bi >= st->batch.n) {
            if (st->eof || st->batch.pos >= st->batch.nuids)
                break;
            /* the next batch's UIDs: their MSNs and \Recent, taken here */
            st->win_end = MIN(st->batch.pos + st->batch.max, st->batch.nuids);
            imap_view_snap_free(&st->vs);
            imap_view_snap_uids(&st->vs, s->view, st->batch.uids + st->batch.pos, st->win_end - st->batch.pos);
        }
        if (st->on_loop) {
            fetch_step(st);
            fetch_stepped(s, st);
            st->res_seg = st->nsegs;    /* nothing read from files ahead of time */
            continue;
        }
        enum cmd_result r;
        if (!fetch_offload(s, cmd, st, fetch_job, &r))
            return r;
    }
    close_text(st);
    if (write_segs(s, st) != WRITE_DONE) {
        /* only after an error: the text written so far */
        st->flushing = true;
        cmd->resume = fetch_run;
        return CMD_MORE;
    }
    msg_release(st);
    fetch_finish(s, cmd, st);
    return CMD_DONE;
}

/* On the loop after a job; s is NULL when the client went away (the state
 * is freed with the command). */
static enum cmd_result fetch_job_done(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct fetch_state *st = arg;
    if (!s)
        return CMD_DONE;
    if (!st->flushing)
        fetch_stepped(s, st);
    return fetch_run(s, cmd);
}

/* Small FETCHes stay on the loop (see FETCH_LOOP_RECORDS): nothing that
 * reads a message file, few records. */
static bool fetch_on_loop(const struct fetch_req *req, size_t n)
{
    if (req->has[FI_SECTION] || req->has[FI_BINARY] || req->has[FI_BINARY_SIZE] || req->need_content)
        return false;
    return n <= (req->need_cache ? FETCH_LOOP_CACHED : FETCH_LOOP_RECORDS);
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
        if ((lo != SEQ_STAR && lo > count) || (hi != SEQ_STAR && hi > count))
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
    if (st->req.has_partial && !cmd->uid) {
        /* RFC 9394 3.3: the PARTIAL modifier extends UID FETCH */
        imap_tagged(s, cmd, "BAD", "PARTIAL requires UID FETCH");
        goto out_free;
    }
    if (st->req.has_changedsince || st->req.has[FI_MODSEQ])
        imap_enable_condstore(s);      /* RFC 7162 3.1: enables CONDSTORE */

    st->uids = imap_view_resolve(s, &set, cmd->uid, &st->nuids);
    if (st->req.vanished)
        write_vanished_earlier(s, &set, st->req.changedsince);
    if (st->req.has_partial && st->uids) {
        /* RFC 9738 3.1: a PARTIAL range larger than the limit is refused
         * before any work (not cut down to the limit) */
        uint32_t lim = imap_messagelimit();
        uint64_t span = (uint64_t)(st->req.partial_b > st->req.partial_a ? st->req.partial_b - st->req.partial_a
                                                                         : st->req.partial_a - st->req.partial_b) +
                        1;
        if (lim && span > lim) {
            imap_tagged(s, cmd, "NO", "[MESSAGELIMIT %u] FETCH exceeds the maximum %u-message limit", lim, lim);
            goto out_free;
        }
        /* RFC 9394 3.3: only the messages of the set (in UID order) that
         * the range names; CHANGEDSINCE then filters those (3.4) */
        struct partial_range pr = {.a = st->req.partial_a, .b = st->req.partial_b, .neg = st->req.partial_neg};
        size_t a, e;
        partial_range_slice(&pr, st->nuids, &a, &e);
        memmove(st->uids, st->uids + a, (e - a) * sizeof(uint32_t));
        st->nuids = e - a;
    } else {
        imap_messagelimit_apply(s, st->uids, &st->nuids);   /* RFC 9738 */
    }
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
    st->uidonly = (s->enabled & EN_UIDONLY) != 0;
    st->mb = s->view->mb;
    st->condstore = s->view->condstore;
    st->may_set_seen = imap_view_may_set_seen(s->view);
    st->on_loop = fetch_on_loop(&st->req, st->batch.nuids);
    if (!st->on_loop)
        imap_progress_start(s, st->batch.nuids);
    cmd->state = st;
    cmd->state_free = fetch_state_free;
    return fetch_run(s, cmd);

out_free:
    seqset_free(&set);
    fetch_state_free(st);
    return CMD_DONE;
}

/* ---- NOTIFY: MessageNew's FETCH attributes (RFC 5465 5.2) ---------------- */

struct fetch_notify_spec {
    unsigned refs;              /* loop thread only */
    struct fetch_req req;
};

struct fetch_notify_spec *fetch_notify_spec_new(struct fetch_req *req)
{
    struct fetch_notify_spec *sp = xcalloc(1, sizeof(*sp));
    sp->refs = 1;
    sp->req = *req;
    memset(req, 0, sizeof(*req));
    return sp;
}

void fetch_notify_spec_unref(struct fetch_notify_spec *sp)
{
    if (!sp || --sp->refs)
        return;
    fetch_req_free(&sp->req);
    free(sp);
}

/* Items that need more than the message record (cache, content, the
 * preview): built on the pool. */
bool fetch_notify_spec_needs_job(const struct fetch_notify_spec *sp)
{
    const struct fetch_req *r = &sp->req;
    return r->need_cache || r->need_content || r->has[FI_SECTION] || r->has[FI_BINARY] || r->has[FI_BINARY_SIZE] ||
           r->has[FI_PREVIEW] || r->has[FI_ENVELOPE] || r->has[FI_BODY] || r->has[FI_BODYSTRUCTURE];
}

struct fetch_notify_job {
    struct imap_session *s;     /* held (imap_session_enter) until done */
    struct fetch_notify_spec *spec;
    struct fetch_state *st;
    struct mail_user *store;    /* a reference taken on the loop */
    char *name;                 /* the mailbox inside store */
    char *reader;               /* NULL: the owner (mailbox_open) */
    int64_t mbid;
    size_t max_text;
    struct buf text;            /* the responses, literals inlined */
    bool too_big;               /* more than max_text */
    fetch_notify_done_fn done;
    uint64_t cookie;
};

/* Append the chunk's segments to j->text (NULs of non-binary literals as
 * in write_segs); false once past the bound. */
static bool notify_flatten(struct fetch_notify_job *j)
{
    struct fetch_state *st = j->st;
    for (size_t i = 0; i < st->nsegs; i++) {
        const struct fetch_seg *g = &st->segs[i];
        if (j->text.len + g->len > j->max_text)
            return false;
        const char *base = g->ext ? g->ext : st->out.data + g->off;
        size_t at = j->text.len;
        buf_append(&j->text, base, g->len);
        if (g->nonul)
            replace_nuls(j->text.data + at, g->len);
    }
    return true;
}

/* On the pool: the store's job connection, the mailbox opened read-only
 * (no \Recent claim; a reader's own \Seen in someone else's mailbox), the
 * responses built chunk by chunk as FETCH does, never setting \Seen. */
static void fetch_notify_run(struct job *job, void *arg)
{
    (void)job;
    struct fetch_notify_job *j = arg;
    struct fetch_state *st = j->st;
    if (storage_job_begin(j->store, NULL) < 0)
        return;
    struct mailbox *mb = NULL;
    int r = j->reader ? mailbox_open_as(j->store, j->name, j->reader, true, NULL, &mb)
                      : mailbox_open(j->store, j->name, true, false, NULL, &mb);
    if (r == 0 && mailbox_get_info(mb)->id == j->mbid) {
        st->mb = mb;
        st->win_end = st->batch.nuids;
        while (!st->eof && !st->failed && !st->unknown_cte && !j->too_big) {
            size_t pos = st->batch.pos, bi = st->bi;
            fetch_step(st);
            if (!notify_flatten(j))
                j->too_big = true;
            msg_release(st);
            if (st->batch.pos == pos && st->bi == bi && !st->eof)
                break;   /* no progress: never spin */
        }
        st->mb = NULL;
    }
    if (mb)
        mailbox_close(mb);   /* j->store holds the store: not its last reference */
    storage_job_end(j->store, NULL);
}

static void fetch_notify_finish(void *arg)
{
    struct fetch_notify_job *j = arg;
    struct imap_session *s = j->s;
    j->done(s, j->mbid, &j->st->vs, &j->text, j->too_big, j->cookie);
    imap_session_leave(s);
    memset(&j->st->req, 0, sizeof(j->st->req));   /* the spec's */
    fetch_state_free(j->st);
    fetch_notify_spec_unref(j->spec);
    mail_user_close(j->store);
    free(j->name);
    free(j->reader);
    buf_free(&j->text);
    free(j);
}

bool fetch_notify_submit(struct imap_session *s, struct fetch_notify_spec *spec, const uint32_t *uids, size_t n,
                         size_t max_text, fetch_notify_done_fn done, uint64_t cookie)
{
    struct imap_view *v = s->view;
    struct mail_user *vstore = imap_view_store(v);
    struct mail_user *store = NULL;
    if (!n || !vstore || mail_user_open(mail_user_name(vstore), false, &store) < 0)
        return false;
    struct fetch_notify_job *j = xcalloc(1, sizeof(*j));
    struct fetch_state *st = xcalloc(1, sizeof(*st));
    j->s = s;
    j->spec = spec;
    spec->refs++;
    j->st = st;
    j->store = store;
    j->name = xstrdup(mailbox_get_info(v->mb)->name);
    /* someone else's mailbox: that reader's own \Seen (as SELECT) */
    j->reader = strcmp(mail_user_name(store), s->who.user) != 0 ? xstrdup(s->who.user) : NULL;
    j->mbid = v->mbid;
    j->max_text = max_text;
    j->done = done;
    j->cookie = cookie;
    st->req = spec->req;        /* shared, read only; not freed with st */
    st->uids = xmalloc(n * sizeof(uint32_t));
    memcpy(st->uids, uids, n * sizeof(uint32_t));
    st->nuids = n;
    st->batch.uids = st->uids;
    st->batch.nuids = n;
    st->batch.max = 64;
    st->uid_cmd = true;         /* UID in every response (5.2's example) */
    st->uidonly = (s->enabled & EN_UIDONLY) != 0;
    st->condstore = v->condstore;
    st->may_set_seen = false;   /* an unsolicited FETCH never sets \Seen */
    imap_view_snap_uids(&st->vs, v, uids, n);
    imap_session_enter(s);
    /* no key (as ESEARCH's): not queued behind the store's other jobs;
     * storage_job_begin takes the store's job connection when it runs */
    jobs_submit("notify-fetch", NULL, fetch_notify_run, fetch_notify_finish, j);
    return true;
}
