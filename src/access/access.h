/* access.h - who may do what to which mailbox, and under which name.
 *
 * This layer sits between storage/auth and the protocol front-ends (IMAP,
 * LMTP delivery, the CLI). It owns four things:
 *
 *   acl.c        RFC 4314 rights: parsing, formatting, the stored ACL text,
 *                SETACL-style modification and evaluation for an identity
 *   who.c        identities: canonical user ids, domains (virtdomains),
 *                admins and domain admins, group membership (groupfile)
 *   namespace.c  RFC 2342 namespaces: mapping a client-visible name
 *                ("Other Users/bob/Sent", "Shared Folders/news") to a store
 *                and an internal name, and back
 *   mailboxes.c  the checked operations: open/create/delete/rename with
 *                rights, SETACL/DELETEACL/GETACL/LISTRIGHTS/MYRIGHTS, the
 *                enumeration behind LIST, account provisioning
 *                (autocreate_inbox_folders), the share index
 *
 * Names handed to this layer are "internal client names": what the client
 * sent after the protocol layer decoded it (UTF-8, '/' as separator, INBOX
 * case-folded) - e.g. "Other Users/bob/Sent". The protocol layer still
 * does the modified-UTF-7 and '.'-separator conversion.
 *
 * Stores. Every mailbox lives in one store (storage.h struct mail_user):
 *   - a user's own store, named by the canonical user id ("bob",
 *     "bob@example.com");
 *   - a shared store per domain, named ACCESS_SHARED_STORE ("%shared") for
 *     the default domain and "%shared@DOMAIN" for the others. '%' can never
 *     appear in a user name, so the names cannot collide.
 *
 * Rights model (Cyrus semantics, RFC 4314):
 *   - A mailbox's ACL is a list of (identifier, rights) entries, where an
 *     identifier starting with '-' is a negative entry. Effective rights =
 *     union of the positive entries that match - union of the negative ones.
 *   - Identifiers: a canonical user id, "group:NAME", "anyone" (every
 *     authenticated user, NOT anonymous sessions), "anonymous" (anonymous
 *     sessions only; their rights are further capped to "lr" so a public
 *     archive can never be written by the Internet).
 *   - The owner of a personal mailbox always holds every right, whatever
 *     the ACL says (so nobody can lock themselves out).
 *   - Admins (config "admins") hold l and a on every mailbox, in addition
 *     to what the ACL grants. Under virtdomains, an admin listed as
 *     "name@domain" is a domain admin: the same, for that domain only.
 *   - Mailbox visibility: a mailbox on which the identity lacks "l" and the
 *     right a command needs answers exactly as if it did not exist
 *     (ACCESS_ERR_NONEXISTENT); with "l" but not the needed right the
 *     answer is ACCESS_ERR_NOPERM.
 *
 * Errors: functions return 0, a negative enum storage_error (storage.h)
 * passed through, or a negative enum access_error below (all < -100).
 */
#ifndef DARIUS_ACCESS_H
#define DARIUS_ACCESS_H

#include "common.h"
#include "buf.h"
#include "storage.h"
#include "auth.h"

enum access_error {
    ACCESS_ERR_NONEXISTENT = -101,  /* no such mailbox, or one the identity may not see */
    ACCESS_ERR_NOPERM = -102,       /* visible, but the needed right is missing */
    ACCESS_ERR_INVALID = -103,      /* bad name/identifier/rights string (text in *why) */
    ACCESS_ERR_CANNOT = -104,       /* not possible in this server (e.g. RENAME across stores) */
    ACCESS_ERR_ACLFULL = -105,      /* ACL would exceed STORAGE_MAX_ACL / ACL_MAX_ENTRIES */
};
/* Text for logs and NO replies; also handles storage errors. */
const char *access_strerror(int err);

/* ---- rights (acl.c) ------------------------------------------------------ */

