/* sqlite-schema.c - schema of a user's mail.db and its migrations.
 *
 * schema_version holds one row; migrations[i] takes a database from
 * version i to i+1 and runs in the same IMMEDIATE transaction as the
 * version bump, so an upgrade interrupted by a crash is simply redone.
 * Add a migration by appending to the array; never edit an old one.
 *
 * Design notes:
 *  - message and expunged are WITHOUT ROWID tables clustered on
 *    (mailbox_id, uid): listing UIDs or a UID range is a single ordered
 *    scan of the primary key, which is what makes 1M-message mailboxes
 *    cheap to SELECT.
 *  - expunged rows are kept forever, so QRESYNC VANISHED (RFC 7162 3.2.10)
 *    is exact and mailbox_expunge_horizon() is 0.
 *  - mailbox carries counters (messages/unseen/deleted/size) maintained in
 *    the same transaction as each change, so STATUS never counts rows and
 *    the counters cannot drift across a crash.
 *  - uidrange (schema 2) mirrors the set of UIDs of each mailbox as
 *    disjoint ranges so mailbox_get_uids() and the \Recent count never
 *    scan message rows (see the 1 -> 2 migration).
 *  - mailbox ids come from meta.last_mailbox_id (schema 3) and are never
 *    reused, so an id held by an open session can only ever name the
 *    mailbox it opened (or nothing, once that mailbox is deleted).
 *  - quotaroot (schema 4) holds quota limits and usage per root.
 *  - mailbox.acl/sharedseen and seen (schema 5): ACL text and per-reader
 *    \Seen for shared mailboxes.
 *  - retained and viewer (schema 7): messages expunged while another
 *    session may still show them stay readable until it has been told
 *    (sqlite-retain.c).
 *  - sieve_script (schema 8): users' Sieve scripts (sqlite-sieve.c).
 *  - metadata (schema 9): RFC 5464 annotations
 *    (sqlite-metadata.c).
 *  - blob is the per-body cache (ENVELOPE, BODYSTRUCTURE, header) plus
 *    the refcount that lets COPY/MOVE share one immutable file;
 *    hdrfields (schema 6) the decoded header fields SEARCH reads, per
 *    blob; sortkeys (schema 10) the SORT and THREAD keys, per blob.
 *  - thread_msgid (schema 11): Message-ID -> RFC 8474 THREADID.
 *  - urlauth_key (schema 12): the RFC 4467 mailbox access keys of the
 *    store's owner (sqlite-urlauth.c).
 *  - preview (schema 13): the RFC 8970 PREVIEW text, per blob.
 */
#include "sqlite-internal.h"
#include "log.h"

