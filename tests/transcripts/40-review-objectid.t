# Review: OBJECTID (RFC 8474): MAILBOXID on CREATE (4.1, MUST), SELECT
# (4.2), STATUS (4.3), stable over RENAME; EMAILID kept by COPY/MOVE (5.1)
@user alice secret
@append INBOX simple.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* \* OK \[MAILBOXID \([A-Za-z0-9_-]{1,255}\)\] .*
S* a2 OK .*
C: o1 FETCH 1 (EMAILID THREADID)
S~ \* 1 FETCH \(EMAILID \((?P<eid>[A-Za-z0-9_-]+)\) THREADID (\([A-Za-z0-9_-]+\)|NIL)\)
S~ o1 OK .*
# 4.1: "MUST include the MAILBOXID response code in the tagged OK
# response to all successful CREATE commands"
C: o2 CREATE foo
S~ o2 OK \[MAILBOXID \((?P<mid>[A-Za-z0-9_-]{1,255})\)\] .*
C: o3 STATUS foo (MAILBOXID)
S: * STATUS foo (MAILBOXID (${mid}))
S~ o3 OK .*
C: o4 RENAME foo bar
S~ o4 OK .*
C: o5 STATUS bar (MAILBOXID)
S: * STATUS bar (MAILBOXID (${mid}))
S~ o5 OK .*
C: o6 COPY 1 bar
S~ o6 OK .*
C: o7 CREATE baz (USE (\Archive))
S~ o7 OK \[MAILBOXID \([A-Za-z0-9_-]{1,255}\)\] .*
C: o8 MOVE 1 baz
S* o8 OK .*
C: o9 EXAMINE bar
S* \* OK \[MAILBOXID \(${mid}\)\] .*
S* o9 OK .*
C: o10 FETCH 1 (EMAILID)
S: * 1 FETCH (EMAILID (${eid}))
S~ o10 OK .*
C: o11 EXAMINE baz
S* o11 OK .*
C: o12 FETCH 1 (EMAILID)
S: * 1 FETCH (EMAILID (${eid}))
S~ o12 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
