# UIDONLY (RFC 9586): once enabled, no message numbers either way.
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK \[CAPABILITY (?=.* UIDONLY( |\])).*
C: a2 ENABLE UIDONLY
S: * ENABLED UIDONLY
S~ a2 OK .*
# no [UNSEEN n] (a message number) in the SELECT responses
C: a3 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\].*
S& * 3 EXISTS
S& * 3 RECENT
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 4\].*
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a3 OK \[READ-WRITE\] .*
# RFC 9586 3, 3.2: FETCH, STORE, SEARCH, COPY and MOVE are refused
C: 07 FETCH 1:2 (UID FLAGS)
S~ 07 BAD \[UIDREQUIRED\] .*
C: b1 STORE 1 +FLAGS (\Seen)
S~ b1 BAD \[UIDREQUIRED\] .*
C: b2 SEARCH ALL
S~ b2 BAD \[UIDREQUIRED\] .*
C: b3 COPY 1 INBOX
S~ b3 BAD \[UIDREQUIRED\] .*
C: b4 MOVE 1 INBOX
S~ b4 BAD \[UIDREQUIRED\] .*
# 3.5: the sequence-set search key is refused in UID SEARCH
C: b5 UID SEARCH 1:2
S~ b5 BAD \[UIDREQUIRED\] .*
C: b6 UID SEARCH NOT 1
S~ b6 BAD \[UIDREQUIRED\] .*
C: b7 UID SEARCH UID 2:*
S: * SEARCH 2 3
S~ b7 OK .*
# 3.3: UIDFETCH responses; UID only when asked for
C: 10 UID FETCH 1:2 (FLAGS)
S: * 1 UIDFETCH (FLAGS (\Recent))
S: * 2 UIDFETCH (FLAGS (\Recent))
S~ 10 OK .*
C: 11 UID FETCH 3 (UID FLAGS)
S: * 3 UIDFETCH (UID 3 FLAGS (\Recent))
S~ 11 OK .*
C: c1 UID STORE 1 +FLAGS (\Deleted)
S: * 1 UIDFETCH (FLAGS (\Deleted \Recent))
S~ c1 OK .*
C: c2 UID STORE 2 +FLAGS.SILENT (\Deleted)
S~ c2 OK .*
# 3.4: VANISHED instead of EXPUNGE
C: 12 EXPUNGE
S: * VANISHED 1:2
S~ 12 OK .*
# 3.6: other sessions' changes come as UIDFETCH and VANISHED
@connect plain B
S~ \* OK .*
C: x1 LOGIN alice secret
S~ x1 OK .*
C: x2 SELECT INBOX
S* x2 OK \[READ-WRITE\] .*
C: x3 STORE 1 +FLAGS (\Flagged)
S~ \* 1 FETCH .*
S~ x3 OK .*
@use A
C: c3 NOOP
S: * 3 UIDFETCH (FLAGS (\Flagged \Recent))
S~ c3 OK .*
@use B
C: x4 STORE 1 +FLAGS.SILENT (\Deleted)
S~ x4 OK .*
C: x5 EXPUNGE
S: * 1 EXPUNGE
S~ x5 OK .*
@use A
C: c4 NOOP
S: * VANISHED 3
S~ c4 OK .*
# UID MOVE: COPYUID, then VANISHED (RFC 9586 3.6 example)
C: d1 CREATE Archive
S~ d1 OK .*
@append INBOX simple.eml
C: d2 NOOP
S: * 1 EXISTS
S: * 1 RECENT
S~ d2 OK .*
C: 15 UID MOVE 4 Archive
S~ \* OK \[COPYUID [0-9]+ 4 1\] .*
S: * VANISHED 4
S~ 15 OK .*
# 3.8: SORT and THREAD as SEARCH (the INBOX is empty now)
C: f1 SORT (ARRIVAL) UTF-8 ALL
S~ f1 BAD \[UIDREQUIRED\] .*
C: f2 UID SORT (ARRIVAL) UTF-8 1:*
S~ f2 BAD \[UIDREQUIRED\] .*
C: f3 UID SORT (ARRIVAL) UTF-8 UID 1:*
S: * SORT
S~ f3 OK .*
C: f4 THREAD REFERENCES UTF-8 ALL
S~ f4 BAD \[UIDREQUIRED\] .*
C: f5 UID THREAD REFERENCES UTF-8 OR 1 ALL
S~ f5 BAD \[UIDREQUIRED\] .*
C: f6 UID THREAD REFERENCES UTF-8 ALL
S: * THREAD
S~ f6 OK .*
# the QRESYNC sequence match data holds message numbers (RFC 9586 3.7)
C: e1 ENABLE QRESYNC
S: * ENABLED QRESYNC
S~ \* OK \[HIGHESTMODSEQ [0-9]+\].*
S~ e1 OK .*
C: e2 SELECT INBOX (QRESYNC (1 1 1:10 (1 1)))
S~ e2 BAD .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
@eof
