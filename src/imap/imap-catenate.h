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
 * append_req.before's own values). */
enum { CAT_ERR_BADURL = 100, CAT_ERR_TOOBIG = 101 };

/* One part: TEXT data, or a URL resolved to a source message (section). */
struct cat_part {
    bool url;
    /* TEXT: in memory (data) or a spilled literal's file (fd); URL: the
     * URL as sent (text, len: not NUL-terminated, in the command) */
    const char *data;
    int fd;
    const char *text;
    size_t len;
    /* URL, once resolved (loop): the source */
    struct mail_user *store;    /* a reference */
    char *mbox;                 /* the name in store */
    bool own;                   /* store is the session's own */
    char reader[AUTH_MAX_USERNAME + 1];
    uint32_t uid, uidvalidity;  /* uidvalidity 0: not given */
    bool has_sec;
    struct fetch_section sec;
    bool partial;
    uint32_t off, cnt;          /* cnt 0: to the end */
    /* URLAUTH (RFC 4467 6, imap-cmd-urlauth.c): checked by the job, with
     * the key of the URL's user (ua_owner: that user's store, a
     * reference), before the source is read */
    struct mail_user *ua_owner;
    char *ua_rump;              /* the URL without ":mech:token" */
    size_t ua_rump_len;
    char *ua_token;
};

struct cat_msg {
    struct cat_part *parts;
    size_t n;
    int fd;         /* the built message (unlinked temporary file), or -1 */
    size_t len;
};

/* After "CATENATE SP": "(" cat-part *(SP cat-part) ")". */
bool imap_catenate_parse(struct imap_session *s, struct imap_cmd *cmd, struct cat_msg **out, const char **err);
/* Resolve the URL parts (loop); false with *bad the first unusable one. */
bool imap_catenate_resolve(struct imap_session *s, struct imap_cmd *cmd, struct cat_msg *m, struct cat_part **bad);
/* Build the message into m->fd (pool). 0, CAT_ERR_TOOBIG (over max),
 * CAT_ERR_BADURL (*bad: the part) or a storage error. */
int imap_catenate_build(struct cat_msg *m, uint64_t max, struct cat_part **bad);
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
/* A URL's (UTF-8) mailbox name, as who names it, to a store reference,
 * the name in it and who's rights there; false when it cannot be
 * resolved. */
bool imap_url_mailbox(struct imap_session *s, const struct access_who *who, const char *name,
                      struct mail_user **store, char **inname, acl_rights_t *rights);
/* Fill p's source from a message URL that who (the session's, or the
 * URL's user for URLAUTH) reaches with the rights in need (loop); false
 * when it cannot. A URL without a mailbox is the selected one (only for
 * the session's own who). */
bool imap_url_fill_source(struct imap_session *s, struct imap_cmd *cmd, const struct imap_url *u,
                          struct cat_part *p, acl_rights_t need, const struct access_who *who);
/* (imap-cmd-urlauth.c, pool) Is p's URLAUTH token right? Called by
 * imap_url_read_source with p->store and p->ua_owner held and mb open. */
bool imap_urlauth_verify(const struct cat_part *p, struct mailbox *mb);
/* Read the source of p (pool): sink gets its octets (section, PARTIAL
 * applied); returns 0, CAT_ERR_BADURL (gone, other UIDVALIDITY, no such
 * part), sink's non-zero result, or a storage error. */
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
/* (imap-cmd-urlauth.c) A URLAUTH-authorized URL in CATENATE: verified
 * and p filled; false when it does not authorize this session. */
bool imap_urlauth_resolve(struct imap_session *s, struct imap_cmd *cmd, const struct imap_url *u, const char *text,
                          size_t len, struct cat_part *p);

#endif
