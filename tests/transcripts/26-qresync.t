# CONDSTORE/QRESYNC (RFC 7162): SELECT (QRESYNC ...), VANISHED (EARLIER),
# expunge of the highest UID, VANISHED instead of EXPUNGE
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX multipart.eml
@append INBOX simple.eml
@append INBOX second.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 ENABLE QRESYNC
S~ \* ENABLED (QRESYNC|CONDSTORE QRESYNC|QRESYNC CONDSTORE)
S~ a2 OK .*
C: a3 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS .*
S& * 5 EXISTS
S& ?* 5 RECENT
S& ?~\* OK \[UNSEEN 1\].*
S& ~\* OK \[UIDVALIDITY (?P<uv>[1-9][0-9]*)\].*
S& ~\* OK \[UIDNEXT 6\].*
S& ~\* OK \[HIGHESTMODSEQ (?P<hm>[1-9][0-9]*)\].*
S& ?~\* OK \[MAILBOXID \(.*\)\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a3 OK \[READ-WRITE\] .*
C: a4 UNSELECT
S~ a4 OK .*
# changes by another client: flags on UID 2, expunge UIDs 3 and 5 (the highest)
@connect plain other
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 SELECT INBOX
S* o2 OK .*
C: o3 UID STORE 2 +FLAGS.SILENT (\Seen)
S~ o3 OK .*
C: o4 UID STORE 3,5 +FLAGS.SILENT (\Deleted)
S~ o4 OK .*
C: o5 UID EXPUNGE 3,5
S: * 3 EXPUNGE
S: * 4 EXPUNGE
S~ o5 OK .*
@use main
C: b1 SELECT INBOX (QRESYNC (${uv} ${hm}))
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS .*
S& * 3 EXISTS
S& ?~\* \d+ RECENT
S& ?~\* OK \[UNSEEN 1\].*
S& ~\* OK \[UIDVALIDITY ${uv}\].*
S& ~\* OK \[UIDNEXT 6\].*
S& ~\* OK \[HIGHESTMODSEQ (?P<hm2>[1-9][0-9]*)\].*
S& ?~\* OK \[MAILBOXID \(.*\)\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& * VANISHED (EARLIER) 3,5
S& ~\* 2 FETCH \((UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)|FLAGS \(\\Seen\) UID 2 MODSEQ \(\d+\)|MODSEQ \(\d+\) UID 2 FLAGS \(\\Seen\)|UID 2 MODSEQ \(\d+\) FLAGS \(\\Seen\))\)
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ b1 OK \[READ-WRITE\] .*
# UID FETCH ... (CHANGEDSINCE m VANISHED)
C: b2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hm} VANISHED)
S& * VANISHED (EARLIER) 3,5
S& ~\* 2 FETCH \(.*UID 2.*\)
S~ b2 OK .*
C: b3 FETCH 1:* (FLAGS) (CHANGEDSINCE ${hm} VANISHED)
S~ b3 BAD .*
# expunge while selected with QRESYNC: VANISHED, not EXPUNGE (RFC 7162 3.2.10)
C: b4 UID STORE 4 +FLAGS.SILENT (\Deleted)
S~ b4 OK .*
C: b5 EXPUNGE
S: * VANISHED 4
S~ b5 OK .*
# another client's expunge of the (new) highest UID, seen through NOOP
@use other
C: o6 UID STORE 2 +FLAGS.SILENT (\Deleted)
S* o6 OK .*
C: o7 EXPUNGE
S* o7 OK .*
@use main
C: b6 NOOP
S: * VANISHED 2
S~ b6 OK .*
# HIGHESTMODSEQ in STATUS moved on
C: b7 STATUS INBOX (HIGHESTMODSEQ MESSAGES UIDNEXT)
S~ \* STATUS INBOX \((?=.*HIGHESTMODSEQ \d+)(?=.*MESSAGES 1)(?=.*UIDNEXT 6)[A-Z0-9 ]+\)
S~ b7 OK .*
# a stale UIDVALIDITY: plain full select, no VANISHED
C: b8 SELECT INBOX (QRESYNC (1 ${hm}))
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS .*
S& * 1 EXISTS
S& ?~\* \d+ RECENT
S& ?~\* OK \[UNSEEN 1\].*
S& ~\* OK \[UIDVALIDITY ${uv}\].*
S& ~\* OK \[UIDNEXT 6\].*
S& ~\* OK \[HIGHESTMODSEQ \d+\].*
S& ?~\* OK \[MAILBOXID \(.*\)\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& ~\* OK \[CLOSED\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ b8 OK \[READ-WRITE\] .*
# SELECT (CONDSTORE) on a fresh session reports HIGHESTMODSEQ (RFC 7162 3.1.8)
@connect plain third
S~ \* OK .*
C: t1 LOGIN alice secret
S~ t1 OK .*
C: t2 EXAMINE INBOX (CONDSTORE)
S* \* OK \[HIGHESTMODSEQ [1-9][0-9]*\].*
S* t2 OK \[READ-ONLY\] .*
C: t3 FETCH 1 (FLAGS)
S~ \* 1 FETCH \(FLAGS \(.*\)( MODSEQ \(\d+\))?\)
S~ t3 OK .*
# QRESYNC without ENABLE is an error (RFC 7162 3.2.5)
C: t4 SELECT INBOX (QRESYNC (${uv} ${hm}))
S* t4 BAD .*
@use main
C: b9 SELECT INBOX (QRESYNC (bogus))
S* b9 BAD .*
C: b10 LOGOUT
S~ \* BYE .*
S~ b10 OK .*
