/* imap.h - the IMAP front-end: public entry points for the daemon and the
 * internal contract shared by the files of src/imap/.
 *
 * Files:
 *   imap-server.c      accept, session list, notify fan-out, shutdown, reload
 *   imap-reader.c      assembling a command from lines + literals (limits,
 *                      continuation requests, LITERAL+/-, big literals to files)
 *   imap-parser.c      tokenizer: atoms, strings, lists, sequence sets, dates
 *   imap-response.c    writing strings/literals/mailbox names, tagged replies
 *   imap-session.c     state machine, command dispatch, resumable commands
 *   imap-sync.c        the selected-mailbox view: MSN<->UID, untagged
 *                      EXISTS/EXPUNGE/FETCH/VANISHED updates, IDLE
 *   imap-mailbox-name.c  modified UTF-7, separators, INBOX, validation
 *   imap-cmd-any.c     CAPABILITY NOOP LOGOUT ID ENABLE
 *   imap-cmd-auth.c    STARTTLS AUTHENTICATE LOGIN
 *   imap-cmd-mailbox.c SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE
 *                      UNSUBSCRIBE NAMESPACE STATUS
 *   imap-cmd-list.c    LIST LSUB (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE)
 *   imap-cmd-append.c  APPEND (MULTIAPPEND, BINARY literals), REPLACE
 *   imap-cmd-fetch.c   FETCH, UID FETCH (CHANGEDSINCE, VANISHED)
 *   imap-cmd-search.c  SEARCH, UID SEARCH (ESEARCH, SEARCHRES, CHARSET)
 *   imap-cmd-store.c   STORE (UNCHANGEDSINCE), COPY, MOVE, EXPUNGE,
 *                      UID EXPUNGE, CLOSE, UNSELECT, CHECK
 *   imap-cmd-idle.c    IDLE
 *   imap-cmd-notify.c  NOTIFY (RFC 5465): unsolicited updates for the
 *                      selected and other mailboxes
 *   imap-cmd-quota.c   GETQUOTA GETQUOTAROOT SETQUOTA (RFC 9208), quotawarn
 *   imap-cmd-acl.c     SETACL DELETEACL GETACL LISTRIGHTS MYRIGHTS (RFC 4314)
 *   imap-cmd-metadata.c GETMETADATA SETMETADATA (RFC 5464), LIST-METADATA
 *                      responses (RFC 9590)
 *   imap-access.c      client name -> store + mailbox + rights (imap_resolve)
 *   imap-url.c         IMAP URL parser (RFC 5092, imap-url.h)
 *   imap-catenate.c    APPEND CATENATE parts, URL sources (imap-catenate.h)
 *   imap-cmd-urlauth.c GENURLAUTH RESETKEY URLFETCH (RFC 4467, 5524)
 */
#ifndef DARIUS_IMAP_H
#define DARIUS_IMAP_H

#include "common.h"
#include <stdatomic.h>
#include "buf.h"
#include "conn.h"
#include "storage.h"
#include "access.h"
#include "connlimits.h"
#include "frontend.h"
#include "jobs.h"
#include "spool-limits.h"
#include <sys/socket.h>

/* ====================== public (used by the daemon) ==================== */

void imap_init(struct event_loop *loop);
/* TLS context for STARTTLS and implicit TLS; may be NULL (then STARTTLS is
 * not offered). Reference taken; replaced on reload. */
void imap_set_tls(struct tls_ctx *tls);
/* Hand over an accepted socket. implicit_tls: port 993 style. */
void imap_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool implicit_tls);
/* Cross-process change hint (from notify.h): wake sessions that have this
 * mailbox selected (IDLE ones get untagged updates at once). User kicks
 * (NOTIFY_KICK_USER) and the shutdown file come through the front-end
 * layer (fe_kick_user_all, fe_set_shutdown_notice_all). */
void imap_notify(const char *user, int64_t mailbox_id);
/* (NOTIFY, RFC 5465) A store event (notify.h: mailbox created, deleted,
 * renamed, (un)subscribed, metadata changed) for the sessions that asked
 * for it with NOTIFY SET; the plain hint part goes to imap_notify. */
struct notify_event;
void imap_notify_event(const char *user, int64_t mailbox_id, const struct notify_event *ev);
/* This worker's notify socket refused datagrams (notify.h's resync
 * marker): every session re-reads what they may have announced - the
 * selected mailbox as after a hint for it, NOTIFY's watched mailboxes as
 * a STATUS each; events_lost: LIST/METADATA events were lost too, which
 * NOTIFY sessions that asked for them learn as NOTIFICATIONOVERFLOW
 * (RFC 5465 5.8). */
void imap_notify_resync(bool events_lost);
/* Close the unauthenticated sessions that another worker chose for
 * eviction (connlimits.h: the server was full); called when this
 * worker's wake fd is readable. */
void imap_evict_marked(void);
/* SIGTERM: refuse new input, send "* BYE reason", close everything once
 * output is flushed. Returns immediately; imap_session_count() reaches 0. */
void imap_shutdown(const char *reason);
size_t imap_session_count(void);
/* Approximate bytes held by all sessions (bench/debug). */
size_t imap_memory_usage(void);

/* ====================== internal ======================================= */

enum imap_state { IMAP_NOTAUTH, IMAP_AUTH, IMAP_SELECTED, IMAP_LOGOUT };

/* ENABLEd extensions (RFC 5161). */
enum imap_enabled {
    EN_CONDSTORE = 1u << 0,
    EN_QRESYNC = 1u << 1,
    EN_IMAP4REV2 = 1u << 2,
    EN_UTF8 = 1u << 3,     /* UTF8=ACCEPT */
    EN_UIDONLY = 1u << 4,  /* RFC 9586: no message numbers either way */
};

/* A command's literal that was too big to keep in memory: its bytes are in
 * an unlinked temporary file. */
struct imap_literal_file {
    int fd;
    size_t len;
    bool binary;            /* ~{N} literal (RFC 3516) */
    size_t text_off;        /* offset of its "{N}" marker in cmdtext.text */
};

