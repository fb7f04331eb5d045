/* imap-search.h - SEARCH key trees: parsing (imap-search-key.c) is kept
 * separate from execution (imap-cmd-search.c) so the parser and the
 * evaluator can be unit tested against synthetic messages.
 */
#ifndef DARIUS_IMAP_SEARCH_H
#define DARIUS_IMAP_SEARCH_H

#include "imap.h"

enum sk_op {
    SK_ALL,
    SK_AND,             /* kids[] all true (parenthesised list, implicit AND) */
    SK_OR,              /* kids[0] or kids[1] */
    SK_NOT,             /* !kids[0] */
    SK_SEQ,             /* MSN set (or "$") */
    SK_UID,             /* UID set (or "$") */
    SK_FLAGS_ON,        /* all of n (msg_flag bits) set */
    SK_FLAGS_OFF,       /* none of n set */
    SK_KEYWORD,
    SK_UNKEYWORD,
    SK_RECENT,
    SK_NEW,             /* RECENT UNSEEN */
    SK_OLD,             /* NOT RECENT */
    SK_LARGER,
    SK_SMALLER,
    SK_BEFORE,          /* internal date, day granularity */
    SK_ON,
    SK_SINCE,
    SK_SENTBEFORE,      /* Date: header */
    SK_SENTON,
    SK_SENTSINCE,
    SK_SAVEDBEFORE,     /* RFC 8514 */
    SK_SAVEDON,
    SK_SAVEDSINCE,
    SK_SAVEDATESUPPORTED,
    SK_OLDER,           /* RFC 5032: seconds */
    SK_YOUNGER,
    SK_MODSEQ,          /* RFC 7162 3.1.5: modseq >= n */
    SK_EMAILID,         /* RFC 8474 */
    SK_THREADID,
    SK_HEADER,          /* field (lowercase) contains str; "" = field present */
    SK_BODY,
    SK_TEXT,
};

/* Evaluation cost classes; AND/OR evaluate cheaper operands first so a
 * message is only opened when the cheap tests did not decide. */
enum sk_cost { SK_COST_RECORD = 0, SK_COST_HEADER = 1, SK_COST_BODY = 2 };

struct skey {
    enum sk_op op;
    int cost;
    struct skey **kids;
    size_t nkids;
    uint64_t n;         /* sizes, seconds, modseq, flag bits */
    int64_t day;        /* date keys: days since 1970-01-01 */
    char *field;        /* HEADER field name (lowercase), KEYWORD name */
    bool addr;          /* FROM/TO/CC/BCC: the field's mailboxes count too */
    char *str;          /* UTF-8 needle (NUL terminated, slen bytes) */
    size_t slen;
    struct seqset set;
};

enum search_ret {
    SR_MIN = 1u << 0,
    SR_MAX = 1u << 1,
    SR_ALL = 1u << 2,
    SR_COUNT = 1u << 3,
    SR_SAVE = 1u << 4,
    SR_PARTIAL = 1u << 5,   /* RFC 9394 3.1 / RFC 5267 4.4 */
    SR_UPDATE = 1u << 6,    /* RFC 5267 4.3 (CONTEXT=SEARCH, CONTEXT=SORT) */
    SR_CONTEXT = 1u << 7,   /* RFC 5267 4.2: a hint, ignored */
};

/* A PARTIAL range (RFC 9394 4): "a:b" (neg false) or "-a:-b" (neg true),
 * a and b nz-numbers as the client wrote them (echoed in the answer). */
struct partial_range {
    uint32_t a, b;
    bool neg;
};
/* Parse a partial-range from the atom s; false if it is not one. */
bool partial_range_parse(const char *s, struct partial_range *pr);
/* The part [*start, *end) of n results (in the requested order) that pr
 * names; empty (start == end) when none of it exists. */
void partial_range_slice(const struct partial_range *pr, size_t n, size_t *start, size_t *end);
/* "a:b" or "-a:-b" as given */
void partial_range_write(struct buf *b, const struct partial_range *pr);

