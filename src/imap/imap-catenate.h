/* imap-catenate.h - CATENATE (RFC 4469) parts and the source messages
 * IMAP URLs name (shared by imap-cmd-append.c and imap-cmd-urlauth.c).
 * See imap-catenate.c.
 */
#ifndef DARIUS_IMAP_CATENATE_H
#define DARIUS_IMAP_CATENATE_H

#include "imap-fetch.h"
#include "imap-url.h"

#define CAT_MAX_PARTS 256           /* cat-parts in one message */
/* Results of the build besides storage errors (positive, like
 * append_req.before's own values). OVERQUOTA: the quota room the
 * command was given (RFC 9208) is exceeded, as the reader's precheck of
 * a literal would have said. */
enum { CAT_ERR_BADURL = 100, CAT_ERR_TOOBIG = 101, CAT_ERR_OVERQUOTA = 102 };

/* One part: TEXT data, or a URL naming a source message (section).
 *
 * A URL is only prepared on the loop (imap_url_prepare): parsed, its
 * mailbox name turned into the internal client name, the section parsed,
 * the selected mailbox noted for a relative ";UID=" - nothing is looked
 * up there (no user, store, mailbox, right or key), so nothing the loop
 * does or answers depends on what exists. Everything else happens on the
 * pool, in imap_url_read_source (the owner, the stores, the mailbox, the
 * rights, for URLAUTH the key and the token, the message). */
struct cat_part {
    bool url;
    /* TEXT: in memory (data) or a spilled literal's file (fd); URL: the
     * URL as sent (text, len: not NUL-terminated, in the command) */
    const char *data;
    int fd;
    const char *text;
    size_t len;
    /* URL, prepared (loop) */
    bool prep_ok;               /* false: fails (BADURL / NIL) in the job */
    bool ua;                    /* must verify as URLAUTH (RFC 4467 6) */
    struct imap_url u;          /* parsed (when parsing succeeded) */
    char *mbox;                 /* the URL's mailbox, internal client name;
                                   NULL: the selected one (sel_*) */
    char *sel_store, *sel_mbox; /* relative ";UID=": the selected mailbox */
    acl_rights_t sel_rights;    /* the session's rights there */
    struct access_who *sess;    /* a copy of the session's identity */
    bool has_sec;
    struct fetch_section sec;
};

/* What the job opened for a URL (pool; imap_url_read_source). */
struct url_src {
    struct access_who who;      /* whose access reads: the session's or,
                                   for URLAUTH, the URL's user's */
    bool who_set;
    struct mail_user *store;    /* the mailbox's store (the job's own handle) */
    struct mail_user *owner;    /* URLAUTH: the key table's store (ditto) */
    struct mailbox *mb;
};

struct cat_msg {
    struct cat_part *parts;
    size_t n;
    int fd;         /* the built message (unlinked temporary file), or -1 */
    size_t len;
};

/* After "CATENATE SP": "(" cat-part *(SP cat-part) ")". */
bool imap_catenate_parse(struct imap_session *s, struct imap_cmd *cmd, struct cat_msg **out, const char **err);
/* Prepare the URL parts (loop; imap_url_prepare): never fails, a URL
 * that cannot work fails in the build, as one that names nothing. */
void imap_catenate_prepare(struct imap_session *s, struct imap_cmd *cmd, struct cat_msg *m);
/* Build the message into m->fd (pool), resolving and reading each URL
 * part. 0, CAT_ERR_TOOBIG (over max), CAT_ERR_OVERQUOTA (over room, not
 * over max), CAT_ERR_BADURL (*bad: the part) or a storage error. */
int imap_catenate_build(struct cat_msg *m, uint64_t max, uint64_t room, struct cat_part **bad);
void imap_catenate_free(struct cat_msg *m);
/* Release what a part holds (store references, copies). */
void imap_cat_part_clear(struct cat_part *p);
/* The URL of a part for "[BADURL url]" (TEXT-CHARs except ']'). */
void imap_write_badurl(struct buf *b, const struct cat_part *p);

/* ---- helpers for URL sources (also URLFETCH) ---------------------------- */

/* servername, or the host name */
const char *imap_server_name(void);
/* Does the URL name this server (or no server at all)? */
bool imap_url_is_local(const struct imap_url *u);
/* A URL's (UTF-8) mailbox name to the internal client name (as the
 * session would name it: namespaces, UTF-8 or modified UTF-7); false when
 * it is not a valid name. Pure string work (loop). */
bool imap_url_mailbox_name(struct imap_session *s, const char *name, char internal[IMAP_MAX_CLIENT_NAME + 1]);
/* The same resolved to a store reference, the name in it and who's
 * rights there (loop; GENURLAUTH, for the session's own user); false
 * when it cannot be resolved. */
bool imap_url_mailbox(struct imap_session *s, const struct access_who *who, const char *name,
                      struct mail_user **store, char **inname, acl_rights_t *rights);
/* Prepare the URL part p (p->text, p->len) on the loop: parsed, named,
 * no lookup (see struct cat_part). ua: the URL must verify as URLAUTH
 * (URLFETCH: every URL; CATENATE: those with ";URLAUTH="). */
void imap_url_prepare(struct imap_session *s, struct imap_cmd *cmd, struct cat_part *p, bool ua);
/* (imap-cmd-urlauth.c, pool) Is p a valid URLAUTH URL for the session
 * that sent it (RFC 4467 3, 6): access identifier, mechanism, expiry,
 * and the token against the key of the URL's user for the mailbox
 * (src->owner, src->mb; NULL when they could not be opened: the token is
 * then computed with a random key, the same work). One answer for every
 * reason; *why (debug log only) says which. */
bool imap_urlauth_verify(const struct cat_part *p, const struct url_src *src, const char **why);
/* Resolve and read the source of p (pool): the user, stores, mailbox,
 * rights (and URLAUTH's verification) as described above, then sink gets
 * its octets (section, PARTIAL applied); returns 0, CAT_ERR_BADURL (no
 * such user, mailbox, right, message or part, other UIDVALIDITY, a token
 * that does not verify), sink's non-zero result, or a storage error.
 * Every handle it opens is its own (a pool thread's private store
 * handles, storage.h) and is closed before it returns. */
int imap_url_read_source(const struct cat_part *p, int (*sink)(void *arg, const char *d, size_t n), void *arg);
/* URLAUTH=BINARY (RFC 5524 3.2): what URLFETCH asks for besides the data. */
struct url_part_info {
    bool want_bps, want_binary;
    struct buf bps;         /* BODYPARTSTRUCTURE; empty: NIL */
    struct buf bin;         /* the content without its transfer encoding */
    bool bin_ok;            /* false: the encoding is unknown (NIL) */
};
/* imap_url_read_source, also filling info (may be NULL). */
int imap_url_read_source_info(const struct cat_part *p, int (*sink)(void *arg, const char *d, size_t n), void *arg,
                              struct url_part_info *info);

#endif