/* A complete command as read from the client: the text with literals
 * inline ("{N}\r\n" followed by N bytes, or for spilled literals the
 * marker only, with the data in files[]). */
struct imap_cmdtext {
    struct buf text;
    struct imap_literal_file *files;
    size_t nfiles;
    /* APPEND message literals reserved against spool_max_per_user /
     * spool_max_total (spool-limits.h); released by imap_cmdtext_free,
     * i.e. when the command is done, refused, or the session ends. */
    struct spool_resv spool;
};

/* Tokenizer over a command text. */
struct imap_parser {
    const char *p, *end;
    const struct imap_cmdtext *ct;
    size_t next_file;       /* index into ct->files of the next spilled literal */
    bool utf8;              /* UTF-8 allowed in quoted strings (rev2 / UTF8=ACCEPT) */
    const char *error;      /* static text describing the first error */
};

/* A string token: points into the command text (literals) or into memory
 * owned by the command (unescaped quoted strings). Not NUL-safe for
 * literals; len is authoritative. file != NULL for spilled literals. */
struct imap_str {
    const char *s;
    size_t len;
    bool literal;
    bool binary;                        /* ~{N} */
    const struct imap_literal_file *file;
};

/* '*' in a sequence set. It is 0, a value no seq-number can take (nz-number),
 * so that a literal 4294967295 stays that number: "*" is the largest
 * number in use, and uidnext:4294967295 names no message while uidnext:*
 * names the last one (RFC 9051 9, seq-number). */
#define SEQ_STAR 0u
struct seqrange { uint32_t lo, hi; };   /* either may be SEQ_STAR */
struct seqset {
    struct seqrange *r;
    size_t n, cap;
    bool dollar;                        /* "$" (SEARCHRES, RFC 5182) */
    bool star;                          /* some range has '*' */
};
/* A range end with '*' resolved to max, the largest number in use. */
static inline uint32_t seq_value(uint32_t v, uint32_t max)
{
    return v == SEQ_STAR ? max : v;
}

struct imap_cmd;

void imap_parser_init(struct imap_parser *ps, const struct imap_cmdtext *ct, size_t offset, bool utf8);
bool imap_p_sp(struct imap_parser *ps);
bool imap_p_char(struct imap_parser *ps, char c);        /* consume c if next */
bool imap_p_peek(struct imap_parser *ps, char c);
bool imap_p_end(struct imap_parser *ps);                 /* at end of command */
/* atom: 1*ATOM-CHAR; returns a NUL-terminated copy owned by cmd. */
char *imap_p_atom(struct imap_parser *ps, struct imap_cmd *cmd);
/* atom allowing ']' (for tag/flag parsing contexts that need it) */
char *imap_p_astring_chars(struct imap_parser *ps, struct imap_cmd *cmd);
bool imap_p_string(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out);   /* quoted | literal */
bool imap_p_astring(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out);
bool imap_p_nstring(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out, bool *is_nil);
/* NUL-terminated copy of an astring (rejects embedded NUL). */
char *imap_p_astring_cstr(struct imap_parser *ps, struct imap_cmd *cmd);
bool imap_p_number(struct imap_parser *ps, uint32_t *out);       /* number (u32) */
bool imap_p_nznumber(struct imap_parser *ps, uint32_t *out);     /* nz-number */
bool imap_p_number64(struct imap_parser *ps, uint64_t *out);     /* mod-sequence-value */
bool imap_p_seqset(struct imap_parser *ps, struct seqset *out);  /* sequence-set or "$" */
bool imap_p_flag(struct imap_parser *ps, struct imap_cmd *cmd, char **out); /* \Flag or keyword */
bool imap_p_date(struct imap_parser *ps, int64_t *t);            /* date, 1-Feb-1994 or "..." */
bool imap_p_datetime(struct imap_parser *ps, int64_t *t, int *tz); /* "dd-Mon-yyyy hh:mm:ss +zzzz" */
/* list-mailbox (atom with % * ] allowed, or string) */
char *imap_p_list_mailbox(struct imap_parser *ps, struct imap_cmd *cmd);

void seqset_free(struct seqset *s);
void seqset_add(struct seqset *s, uint32_t lo, uint32_t hi);
/* Does set contain n, with '*' meaning max? */
bool seqset_contains(const struct seqset *s, uint32_t n, uint32_t max);
/* Write a UID set in compact form "1:3,7" from a sorted array. */
void seqset_write_uids(struct buf *out, const uint32_t *uids, size_t n);

/* Selected-mailbox view (imap-sync.c). */
struct imap_view {
    struct mailbox *mb;
    int64_t mbid;               /* mb's id, fixed at SELECT: read while a job uses mb (NOTIFY) */
    bool readonly;
    uint32_t *uids;             /* index = MSN-1 */
    uint32_t count, cap;
    /* \Recent for this session (RFC 3501 2.3.2), see imap_view_recent():
     * the UIDs in (recent_floor, recent_hi] (claimed by SELECT), plus the
     * ranges claimed later by imap_sync (mailbox_claim_recent), each above
     * everything claimed before, so they stay sorted and disjoint.
     * recent_floor UINT32_MAX: nothing is recent (IMAP4rev2). */
    uint32_t recent_floor;
    uint32_t recent_hi;
    struct seqrange *claimed;   /* inclusive ranges, ascending */
    size_t nclaimed, cclaimed;
    uint32_t recent_count;
    uint64_t modseq;            /* highest modseq this session has reported */
    uint64_t flag_reports;      /* FETCH FLAGS responses written (sync, STORE):
                                   NOTIFY's MessageNew job checks for newer ones */
    uint32_t uidnext;           /* UIDNEXT as last reported */
    bool condstore;             /* CONDSTORE enabled in the session and
                                   HIGHESTMODSEQ already given for this
                                   selection (RFC 7162 3.1) */
    char *keywords;             /* keywords last announced in FLAGS */
    uint32_t *searchres;        /* SEARCHRES saved UIDs ($) */
    size_t nsearchres;
    bool pending;               /* a notification arrived; sync at next chance */
    /* Modseqs of this session's own change transactions since the last
     * sync, sorted ascending, not to be re-reported as external changes
     * (only .modseq is used; .uid is always 0; see imap-sync.c) */
    struct { uint32_t uid; uint64_t modseq; } *own;
    size_t nown, ownc;
    /* (added) expunges seen while EXPUNGE responses were not allowed */
    uint32_t *pexp;
    size_t npexp, cpexp;
    /* (added) QRESYNC: UIDs collected for the next "* VANISHED" */
    uint32_t *vanished;
    size_t nvanished, cvanished;
    /* (added) the mailbox was deleted under us: BYE sent, no more syncs */
    bool gone;
    /* (multi-user) where the selected mailbox lives and what this session
     * may do in it (RFC 4314), taken at SELECT and re-evaluated before
     * every command and on change hints (imap_view_recheck_rights: the
     * ACL or a group may change while it is selected). store is a reference of its
     * own (mail_user_close'd by imap_view_free; may be the session's own
     * store). A read-write SELECT without any of s w t e i is reported as
     * [READ-ONLY]; PERMANENTFLAGS lists only the flags the rights allow.
     * (The mailbox's name inside the store is mailbox_get_info(mb)->name,
     * which also follows a RENAME; no copy is kept: every byte here is
     * paid by every selected connection.) */
    struct mail_user *store;
    acl_rights_t rights;
    /* RFC 5267 4.3 updating contexts (imap-context.c), at most
     * UPDATE_CTX_MAX */
    struct update_ctx **uctx;
    size_t nuctx, cuctx;
    struct update_pending *upend;   /* their evaluation jobs (NULL: none) */
    /* the last SORT's result, for the next SORT of the same criteria and
     * program (imap-cmd-sort.c; NULL: none) */
    struct sort_cache *sortcache;
};