typedef uint32_t acl_rights_t;
enum acl_right {
    ACL_LOOKUP = 1u << 0,    /* l  LIST/visibility */
    ACL_READ = 1u << 1,      /* r  SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY source */
    ACL_SEEN = 1u << 2,      /* s  keep \Seen */
    ACL_WRITE = 1u << 3,     /* w  other flags and keywords (not \Seen, \Deleted) */
    ACL_INSERT = 1u << 4,    /* i  APPEND, COPY/MOVE into */
    ACL_POST = 1u << 5,      /* p  deliver by LMTP into (non-INBOX) */
    ACL_CREATE = 1u << 6,    /* k  CREATE a child, RENAME to under it */
    ACL_DELETEMBOX = 1u << 7,/* x  DELETE, RENAME from */
    ACL_DELETEMSG = 1u << 8, /* t  \Deleted */
    ACL_EXPUNGE = 1u << 9,   /* e  EXPUNGE, MOVE source */
    ACL_ADMIN = 1u << 10,    /* a  SETACL/DELETEACL/GETACL/LISTRIGHTS */
    ACL_ANNOTATE = 1u << 11, /* n  shared annotations (METADATA) */
};
#define ACL_ALL 0xfffu
/* RFC 4314 2.1.1: the virtual "c" (create) = k|x and "d" (delete) = e|t
 * (the RFC's "former group", as Cyrus). */
#define ACL_VIRTUAL_C (ACL_CREATE | ACL_DELETEMBOX)
#define ACL_VIRTUAL_D (ACL_DELETEMSG | ACL_EXPUNGE)
#define ACL_MAX_ENTRIES 128
#define ACL_MAX_IDENTIFIER 300
/* Rights of anonymous sessions are capped to these. */
#define ACL_ANONYMOUS_MAX (ACL_LOOKUP | ACL_READ)

/* Parse a rights string of the letters "lrswipkxtean" plus "c" and "d"
 * (expanded per RFC 4314 2.1.1). false on any other character or when
 * longer than 64 bytes. "" parses to 0. */
bool acl_parse_rights(const char *s, acl_rights_t *out);
/* Canonical letters in the order "lrswipkxtean", followed by "c" when any
 * member of c is present and "d" when any member of d is (RFC 4314 2.1.1:
 * MUST in MYRIGHTS and ACL responses). out holds >= 16 bytes. */
void acl_format_rights(acl_rights_t r, char *out);

/* An ACL as stored in the mailbox row (storage mailbox_get_acl): the
 * Cyrus text form "id\trights\t" repeated, ids unique, negative entries as
 * "-id". Parsing is tolerant of a missing trailing tab; anything else
 * malformed gives false. */
struct acl_entry {
    char id[ACL_MAX_IDENTIFIER + 1];   /* without the leading '-' */
    bool negative;
    acl_rights_t rights;
};
bool acl_parse(const char *text, struct acl_entry **entries, size_t *n);   /* caller frees *entries */
char *acl_format(const struct acl_entry *entries, size_t n);               /* caller frees */
/* SETACL (RFC 4314 3.1): mod is a rights string, optionally prefixed by
 * "+" (add) or "-" (remove), else it replaces; an empty result removes the
 * entry. id may start with '-' (negative entry). Returns a new text in
 * *out (caller frees), ACCESS_ERR_INVALID for a bad rights string or
 * identifier, ACCESS_ERR_ACLFULL when it would not fit. */
int acl_modify(const char *text, const char *id, const char *mod, char **out);
/* DELETEACL: remove the entry (no error when absent). */
int acl_remove(const char *text, const char *id, char **out);

/* ---- identities (who.c) -------------------------------------------------- */

#define ACCESS_SHARED_STORE "%shared"
#define ACCESS_MAX_DOMAIN 255

struct access_who {
    char user[AUTH_MAX_USERNAME + 1];   /* canonical user id; "anonymous" for anonymous */
    char domain[ACCESS_MAX_DOMAIN + 1]; /* "" = the default domain */
    bool anonymous;
    bool admin;                         /* global admin */
    bool domain_admin;                  /* admin of `domain` only (virtdomains) */
    char **groups;                      /* "group:NAME" entries the user is in */
    size_t ngroups;
};
/* Fill w for an authenticated, canonical user id (as userdb_normalize_name
 * returns it): domain, admin flags from config "admins", groups from
 * "groupfile". */
