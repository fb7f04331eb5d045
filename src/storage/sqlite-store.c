/* sqlite-store.c - SQLite backend: connection, statement cache, vtable,
 * consistency check.
 *
 * Per-user database DATADIR/user/<c>/<name>/mail.db. WAL lets readers
 * (other sessions, other processes) proceed while one writer commits;
 * synchronous=FULL because storage promises that a returned APPEND is on
 * disk; writes use BEGIN IMMEDIATE so the write lock is taken up front and
 * a busy database shows up as a clean STORAGE_ERR_BUSY after busy_timeout
 * instead of a deadlock-prone lock upgrade in the middle of a transaction.
 */
#include "sqlite-internal.h"
#include "notify.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MBCOLS                                                                                     \
    "id,name,mailboxid,uidvalidity,uidnext,highestmodseq,special_use,recent_uid,messages,unseen,"  \
    "deleted,size,EXISTS(SELECT 1 FROM subscription s WHERE s.name=mailbox.name),"                 \
    RECENT_COUNT ",acl,sharedseen"
/* Messages above the \Recent watermark, from uidrange: the ranges that
 * start above it, plus the tail of the one range that straddles it. Both
 * are index range scans on (mailbox_id, lo) whose cost is the number of
 * ranges above the watermark, not the number of messages (a 1M-message
 * mailbox nobody SELECTed yet used to count 1M rows here). */
#define RECENT_COUNT                                                                               \
    "(SELECT coalesce(sum(r.hi-r.lo+1),0) FROM uidrange r WHERE r.mailbox_id=mailbox.id "         \
    "AND r.lo>mailbox.recent_uid)+coalesce((SELECT max(r.hi-mailbox.recent_uid,0) FROM uidrange r " \
    "WHERE r.mailbox_id=mailbox.id AND r.lo<=mailbox.recent_uid ORDER BY r.lo DESC LIMIT 1),0)"
/* Appended to the WHERE of reads by an open mailbox: the row with the
 * handle's id must still be the mailbox that was opened (same MAILBOXID).
 * Uncorrelated, so SQLite evaluates it once per execution: one primary-key
 * lookup per statement, not per row. With ids never reused (schema 3) a
 * deleted mailbox has no rows left to read anyway; this also covers a
 * connection that outlived its store being deleted and recreated. */
#define MB_IS(idp, mbidp) "EXISTS(SELECT 1 FROM mailbox WHERE id=" idp " AND mailboxid=" mbidp ")"
#define MSGCOLS "uid,flags,keywords,modseq,internaldate,internaldate_tz,savedate,size,guid,threadid"
/* The same for a handle of a reader with its own \Seen (schema 5): the
 * row's \Seen bit is replaced by the reader's, bound as ?20; column 10 is
 * the row's own flags (counters are kept on those). */
#define MSGCOLS_AS                                                                                 \
    "uid,(flags&~1)|EXISTS(SELECT 1 FROM seen s WHERE s.mailbox_id=message.mailbox_id AND "        \
    "s.reader=?20 AND s.uid=message.uid),keywords,modseq,internaldate,internaldate_tz,savedate,"   \
    "size,guid,threadid,flags"

static const char *const sq_sql[SQ__COUNT] = {
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_META_GET] = "SELECT value FROM meta WHERE key=?",
    [SQ_META_SET] = "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)",
    [SQ_MB_BY_NAME] = "SELECT " MBCOLS " FROM mailbox WHERE name=?",
    [SQ_MB_BY_ID] = "SELECT " MBCOLS " FROM mailbox WHERE id=?",
    [SQ_MB_LIST] = "SELECT " MBCOLS " FROM mailbox ORDER BY name",
    [SQ_MB_COUNT] = "SELECT messages FROM mailbox WHERE id=? AND mailboxid=?",
    [SQ_MB_INSERT] = "INSERT INTO mailbox(name,mailboxid,uidvalidity,uidnext,highestmodseq,special_use,"
                     "recent_uid,messages,unseen,deleted,size,created,id) VALUES(?,?,?,?,?,?,0,0,0,0,0,?,?)",
    /* Never reused (schema 3): the counter, and max(id) in case a row was
     * ever inserted behind the counter's back. */
    [SQ_MB_NEXT_ID] = "SELECT max(coalesce((SELECT value FROM meta WHERE key='last_mailbox_id'),0),"
                      "coalesce((SELECT max(id) FROM mailbox),0))+1",
    [SQ_MB_ALIVE] = "SELECT 1 FROM mailbox WHERE id=? AND mailboxid=?",
    [SQ_MB_SET_RECENT] = "UPDATE mailbox SET recent_uid=? WHERE id=?",
    [SQ_MB_BUMP] = "UPDATE mailbox SET highestmodseq=max(highestmodseq,?1),uidnext=max(uidnext,?2),"
                   "messages=messages+?3,unseen=unseen+?4,deleted=deleted+?5,size=size+?6 WHERE id=?7",
    [SQ_MB_SPECIAL] = "UPDATE mailbox SET special_use=? WHERE name=?",
    [SQ_MB_DELETE] = "DELETE FROM mailbox WHERE id=?",
    [SQ_MB_EXISTS] = "SELECT id FROM mailbox WHERE name=?",
    [SQ_MB_RENAME] = "UPDATE mailbox SET name=?2||substr(name,length(?1)+1) "
                     "WHERE name=?1 OR substr(name,1,length(?1)+1)=?1||'/'",
    [SQ_MB_CHILD_CONFLICT] = "SELECT 1 FROM mailbox a WHERE (a.name=?1 OR substr(a.name,1,length(?1)+1)=?1||'/') "
                             "AND EXISTS(SELECT 1 FROM mailbox b WHERE b.name=?2||substr(a.name,length(?1)+1)) "
                             "LIMIT 1",
    [SQ_MB_SET_COUNTERS] = "UPDATE mailbox SET messages=?,unseen=?,deleted=?,size=? WHERE id=?",
    [SQ_MB_IDS] = "SELECT id,name,messages,unseen,deleted,size FROM mailbox ORDER BY id",
    [SQ_SUB_ADD] = "INSERT OR IGNORE INTO subscription(name) VALUES(?)",
    [SQ_SUB_DEL] = "DELETE FROM subscription WHERE name=?",
    [SQ_SUB_LIST] = "SELECT name FROM subscription ORDER BY name",
    [SQ_MSG_UIDS] = "SELECT uid FROM message WHERE mailbox_id=? ORDER BY uid",
    [SQ_MSG_RANGE] = "SELECT " MSGCOLS " FROM message WHERE mailbox_id=?1 AND uid BETWEEN ?2 AND ?3 AND "
                     MB_IS("?1", "?5") " ORDER BY uid LIMIT ?4",
    [SQ_MSG_ONE] = "SELECT " MSGCOLS " FROM message WHERE mailbox_id=?1 AND uid=?2 AND " MB_IS("?1", "?3"),
    [SQ_MSG_RANGE_AS] = "SELECT " MSGCOLS_AS " FROM message WHERE mailbox_id=?1 AND uid BETWEEN ?2 AND ?3 AND "
                        MB_IS("?1", "?5") " ORDER BY uid LIMIT ?4",
    [SQ_MSG_ONE_AS] = "SELECT " MSGCOLS_AS " FROM message WHERE mailbox_id=?1 AND uid=?2 AND " MB_IS("?1", "?3"),
    [SQ_MSG_SETFLAGS_KEEPSEEN] = "UPDATE message SET flags=(flags&1)|(?1&~1),keywords=?2,modseq=?3 "
                                 "WHERE mailbox_id=?4 AND uid=?5",
    [SQ_MSG_FIRST_UNSEEN_AS] = "SELECT m.uid FROM message m WHERE m.mailbox_id=?1 AND NOT EXISTS(SELECT 1 FROM "
                               "seen s WHERE s.mailbox_id=?1 AND s.reader=?3 AND s.uid=m.uid) AND "
                               MB_IS("?1", "?2") " ORDER BY m.uid LIMIT 1",
    [SQ_SEEN_COUNT] = "SELECT count(*) FROM seen WHERE mailbox_id=?1 AND reader=?2",
    [SQ_SEEN_ADD] = "INSERT OR IGNORE INTO seen(mailbox_id,reader,uid) VALUES(?1,?2,?3)",
    [SQ_SEEN_DEL] = "DELETE FROM seen WHERE mailbox_id=?1 AND reader=?2 AND uid=?3",
    [SQ_SEEN_DELETE_UID] = "DELETE FROM seen WHERE mailbox_id=?1 AND uid=?2",
    [SQ_SEEN_DELETE_MAILBOX] = "DELETE FROM seen WHERE mailbox_id=?",
    [SQ_SEEN_MOVE_ALL] = "UPDATE seen SET mailbox_id=?2 WHERE mailbox_id=?1",
    [SQ_MB_SET_ACL] = "UPDATE mailbox SET acl=?2 WHERE name=?1",
    [SQ_MB_SET_ACL_ID] = "UPDATE mailbox SET acl=?2 WHERE id=?1",
    [SQ_MB_GET_ACL] = "SELECT acl FROM mailbox WHERE name=?",
    [SQ_MB_SET_SHAREDSEEN] = "UPDATE mailbox SET sharedseen=?2 WHERE name=?1",
    [SQ_BLOB_ROW] = "SELECT size,envelope,bodystructure,body,header,lines,"
                    "(SELECT h.data FROM hdrfields h WHERE h.guid=blob.guid),"
                    "(SELECT k.data FROM sortkeys k WHERE k.guid=blob.guid),"
                    "(SELECT p.text FROM preview p WHERE p.guid=blob.guid) FROM blob WHERE guid=?",
    /* hdrfields (schema 6). A row is only written for a blob that exists
     * (lazy fills run in a later transaction than the read that found the
     * blob: it may have gone meanwhile), and goes with the blob. */
    [SQ_HF_PUT] = "INSERT OR REPLACE INTO hdrfields(guid,data) SELECT ?1,?2 WHERE EXISTS(SELECT 1 FROM blob "
                  "WHERE guid=?1)",
    [SQ_HF_DEAD_DEL] = "DELETE FROM hdrfields WHERE guid IN (SELECT guid FROM blob WHERE refcount<=0)",
    /* SEARCH: one ordered scan of a UID range of the message rows, with a
     * primary-key lookup of each row's hdrfields and/or blob header
     * (LEFT JOIN: the message rows drive, a missing row is NULL). */