static const char *const migrations[] = {
    /* 0 -> 1: initial schema */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE mailbox("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  mailboxid TEXT NOT NULL,"
    "  uidvalidity INTEGER NOT NULL,"
    "  uidnext INTEGER NOT NULL,"
    "  highestmodseq INTEGER NOT NULL,"
    "  special_use INTEGER NOT NULL DEFAULT 0,"
    "  recent_uid INTEGER NOT NULL DEFAULT 0,"
    "  messages INTEGER NOT NULL DEFAULT 0,"
    "  unseen INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE message("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL,"
    "  keywords TEXT NOT NULL DEFAULT '',"
    "  internaldate INTEGER NOT NULL,"
    "  internaldate_tz INTEGER NOT NULL DEFAULT 0,"
    "  savedate INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  guid TEXT NOT NULL,"
    "  threadid TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX message_modseq ON message(mailbox_id, modseq);"
    /* Same key as the primary key, but a narrow b-tree (no other columns):
     * mailbox_get_uids() scans ~12 MB instead of the whole table for 1M
     * messages; the planner picks it as a covering index by itself. */
    "CREATE INDEX message_uid ON message(mailbox_id, uid);"
    "CREATE TABLE expunged("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);"
    "CREATE TABLE blob("
    "  guid TEXT PRIMARY KEY,"
    "  refcount INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  envelope TEXT, bodystructure TEXT, body TEXT, header BLOB, lines INTEGER) WITHOUT ROWID;"
    /* Partial index: finding blobs whose last reference just went away is
     * an index lookup, not a table scan. */
    "CREATE INDEX blob_dead ON blob(guid) WHERE refcount<=0;"
    "CREATE TABLE subscription(name TEXT PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE keyword("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL COLLATE NOCASE,"
    "  PRIMARY KEY(mailbox_id, name)) WITHOUT ROWID;",

    /* 1 -> 2: uidrange, the UIDs present in each mailbox as run-length
     * ranges [lo, hi], maintained in the same transaction as every change
     * that adds or removes message rows (sqlite-uidrange.c).
     *
     * Why: SELECT needs the full UID list (UID -> MSN map). Reading it
     * from message costs one b-tree step per message (~65 ms CPU for 1M
     * rows, more than the 50 ms SELECT budget); UIDs are mostly dense (new
     * mail gets UIDNEXT, holes only come from expunges), so a mailbox is
     * usually a handful of ranges and expanding them into the array is
     * ~1 ms per million. Worst case (every other UID expunged) is one
     * range row per message, i.e. about the old cost.
     *
     * The ranges are built here from the message rows (gaps-and-islands:
     * within a run of consecutive UIDs, uid - row_number() is constant).
     * message_uid existed only to make that scan narrow; it is dropped
     * because every append/copy paid for maintaining it. */
    "CREATE TABLE uidrange("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  lo INTEGER NOT NULL,"
    "  hi INTEGER NOT NULL,"
    "  PRIMARY KEY(mailbox_id, lo)) WITHOUT ROWID;"
    "INSERT INTO uidrange(mailbox_id, lo, hi) " SQ_UIDRANGE_ISLANDS("1") ";"
    "DROP INDEX IF EXISTS message_uid;"
    /* mailbox_first_unseen (IMAP4rev1 SELECT's [UNSEEN n]): without it,
     * a mostly-read 1M-message mailbox whose first unseen message is near
     * the end meant walking ~1M records on every SELECT. Partial, so it
     * only holds unseen messages (typically few) and \Seen changes only
     * touch it for the messages that change. */
    "CREATE INDEX message_unseen ON message(mailbox_id, uid) WHERE (flags&1)=0;",

    /* 2 -> 3: mailbox ids are never reused.
     *
     * mailbox.id is INTEGER PRIMARY KEY without AUTOINCREMENT, so SQLite
     * hands out max(id)+1: deleting the newest mailbox and creating
     * another gave the new one the old id, and a session that still had
     * the deleted mailbox open (struct mailbox keeps the id) then read and
     * changed the new mailbox's messages, and notifications keyed by id
     * reached the wrong sessions. New ids now come from the persistent
     * counter meta.last_mailbox_id (sqlite-mailbox.c create_row), which
     * only grows. A counter instead of AUTOINCREMENT because the latter
     * needs a rebuild of mailbox, which every other table references.
     *
     * The counter starts above every id still visible anywhere: existing
     * mailboxes and rows a damaged store may have left behind. Ids used
     * and freed before this migration cannot be known; they are only
     * dangerous to a session open across the upgrade, i.e. none (the
     * migration runs when the store is first opened). */
    "INSERT OR REPLACE INTO meta(key,value) SELECT 'last_mailbox_id', max("
    "  coalesce((SELECT max(id) FROM mailbox),0),"
    "  coalesce((SELECT max(mailbox_id) FROM message),0),"
    "  coalesce((SELECT max(mailbox_id) FROM expunged),0),"
    "  coalesce((SELECT max(mailbox_id) FROM uidrange),0),"
    "  coalesce((SELECT max(mailbox_id) FROM keyword),0));",

    /* 3 -> 4: quota roots (RFC 9208, sqlite-quota.c). A root covers the
     * mailbox of its name and everything below it; "" is the whole user
     * and always exists. Limits are NULL when unlimited; storage_limit_kb
     * is in KiB as RFC 9208 counts STORAGE, usage is kept in bytes (the
     * sum of the covered mailboxes' size counters, so STATUS SIZE and
     * quota always agree) and changed in the same transaction as the
     * messages and mailboxes it counts. */
    "CREATE TABLE quotaroot("
    "  name TEXT PRIMARY KEY,"
    "  storage_limit_kb INTEGER,"
    "  message_limit INTEGER,"
    "  mailbox_limit INTEGER,"
    "  storage_used INTEGER NOT NULL DEFAULT 0,"
    "  message_used INTEGER NOT NULL DEFAULT 0,"
    "  mailbox_used INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "INSERT INTO quotaroot(name,storage_used,message_used,mailbox_used) "
    "  SELECT '',coalesce(sum(size),0),coalesce(sum(messages),0),count(*) FROM mailbox;",

    /* 4 -> 5: access control and per-reader \Seen (issue 3).
     * mailbox.acl is the ACL text of access.h, opaque to storage and
     * changed in one statement (atomic). mailbox.sharedseen: every reader
     * shares the message rows' \Seen bit (Cyrus "sharedseen").
     * seen holds, for readers other than the store's owner and mailboxes
     * without sharedseen, the UIDs each reader has seen: one row per seen
     * message, dropped with the message (expunge) or the mailbox, so a
     * reader's rows never outnumber the mailbox's messages. The primary
     * key serves a reader's lookups and counts; seen_uid serves expunge
     * (all readers of one message). */
    "ALTER TABLE mailbox ADD COLUMN acl TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE mailbox ADD COLUMN sharedseen INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE seen("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  reader TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  PRIMARY KEY(mailbox_id, reader, uid)) WITHOUT ROWID;"
    "CREATE INDEX seen_uid ON seen(mailbox_id, uid);",

    /* 5 -> 6: hdrfields, per blob its "hfields" (mime.h): Subject, From,
     * To, Cc and Bcc decoded once at append time (issue 10 item 4), so
     * SEARCH on them reads neither the message file nor the raw header
     * and decodes nothing. A table of its own rather than a blob column:
     * blob rows are several KB (ENVELOPE, BODYSTRUCTURE, the header) and
     * spill into overflow pages, so a column at their end costs a walk of
     * the chain per message; these rows are a few hundred bytes, many per
     * page. Same key as blob: COPY and MOVE share it, and it goes with
     * the blob's last reference (sq_collect_dead).
     *
     * Not filled here: decoding every header of a store with a million
     * messages would make the login that opens it wait for minutes.
     * A row is written at append time, and for older blobs on first use
     * by SEARCH, decoded from the cached raw header (sqlite-message.c
     * sq_search_headers); until then SEARCH decodes as before. */
    "CREATE TABLE hdrfields("
    "  guid TEXT PRIMARY KEY,"
    "  data BLOB NOT NULL) WITHOUT ROWID;",

    /* 6 -> 7: expunged messages stay readable until the sessions that
     * still show them have been told (RFC 2180 4.1.1; sqlite-retain.c).
     * retained holds, per message another session expunged while some
     * session could still see it, the record as it was (flags, keywords,
     * dates, size, guid) and the modseq of the expunge; the row keeps its
     * blob reference, so the message file stays until the row goes. The
     * message row itself is gone: counters, quota, UID ranges and
     * VANISHED (expunged) are exactly as for any expunge.
     * viewer has one row per (mailbox, process) that has the mailbox
     * selected somewhere: the modseq up to which every such session of
     * that process has been told of expunges (a lower bound: it is only
     * raised when that frees something), and the process id and start
     * time, so rows of a process that died (or a reused pid) are told
     * apart from live ones and ignored. A retained row goes once every
     * live viewer row of its mailbox is at or past its expunge modseq. */
    "CREATE TABLE retained("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  expunge_modseq INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL,"
    "  keywords TEXT NOT NULL DEFAULT '',"
    "  internaldate INTEGER NOT NULL,"
    "  internaldate_tz INTEGER NOT NULL DEFAULT 0,"
    "  savedate INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  guid TEXT NOT NULL,"
    "  threadid TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE TABLE viewer("
    "  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
    "  pid INTEGER NOT NULL,"
    "  pstart INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY(mailbox_id, pid)) WITHOUT ROWID;",

    /* 7 -> 8: Sieve scripts (issue 11, sqlite-sieve.c), in the user's
     * store so they move and go with it. One row per script: name
     * (compared as octets, RFC 5804 1.6), size of the source, time of
     * the last put, active flag (at most one row has it: the partial
     * unique index), generation (from meta.sieve_generation, new at
     * every put, so a compiled form computed from an older source is
     * never stored over a newer one), the opaque compiled form and its
     * format version (0: none), the source. A rowid table with the blobs
     * last: a listing reads the small columns without the blobs'
     * overflow pages. Existing stores have no scripts, so quota usage
     * needs no change. */
    "CREATE TABLE sieve_script("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 0,"
    "  generation INTEGER NOT NULL,"
    "  compiled_version INTEGER NOT NULL DEFAULT 0,"
    "  source BLOB NOT NULL,"
    "  compiled BLOB);"
    "CREATE UNIQUE INDEX sieve_script_active ON sieve_script(active) WHERE active!=0;",

    /* -> +1: METADATA annotations (RFC 5464, sqlite-metadata.c). Its
     * own table and trigger, touching nothing else, so it may run before
     * or after any other migration. mailbox_id 0 holds the store's server
     * entries (GETMETADATA ""); owner '' marks /shared entries, '~' the
     * store owner's /private ones (so they follow an account rename), any
     * other value the user id of another reader's /private ones. name is
     * the whole entry name in lower case ("/shared/comment"). No foreign
     * key (0 names no mailbox): the trigger drops a mailbox's entries
     * with its row (RFC 5464 4.1: a new mailbox of the same name must not
     * inherit them); a rename keeps the id, so they follow it. */
    "CREATE TABLE metadata("
    "  mailbox_id INTEGER NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  PRIMARY KEY(mailbox_id, owner, name)) WITHOUT ROWID;"
    "CREATE INDEX metadata_owner ON metadata(owner);"
    "CREATE TRIGGER metadata_mailbox_gone AFTER DELETE ON mailbox BEGIN "
    "  DELETE FROM metadata WHERE mailbox_id=OLD.id; END;",

    /* 9 -> 10: sortkeys, per blob the record of SORT and THREAD keys
     * (sortkey.h: casemapped base subject, first From/To/Cc mailbox,
     * RFC 5957 display keys, sent date, normalized Message-ID,
     * In-Reply-To and References), computed once at append time (issue
     * 12: "sort keys are computed once at append time and stored") so
     * SORT and THREAD read one small row per message and parse nothing.
     * A table of its own keyed like blob, for the same reasons as
     * hdrfields (schema 6): small rows, shared by COPY/MOVE, goes with
     * the blob's last reference. Not filled here: older blobs get their
     * row on first use by SORT or THREAD (sq_sort_keys), from the cached
     * raw header. Its own table, touching nothing else: it may run
     * before or after any other migration. */
    "CREATE TABLE sortkeys("
    "  guid TEXT PRIMARY KEY,"
    "  data BLOB NOT NULL) WITHOUT ROWID;",

    /* 10 -> 11: thread_msgid, the RFC 8474 THREADID of each Message-ID
     * seen in a stored message's Message-ID, In-Reply-To or References
     * (sqlite-message.c assign_threadid), so the messages of one
     * conversation share a THREADID. Messages stored before keep theirs
     * (their own guid): a THREADID never changes. */
    "CREATE TABLE thread_msgid("
    "  msgid TEXT PRIMARY KEY,"
    "  threadid TEXT NOT NULL) WITHOUT ROWID;",

    /* 11 -> 12: urlauth_key, the store owner's URLAUTH mailbox access
     * keys (RFC 4467 2.2: per user and per mailbox), by the mailbox's
     * store and MAILBOXID (RFC 8474), so a key follows a RENAME and a
     * mailbox created again under the same name has a new one. Its own
     * table, touching nothing else (sqlite-urlauth.c). */
    "CREATE TABLE urlauth_key("
    "  store TEXT NOT NULL,"
    "  mailboxid TEXT NOT NULL,"
    "  key BLOB NOT NULL,"
    "  PRIMARY KEY(store, mailboxid)) WITHOUT ROWID;",

    /* 12 -> 13: preview, per blob its RFC 8970 PREVIEW text (mime.h
     * mime_preview_build: at most 256 characters of UTF-8), computed at
     * append time where the message is parsed anyway (storage.c
     * fill_cache) so FETCH PREVIEW reads one small row. A table of its
     * own keyed like blob, for the reasons of hdrfields (schema 6): small
     * rows, shared by COPY/MOVE, goes with the blob's last reference
     * (sq_collect_dead). Not filled here: older blobs get their row on
     * their first FETCH PREVIEW (without LAZY, which answers NIL for
     * them), computed from the file in the FETCH job. IF NOT EXISTS and
     * touching nothing else: it may run before or after any other
     * migration, from schema 11 as well as 12. */
    "CREATE TABLE IF NOT EXISTS preview("
    "  guid TEXT PRIMARY KEY,"
    "  text TEXT NOT NULL) WITHOUT ROWID;",
};