void access_who_init(struct access_who *w, const char *user);
void access_who_init_anonymous(struct access_who *w);
/* A deep copy (a job on the pool works on its own copy; free both). */
void access_who_copy(struct access_who *dst, const struct access_who *src);
void access_who_free(struct access_who *w);
/* Domain of a canonical user id: the part after the last '@' under
 * virtdomains (the default domain is stored without it, so "" for
 * those), "" otherwise. */
const char *access_user_domain(const char *user);
/* Name of the shared store of a domain ("%shared" or "%shared@DOMAIN"). */
void access_shared_store(const char *domain, char *out, size_t outlen);
/* Does w administer domain (global admin, or domain admin of it)? */
bool access_is_admin_of(const struct access_who *w, const char *domain);
/* Is id (a canonical user id) a global admin: listed in "admins" without
 * a domain part (under virtdomains)? */
bool access_is_global_admin_id(const char *id);
/* Does w administer store (a user id or shared store name)? As
 * access_is_admin_of for the store's domain, except that only global
 * admins administer the account of a global admin. */
bool access_is_admin_of_store(const struct access_who *w, const char *store);
/* Groups: "groupfile" is /etc/group format ("name:x:gid:user1,user2");
 * also "name: user1, user2" lines. Re-read when its mtime changes. */
bool access_in_group(const char *user, const char *group);

/* Rights of w on a mailbox of store `store` with ACL text acl (NULL/"" =
 * no entries): owner -> ACL_ALL; else union(positive matches) minus
 * union(negative matches); admins of the store's domain get l|a more;
 * anonymous capped to ACL_ANONYMOUS_MAX. */
acl_rights_t acl_evaluate(const char *acl, const struct access_who *w, const char *store);

/* Identifier spelling between the client and the stored ACL under
 * virtdomains: a bare user name given by a user of domain D means
 * "name@D" (stored canonical); shown back without "@D" in D. "anyone",
 * "anonymous", "group:..." are never qualified. Outside virtdomains both
 * are the identity. Returns false when id is invalid or names another
 * domain and w is not a global admin. */
bool access_id_from_client(const struct access_who *w, const char *store, const char *id, char *out,
                           size_t outlen);
void access_id_to_client(const struct access_who *w, const char *store, const char *id, char *out,
                         size_t outlen);

/* ---- namespaces (namespace.c) -------------------------------------------- */

enum access_ns { NS_PERSONAL, NS_OTHER, NS_SHARED };

struct mbox_ref {
    enum access_ns ns;
    char store[AUTH_MAX_USERNAME + 16];       /* storage user to open */
    char owner[AUTH_MAX_USERNAME + 1];        /* owning user id, "" for shared */
    char name[STORAGE_MAX_MAILBOX_NAME + 1];  /* internal name inside the store */
};

/* Prefixes as w sees them, without trailing separator: personal "",
 * other users = config userprefix ("Other Users"), or "user" for admins
 * (Cyrus's admin namespace, what cyradm uses), shared = sharedprefix. */
const char *access_other_prefix(const struct access_who *w);
const char *access_shared_prefix(const struct access_who *w);

/* Map an internal client name for w:
 *   "INBOX", "Sent", "a/b"             -> own store, same name
 *   "<other>/bob"                      -> store bob, "INBOX"
 *   "<other>/bob/Sent"                 -> store bob, "Sent"
 *   "<shared>/news/x"                  -> shared store of w's domain, "news/x"
 * A user component is a user of w's domain (global admins may name
 * "bob@other.example"); with the '.' separator (unixhierarchysep: no) a
 * '.' in a user name is written '^' (as Cyrus). Namespace roots
 * ("Other Users", "Shared Folders") and unknown/other-domain users give
 * ACCESS_ERR_NONEXISTENT; a malformed name ACCESS_ERR_INVALID. No rights
 * are checked here. */
int access_resolve(const struct access_who *w, const char *name, struct mbox_ref *out);
/* The internal client name of mailbox ref->name of ref->store as w sees
 * it (inverse of access_resolve), appended to out. */