#define HF_SEARCH(cols, joins)                                                                     \
    "SELECT m.uid,m.guid," cols " FROM message m " joins " WHERE m.mailbox_id=?1 AND m.uid BETWEEN ?2 AND ?3 " \
    "AND " MB_IS("?1", "?4") " ORDER BY m.uid"
    [SQ_HF_SEARCH_F] = HF_SEARCH("h.data,NULL", "LEFT JOIN hdrfields h ON h.guid=m.guid"),
    [SQ_HF_SEARCH_R] = HF_SEARCH("NULL,b.header", "LEFT JOIN blob b ON b.guid=m.guid"),
    [SQ_HF_SEARCH_FR] = HF_SEARCH("h.data,b.header",
                                  "LEFT JOIN hdrfields h ON h.guid=m.guid LEFT JOIN blob b ON b.guid=m.guid"),
    [SQ_BLOB_HEADER] = "SELECT header FROM blob WHERE guid=?",
    /* sortkeys (schema 9): like hdrfields. */
    [SQ_SK_PUT] = "INSERT OR REPLACE INTO sortkeys(guid,data) SELECT ?1,?2 WHERE EXISTS(SELECT 1 FROM blob "
                  "WHERE guid=?1)",
    /* preview (schema 13): like hdrfields; the point lookups as
     * SQ_BLOB_CACHE / SQ_RET_CACHE (LEFT JOIN: NULL when not stored). */
    [SQ_PV_PUT] = "INSERT OR REPLACE INTO preview(guid,text) SELECT ?1,?2 WHERE EXISTS(SELECT 1 FROM blob "
                  "WHERE guid=?1)",
    [SQ_PV_DEAD_DEL] = "DELETE FROM preview WHERE guid IN (SELECT guid FROM blob WHERE refcount<=0)",
    [SQ_PV_GET] = "SELECT p.text,m.guid FROM message m LEFT JOIN preview p ON p.guid=m.guid "
                  "WHERE m.mailbox_id=?1 AND m.uid=?2 AND " MB_IS("?1", "?3"),
    [SQ_RET_PV_GET] = "SELECT p.text,r.guid FROM retained r LEFT JOIN preview p ON p.guid=r.guid "
                      "WHERE r.mailbox_id=?1 AND r.uid=?2 AND r.expunge_modseq>?4 AND " MB_IS("?1", "?3"),
    [SQ_SK_DEAD_DEL] = "DELETE FROM sortkeys WHERE guid IN (SELECT guid FROM blob WHERE refcount<=0)",
    [SQ_SK_READ] = "SELECT m.uid,m.guid,s.data FROM message m LEFT JOIN sortkeys s ON s.guid=m.guid "
                   "WHERE m.mailbox_id=?1 AND m.uid BETWEEN ?2 AND ?3 AND " MB_IS("?1", "?4") " ORDER BY m.uid",
    /* a large scan's memory map (sqlite-message.c scan_mmap_begin) */
    [SQ_MMAP_ON] = "PRAGMA mmap_size=1073741824",
    [SQ_MMAP_OFF] = "PRAGMA mmap_size=0",
    /* conversation threads (schema 10, sqlite-message.c assign_threadid) */
    [SQ_TH_GET] = "SELECT threadid FROM thread_msgid WHERE msgid=?",
    [SQ_TH_PUT] = "INSERT OR IGNORE INTO thread_msgid(msgid,threadid) VALUES(?,?)",
    /* covered by message_modseq (mailbox_id, modseq, uid) */
    [SQ_MSG_SINCE] = "SELECT uid FROM message WHERE mailbox_id=?1 AND modseq>?2 AND modseq<=?3 AND "
                     MB_IS("?1", "?4"),
    [SQ_MSG_INSERT] = "INSERT INTO message(mailbox_id,uid,modseq,flags,keywords,internaldate,internaldate_tz,"
                      "savedate,size,guid,threadid) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [SQ_MSG_SETFLAGS] = "UPDATE message SET flags=?,keywords=?,modseq=? WHERE mailbox_id=? AND uid=?",
    [SQ_MSG_DELETE] = "DELETE FROM message WHERE mailbox_id=? AND uid=?",
    [SQ_MSG_DELETED_UIDS] = "SELECT uid FROM message WHERE mailbox_id=? AND (flags&8)!=0 ORDER BY uid",
    [SQ_MSG_GUIDS_OF_MAILBOX] = "SELECT guid FROM message WHERE mailbox_id=?",
    [SQ_MSG_DELETE_MAILBOX] = "DELETE FROM message WHERE mailbox_id=?",
    [SQ_MSG_MOVE_ALL] = "UPDATE message SET mailbox_id=?2,modseq=?3 WHERE mailbox_id=?1",
    [SQ_MSG_COUNTERS] = "SELECT count(*),total((flags&1)=0),total((flags&8)!=0),total(size) FROM message "
                        "WHERE mailbox_id=?",
    [SQ_EXP_INSERT] = "INSERT OR REPLACE INTO expunged(mailbox_id,uid,modseq) VALUES(?,?,?)",
    /* INDEXED BY: with ORDER BY uid (and no statistics) the planner walked
     * the primary key over every expunge the mailbox ever had - it grows
     * forever (QRESYNC) and every sync of every session paid for it. The
     * modseq range is a handful of rows; report_uids sorts them. */
    [SQ_EXP_SINCE] = "SELECT uid FROM expunged INDEXED BY expunged_modseq WHERE mailbox_id=?1 AND modseq>?2 "
                     "AND modseq<=?3 AND " MB_IS("?1", "?4"),
    [SQ_EXP_DELETE_MAILBOX] = "DELETE FROM expunged WHERE mailbox_id=?",
    [SQ_EXP_FROM_MAILBOX] = "INSERT OR REPLACE INTO expunged(mailbox_id,uid,modseq) "
                            "SELECT ?1,uid,?2 FROM message WHERE mailbox_id=?1",
    [SQ_BLOB_INSERT] = "INSERT INTO blob(guid,refcount,size,envelope,bodystructure,body,header,lines) "
                       "VALUES(?,1,?,?,?,?,?,?)",
    [SQ_BLOB_REF] = "UPDATE blob SET refcount=refcount+? WHERE guid=?",
    [SQ_BLOB_DEAD] = "SELECT guid FROM blob WHERE refcount<=0",
    [SQ_BLOB_DEAD_DEL] = "DELETE FROM blob WHERE refcount<=0",
    [SQ_BLOB_CACHE] = "SELECT b.envelope,b.bodystructure,b.body,b.header,b.lines FROM message m "
                      "JOIN blob b ON b.guid=m.guid WHERE m.mailbox_id=?1 AND m.uid=?2 AND " MB_IS("?1", "?3"),
    [SQ_BLOB_EXISTS] = "SELECT 1 FROM blob WHERE guid=?",
    [SQ_BLOB_ALL] = "SELECT guid FROM blob",
    /* A retained expunged message (schema 7) holds a reference too. */
    [SQ_BLOB_REFCHECK] = "SELECT b.guid,b.refcount,coalesce(c.n,0) FROM blob b LEFT JOIN "
                         "(SELECT guid,count(*) AS n FROM (SELECT guid FROM message UNION ALL "
                         "SELECT guid FROM retained) GROUP BY guid) c ON c.guid=b.guid "
                         "WHERE coalesce(c.n,0)!=b.refcount",
    [SQ_BLOB_SETREF] = "UPDATE blob SET refcount=? WHERE guid=?",
    [SQ_MSG_NOBLOB] = "SELECT m.mailbox_id,m.uid,m.guid FROM message m "
                      "WHERE NOT EXISTS(SELECT 1 FROM blob b WHERE b.guid=m.guid)",
    [SQ_MSG_GUID] = "SELECT guid FROM message WHERE mailbox_id=?1 AND uid=?2 AND " MB_IS("?1", "?3"),
    [SQ_KW_LIST] = "SELECT name FROM keyword WHERE mailbox_id=?1 AND " MB_IS("?1", "?2") " ORDER BY name",
    [SQ_KW_COUNT] = "SELECT count(*) FROM keyword WHERE mailbox_id=?",
    [SQ_KW_ADD] = "INSERT OR IGNORE INTO keyword(mailbox_id,name) VALUES(?,?)",
    [SQ_KW_HAS] = "SELECT 1 FROM keyword WHERE mailbox_id=? AND name=?",
    [SQ_KW_DELETE_MAILBOX] = "DELETE FROM keyword WHERE mailbox_id=?",
    [SQ_KW_COPY] = "INSERT OR IGNORE INTO keyword(mailbox_id,name) SELECT ?2,name FROM keyword WHERE mailbox_id=?1",
    /* The messages column is read in the same statement (one snapshot) so
     * sq_ranges_get_uids can cross-check the ranges against the counter. */
    [SQ_RANGE_LIST] = "SELECT lo,hi,(SELECT messages FROM mailbox WHERE id=?1) FROM uidrange "
                      "WHERE mailbox_id=?1 AND " MB_IS("?1", "?2") " ORDER BY lo",
    [SQ_RANGE_LAST] = "SELECT lo,hi FROM uidrange WHERE mailbox_id=? ORDER BY lo DESC LIMIT 1",
    [SQ_RANGE_FIND] = "SELECT lo,hi FROM uidrange WHERE mailbox_id=? AND lo<=? ORDER BY lo DESC LIMIT 1",
    [SQ_RANGE_INSERT] = "INSERT INTO uidrange(mailbox_id,lo,hi) VALUES(?,?,?)",
    [SQ_RANGE_SET_HI] = "UPDATE uidrange SET hi=?3 WHERE mailbox_id=?1 AND lo=?2",
    [SQ_RANGE_DELETE_ONE] = "DELETE FROM uidrange WHERE mailbox_id=? AND lo=?",
    [SQ_RANGE_DELETE_MAILBOX] = "DELETE FROM uidrange WHERE mailbox_id=?",
    [SQ_RANGE_MOVE_ALL] = "UPDATE uidrange SET mailbox_id=?2 WHERE mailbox_id=?1",
    [SQ_RANGE_REBUILD] = "INSERT INTO uidrange(mailbox_id,lo,hi) " SQ_UIDRANGE_ISLANDS("mailbox_id=?1"),
    /* The term (flags&1)=0 must stay spelled exactly like the WHERE of the
     * partial index message_unseen. INDEXED BY because without statistics
     * the planner prefers the primary key (it matches ORDER BY), which is a
     * scan of every seen message before the first unseen one. */
    [SQ_MSG_FIRST_UNSEEN] = "SELECT uid FROM message INDEXED BY message_unseen WHERE mailbox_id=?1 AND (flags&1)=0 "
                            "AND " MB_IS("?1", "?2") " ORDER BY uid LIMIT 1",
    /* Mailbox ids (existing or not) whose stored ranges differ from the
     * ranges the message rows imply, in either direction. */
    [SQ_RANGE_BAD] = "WITH e AS (" SQ_UIDRANGE_ISLANDS("1") ") "
                     "SELECT mailbox_id FROM (SELECT * FROM e EXCEPT SELECT mailbox_id,lo,hi FROM uidrange) "
                     "UNION SELECT mailbox_id FROM (SELECT mailbox_id,lo,hi FROM uidrange EXCEPT SELECT * FROM e)",
    /* Quota roots (sqlite-quota.c). QR_COVERS(n): the root in quotaroot
     * covers the mailbox named n: the user root, the mailbox itself, or an
     * ancestor ('0' is the byte after '/', so the range is exactly the
     * names starting with root/). */