#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

static int get_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    *v = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sq_schema_init(struct mail_user *u)
{
    sqlite3 *db = sq(u)->db;
    char *err = NULL;
    int rc = sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);",
                          NULL, NULL, &err);
    if (rc != SQLITE_OK)
        goto fail;
    int v;
    if ((rc = get_version(db, &v)) != SQLITE_OK)
        goto fail;
    if (v == SCHEMA_VERSION)
        return STORAGE_OK;
    if (v > SCHEMA_VERSION) {
        log_err("storage: %s: mail.db schema version %d is newer than this server (%d)", u->name, v,
                SCHEMA_VERSION);
        return STORAGE_ERR_IO;
    }
    if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err)) != SQLITE_OK)
        goto fail;
    /* Re-read under the write lock: a concurrent opener may have migrated. */
    if ((rc = get_version(db, &v)) != SQLITE_OK)
        goto fail_rb;
    for (; v < SCHEMA_VERSION; v++) {
        if ((rc = sqlite3_exec(db, migrations[v], NULL, NULL, &err)) != SQLITE_OK)
            goto fail_rb;
        log_info("storage: %s: mail.db migrated to schema version %d", u->name, v + 1);
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d);",
             SCHEMA_VERSION);
    if ((rc = sqlite3_exec(db, sql, NULL, NULL, &err)) != SQLITE_OK)
        goto fail_rb;
    if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &err)) != SQLITE_OK)
        goto fail_rb;
    return STORAGE_OK;
fail_rb:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
    log_err("storage: %s: schema: %s", u->name, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return rc == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
}