void access_client_name(const struct access_who *w, const char *store, const char *name, struct buf *out);
/* The rules IMAP CREATE applies to a new mailbox's internal name (inside
 * its store, '/' as separator): 1..STORAGE_MAX_MAILBOX_NAME bytes, no
 * control characters, no empty level (leading, trailing or double '/'),
 * at most 64 levels, no wildcard ('*', '%'), no "." or ".." level (they
 * look like path tricks and no client could select, rename or delete
 * them). UTF-8 validity is checked by storage. Used by every path that
 * creates a mailbox from outside IMAP (LMTP createonpost, the CLI). */
bool access_valid_mailbox_name(const char *name);

/* ---- checked operations (mailboxes.c) ------------------------------------ */

/* Open ref->store (create=false) - caller closes with mail_user_close. */
int access_open_store(const struct mbox_ref *ref, struct mail_user **out);
/* Effective rights of w on the existing mailbox ref; NONEXISTENT when
 * the mailbox does not exist. */
int access_rights(const struct access_who *w, const struct mbox_ref *ref, acl_rights_t *out);
/* Check that w holds every right in need on ref: 0, NONEXISTENT (missing
 * and no "l"), NOPERM. */
int access_check(const struct access_who *w, const struct mbox_ref *ref, acl_rights_t need);

/* CREATE: needs k on the parent mailbox when there is one in the same
 * store (the nearest existing ancestor); a new top-level personal mailbox
 * needs ownership - or, for someone else's account, k on its INBOX (the
 * account level "<other>/bob" is the parent the client sees, as Cyrus's
 * user.bob); a shared top-level mailbox or a user's account
 * ("<other>/bob") needs an admin of the domain (the account is created as
 * by access_provision_user, and userdb gets a login-disabled entry when
 * bob is unknown). Admins of the store's domain need no k (Cyrus). The
 * new mailbox's ACL is its parent's, or for top level: owner entry (all
 * rights) for personal, defaultacl for shared. */
int access_create(const struct access_who *w, const char *name, uint32_t special_use);
/* The same with a partition (Cyrus "CREATE name partition", RFC 4466
 * PARTITION): admins only; for an account it picks the new store's
 * partition (INVALID when unknown), for any other mailbox it must be the
 * partition its store is on (else ACCESS_ERR_CANNOT). NULL = none. */
int access_create_ex(const struct access_who *w, const char *name, uint32_t special_use, const char *partition);
/* LMTP createonpost / `darius deliver`: may the poster w create the
 * personal mailbox `name` (internal, inside the user store `store` open
 * as u, owned by `owner`)? The CREATE rules: access_valid_mailbox_name,
 * never INBOX or a shared store's mailbox (ACCESS_ERR_INVALID), and k
 * for w on the nearest existing ancestor (ACCESS_ERR_NOPERM) - by the
 * ACL alone, as the p right for delivery: admins get no k from being
 * admins. A name without an existing ancestor (a new top-level folder,
 * or one whose whole path is new) needs no ACL right: its parent is the
 * account, whose owner agreed through the createonpost setting, and it
 * gets the owner-only ACL so nobody else sees what was created. A child
 * gets its ancestor's ACL (as CREATE). create=false only checks. 0 or
 * an error (storage errors as they are). */
int access_create_posted(const struct access_who *w, struct mail_user *u, const char *store, const char *owner,
                         const char *name, bool create);
/* DELETE: x on it (admins of the domain need none); "<other>/bob" by an
 * admin deletes the whole account (store and user entry; the user's
 * sessions are disconnected). */
int access_delete(const struct access_who *w, const char *name);
/* RENAME: x on the source, k on the target's parent (or ownership for a
 * personal top level; admins of the domain need neither); both in one
 * store, else ACCESS_ERR_CANNOT - unless the target could not be created
 * anyway, which answers like CREATE would (NONEXISTENT for a target in an
 * account w cannot see, so RENAME never reveals what exists) - except
 * "<other>/a" -> "<other>/b" by an admin, which renames the account. */