#define QR_COVERS(n) "(quotaroot.name='' OR quotaroot.name=" n " OR (" n ">=quotaroot.name||'/' AND " n \
                     "<quotaroot.name||'0'))"
#define QRCOLS "name,storage_limit_kb,message_limit,mailbox_limit,storage_used,message_used,mailbox_used"
    [SQ_QR_BUMP] = "UPDATE quotaroot SET storage_used=storage_used+?1,message_used=message_used+?2,"
                   "mailbox_used=mailbox_used+?3 WHERE " QR_COVERS("(SELECT name FROM mailbox WHERE id=?4)")
                   " RETURNING " QRCOLS,
    [SQ_QR_LIST] = "SELECT " QRCOLS " FROM quotaroot ORDER BY name",
    [SQ_QR_GET] = "SELECT " QRCOLS " FROM quotaroot WHERE name=?",
    [SQ_QR_COVERING] = "SELECT " QRCOLS " FROM quotaroot WHERE " QR_COVERS("?1") " ORDER BY name",
    [SQ_QR_UPSERT] = "INSERT INTO quotaroot(name,storage_limit_kb,message_limit,mailbox_limit) VALUES(?1,?2,?3,?4) "
                     "ON CONFLICT(name) DO UPDATE SET storage_limit_kb=?2,message_limit=?3,mailbox_limit=?4",
    [SQ_QR_DELETE] = "DELETE FROM quotaroot WHERE name=? AND name!=''",
    [SQ_QR_CLEAR] = "UPDATE quotaroot SET storage_limit_kb=NULL,message_limit=NULL,mailbox_limit=NULL WHERE name=''",
    /* OR REPLACE: a stale root already named like the destination (its
     * mailbox was deleted) gives way to the one moving with its mailbox. */
    [SQ_QR_RENAME] = "UPDATE OR REPLACE quotaroot SET name=?2||substr(name,length(?1)+1) "
                     "WHERE name!='' AND (name=?1 OR substr(name,1,length(?1)+1)=?1||'/')",
    /* The user root "" also counts the Sieve scripts' source bytes
     * (schema 8): they are in the store but in no mailbox. */