struct search_query {
    struct skey *root;
    unsigned ret;           /* enum search_ret */
    struct partial_range partial;   /* SR_PARTIAL */
    bool esearch;           /* RETURN given: answer with ESEARCH */
    bool uses_modseq;       /* a MODSEQ key: CONDSTORE, "(MODSEQ n)" in result */
    char *charset;          /* as given, NULL = default */
};

/* Parse "[RETURN (...)] [CHARSET x] keys..." up to the end of the command.
 * On error returns false with *err set to a static text; *status is
 * "BAD" for syntax, or "NO" with *code ("BADCHARSET (US-ASCII UTF-8)",
 * "LIMIT") for semantic refusals. */
bool search_parse(struct imap_parser *ps, struct imap_cmd *cmd, int maxdepth, struct search_query *q,
                  const char **status, const char **code, const char **err);
/* SORT and THREAD (RFC 5256): "[RETURN (...)] <criteria> SP charset SP
 * keys..." - RETURN only when allow_return (ESORT, RFC 5267 3); criteria
 * parses what the command puts before the charset (SORT's list, THREAD's
 * algorithm), returning false with *err for a BAD; the charset is
 * mandatory and bare. Errors as search_parse. */
bool search_parse_sort(struct imap_parser *ps, struct imap_cmd *cmd, int maxdepth, bool allow_return,
                       bool (*criteria)(void *arg, struct imap_parser *ps, struct imap_cmd *cmd, const char **err),
                       void *arg, struct search_query *q, const char **status, const char **code, const char **err);
void search_query_free(struct search_query *q);
void skey_free(struct skey *k);

/* Per-command evaluation state (imap-search-key.c): the needles of all
 * TEXT, BODY and HEADER keys compiled into multi-needle matchers once, and
 * what was learnt about the current message (header fetched, decoded and
 * indexed once, body text fetched and scanned once, sent date), so a
 * program of N keys costs one pass over each text per message instead of
 * N. Call search_state_next() before each new message. The stats count
 * the work done, for tests. */
struct search_state;
struct search_stats {
    size_t header_loads;    /* get_header calls */
    size_t header_decodes;  /* whole header blocks decoded (TEXT) */
    size_t header_indexes;  /* header blocks indexed by field name (HEADER) */
    size_t field_decodes;   /* header field values decoded (HEADER) */
    size_t body_loads;      /* get_body_text calls */
    size_t hfield_scans;    /* hfields groups matched without touching the header */
};
struct search_state *search_state_new(const struct skey *root);
void search_state_next(struct search_state *st);
void search_state_free(struct search_state *st);
const struct search_stats *search_state_stats(const struct search_state *st);

/* One message as seen by the evaluator. Header and body text are loaded
 * lazily through the callbacks (which may fail: then the key is false),
 * each at most once per message when state is set; without a state,
 * search_eval makes one for the call. */
struct search_msg {
    struct search_state *state;
    const struct msg_record *rec;
    uint32_t msn, max_msn, max_uid;
    bool recent;
    int64_t now;
    const uint32_t *searchres;  /* sorted UIDs for "$" */
    size_t nsearchres;
    void *arg;
    /* Raw header block. */
    bool (*get_header)(void *arg, const char **hdr, size_t *len);
    /* Decoded UTF-8 text of the body's text parts. */
    bool (*get_body_text)(void *arg, const char **text, size_t *len);
    /* The message's hfields (mime.h: Subject, From, To, Cc and Bcc decoded
     * when it was stored), a complete encoding, or NULL. With them,
     * SUBJECT, FROM, TO, CC, BCC and HEADER on those names neither load
     * nor decode the header. */
    const char *hfields;
    size_t hfields_len;
};

bool search_eval(const struct skey *k, const struct search_msg *m);

/* A search of the selected mailbox for commands built on SEARCH (SORT,
 * THREAD; imap-cmd-search.c). search_run_new takes q over (q is zeroed)
 * and copies what it needs of the session's view, on the loop.
 * search_run_exec scans: on the loop when search_run_inline_ok, else in a
 * job on the pool between storage_read_begin and storage_read_end (the
 * session parked). The matches are in UID (= sequence) order; with
 * want_recs also each one's size, INTERNALDATE and MODSEQ. */