/* Result of a command handler. */
enum cmd_result {
    CMD_DONE,       /* finished; tagged reply written */
    CMD_MORE,       /* output full: call cmd->resume from on_drain */
    CMD_WAIT,       /* waiting for client input (AUTHENTICATE, IDLE): the
                       session routes input lines to cmd->on_line */
    CMD_DEFER,      /* waiting on a timer (e.g. auth failure delay); the
                       handler arranges imap_cmd_finish() later */
};

struct imap_session;
typedef enum cmd_result (*imap_cmd_fn)(struct imap_session *s, struct imap_cmd *cmd);

struct imap_cmd {
    char *tag;
    char name[24];              /* uppercased command name, "UID FETCH" for UID forms */
    bool uid;                   /* UID prefix */
    struct imap_cmdtext ct;     /* owned */
    struct imap_parser ps;      /* positioned after the command name */
    imap_cmd_fn resume;         /* for CMD_MORE */
    /* for CMD_WAIT: one client line (without CRLF) */
    enum cmd_result (*on_line)(struct imap_session *s, struct imap_cmd *cmd, const char *line, size_t len);
    void *state;                /* handler-private */
    void (*state_free)(void *state);
    void **allocs;              /* freed with the command */
    size_t nallocs, allocs_cap;
};

void *cmd_alloc(struct imap_cmd *cmd, size_t n);
char *cmd_strndup(struct imap_cmd *cmd, const char *s, size_t n);

/* INPROGRESS counters (RFC 9585 4): items done so far and the goal (0:
 * not known). Atomics: a job writes them while the loop reads. */
struct imap_progress {
    _Atomic uint64_t count;
    _Atomic uint64_t goal;
};

struct imap_session {
    struct conn *conn;
    enum imap_state state;
    bool tls;
    bool logout;                /* closing after current output */
    char *user;                 /* normalized login name */
    bool is_admin;
    struct mail_user *mu;
    unsigned enabled;           /* enum imap_enabled */
    struct imap_view *view;     /* NULL unless SELECTED */
    struct imap_cmd *cmd;       /* command in progress, or NULL */
    /* reader state (imap-reader.c) */
    struct imap_cmdtext pending;
    size_t literal_left;        /* bytes of literal still to read */
    int literal_fd;
    bool literal_to_file;
    bool literal_nonsync;
    bool skipping;              /* discarding the rest of an over-long line
                                   sent to a waiting command (on_line) */
    size_t line_len_so_far;
    uint64_t timeout_timer;
    uint64_t last_activity;
    unsigned auth_failures;
    bool counted_user;          /* holds a limits_user slot */
    bool counted_conn;
    struct fe_link link;        /* the worker's IMAP sessions (frontend.h) */
    char *client_id;            /* from ID, for logs */
    /* (added) */
    int busy;                   /* callback nesting depth; free deferred while > 0 */
    bool closed;                /* conn gone (on_close ran); conn is NULL */
    bool idling;                /* in IDLE: updates are sent at once */
    bool implicit_tls;
    bool cmd_skip;              /* reader: discard the rest of the current command */
    bool line_overflow;         /* reader: discarding the tail of an overlong line */
    uint64_t cmd_timer;         /* timer owned by the running command (cancelled on close) */
    uint64_t input_timer;       /* deferred input processing */
    unsigned idle_ticks;
    enum cmd_result cmd_status; /* how s->cmd is suspended (MORE/WAIT/DEFER) */
    unsigned nliterals;         /* literals in the command being assembled */
    bool literal_append;        /* the command being assembled is APPEND */
    uint64_t literal_total;     /* literal octets in the command being assembled */
    /* (added) APPEND being assembled: its target checked before the first
     * message literal is accepted (imap-reader.c, imap_append_precheck) */
    bool append_resolved;
    uint32_t append_msgs;       /* message literals accepted so far */
    uint64_t append_bytes;      /* their octets */
    int64_t append_room_bytes;  /* quota left in the target (INT64_MAX: no limit) */
    int64_t append_room_msgs;
    char peer[64];
    bool in_cmd;                /* (added) a command handler is running */
    bool in_job;                /* a step of the command runs on the pool
                                   (imap_cmd_job); the session is parked */
    char *bye_after_job;        /* shutdown arrived during a job: this BYE
                                   and the close follow the job's reply */
    bool close_after_cmd;       /* (added) BYE sent; close once the running
                                   command has written its tagged reply */
    /* (multi-user) the authenticated identity: rights, namespaces. Valid
     * from IMAP_AUTH on. mu is NULL for an anonymous session (no personal
     * namespace). */
    struct access_who who;
    /* (added) pre-authentication: the place held in the shared limits
     * (per-host count, eviction slot) until login, and the connect time
     * the preauth_timeout deadline counts from */
    struct limits_preauth pa;
    uint64_t connected_at;
    /* (added) NOTIFY SET in force (imap-cmd-notify.c), NULL: none */
    struct imap_notify *notify;
    unsigned notify_fetch_jobs; /* MessageNew FETCH jobs in flight (fetch_notify_submit) */
    /* (added) INPROGRESS (RFC 9585): the running command's progress,
     * written by its jobs (imap_progress_add), read by progress_timer's
     * callback on the loop, which sends "* OK [INPROGRESS ...]" while the
     * session is parked in a job at a response boundary. */
    struct imap_progress progress;
    bool progress_on;           /* the running command reports progress */
    bool progress_mid;          /* a job runs in the middle of a response
                                   (FETCH's literal window): say nothing */
    uint64_t progress_timer;
    /* (added) MESSAGELIMIT (RFC 9738): the running command processed only
     * the highest imap_messagelimit messages; msglimit_code is the
     * "[MESSAGELIMIT N uid] " its reply carries ("" otherwise). */
    char msglimit_code[64];
};