#define QR_SIEVE(root, col) "(CASE WHEN " root "='' THEN (SELECT coalesce(sum(" col "),0) FROM sieve_script) ELSE 0 END)"
    [SQ_QR_RESYNC] = "UPDATE quotaroot SET "
                     "storage_used=(SELECT coalesce(sum(m.size),0) FROM mailbox m WHERE " QR_COVERS("m.name") ")+"
                     QR_SIEVE("quotaroot.name", "size") ","
                     "message_used=(SELECT coalesce(sum(m.messages),0) FROM mailbox m WHERE " QR_COVERS("m.name") "),"
                     "mailbox_used=(SELECT count(*) FROM mailbox m WHERE " QR_COVERS("m.name") ") RETURNING " QRCOLS,
    /* Usage of root ?1 recounted from the message rows (quota recalc). */
    [SQ_QR_ACTUAL] = "SELECT (SELECT coalesce(sum(g.size),0) FROM message g JOIN mailbox m ON m.id=g.mailbox_id "
                     "WHERE " QR_COVERS("m.name") ")+" QR_SIEVE("?1", "length(source)") ","
                     "(SELECT count(*) FROM message g JOIN mailbox m ON m.id=g.mailbox_id WHERE " QR_COVERS("m.name") "),"
                     "(SELECT count(*) FROM mailbox m WHERE " QR_COVERS("m.name") ") FROM quotaroot WHERE name=?1",
    /* NULL id: no such mailbox. */
    [SQ_MB_DELETED_SIZE] = "SELECT m.id,(SELECT total(g.size) FROM message g WHERE g.mailbox_id=m.id AND (g.flags&8)!=0) "
                           "FROM (SELECT (SELECT id FROM mailbox WHERE name=?1) AS id) m",
    [SQ_QR_SET_USED] = "UPDATE quotaroot SET storage_used=?2,message_used=?3,mailbox_used=?4 WHERE name=?1",
    /* Retained expunged messages (schema 7, sqlite-retain.c). Reads by a
     * handle see only rows expunged after what its client was told
     * (expunge_modseq > the handle's told modseq). */
    [SQ_RET_INSERT] = "INSERT OR REPLACE INTO retained(mailbox_id,uid,expunge_modseq,modseq,flags,keywords,"
                      "internaldate,internaldate_tz,savedate,size,guid,threadid) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
    [SQ_RET_RANGE] = "SELECT " MSGCOLS " FROM retained WHERE mailbox_id=?1 AND uid BETWEEN ?2 AND ?3 AND "
                     "expunge_modseq>?4 AND " MB_IS("?1", "?5") " ORDER BY uid",
    [SQ_RET_ONE] = "SELECT " MSGCOLS " FROM retained WHERE mailbox_id=?1 AND uid=?2 AND expunge_modseq>?4 AND "
                   MB_IS("?1", "?3"),
    [SQ_RET_CACHE] = "SELECT b.envelope,b.bodystructure,b.body,b.header,b.lines FROM retained r "
                     "JOIN blob b ON b.guid=r.guid WHERE r.mailbox_id=?1 AND r.uid=?2 AND r.expunge_modseq>?4 AND "
                     MB_IS("?1", "?3"),
    [SQ_RET_GUID] = "SELECT guid FROM retained WHERE mailbox_id=?1 AND uid=?2 AND expunge_modseq>?4 AND "
                    MB_IS("?1", "?3"),
    [SQ_RET_ANY_UPTO] = "SELECT 1 FROM retained WHERE mailbox_id=?1 AND expunge_modseq<=?2 LIMIT 1",
    [SQ_RET_ANY] = "SELECT 1 FROM retained LIMIT 1",
    /* What no viewer of mailbox ?1 can still see: expunged at or below
     * the lowest viewer row (all of it when there is none). */