struct search_run;
struct search_matches {
    const uint32_t *uids, *msns;
    const uint64_t *sizes;      /* want_recs */
    const int64_t *idates;      /* want_recs */
    const uint64_t *modseqs;    /* want_recs */
    size_t n;
    int rc;                     /* storage error of the scan, or 0 */
    struct mailbox *mb;
    uint64_t maxmodseq;
};
struct search_run *search_run_new(struct imap_session *s, struct search_query *q, bool want_recs);
/* RFC 9586 3.5, 3.8: does the program hold the sequence-set key (message
 * numbers; "$" is not one)? With UIDONLY that is BAD [UIDREQUIRED] in UID
 * SEARCH, UID SORT and UID THREAD. */
bool search_has_msn_key(const struct skey *k);
bool search_run_inline_ok(const struct search_run *r);
/* Messages the scan examines (the INPROGRESS goal, RFC 9585). */
size_t search_run_size(const struct search_run *r);
void search_run_exec(struct search_run *r);
void search_run_matches(const struct search_run *r, struct search_matches *m);
/* The memory a finished run holds (its match arrays at their capacity,
 * its copy of the view's UIDs and of $), for whoever keeps it (SORT's
 * result cache counts it against its budgets). */
size_t search_run_mem(const struct search_run *r);
void search_run_free(struct search_run *r);
/* MULTISEARCH (RFC 7377, imap-cmd-esearch.c): runs that borrow q (the
 * caller keeps it alive until search_run_free and frees it), with
 * want_recs. _selected: the selected mailbox's view, as search_run_new
 * (on the loop). _other: a mailbox that is not selected, opened by the
 * caller (on the pool): its n ascending uids (taken over) numbered 1..n,
 * nothing \Recent, no "$". search_run_job_scan: the scan between
 * storage_read_begin and storage_read_end, as SEARCH's job does. */
struct search_run *search_run_new_selected(struct imap_session *s, struct search_query *q);
struct search_run *search_run_new_other(struct search_query *q, struct mailbox *mb, uint32_t *uids, size_t n,
                                        size_t maxtext);
void search_run_job_scan(struct search_run *r);

/* Updating contexts (imap-context.c, RFC 5267 4.3): RETURN (UPDATE). */
#define UPDATE_CTX_MAX 8            /* per selection; beyond: NOUPDATE */
/* Results held by all the contexts of a selection when one starts (24
 * octets each: 6 MiB); beyond: NOUPDATE, so a client cannot make a
 * session hold 8 copies of a million-message result. */
#define UPDATE_CTX_MAX_RESULTS 262144
/* Stored sort keys (SORT by SUBJECT, FROM...: at most SORTKEY_MAX_KEY
 * octets each) held by all the contexts of a selection when one starts;
 * beyond: NOUPDATE. */
#define UPDATE_CTX_MAX_KEYBYTES (16u << 20)
/* Messages one context may have waiting for (or in) an evaluation job
 * (programs with header or body keys, SORT by stored keys: new messages
 * are evaluated on the pool). A sync that leaves more waiting ends the
 * context with an untagged NO [NOUPDATE "tag"]: the client searches
 * again instead of the session reading a flood of messages. */
#define UPDATE_CTX_MAX_PENDING 512
#define UPDATE_CTX_MAX_CRIT 16
enum update_crit_key {
    UPDATE_CRIT_ARRIVAL,
    UPDATE_CRIT_SIZE,
    UPDATE_CRIT_DATE,           /* sent date, INTERNALDATE without one */
    /* the stored string keys, in sortkey.h enum sk_str order */
    UPDATE_CRIT_SUBJECT,
    UPDATE_CRIT_FROM,
    UPDATE_CRIT_TO,
    UPDATE_CRIT_CC,
    UPDATE_CRIT_DISPLAYFROM,
    UPDATE_CRIT_DISPLAYTO,
};
#define UPDATE_NSTR 6
struct update_crit {
    enum update_crit_key key;
    bool reverse;
};
/* One result of a SORT as it starts a context: its record values and
 * its stored keys (s[i]/len[i]: the string key of UPDATE_CRIT_SUBJECT
 * + i, valid during the call; only those of the criteria are read). */