/* Responses (imap-response.c). Every write goes through these so literal
 * framing and back-pressure are uniform. */
void imap_write(struct imap_session *s, const char *data, size_t len);
void imap_printf(struct imap_session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* "* text\r\n" */
void imap_untagged(struct imap_session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* "tag OK|NO|BAD text\r\n"; also runs the pre-reply sync when status is
 * OK/NO (imap_sync_before_reply) unless the command forbids it. */
void imap_tagged(struct imap_session *s, struct imap_cmd *cmd, const char *status, const char *fmt, ...)
    ATTR_PRINTF(4, 5);
/* Append an IMAP string to b: atom-safe text as quoted, otherwise literal
 * (literal8 never). NULL -> NIL for nstring. */
void imap_append_string(struct buf *b, const char *s, size_t len);
void imap_append_nstring(struct buf *b, const char *s);
void imap_append_astring(struct buf *b, const char *s);
/* Mailbox name in the session's encoding (mUTF-7 unless UTF8/rev2). */
void imap_append_mailbox(struct imap_session *s, struct buf *b, const char *internal_name);

/* Mailbox names (imap-mailbox-name.c). */
char imap_hier_sep(void);        /* '/' (unixhierarchysep yes) or '.' */
/* (changed) The longest internal client name: a mailbox name of a store
 * (STORAGE_MAX_MAILBOX_NAME) as another user sees it, behind the other
 * users' prefix and the owner's name ("Other Users/bob/..."), each at
 * most AUTH_MAX_USERNAME bytes, or behind the shared prefix. Whatever
 * LIST shows must be accepted back. */
#define IMAP_MAX_CLIENT_NAME (STORAGE_MAX_MAILBOX_NAME + 2 * AUTH_MAX_USERNAME + 2)
/* Client name -> internal client name (UTF-8, '/' separator); INBOX
 * case-folded. Returns false with a reason when invalid. The part inside
 * the store (after "<other prefix>/USER/" or "<shared prefix>/", else the
 * whole name) is held to STORAGE_MAX_MAILBOX_NAME bytes and 64 levels;
 * out must hold IMAP_MAX_CLIENT_NAME+1. */
bool imap_mailbox_from_client(struct imap_session *s, const char *name, size_t len, char *out,
                              const char **why);
/* (added) The same for a name inside one store (no namespace prefix, e.g.
 * the MAILBOX of a quota root "user/bob/MAILBOX"): at most
 * STORAGE_MAX_MAILBOX_NAME bytes; out must hold
 * STORAGE_MAX_MAILBOX_NAME+1. */
bool imap_store_mailbox_from_client(struct imap_session *s, const char *name, size_t len, char *out,
                                    const char **why);
/* Internal -> client form appended to b (no quoting). */
void imap_mailbox_to_client(struct imap_session *s, const char *internal, struct buf *b);
bool mutf7_to_utf8(const char *in, size_t len, struct buf *out);
void utf8_to_mutf7(const char *in, size_t len, struct buf *out);
/* LIST pattern match (% and *) on internal names (imap-mailbox-name.c).
 * A pattern is compiled once (wildcard runs collapsed, KMP tables) and
 * then matched in O(tokens x name length) without backtracking;
 * imap_list_match compiles, matches and frees. */
struct imap_list_pattern;
struct imap_list_pattern *imap_list_pattern_new(const char *pattern, char sep);
bool imap_list_pattern_match(const struct imap_list_pattern *p, const char *name);
void imap_list_pattern_free(struct imap_list_pattern *p);
bool imap_list_match(const char *pattern, const char *name, char sep);
/* Bounds on LIST/LSUB patterns (hostile input, issue 9): octets of
 * reference + pattern as sent (above the 4 x IMAP_MAX_CLIENT_NAME that
 * imap_resolve accepts for a name as sent, so every name LIST can show
 * fits in either encoding), wildcards ('*' '%') in all the patterns of
 * one command together (the reference counted with each; the matching
 * work per listed name grows with this number), and patterns in one
 * LIST-EXTENDED pattern list (RFC 5258). Beyond them the command gets
 * NO [LIMIT]: imap_list_pattern_limit returns that response text, or
 * NULL when ref and the np patterns are within the bounds. */
#define IMAP_LIST_MAX_PATTERN_LEN 8192
#define IMAP_LIST_MAX_WILDCARDS 32
#define IMAP_LIST_MAX_PATTERNS 32
const char *imap_list_pattern_limit(const char *ref, const char *const *pats, size_t np);

/* Views (imap-sync.c). */
struct imap_view *imap_view_new(struct mailbox *mb, bool readonly);
void imap_view_free(struct imap_view *v);
/* imap-cmd-sort.c: free a view's cached SORT result (NULL: nothing) */
void sort_cache_free(struct sort_cache *c);
/* MSN for UID (0 if absent); binary search. */
uint32_t imap_view_msn(const struct imap_view *v, uint32_t uid);
/* (added, issue 10) What a job on the pool needs of the view to number
 * and flag messages, copied on the loop (a job may not touch the session,
 * jobs.h): a sorted list of the view's UIDs with their MSNs, the view's
 * size and highest UID, its \Recent set and (SEARCH "$") the saved
 * result. _range copies v->uids[from, to) (MSN = from + index + 1:
 * O(to - from) on the loop); _uids takes any sorted list of the view's
 * UIDs and finds their MSNs (O(n log count) on the loop). Lookups are
 * pure: imap_view_snap_msn is 0 for a UID outside the snapshot. */
struct imap_view_snap {
    uint32_t *uids;
    uint32_t *msns;             /* NULL: uids[i] has MSN base + i + 1 */
    size_t n;
    uint32_t base;
    uint32_t count;             /* messages in the view: the highest MSN */
    uint32_t max_uid;           /* highest UID in the view */
    struct imap_view recent;    /* only the \Recent fields (imap_view_recent) */
    uint32_t *searchres;        /* _range only */
    size_t nsearchres;
};
void imap_view_snap_range(struct imap_view_snap *sn, const struct imap_view *v, size_t from, size_t to);
void imap_view_snap_uids(struct imap_view_snap *sn, const struct imap_view *v, const uint32_t *uids, size_t n);
uint32_t imap_view_snap_msn(const struct imap_view_snap *sn, uint32_t uid);
bool imap_view_snap_recent(const struct imap_view_snap *sn, uint32_t uid);
void imap_view_snap_free(struct imap_view_snap *sn);
/* Resolve a sequence set (MSNs or UIDs) to a sorted, unique UID array
 * (caller frees). For UID sets, UIDs not in the view are dropped; '*' is
 * the highest UID / MSN; "$" uses searchres. */
uint32_t *imap_view_resolve(struct imap_session *s, const struct seqset *set, bool uid, size_t *n);
/* Send pending untagged updates. allow_expunge=false during non-UID
 * FETCH/STORE/SEARCH (RFC 9051 7.5.1). */
void imap_sync(struct imap_session *s, bool allow_expunge);
/* Remove an expunged UID from the view, sending EXPUNGE or collecting for
 * VANISHED (QRESYNC). */
void imap_view_expunged(struct imap_session *s, uint32_t uid);
void imap_view_flush_vanished(struct imap_session *s);
/* Remember that this session itself produced (uid, modseq). */
void imap_view_note_own(struct imap_view *v, uint32_t uid, uint64_t modseq);
/* FLAGS and PERMANENTFLAGS untagged lines for the view. */
void imap_view_write_flags(struct imap_session *s);
/* Writes the parenthesised list: "(\Seen \Answered kw1 \Recent)". */
void imap_write_flag_list(struct buf *b, uint32_t flags, const char *keywords, bool recent);

/* (multi-user, imap-access.c) Resolve a mailbox name as the client sent
 * it: decode, map through the namespaces (access_resolve), open the
 * store, and check that the session holds every right in need (0: only
 * that the mailbox exists and is visible - MYRIGHTS). On success returns
 * true with *ref filled, *store opened (caller mail_user_close()s it) and
 * *rights the session's rights. On failure it has written the tagged
 * reply ("BAD" for a malformed name, "NO [NONEXISTENT]", "NO [NOPERM]",
 * ...) and returns false. must_exist=false (CREATE targets) skips the
 * existence and rights checks. */
bool imap_resolve(struct imap_session *s, struct imap_cmd *cmd, const struct imap_str *name, acl_rights_t need,
                  bool must_exist, struct mbox_ref *ref, struct mail_user **store, acl_rights_t *rights);
/* Reply for an access/storage error code (access_error or storage_error). */
void imap_reply_access_error(struct imap_session *s, struct imap_cmd *cmd, int err);
/* The client form of a mailbox in store `store` (e.g. the selected one),
 * as imap_append_mailbox writes it. */
void imap_append_store_mailbox(struct imap_session *s, struct buf *b, const char *store, const char *internal);
/* (added, imap-access.c) Is store the session's own store? */
bool imap_is_own_store(const struct imap_session *s, const struct mail_user *store);
/* (added, imap-access.c) mailbox_status for the session's reader: the
 * own store as is, another store through mailbox_status_as (per-reader
 * \Seen). */
int imap_mailbox_status(struct imap_session *s, struct mail_user *store, const char *name, struct mailbox_info *out);
/* STATUS RECENT of the selected mailbox: add the \Recent messages this
 * session holds (imap-access.c). store: the mailbox's store name. */
void imap_status_add_recent(struct imap_session *s, const char *store, struct mailbox_info *info);

/* Capabilities for the current state (imap-cmd-any.c). */
void imap_capabilities(struct imap_session *s, struct buf *out);

/* Session helpers (imap-session.c). */
/* After CMD_DEFER/CMD_WAIT completes (from a timer or other callback,
 * never from inside the handler call that returned CMD_DEFER/CMD_WAIT;
 * an on_line callback returns CMD_DONE instead). Frees the command and
 * resumes reading. */
void imap_cmd_finish(struct imap_session *s);

/* Run a slow step of the running command on the pool (jobs.h): password
 * checks, storage writes, message file reads, scans. The handler returns
 * what this returns (CMD_DEFER): input stays paused, the session waits
 * parked and every other session of the worker is served meanwhile.
 * run(job, arg) executes on a pool thread and must touch nothing of the
 * session (only arg, and stores through storage_job_begin). Then, on the
 * loop, finish(s, cmd, arg) is called: it writes the results and returns
 * like a handler (CMD_DONE, CMD_MORE to stream the rest, or another
 * imap_cmd_job for a next step) and frees arg when done with it. When the
 * client went away meanwhile, finish is called with s == NULL and must
 * only release arg (and what it holds). key: jobs with the same key run
 * one at a time in order (usually the store they write; NULL for none). */
struct job;
typedef void (*imap_job_run_fn)(struct job *job, void *arg);
typedef enum cmd_result (*imap_job_finish_fn)(struct imap_session *s, struct imap_cmd *cmd, void *arg);
enum cmd_result imap_cmd_job(struct imap_session *s, struct imap_cmd *cmd, const char *kind, const void *key,
                             imap_job_run_fn run, imap_job_finish_fn finish, void *arg);
/* The parking under imap_cmd_job, for a command that waits on something
 * other than one job (the authentication service's queue: imap-cmd-auth.c).
 * imap_cmd_park: the handler then returns CMD_DEFER; the session is kept
 * alive and reads no input. imap_cmd_unpark (from a loop callback, exactly
 * once): calls finish(s, cmd, arg) like imap_cmd_job's, with s == NULL
 * when the client went away meanwhile. */
void imap_cmd_park(struct imap_session *s, struct imap_cmd *cmd);
void imap_cmd_unpark(struct imap_session *s, struct imap_cmd *cmd, imap_job_finish_fn finish, void *arg);
/* The same for a step that may be batched with others of the same fn and
 * key (jobs_submit_batch: group commit): fn(items, n) runs on the pool
 * with item among its items (item usually sits inside arg); then
 * finish(s, cmd, arg) on the loop, as above. */
enum cmd_result imap_cmd_job_batch(struct imap_session *s, struct imap_cmd *cmd, const char *kind, const void *key,
                                   job_batch_fn fn, void *item, imap_job_finish_fn finish, void *arg);
/* INPROGRESS (RFC 9585). imap_progress_start (loop, before the command's
 * first job): the command reports progress; goal is the number of items
 * (messages) it will process, 0 when not known. While the session is
 * parked in one of its jobs, every imap_inprogress_interval_ms an untagged
 * "OK [INPROGRESS ("tag" count goal)]" is sent (NIL NIL when nothing is
 * counted). imap_progress_add (in a job run by imap_cmd_job): n more items
 * done. Test hook: with DARIUS_TEST_HOLD_DIR, while the file "progress"
 * exists there a job waits once its count has reached half its goal
 * (with no goal: once it counted its first item), writing
 * "progress.started", so a test sees 0 < count < goal. */
void imap_progress_start(struct imap_session *s, uint64_t goal);
/* MESSAGELIMIT (RFC 9738 3.1). imap_messagelimit: the configured limit
 * (0: none). imap_messagelimit_apply: uids (n ascending UIDs, the
 * messages a command would process) keeps only the highest limit of them
 * (the server processes from the highest UID down) and the session
 * remembers the response code with the lowest processed UID; returns
 * whether it cut. imap_msglimit_code: that "[MESSAGELIMIT N uid] " or "". */
uint32_t imap_messagelimit(void);
bool imap_messagelimit_apply(struct imap_session *s, uint32_t *uids, size_t *n);
const char *imap_msglimit_code(const struct imap_session *s);
void imap_messagelimit_note(struct imap_session *s, uint32_t lowest_uid);
void imap_progress_add(uint64_t n);
void imap_session_close(struct imap_session *s, const char *bye);
void imap_session_login(struct imap_session *s, const char *user); /* common post-auth steps */
/* (added) UNAUTHENTICATE's reset to not authenticated state (RFC 8437). */
void imap_session_unauthenticate(struct imap_session *s);
/* (added) Like imap_session_login but reports failure: returns NULL on
 * success or a "[CODE] text" reason for a NO reply. Provisions the store
 * inline: only for callers without a pool. */
const char *imap_session_try_login(struct imap_session *s, const char *user, const char *mech);
/* The same in steps, so that the slow middle runs on the pool: begin (the
 * loop: anonymous rules, the login limits; *done when nothing more is
 * needed - an anonymous login), then access_provision_user(user) as a job
 * (it may create the store and its folders, and it reads the account
 * journal), then end with its result (the loop: the store handle, the
 * session's identity). Each returns NULL or a "[CODE] text" reason; after
 * a reason from end, nothing is held. A session that went away during
 * the job releases the login slot itself (limits_login_release). */
const char *imap_session_login_begin(struct imap_session *s, const char *user, const char *mech, bool *done);
const char *imap_session_login_end(struct imap_session *s, const char *user, const char *mech, int err);
/* (added) Process buffered input (next pipelined command) soon. */
void imap_session_kick(struct imap_session *s);
/* (added) Is there a literal/partial command pending in the reader? */
bool imap_reader_busy(const struct imap_session *s);
/* (added) reader entry points (imap-reader.c), used by imap-server.c */
void imap_reader_input(struct imap_session *s);
void imap_reader_reset(struct imap_session *s);
void imap_cmdtext_free(struct imap_cmdtext *ct);
/* (added) session internals used by the server and reader */
struct imap_session *imap_session_new(struct conn *c, bool implicit_tls);
void imap_session_free(struct imap_session *s);
void imap_session_execute(struct imap_session *s, struct imap_cmdtext *ct);
void imap_session_touch(struct imap_session *s);
/* (added) A closing session gives up its store handles at once: a
 * suspended command (IDLE, CMD_MORE, CMD_DEFER) is freed, then the view
 * and the own store. No-op while a handler runs (in_cmd). */
void imap_session_release_stores(struct imap_session *s);
void imap_session_enter(struct imap_session *s);  /* busy++ */
void imap_session_leave(struct imap_session *s);  /* busy--, frees a closed session */
void imap_session_on_close(struct imap_session *s);
void imap_session_on_drain(struct imap_session *s);
void imap_session_arm_timer(struct imap_session *s);
struct event_loop *imap_loop(void);
struct tls_ctx *imap_tls(void);
/* (added) parser helpers */
bool imap_is_atom_char(unsigned char c);
bool imap_valid_tag(const char *t, size_t len);
/* (added) SASL parameters for this connection (imap-cmd-any.c) */
struct sasl_params;
void imap_sasl_params(struct imap_session *s, struct sasl_params *p);
/* (added) STATUS items (imap-cmd-mailbox.c), shared with LIST-STATUS */
enum imap_status_item {
    ST_MESSAGES = 1u << 0, ST_UIDNEXT = 1u << 1, ST_UIDVALIDITY = 1u << 2, ST_UNSEEN = 1u << 3,
    ST_DELETED = 1u << 4, ST_SIZE = 1u << 5, ST_RECENT = 1u << 6, ST_HIGHESTMODSEQ = 1u << 7,
    ST_MAILBOXID = 1u << 8, ST_APPENDLIMIT = 1u << 9, ST_DELETED_STORAGE = 1u << 10,
};
/* Parse "(" status-att *(SP status-att) ")" into a mask; false on error. */
bool imap_p_status_items(struct imap_parser *ps, struct imap_cmd *cmd, unsigned *items);
/* "* STATUS <mailbox> (...)" */
void imap_write_status(struct imap_session *s, const struct mailbox_info *info, unsigned items);
/* (added) the same for a mailbox of any store: info->name is the name
 * inside store, client_name the internal client name to show. */
/* The "* STATUS" line of items appended to out (imap_write_status_as
 * writes it; NOTIFY queues it). */
void imap_format_status(struct imap_session *s, struct mail_user *store, const char *client_name,
                        const struct mailbox_info *info, unsigned items, struct buf *out);
void imap_write_status_as(struct imap_session *s, struct mail_user *store, const char *client_name,
                          const struct mailbox_info *info, unsigned items);
/* Map a storage error to "NO [CODE] text" for cmd. */
void imap_reply_storage_error(struct imap_session *s, struct imap_cmd *cmd, int err);
/* (added) Before writing "* n FETCH (FLAGS ...)" with these keywords:
 * if any is new to the client, send FLAGS/PERMANENTFLAGS first (RFC 9051
 * 7.3.5: a FETCH must not show a flag the client has not been told of). */
void imap_view_announce_keywords(struct imap_session *s, const char *keywords);
/* (added) Like imap_view_expunged for many UIDs at once: one compaction
 * pass instead of one memmove per UID (use for large EXPUNGE/MOVE). */
void imap_view_expunged_many(struct imap_session *s, const uint32_t *uids, size_t n);
/* (added) "* LIST (...) sep name" for one existing mailbox (SELECT in
 * IMAP4rev2, RFC 9051 6.3.2) - imap-cmd-list.c */
void imap_list_one(struct imap_session *s, const char *internal_name);
/* (added) the FLAGS and the PERMANENTFLAGS line separately (SELECT order) */
void imap_view_write_flags_line(struct imap_session *s);
void imap_view_write_permanentflags(struct imap_session *s);
/* (added) recent bookkeeping for a new view (imap-sync.c): UIDs above
 * floor (from mailbox_open) are \Recent; for a read-write view only up
 * to the UIDNEXT-1 of the SELECT (later ones are claimed by imap_sync),
 * for a read-only one all of them. floor UINT32_MAX: none (IMAP4rev2). */
void imap_view_set_recent_floor(struct imap_view *v, uint32_t floor);
/* (added) Is uid \Recent for this session? */
bool imap_view_recent(const struct imap_view *v, uint32_t uid);
/* (added) RFC 7162 3.1: a CONDSTORE-enabling command ran; enables it
 * for the session and, the first time with a mailbox selected, sends
 * "* OK [HIGHESTMODSEQ n]" (imap-sync.c). */
void imap_enable_condstore(struct imap_session *s);
/* (added) Has the selected mailbox been deleted (by another session)?
 * If so (the first time) sends "* BYE [NONEXISTENT]" and closes the
 * connection (after the running command's tagged reply when called from
 * a command); imap_sync does the same when mailbox_sync says NOTFOUND. */
bool imap_view_check_gone(struct imap_session *s);
/* (added) err is STORAGE_ERR_NOTFOUND because the selected mailbox was
 * deleted (BYE sent as by imap_view_check_gone): the caller answers
 * "NO [NONEXISTENT]" instead of logging a server error. */
bool imap_view_gone_err(struct imap_session *s, int err);
/* (added, issue 9) Re-evaluate the session's rights on the selected
 * mailbox from its current ACL (and the group file as it is now); a no-op
 * for the session's own store (the owner always holds every right). Call
 * only between commands or before one runs (never in the middle of a
 * command's output). A changed set of permitted flags is announced with
 * PERMANENTFLAGS, losing or regaining every write right with
 * "OK [READ-ONLY]" / "OK [READ-WRITE]" (RFC 4314 4, RFC 9051 7.1). Losing
 * "r" closes the selection: IMAP4rev2 sessions get "* OK [CLOSED]" and
 * are in the authenticated state; IMAP4rev1 sessions (which have no
 * unsolicited way out of the selected state) get "* BYE [NOPERM]" and
 * the connection closes (after the running command's tagged reply when
 * in_cmd). Returns false when the selection is gone (closed, revoked, or
 * the mailbox was deleted), true otherwise. */
bool imap_view_recheck_rights(struct imap_session *s);
/* (added) does the current command forbid EXPUNGE responses (7.5.1)? */
bool imap_cmd_forbids_expunge(const struct imap_cmd *cmd);
bool imap_session_has_pending(const struct imap_session *s);


/* (added, imap-cmd-notify.c) NOTIFY (RFC 5465). The session's NOTIFY
 * state is freed by imap_notify_session_free (NOTIFY NONE, overflow,
 * UNAUTHENTICATE, the session's end). imap_notify_flush writes what was
 * queued while a command ran (called by imap_tagged before the tagged
 * reply, and by IDLE). imap_notify_hint: a change hint for mailbox id of
 * store, reported as STATUS when the session watches that (non-selected)
 * mailbox; cache is shared by the sessions one hint is fanned out to.
 * imap_notify_session_event: an event datagram (notify.h) as LIST or
 * METADATA. imap_notify_push_selected: should the selected mailbox be
 * synchronised now, outside a command (and may EXPUNGEs go out)?
 * imap_notify_new_messages: after imap_sync's EXISTS, the FETCH of the
 * MessageNew attributes for the new UIDs (ascending). */
struct imap_notify;
struct notify_event;
struct imap_notify_cache {
    struct mail_user *u;
    int64_t id;
    bool done, ok;
    struct mailbox_info info;
};
void imap_notify_session_free(struct imap_session *s);
void imap_notify_flush(struct imap_session *s);
void imap_notify_session_resync(struct imap_session *s, bool events_lost);
void imap_notify_hint(struct imap_session *s, const char *store, int64_t mailbox_id, struct imap_notify_cache *cache);
void imap_notify_session_event(struct imap_session *s, const char *store, int64_t mailbox_id,
                               const struct notify_event *ev);
bool imap_notify_push_selected(struct imap_session *s, bool *allow_expunge);
void imap_notify_new_messages(struct imap_session *s, const uint32_t *uids, size_t n);
/* The session's name in the events its own jobs cause
 * (notify_set_origin), so that they are not reported back to it. */
void imap_notify_origin(const struct imap_session *s, char *out, size_t outlen);

/* Command handlers, one per command (declared here, defined per file). */
#define IMAP_CMD(fn) enum cmd_result fn(struct imap_session *s, struct imap_cmd *cmd)
IMAP_CMD(cmd_capability); IMAP_CMD(cmd_noop); IMAP_CMD(cmd_logout); IMAP_CMD(cmd_id); IMAP_CMD(cmd_enable);
IMAP_CMD(cmd_starttls); IMAP_CMD(cmd_authenticate); IMAP_CMD(cmd_login); IMAP_CMD(cmd_unauthenticate);
IMAP_CMD(cmd_select); IMAP_CMD(cmd_examine); IMAP_CMD(cmd_create); IMAP_CMD(cmd_delete);
IMAP_CMD(cmd_rename); IMAP_CMD(cmd_subscribe); IMAP_CMD(cmd_unsubscribe); IMAP_CMD(cmd_namespace);
IMAP_CMD(cmd_status); IMAP_CMD(cmd_list); IMAP_CMD(cmd_lsub); IMAP_CMD(cmd_append);
IMAP_CMD(cmd_idle); IMAP_CMD(cmd_notify); IMAP_CMD(cmd_check); IMAP_CMD(cmd_close); IMAP_CMD(cmd_unselect);
IMAP_CMD(cmd_esearch);
IMAP_CMD(cmd_expunge); IMAP_CMD(cmd_search); IMAP_CMD(cmd_fetch); IMAP_CMD(cmd_store);
IMAP_CMD(cmd_copy); IMAP_CMD(cmd_move); IMAP_CMD(cmd_replace);
IMAP_CMD(cmd_getquota); IMAP_CMD(cmd_getquotaroot); IMAP_CMD(cmd_setquota);
IMAP_CMD(cmd_setacl); IMAP_CMD(cmd_deleteacl); IMAP_CMD(cmd_getacl); IMAP_CMD(cmd_listrights);
IMAP_CMD(cmd_myrights);
IMAP_CMD(cmd_getmetadata); IMAP_CMD(cmd_setmetadata);
/* (added, imap-cmd-metadata.c) LIST ... RETURN (METADATA (entry...))
 * (RFC 9590): the entries, parsed after the option name (false: BAD),
 * and the METADATA response of one listed mailbox (in_store: its name
 * in store; nothing without the rights RFC 5464 3.3 asks). */
#define IMAP_LIST_MD_MAX 100
struct imap_list_md {
    char *entries[IMAP_LIST_MD_MAX];    /* lower case, owned by the command */
    size_t n;
};
bool imap_list_metadata_parse(struct imap_session *s, struct imap_cmd *cmd, struct imap_list_md *md);
void imap_list_metadata_write(struct imap_session *s, struct mail_user *store, const char *store_name,
                              const char *in_store, uint32_t special_use, acl_rights_t rights,
                              const struct imap_list_md *md);
IMAP_CMD(cmd_compress);
/* imap-cmd-urlauth.c: URLAUTH (RFC 4467), URLAUTH=BINARY (RFC 5524) */
IMAP_CMD(cmd_genurlauth); IMAP_CMD(cmd_resetkey); IMAP_CMD(cmd_urlfetch);
IMAP_CMD(cmd_sort); /* imap-cmd-sort.c: SORT, UID SORT (RFC 5256, 5957, 5267 ESORT) */
IMAP_CMD(cmd_cancelupdate); /* imap-context.c: CANCELUPDATE (RFC 5267 4.3.5) */
IMAP_CMD(cmd_thread); /* imap-cmd-thread.c: THREAD, UID THREAD (RFC 5256) */
/* (added, imap-cmd-append.c) The reader announces a literal at offset
 * marker_off of an APPEND being assembled (ct: the text so far, the
 * marker last), n octets: before the first message literal is accepted
 * the target is resolved as the command will (TRYCREATE, NOPERM, BAD
 * syntax) and the quota left in it is returned, so that the reader can
 * answer NO instead of "+" (RFC 9051 7.5). REFUSED: the reply is written.
 * MAILBOX_LITERAL: this literal is the mailbox name (checked once the
 * next literal is announced). */
enum append_pre { APPEND_PRE_OK, APPEND_PRE_MAILBOX_LITERAL, APPEND_PRE_REFUSED };
enum append_pre imap_append_precheck(struct imap_session *s, const struct imap_cmdtext *ct, size_t marker_off,
                                     uint64_t n, int64_t *room_bytes, int64_t *room_msgs);
/* (added) SELECT: "* OK [ALERT]" when a quota root covering the mailbox
 * is at or above quotawarn percent of a limit (imap-cmd-quota.c). */
void imap_quota_warn(struct imap_session *s, const char *internal_name);

/* Limits and constants. */
#define IMAP_MAX_LITERAL_MEM (64 * 1024)   /* larger literals go to a temp file */
#define IMAP_MAX_CMD_MEM (1024 * 1024)     /* total in-memory command text */
#define IMAP_MAX_LITERALS 1000             /* per command (MULTIAPPEND) */
/* All the messages of one APPEND together (its literals, and the
 * messages CATENATE builds) <= this x maxmessagesize. */
#define IMAP_MULTIAPPEND_MAX_FACTOR 10
#define IMAP_MAX_TAG 64
#define IMAP_CMDS_PER_TURN 32              /* pipelined commands run per event-loop turn */

#endif