#define RET_FREEABLE                                                                               \
    "mailbox_id=?1 AND expunge_modseq<=coalesce((SELECT min(v.modseq) FROM viewer v WHERE v.mailbox_id=?1)," \
    "9223372036854775807)"
    [SQ_RET_FREEABLE] = "SELECT guid FROM retained WHERE " RET_FREEABLE,
    [SQ_RET_ANY_FREEABLE] = "SELECT 1 FROM retained r WHERE r.expunge_modseq<=coalesce((SELECT min(v.modseq) "
                            "FROM viewer v WHERE v.mailbox_id=r.mailbox_id),9223372036854775807) LIMIT 1",
    [SQ_RET_FREE] = "DELETE FROM retained WHERE " RET_FREEABLE,
    [SQ_RET_MAILBOXES] = "SELECT DISTINCT mailbox_id FROM retained",
    [SQ_RET_GUIDS_OF_MAILBOX] = "SELECT guid FROM retained WHERE mailbox_id=?",
    [SQ_RET_DELETE_MAILBOX] = "DELETE FROM retained WHERE mailbox_id=?",
    [SQ_RET_NOBLOB] = "SELECT r.mailbox_id,r.uid,r.guid FROM retained r "
                      "WHERE NOT EXISTS(SELECT 1 FROM blob b WHERE b.guid=r.guid)",
    [SQ_VW_UPSERT] = "INSERT OR REPLACE INTO viewer(mailbox_id,pid,pstart,modseq) VALUES(?,?,?,?)",
    [SQ_VW_DELETE] = "DELETE FROM viewer WHERE mailbox_id=? AND pid=?",
    [SQ_VW_OF_MAILBOX] = "SELECT pid,pstart FROM viewer WHERE mailbox_id=?",
    [SQ_VW_ALL] = "SELECT DISTINCT pid,pstart FROM viewer",
    [SQ_VW_DELETE_PID] = "DELETE FROM viewer WHERE pid=?1 AND (?2 IS NULL OR pstart=?2)",
    [SQ_VW_OWN_ANY] = "SELECT 1 FROM viewer WHERE pid=? LIMIT 1",
    [SQ_VW_DELETE_MAILBOX] = "DELETE FROM viewer WHERE mailbox_id=?",
    /* The viewer bookkeeping needs no durability (after a crash every
     * viewer row is dead anyway): its transactions commit without an
     * fsync. In WAL mode that never risks corruption, and the next
     * durable commit syncs them along (sqlite-retain.c light_begin). */
    [SQ_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
    [SQ_SYNC_FULL] = "PRAGMA synchronous=FULL",
    /* Sieve scripts (schema 8, sqlite-sieve.c). The blobs are the last
     * columns, so reading the others never walks their overflow pages. */
#define SVCOLS "name,size,mtime,active,generation,compiled_version,coalesce(length(compiled),0)"
    [SQ_SV_LIST] = "SELECT " SVCOLS " FROM sieve_script ORDER BY name",
    [SQ_SV_GET] = "SELECT " SVCOLS ",source,CASE WHEN ?2 THEN compiled END FROM sieve_script WHERE name=?1",
    [SQ_SV_GET_ACTIVE] = "SELECT " SVCOLS ",source,CASE WHEN ?2 THEN compiled END FROM sieve_script WHERE active=1",
    /* For a put/havespace/delete of ?1: how many scripts there are, and
     * ?1's size and active flag (NULL when it does not exist). */
    [SQ_SV_STATE] = "SELECT (SELECT count(*) FROM sieve_script),(SELECT size FROM sieve_script WHERE name=?1),"
                    "(SELECT active FROM sieve_script WHERE name=?1)",
    [SQ_SV_UPSERT] = "INSERT INTO sieve_script(name,size,mtime,active,generation,compiled_version,source,compiled) "
                     "VALUES(?1,?2,?3,0,?4,?5,?6,?7) ON CONFLICT(name) DO UPDATE SET size=?2,mtime=?3,"
                     "generation=?4,compiled_version=?5,source=?6,compiled=?7",
    [SQ_SV_SET_COMPILED] = "UPDATE sieve_script SET compiled_version=?3,compiled=?4 WHERE name=?1 AND generation=?2",
    [SQ_SV_DEACTIVATE] = "UPDATE sieve_script SET active=0 WHERE active!=0",
    [SQ_SV_ACTIVATE] = "UPDATE sieve_script SET active=1 WHERE name=?",
    [SQ_SV_DELETE] = "DELETE FROM sieve_script WHERE name=?",
    [SQ_SV_RENAME] = "UPDATE sieve_script SET name=?2 WHERE name=?1",
    [SQ_SV_BADSIZE] = "SELECT name,size,length(source) FROM sieve_script WHERE size!=length(source)",
    [SQ_SV_FIXSIZE] = "UPDATE sieve_script SET size=length(source) WHERE size!=length(source)",
    [SQ_SV_STAT] = "SELECT " SVCOLS " FROM sieve_script WHERE name=?1",
    [SQ_SV_STAT_ACTIVE] = "SELECT " SVCOLS " FROM sieve_script WHERE active=1",
    [SQ_QR_BUMP_USER] = "UPDATE quotaroot SET storage_used=storage_used+?1 WHERE name='' RETURNING " QRCOLS,
};

/* SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10,
 * 15, 20, 25... ms between attempts. The lock it waits for is another
 * connection's write transaction (another worker's session of the same
 * user, or this worker's loop claiming \Recent), which holds it for about
 * a commit: 1-5 ms, mostly its fsync. Retrying only after 1+2+5 = 8 ms
 * made a waiter that lost the race wait about twice as long as needed, and
 * every later command of its session after it. Short steps first, then
 * 10 ms, and the same total bound. */