struct update_sort_ent {
    uint32_t uid;
    uint64_t size;
    int64_t idate;
    int64_t date;
    const char *s[UPDATE_NSTR];
    uint32_t len[UPDATE_NSTR];
};
struct update_note;
struct update_pending;
struct update_batch {               /* what one sync saw (imap-sync.c) */
    struct update_note *notes;
    size_t n, cap;
};
/* NULL if a context may be made for root (with n results now) in v,
 * else the text of the NOUPDATE refusal. */
const char *update_ctx_refusal(const struct imap_view *v, const struct skey *root, size_t n);
bool update_ctx_tag_in_use(const struct imap_view *v, const char *tag);
/* Start a context: root is taken over; the result is uids[0..n) in UID
 * order (SEARCH). */
void update_ctx_add_search(struct imap_view *v, const char *tag, bool uid, struct skey *root, uint32_t max_uid,
                           const uint32_t *uids, size_t n);
/* SORT: the result in sort order, get(arg, i, &e) giving the i-th
 * (0 <= i < n). root is taken over either way; NULL, or the NOUPDATE
 * refusal text (too many key octets held). */
const char *update_ctx_add_sort(struct imap_view *v, const char *tag, bool uid, struct skey *root, uint32_t max_uid,
                                const struct update_crit *crit, size_t ncrit,
                                void (*get)(void *arg, size_t i, struct update_sort_ent *e), void *arg, size_t n);
bool update_ctx_cancel(struct imap_view *v, const char *tag);
void update_ctx_free_all(struct imap_view *v);
/* imap_sync: note a new or changed record (evaluated now as far as the
 * record answers); report the differences once EXISTS and the FETCHes
 * are out, and start the evaluation job of what the record could not
 * answer. */
void update_ctx_eval(const struct imap_view *v, const struct msg_record *rec, struct update_batch *ub);
void update_ctx_apply(struct imap_session *s, struct update_batch *ub);
void update_batch_free(struct update_batch *ub);
/* Before the EXPUNGE (or VANISHED) responses of uids (present in the
 * view): REMOVEFROM with the message numbers still valid. */
void update_ctx_expunged(struct imap_session *s, const uint32_t *uids, size_t n);
/* The program of a search run (for its context), taken over. */
struct skey *search_run_take_root(struct search_run *r);
uint32_t search_run_max_uid(const struct search_run *r);
/* "*" of the program's UID sets (search_run_new_other: the last UID). */
void search_run_set_max_uid(struct search_run *r, uint32_t max_uid);
/* BAD for an UPDATE whose tag names a live context (answered: true). */
bool search_update_tag_reused(struct imap_session *s, struct imap_cmd *cmd, unsigned ret);

/* What a program needs of each message's header, to fetch it for many
 * messages at once (storage.h SEARCH_HDR_*): SEARCH_HDR_FIELDS when it has
 * a key on Subject, From, To, Cc or Bcc, SEARCH_HDR_RAW when it has a key
 * that reads the raw header (HEADER on another field, SENT*, TEXT). */
unsigned search_needs(const struct skey *root);

/* Helpers shared with FETCH and the tests. */
int64_t search_day_of(int64_t t_utc, int tz_minutes);
/* Does the header block contain field 'name' (lowercase) whose RFC 2047
 * decoded value contains needle (case-insensitive)? needle "" = present. */
bool search_header_match(const char *hdr, size_t len, const char *name, const char *needle, size_t nlen);
/* "M<guid>" / "T<threadid>" object ids (RFC 8474). */
void search_emailid(const struct msg_record *rec, char out[40]);

#endif
