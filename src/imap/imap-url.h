/* imap-url.h - IMAP URLs (RFC 5092), as CATENATE (RFC 4469) and URLAUTH
 * (RFC 4467) take them from clients.
 *
 * A bounded parser for hostile input: at most IMAP_URL_MAX octets, every
 * component percent-decoded and checked (no NUL, no bad %-escapes, numbers
 * in range). It only parses; what a URL may reach is decided by its users
 * (imap-cmd-append.c, imap-cmd-urlauth.c).
 *
 * Accepted forms (RFC 5092 11):
 *   imap://[user[;AUTH=type]@]host[:port]/mailbox[;UIDVALIDITY=n][/;UID=n
 *       [/;SECTION=s][/;PARTIAL=o[.l]][;EXPIRE=datetime][;URLAUTH=access
 *       [:mech:token]]]        (absolute; also mailbox?search)
 *   /mailbox[;UIDVALIDITY=n]/;UID=n...   (iabsolute-path, relative)
 *   mailbox[;UIDVALIDITY=n]/;UID=n...    (irelative-path: the mailbox is
 *                                          relative to the base's server)
 *   ;UID=n[/;SECTION=s][/;PARTIAL=...]   (irelative-path: the base's
 *                                          mailbox, i.e. the selected one)
 * inetwork-path ("//server/...") is taken like the absolute form.
 */
#ifndef DARIUS_IMAP_URL_H
#define DARIUS_IMAP_URL_H

#include "common.h"

#define IMAP_URL_MAX 8192

enum imap_url_access {
    URL_ACCESS_NONE,        /* no ;URLAUTH= */
    URL_ACCESS_ANONYMOUS,   /* "anonymous" */
    URL_ACCESS_AUTHUSER,    /* "authuser" */
    URL_ACCESS_USER,        /* "user+" enc-user */
    URL_ACCESS_SUBMIT,      /* "submit+" enc-user */
};

struct imap_url {
    bool has_server;        /* absolute or network-path: host present */
    bool has_path;          /* starts with '/' after the server (or is one) */
    char *user;             /* enc-user decoded, NULL when absent */
    char *auth_type;        /* ;AUTH= value ("*" kept), NULL when absent */
    char *host;             /* lowercased as given (not decoded), NULL when absent */
    uint32_t port;          /* 0: absent */
    char *mailbox;          /* decoded (UTF-8); NULL: none (relative ";UID=") */
    uint32_t uidvalidity;   /* 0: absent */
    char *search;           /* "?enc-search" decoded, NULL when absent */
    uint32_t uid;           /* 0: absent (a mailbox URL) */
    char *section;          /* decoded section-spec, NULL when absent */
    bool has_partial;
    uint32_t partial_off, partial_len;      /* len 0: to the end */
    bool has_expire;
    int64_t expire;         /* seconds since the epoch (UTC) */
    enum imap_url_access access;
    char *access_user;      /* decoded user of user+ / submit+ */
    char *mech;             /* URLAUTH mechanism as given, NULL: a rump */
    char *token;            /* enc-urlauth (hex digits), NULL: a rump */
    size_t rump_len;        /* octets of the URL before ":mech:token" */
};

/* Parse s[0..len). Returns true with *u filled (free with imap_url_free),
 * or false with *err a static reason (and *u empty). */
bool imap_url_parse(const char *s, size_t len, struct imap_url *u, const char **err);
void imap_url_free(struct imap_url *u);

/* Decode %-escapes of s[0..len) into a new NUL-terminated string; NULL
 * for a bad escape or a decoded NUL. */
char *imap_url_pct_decode(const char *s, size_t len);

#endif