static int sq_busy_cb(void *arg, int count)
{
    (void)arg;
    static const unsigned step_us[] = {100, 200, 300, 500, 1000, 1000, 2000, 2000, 5000};
    const int nsteps = (int)(sizeof(step_us) / sizeof(step_us[0]));
    uint64_t waited = 0;
    for (int i = 0; i < count; i++)
        waited += i < nsteps ? step_us[i] : 10000;
    if (count < 0 || waited >= (uint64_t)SQ_BUSY_TIMEOUT_MS * 1000)
        return 0;   /* give up: SQLITE_BUSY */
    unsigned us = count < nsteps ? step_us[count] : 10000;
    struct timespec ts = {0, (long)us * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 1;
}

void sq_busy_wait(sqlite3 *db)
{
    sqlite3_busy_handler(db, sq_busy_cb, NULL);
}

sqlite3_stmt *sq_stmt(struct mail_user *u, enum sq_stmt_id id)
{
    struct sq_user *s = sq(u);
    sqlite3_stmt *st = s->st[id];
    if (!st) {
        int rc = sqlite3_prepare_v3(s->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK) {
            log_err("storage: %s: prepare \"%s\": %s", u->name, sq_sql[id], sqlite3_errmsg(s->db));
            return NULL;
        }
        s->st[id] = st;
    } else {
        /* A statement still stepping belongs to an outer iteration (a
         * callback re-entered the same query): resetting it would silently
         * corrupt that iteration, so refuse loudly instead. */
        if (sqlite3_stmt_busy(st)) {
            log_err("storage: %s: nested use of statement \"%s\"", u->name, sq_sql[id]);
            return NULL;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return st;
}

int sq_error(struct mail_user *u, int rc, const char *what)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORAGE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        log_warn("storage: %s: %s: database busy", u->name, what);
        return STORAGE_ERR_BUSY;
    case SQLITE_CONSTRAINT:
        return STORAGE_ERR_EXISTS;
    case SQLITE_FULL:
        log_err("storage: %s: %s: disk full", u->name, what);
        return STORAGE_ERR_OVERQUOTA;
    default:
        log_err("storage: %s: %s: %s", u->name, what, sqlite3_errmsg(sq(u)->db));
        return STORAGE_ERR_IO;
    }
}

int sq_run(struct mail_user *u, sqlite3_stmt *st, const char *what)
{
    if (!st)
        return STORAGE_ERR_IO;
    int rc = sqlite3_step(st);
    int r = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? STORAGE_OK : sq_error(u, rc, what);
    sqlite3_reset(st);
    return r;
}

/* A write on a connection that holds a read snapshot (struct sq_user
 * read_held): the snapshot ends first, BEGIN IMMEDIATE cannot nest. */
void sq_read_drop(struct mail_user *u)
{
    struct sq_user *s = sq(u);
    if (s->read_held) {
        s->read_held = false;
        if (!sqlite3_get_autocommit(s->db))
            (void)sq_run(u, sq_stmt(u, SQ_COMMIT), "end of read");
    }
}

int sq_begin(struct mail_user *u)
{
    sq_read_drop(u);
    sq_quota_forget(u);
    return sq_run(u, sq_stmt(u, SQ_BEGIN_IMMEDIATE), "begin");
}

int sq_try_begin(struct mail_user *u)
{
    sq_read_drop(u);
    sq_quota_forget(u);
    sqlite3_stmt *st = sq_stmt(u, SQ_BEGIN_IMMEDIATE);
    if (!st)
        return STORAGE_ERR_IO;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return STORAGE_ERR_BUSY; /* expected: the caller tries later */
    return sq_error(u, rc, "begin");
}

int sq_commit(struct mail_user *u)
{
    /* The one place every change passes: a transaction that raised a
     * quota root above a limit is rolled back here, whatever it was. */
    int r = sq_quota_verdict(u);
    if (r == 0)
        r = sq_run(u, sq_stmt(u, SQ_COMMIT), "commit");
    if (r < 0)
        sq_rollback(u);
    return r;
}

void sq_rollback(struct mail_user *u)
{
    sq_quota_forget(u);
    if (!sqlite3_get_autocommit(sq(u)->db))
        (void)sq_run(u, sq_stmt(u, SQ_ROLLBACK), "rollback");
}

/* ---- open / close ---------------------------------------------------------- */

static void sq_close_db(struct sq_user *s)
{
    for (size_t i = 0; i < s->nqd; i++)
        free(s->qd[i].name);
    free(s->qd);
    for (int i = 0; i < SQ__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    free(s->aclbuf);
    free(s);
}

static int sq_user_open(struct mail_user *u, bool create)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/mail.db", u->dir);
    struct stat stt;
    bool fresh = false;
    if (stat(path, &stt) < 0) {
        fresh = true;
        if (!create)
            return STORAGE_ERR_NOTFOUND;
        char msg[4096];
        snprintf(msg, sizeof(msg), "%s/msg", u->dir);
        if (msgfile_mkdirs(msg) < 0) {
            log_err("storage: %s: mkdir %s: %s", u->name, msg, strerror(errno));
            return STORAGE_ERR_IO;
        }
    }
    struct sq_user *s = xcalloc(1, sizeof(*s));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        log_err("storage: %s: open %s: %s", u->name, path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close_db(s);
        return rc == SQLITE_CANTOPEN && !create ? STORAGE_ERR_NOTFOUND : STORAGE_ERR_IO;
    }
    u->be = s;
    /* Many sessions of one user share this handle and one worker serves
     * many users, so SQLite's private page cache is kept small (256 KiB);
     * beyond it pages come from the OS page cache by pread. No mmap
     * (mmap_size=0): SQLite drops a connection's whole mapping whenever it
     * sees that another connection wrote (pager_reset), and with a job
     * connection, reader connections and other workers writing the same
     * store that meant an munmap, with its TLB shootdown across every
     * thread of the worker, for most transactions (6% of the server's CPU
     * in the imapmix benchmark). A large scan inside a transaction maps
     * the file for its duration only (sqlite-message.c scan_mmap_begin). */
    sq_busy_wait(s->db);
    sqlite3_extended_result_codes(s->db, 0);
    char *err = NULL;
    rc = sqlite3_exec(s->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                      " PRAGMA cache_size=-256; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;",
                      NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_err("storage: %s: pragmas: %s", u->name, err ? err : "?");
        sqlite3_free(err);
        sq_close_db(s);
        u->be = NULL;
        return rc == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    int r = sq_schema_init(u);
    if (r == 0) {
        struct mailbox_info info;
        r = sq_mailbox_load_name(u, "INBOX", &info, NULL);
        if (r == STORAGE_ERR_NOTFOUND) {
            /* INBOX always exists (created with the store, or recreated if
             * something removed it). */
            r = sq_begin(u);
            if (r == 0) {
                int64_t id;
                /* autocreatequota (as in Cyrus) applies when the store
                 * is created, not when a lost INBOX is recreated. */
                if (fresh)
                    r = sq_quota_autocreate(u);
                if (r == 0)
                    r = sq_create_locked(u, "INBOX", 0, &id);
                bool created = r == 0;
                if (r == STORAGE_ERR_EXISTS)
                    r = 0;   /* a concurrent opener won */
                r = r == 0 ? sq_commit(u) : (sq_rollback(u), r);
                /* mail_user_is_new: this open made the store (not a
                 * concurrent opener, not a lost INBOX recreated). */
                if (r == 0 && created && fresh)
                    u->is_new = true;
            }
        }
    }
    /* Expunged messages kept for sessions of processes that are gone (a
     * crash, a killed worker) go now; two cheap reads when there are none. */
    if (r == 0 && (r = sq_retained_recover(u)) < 0) {
        log_warn("storage: %s: releasing retained expunged messages: %s", u->name, storage_strerror(r));
        r = 0;   /* they stay until a later open; nothing else depends on it */
    }
    if (r < 0) {
        sq_close_db(s);
        u->be = NULL;
        return r;
    }
    return STORAGE_OK;
}

static void sq_user_close(struct mail_user *u)
{
    if (u->be)
        sq_close_db(u->be);
    u->be = NULL;
    if (u->be_job)
        sq_close_db(u->be_job);
    u->be_job = NULL;
    for (int i = 0; i < u->nidle; i++)
        sq_close_db(u->readers[i]);
    u->nidle = u->nreaders = 0;
}

/* The job connection: same file, same settings, no schema work (the
 * loop's open did it). WAL lets it write while the loop's connection
 * reads: readers see each commit from their next statement on. */
static void *sq_conn_open(struct mail_user *u)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/mail.db", u->dir);
    struct sq_user *s = xcalloc(1, sizeof(*s));
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_err("storage: %s: open %s for a job: %s", u->name, path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close_db(s);
        return NULL;
    }
    sq_busy_wait(s->db);
    sqlite3_extended_result_codes(s->db, 0);
    char *err = NULL;
    rc = sqlite3_exec(s->db,
                      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                      " PRAGMA cache_size=-256; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;",
                      NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_err("storage: %s: job connection pragmas: %s", u->name, err ? err : "?");
        sqlite3_free(err);
        sq_close_db(s);
        return NULL;
    }
    return s;
}

/* storage_read_begin/end on a reader connection (struct sq_user
 * read_held). Errors only cost the optimisation: statements then run in
 * their own transactions as before. */
static void sq_read_hold(void *be)
{
    struct sq_user *s = be;
    if (sqlite3_get_autocommit(s->db) && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
        s->read_held = true;
}

static void sq_read_release(void *be)
{
    struct sq_user *s = be;
    if (s->read_held && !sqlite3_get_autocommit(s->db) &&
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->read_held = false;
}

static void sq_conn_close(void *be)
{
    if (be)
        sq_close_db(be);
}

/* The job connection: same file, same settings, no schema work (the
 * loop's open did it). WAL lets it write while the loop's connection
 * reads: readers see each commit from their next statement on. */
static int sq_job_open(struct mail_user *u)
{
    if (u->be_job)
        return STORAGE_OK;
    u->be_job = sq_conn_open(u);
    return u->be_job ? STORAGE_OK : STORAGE_ERR_IO;
}

static void sq_job_close(struct mail_user *u)
{
    if (u->be_job)
        sq_close_db(u->be_job);
    u->be_job = NULL;
}

/* ---- consistency check ------------------------------------------------------ */

struct check_ctx {
    struct mail_user *u;
    bool fix;
    int problems;
    void (*cb)(const char *problem, void *arg);
    void *arg;
};

static void report(struct check_ctx *c, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void report(struct check_ctx *c, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->problems++;
    log_warn("storage check: %s: %s", c->u->name, msg);
    if (c->cb)
        c->cb(msg, c->arg);
}

/* A body file younger than this may belong to an append whose metadata
 * commit has not happened yet (another process): never call it orphan. */
#define ORPHAN_GRACE_SECONDS 3600

static void check_file(const char *name, const char *path, void *arg)
{
    struct check_ctx *c = arg;
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (time(NULL) - st.st_mtime < ORPHAN_GRACE_SECONDS)
        return;
    bool known = false;
    if (msgfile_valid_guid(name)) {
        sqlite3_stmt *q = sq_stmt(c->u, SQ_BLOB_EXISTS);
        if (!q)
            return;
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        known = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_reset(q);
    }
    if (known)
        return;
    report(c, "orphan message file %s%s", path, c->fix ? " (removed)" : "");
    if (c->fix && unlink(path) < 0)
        log_warn("storage: unlink %s: %s", path, strerror(errno));
}

int sq_check(struct mail_user *u, bool fix, void (*cb)(const char *problem, void *arg), void *arg)
{
    struct check_ctx c = {u, fix, 0, cb, arg};
    int r = sq_begin(u);   /* a consistent view, and repairs are atomic */
    if (r < 0)
        return r;
    char (*dead)[33] = NULL;
    size_t ndead = 0;

    /* 1. counters vs rows */
    sqlite3_stmt *q = sq_stmt(u, SQ_MB_IDS);
    if (!q)
        goto fail;
    struct fixrow { int64_t id, m, un, del, size; } *fx = NULL;
    size_t nfx = 0, cfx = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        char name[STORAGE_MAX_MAILBOX_NAME + 1];
        snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(q, 1));
        int64_t m = sqlite3_column_int64(q, 2), un = sqlite3_column_int64(q, 3);
        int64_t del = sqlite3_column_int64(q, 4), size = sqlite3_column_int64(q, 5);
        sqlite3_stmt *a = sq_stmt(u, SQ_MSG_COUNTERS);
        if (!a)
            break;
        sqlite3_bind_int64(a, 1, id);
        if (sqlite3_step(a) == SQLITE_ROW) {
            int64_t am = sqlite3_column_int64(a, 0), aun = sqlite3_column_int64(a, 1);
            int64_t adel = sqlite3_column_int64(a, 2), asize = sqlite3_column_int64(a, 3);
            if (am != m || aun != un || adel != del || asize != size) {
                report(&c, "mailbox \"%s\": counters messages=%lld unseen=%lld deleted=%lld size=%lld, "
                           "actual %lld/%lld/%lld/%lld%s",
                       name, (long long)m, (long long)un, (long long)del, (long long)size, (long long)am,
                       (long long)aun, (long long)adel, (long long)asize, fix ? " (fixed)" : "");
                ARRAY_GROW(fx, nfx, cfx);
                fx[nfx++] = (struct fixrow){id, am, aun, adel, asize};
            }
        }
        sqlite3_reset(a);
    }
    sqlite3_reset(q);
    for (size_t i = 0; fix && i < nfx; i++) {
        q = sq_stmt(u, SQ_MB_SET_COUNTERS);
        if (!q)
            break;
        sqlite3_bind_int64(q, 1, fx[i].m);
        sqlite3_bind_int64(q, 2, fx[i].un);
        sqlite3_bind_int64(q, 3, fx[i].del);
        sqlite3_bind_int64(q, 4, fx[i].size);
        sqlite3_bind_int64(q, 5, fx[i].id);
        if ((r = sq_run(u, q, "fix counters")) < 0) {
            free(fx);
            goto fail;
        }
    }
    /* Quota usage is the sum of the counters just repaired. */
    if (fix && nfx) {
        if ((r = sq_quota_resync(u)) < 0) {
            free(fx);
            goto fail;
        }
        sq_quota_forget(u);   /* a repair is never refused for quota */
    }
    free(fx);

    /* 1a. Sieve scripts: the size column (what quota usage adds up) vs
     * the source. */
    if (!(q = sq_stmt(u, SQ_SV_BADSIZE)))
        goto fail;
    int nsv = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        nsv++;
        report(&c, "Sieve script \"%s\": size %lld, source %lld bytes%s", (const char *)sqlite3_column_text(q, 0),
               (long long)sqlite3_column_int64(q, 1), (long long)sqlite3_column_int64(q, 2), fix ? " (fixed)" : "");
    }
    sqlite3_reset(q);
    if (fix && nsv) {
        if ((r = sq_run(u, sq_stmt(u, SQ_SV_FIXSIZE), "fix sieve sizes")) < 0 || (r = sq_quota_resync(u)) < 0)
            goto fail;
        sq_quota_forget(u);
    }

    /* 1b. UID ranges vs message rows (mailbox_get_uids reads the ranges);
     * a damaged mailbox's ranges are rebuilt from its rows. */
    q = sq_stmt(u, SQ_RANGE_BAD);
    if (!q)
        goto fail;
    int64_t *bad = NULL;
    size_t nbad = 0, cbad = 0;
    int brc;
    while ((brc = sqlite3_step(q)) == SQLITE_ROW) {
        ARRAY_GROW(bad, nbad, cbad);
        bad[nbad++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    if (brc != SQLITE_DONE) {
        free(bad);
        r = sq_error(u, brc, "check uid ranges");
        goto fail;
    }
    for (size_t i = 0; i < nbad; i++) {
        report(&c, "mailbox id %lld: UID ranges do not match its messages%s", (long long)bad[i],
               fix ? " (rebuilt)" : "");
        if (fix && (r = sq_ranges_rebuild(u, bad[i])) < 0) {
            free(bad);
            goto fail;
        }
    }
    free(bad);

    /* 2. messages whose blob row is missing (cannot be repaired: report) */
    q = sq_stmt(u, SQ_MSG_NOBLOB);
    if (!q)
        goto fail;
    while (sqlite3_step(q) == SQLITE_ROW)
        report(&c, "message uid %u in mailbox id %lld references missing blob %s",
               (unsigned)sqlite3_column_int64(q, 1), (long long)sqlite3_column_int64(q, 0),
               (const char *)sqlite3_column_text(q, 2));
    sqlite3_reset(q);

    q = sq_stmt(u, SQ_RET_NOBLOB);
    if (!q)
        goto fail;
    while (sqlite3_step(q) == SQLITE_ROW)
        report(&c, "retained expunged message uid %u in mailbox id %lld references missing blob %s",
               (unsigned)sqlite3_column_int64(q, 1), (long long)sqlite3_column_int64(q, 0),
               (const char *)sqlite3_column_text(q, 2));
    sqlite3_reset(q);

    /* 3. blob refcounts vs references (message rows and retained
     * expunged messages) */
    q = sq_stmt(u, SQ_BLOB_REFCHECK);
    if (!q)
        goto fail;
    struct refrow { char guid[33]; int64_t n; } *rf = NULL;
    size_t nrf = 0, crf = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(q, 0);
        report(&c, "blob %s: refcount %lld, referenced %lld times%s", g ? g : "?",
               (long long)sqlite3_column_int64(q, 1), (long long)sqlite3_column_int64(q, 2),
               fix ? " (fixed)" : "");
        ARRAY_GROW(rf, nrf, crf);
        snprintf(rf[nrf].guid, 33, "%s", g ? g : "");
        rf[nrf++].n = sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    for (size_t i = 0; fix && i < nrf; i++) {
        q = sq_stmt(u, SQ_BLOB_SETREF);
        if (!q)
            break;
        sqlite3_bind_int64(q, 1, rf[i].n);
        sqlite3_bind_text(q, 2, rf[i].guid, -1, SQLITE_STATIC);
        if ((r = sq_run(u, q, "fix refcount")) < 0) {
            free(rf);
            goto fail;
        }
    }
    free(rf);
    if (fix && (r = sq_collect_dead(u, &dead, &ndead)) < 0)
        goto fail;

    /* 4. blobs whose file is missing */
    q = sq_stmt(u, SQ_BLOB_ALL);
    if (!q)
        goto fail;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(q, 0);
        if (!g || !msgfile_valid_guid(g) || !msgfile_exists(u, g))
            report(&c, "message file for blob %s is missing", g ? g : "?");
    }
    sqlite3_reset(q);

    /* 4b. per-reader \Seen rows of messages that no longer exist (the
     * expunge that removes a message removes them too; anything left
     * would make a reader's unseen count wrong). */
    {
        sqlite3_stmt *sq_seen = NULL;
        int prc = sqlite3_prepare_v2(sq(u)->db,
                                     "SELECT mailbox_id,count(*) FROM seen s WHERE NOT EXISTS(SELECT 1 FROM message m "
                                     "WHERE m.mailbox_id=s.mailbox_id AND m.uid=s.uid) GROUP BY mailbox_id",
                                     -1, &sq_seen, NULL);
        if (prc != SQLITE_OK) {
            r = sq_error(u, prc, "check seen");
            goto fail;
        }
        int64_t stale = 0;
        while (sqlite3_step(sq_seen) == SQLITE_ROW) {
            report(&c, "mailbox id %lld: %lld \\Seen rows of readers for messages that do not exist%s",
                   (long long)sqlite3_column_int64(sq_seen, 0), (long long)sqlite3_column_int64(sq_seen, 1),
                   fix ? " (removed)" : "");
            stale++;
        }
        sqlite3_finalize(sq_seen);
        if (fix && stale &&
            (prc = sqlite3_exec(sq(u)->db,
                                "DELETE FROM seen WHERE NOT EXISTS(SELECT 1 FROM message m WHERE "
                                "m.mailbox_id=seen.mailbox_id AND m.uid=seen.uid)",
                                NULL, NULL, NULL)) != SQLITE_OK) {
            r = sq_error(u, prc, "fix seen");
            goto fail;
        }
    }

    /* 4c. decoded search fields of blobs that no longer exist (the
     * transaction that drops a blob drops them too; harmless, but they
     * would never go away). */
    {
        sqlite3_stmt *hq = NULL;
        int prc = sqlite3_prepare_v2(sq(u)->db,
                                     "SELECT count(*) FROM hdrfields h WHERE NOT EXISTS(SELECT 1 FROM blob b "
                                     "WHERE b.guid=h.guid)",
                                     -1, &hq, NULL);
        if (prc != SQLITE_OK) {
            r = sq_error(u, prc, "check hdrfields");
            goto fail;
        }
        int64_t orphans = sqlite3_step(hq) == SQLITE_ROW ? sqlite3_column_int64(hq, 0) : 0;
        sqlite3_finalize(hq);
        if (orphans)
            report(&c, "%lld decoded header rows of messages that do not exist%s", (long long)orphans,
                   fix ? " (removed)" : "");
        if (fix && orphans &&
            (prc = sqlite3_exec(sq(u)->db,
                                "DELETE FROM hdrfields WHERE NOT EXISTS(SELECT 1 FROM blob b WHERE "
                                "b.guid=hdrfields.guid)",
                                NULL, NULL, NULL)) != SQLITE_OK) {
            r = sq_error(u, prc, "fix hdrfields");
            goto fail;
        }
    }

    /* 5. orphan files */
    msgfile_scan(u, check_file, &c);

    if (fix) {
        if ((r = sq_commit(u)) < 0) {
            free(dead);
            return r;
        }
        sq_unlink_dead(u, dead, ndead);
    } else {
        sq_rollback(u);
    }
    free(dead);
    return c.problems;
fail:
    sq_rollback(u);
    free(dead);
    return r < 0 ? r : STORAGE_ERR_IO;
}

const struct storage_backend_ops storage_sqlite_ops = {
    .name = "sqlite",
    .user_open = sq_user_open,
    .user_close = sq_user_close,
    .job_open = sq_job_open,
    .job_close = sq_job_close,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .read_hold = sq_read_hold,
    .read_release = sq_read_release,
    .list = sq_list,
    .list_subscriptions = sq_list_subscriptions,
    .subscribe = sq_subscribe,
    .status = sq_status,
    .status_id = sq_status_id,
    .create = sq_create,
    .delete_mailbox = sq_delete_mailbox,
    .rename = sq_rename,
    .set_special_use = sq_set_special_use,
    .open = sq_open,
    .refresh_info = sq_refresh_info,
    .peek_info = sq_peek_info,
    .claim_recent = sq_claim_recent,
    .is_deleted = sq_is_deleted,
    .get_uids = sq_get_uids,
    .get_keywords = sq_get_keywords,
    .first_unseen = sq_first_unseen,
    .foreach_record = sq_foreach_record,
    .get_record = sq_get_record,
    .sync = sq_sync,
    .vanished_since = sq_vanished_since,
    .get_cache = sq_get_cache,
    .get_preview = sq_get_preview,
    .save_previews = sq_save_previews,
    .get_guid = sq_get_guid,
    .search_headers = sq_search_headers,
    .sort_keys = sq_sort_keys,
    .append_commit = sq_append_commit,
    .store = sq_store,
    .expunge = sq_expunge,
    .expunge_uids = sq_expunge_uids,
    .copy = sq_copy,
    .check = sq_check,
    .quota_list = sq_quota_list,
    .quota_get = sq_quota_get,
    .quota_set = sq_quota_set,
    .quota_remove = sq_quota_remove,
    .quota_recalc = sq_quota_recalc,
    .sieve_list = sq_sieve_list,
    .sieve_get = sq_sieve_get,
    .sieve_stat = sq_sieve_stat,
    .sieve_put = sq_sieve_put,
    .sieve_havespace = sq_sieve_havespace,
    .sieve_set_compiled = sq_sieve_set_compiled,
    .sieve_activate = sq_sieve_activate,
    .sieve_delete = sq_sieve_delete,
    .sieve_rename = sq_sieve_rename,
    .metadata_get = sq_metadata_get,
    .metadata_set = sq_metadata_set,
    .urlauth_key = sq_urlauth_key,
    .deleted_size = sq_deleted_size,
    .create_acl = sq_create_acl,
    .set_acl = sq_set_acl,
    .get_acl = sq_get_acl,
    .get_acl_mb = sq_get_acl_mb,
    .update_acl = sq_update_acl,
    .set_sharedseen = sq_set_sharedseen,
    .status_as = sq_status_as,
    .copy_to = sq_copy_to,
    .keep_expunged = sq_keep_expunged,
    .expunges_told = sq_expunges_told,
    .release_kept = sq_release_kept,
    .foreach_expunged = sq_foreach_expunged,
    .close = sq_mailbox_closing,
};