int access_rename(const struct access_who *w, const char *from, const char *to);
/* SETACL/DELETEACL: need a. id is the client spelling. */
int access_setacl(const struct access_who *w, const char *name, const char *id, const char *mod);
int access_deleteacl(const struct access_who *w, const char *name, const char *id);
/* GETACL: need a; cb gets each entry with the client spelling of id ("-"
 * prefix for negative) and formatted rights. */
int access_getacl(const struct access_who *w, const char *name,
                  void (*cb)(const char *id, const char *rights, void *arg), void *arg);
/* LISTRIGHTS (RFC 4314 3.7): need a. required = rights always granted
 * to id (owner: all; admin: la; else none), optional = the rest, as
 * single-letter groups. */
int access_listrights(const struct access_who *w, const char *name, const char *id, acl_rights_t *required,
                      acl_rights_t *optional);
/* MYRIGHTS: one of l r i k x a (RFC 4314 4; else NONEXISTENT). */
int access_myrights(const struct access_who *w, const char *name, acl_rights_t *out);

/* LIST enumeration. Visits, in no particular order, every mailbox w can
 * see ("l"), across its own store, other users' stores of its domain and
 * the domain's shared store, plus the namespace roots and the
 * "<other>/bob" account level when something below it is visible. pattern
 * is the LIST pattern in internal client form (with '*' and '%'); it is
 * only used to skip stores that cannot match - the caller still matches
 * each name. Other users' stores are found through the share index (a
 * store is only opened when it has a mailbox shared with someone); global
 * and domain admins enumerate every account of their domain(s). */
struct access_listed {
    const char *name;                 /* internal client name */
    const struct mailbox_info *info;  /* NULL for a \Noselect level */
    const struct mbox_ref *ref;       /* NULL for a \Noselect level */
    acl_rights_t rights;
};
int access_list(const struct access_who *w, const char *pattern,
                int (*cb)(const struct access_listed *e, void *arg), void *arg);

/* First use of an account (first login or first delivery): create the
 * store if missing, and on creation the autocreate_inbox_folders (with
 * SPECIAL-USE by well-known name: Drafts, Sent, Trash, Junk/Spam,
 * Archive) and subscriptions for autosubscribe_inbox_folders (plus INBOX
 * when either list is configured, as Cyrus's autocreate). partition
 * NULL = defaultpartition. Idempotent. */
int access_provision_user(const char *user, const char *partition);
/* The job key (jobs.h) under which front-ends run access_provision_user
 * for a login off the loop: the same for every login of one name, so two
 * first logins do not race to create one store (names hash onto a fixed
 * set of keys; a collision only serialises two logins). */
const void *access_provision_key(const char *user);

/* Account operations (admin DELETE/RENAME of "<other>/bob", CLI user del
 * and rename) are journaled in shares.db and finished after a crash:
 * access_recover_accounts finishes every pending one (startup, CLI);
 * access_account_settle finishes those naming `name` when no process is
 * running them (0: nothing pending, 1: one was just finished - the
 * caller must re-check the account, STORAGE_ERR_BUSY: in progress
 * elsewhere). access_provision_user answers STORAGE_ERR_BUSY while an
 * operation names the user (the front-ends say UNAVAILABLE / 451). */
int access_recover_accounts(void);
int access_account_settle(const char *name);
/* Data about an account that higher layers keep outside its store
 * (delivery's duplicate.db: vacation tracking, Sieve duplicate ids and
 * run-time error log) follows a rename (new_ the new name) and goes with
 * a delete (new_ NULL), so that a new account of the old name inherits
 * nothing. The hook runs after the store and the user database changed,
 * also when a crashed operation is finished, so it must be idempotent.
 * Set once at start by the daemon and the CLI; NULL = none. */
void access_set_account_hook(void (*fn)(const char *old, const char *new_));

/* Share index: DATADIR/shares.db lists (store, mailbox, identifier)
 * triples for ACLs that grant rights to someone other than the owner, so
 * LIST opens only the stores shared with one of w's identifiers. A hint is added before an ACL grant commits and removed
 * after a revoke commits, so a crash leaves only extra hints (LIST checks
 * the real ACL). access_reindex rebuilds it from every store. */
int access_reindex(void (*progress)(const char *store, void *arg), void *arg);

#endif
