/* notify.h - "something changed in this mailbox" hints across processes.
 *
 * The database is the truth; a notification only tells a process to go and
 * look (mailbox_sync). Each listening process (a dariusd worker) binds a
 * unix datagram socket in DATADIR/run/notify/; a writer (any worker, the
 * CLI, later LMTP/deliver) sends a tiny datagram "user\0mailbox_id" to every
 * socket there after its commit. If a socket is gone (dead worker) the
 * stale file is removed. A receiver's queue is short (the kernel's
 * net.unix.max_dgram_qlen, 10 by default): when it is full, the datagram
 * is dropped - a sender never waits, it may be an event loop - but the
 * loss is detected: the receiver is owed a resync marker
 * (NOTIFY_RESYNC_HINTS/_ALL), sent before anything else to it and retried
 * (notify_retry_pending) until its queue has room, so every lost datagram
 * is followed by a marker that makes the receiver re-read what it may
 * have missed.
 */
#ifndef DARIUS_NOTIFY_H
#define DARIUS_NOTIFY_H

#include "common.h"

/* Create this process's listening socket; returns its fd (non-blocking) or
 * -1. Call notify_listener_close() at exit to remove the socket file. */
int notify_listener_open(void);
void notify_listener_close(void);

/* (NOTIFY, RFC 5465) What a plain hint does not say: the changes of a
 * store's mailbox list, subscriptions and metadata, which an IMAP session
 * reports to its client by name (LIST, METADATA responses) rather than by
 * re-reading a mailbox. Sent after the commit like a hint; the datagram
 * is the hint's "user\0id" followed by "\0kind\0name\0extra\0actor", so
 * a receiver that only wants the hint reads it as one. A datagram a full
 * queue refused is announced by a NOTIFY_RESYNC_ALL marker (below): the
 * receiver cannot re-read the event, but knows it missed one. */
enum notify_event_kind {
    NOTIFY_EV_CREATE = 1,       /* name: the new mailbox */
    NOTIFY_EV_DELETE,           /* name: the deleted mailbox */
    NOTIFY_EV_RENAME,           /* name: the new name; extra: the old one */
    NOTIFY_EV_SUBSCRIBE,        /* name: subscribed (may not exist) */
    NOTIFY_EV_UNSUBSCRIBE,
    NOTIFY_EV_METADATA,         /* name: the mailbox ("" and id NOTIFY_EVENT_ONLY:
                                   the server); extra: the entry; actor: the
                                   owner of a /private entry, else "" */
    NOTIFY_EV_MAX_ = NOTIFY_EV_METADATA,
};
struct notify_event {
    enum notify_event_kind kind;
    const char *name;           /* a mailbox name inside the store */
    const char *extra;          /* "" when unused */
    const char *actor;          /* "" when unused */
    /* Set by the receiver: the sender thread's origin (notify_set_origin),
     * "" when none. Senders leave it NULL. */
    const char *origin;
};
/* (NOTIFY) Who causes the changes this thread is about to make, sent with
 * its events (not with plain hints): an IMAP session names itself while
 * its command's job runs, so that it is not told of its own changes (RFC
 * 5465 5). At most NOTIFY_ORIGIN_MAX-1 octets; NULL or "": nobody.
 * Thread-local. */
#define NOTIFY_ORIGIN_MAX 48
void notify_set_origin(const char *origin);
/* The most octets of ev->extra (a group of metadata entry names) */
#define NOTIFY_EXTRA_MAX 12288
/* mailbox_id value of an event that concerns no mailbox row (a
 * subscription, a server annotation): only the event part is meant. */
#define NOTIFY_EVENT_ONLY (-3)
/* Send ev about store user (mailbox_id: the mailbox's id, or
 * NOTIFY_EVENT_ONLY) to every listener; with an id > 0 it is also that
 * mailbox's plain hint. */
void notify_mailbox_event(const char *user, int64_t mailbox_id, const struct notify_event *ev);

/* Drain pending datagrams from the listener fd, calling cb for each hint
 * and kick (the event part of an event datagram is ignored, and an event
 * without a mailbox skipped). */
void notify_listener_read(int fd, void (*cb)(const char *user, int64_t mailbox_id, void *arg), void *arg);
/* The same with the events: ev is
 * NULL for a plain hint (and the kicks), else the event it carries (valid
 * during the call). */
void notify_listener_read_ev(int fd,
                             void (*cb)(const char *user, int64_t mailbox_id, const struct notify_event *ev,
                                        void *arg),
                             void *arg);

/* Tell every listener (including ourselves) that mailbox_id of user
 * changed. Called by the storage layer after each committing change. */
void notify_mailbox_changed(const char *user, int64_t mailbox_id);

/* mailbox_id value meaning "close every session of this user now" (store
 * being moved, renamed or deleted): receivers send a BYE/-ERR/421 and
 * drop the user's store handles. */
#define NOTIFY_KICK_USER (-1)
/* Returns false when this process's own sessions were not closed
 * synchronously: the caller runs on another thread than the one that
 * registered the local kick hook (a job on the pool, jobs.h), so they are
 * closed by that thread's event loop when it reads its own datagram; a
 * caller waiting for the store to be let go must give it time. True
 * otherwise (hook run, or no hook: the CLI). */
bool notify_user_kick(const char *user);
/* A server process registers how to close its own sessions of a user;
 * notify_user_kick calls it synchronously before sending the datagrams
 * when called on the registering thread (the worker's event loop: an
 * admin's DELETE/RENAME of an account that runs inline), never from
 * another thread (the hook touches sessions, which belong to the loop). */
void notify_set_local_kick_hook(void (*hook)(const char *user));

/* mailbox_id value meaning "forget the credential cache entries of this
 * user" (auth-service.h): sent after every change of an account's
 * password, lock state or name, and after its deletion (the userdb change
 * hook of the daemon and the CLI). Each worker drops the user's cached
 * verifications. A lost datagram leaves stale entries that can no longer
 * answer anyway (their MAC covers the stored hash; locks and deletes are
 * seen by the lookup every login makes) and expire with their TTL. */
#define NOTIFY_AUTH_FLUSH (-2)
void notify_auth_flush(const char *user);

/* mailbox_id values of a resync marker (user "-"): this listener's queue
 * refused datagrams of some sender. HINTS: only change hints were lost
 * (re-read every mailbox a session shows: the selected one, NOTIFY's
 * STATUS); ALL: events too (NOTIFY's LIST/METADATA cannot be recovered:
 * RFC 5465 5.8's NOTIFICATIONOVERFLOW). */
#define NOTIFY_RESYNC_HINTS (-4)
#define NOTIFY_RESYNC_ALL (-5)
/* A process with an event loop (a worker) retries the owed markers
 * itself: it calls notify_set_async_retry(true) at start and then
 * notify_retry_pending() from a timer while notify_retry_wanted(); it
 * never waits. Without it (the CLI) a send waits up to about 2 s for a
 * full listener queue to have room for the marker. notify_retry_pending
 * returns whether markers are still owed. */
void notify_set_async_retry(bool on);
bool notify_retry_wanted(void);
bool notify_retry_pending(void);
/* datagrams refused by full queues since start (tests, logs) */
unsigned long notify_lost_count(void);

#endif
