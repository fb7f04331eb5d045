# Another session's EXPUNGE is not reported during non-UID FETCH / STORE /
# SEARCH (MSNs must stay stable, RFC 9051 7.5.1) but is at NOOP; UID FETCH
# may report it
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX multipart.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK .*
@connect plain other
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 SELECT INBOX
S* o2 OK .*
C: o3 STORE 1 +FLAGS.SILENT (\Deleted)
S~ o3 OK .*
C: o4 EXPUNGE
S: * 1 EXPUNGE
S~ o4 OK .*
C: o5 APPEND INBOX {%second.eml}
S* o5 OK .*
@use main
C: f1 FETCH 2:3 (UID)
S& * 2 FETCH (UID 2)
S& * 3 FETCH (UID 3)
S& ?~\* \d+ FETCH \(FLAGS .*\)
S& ?~\* \d+ EXISTS
S& ?~\* \d+ RECENT
S~ f1 OK .*
C: f2 STORE 3 +FLAGS (\Seen)
S& ~\* 3 FETCH \(FLAGS \(\\Seen( \\Recent)?\)\)
S& ?~\* \d+ EXISTS
S& ?~\* \d+ RECENT
S~ f2 OK .*
C: f3 SEARCH SEEN
S& * SEARCH 3
S& ?~\* \d+ EXISTS
S& ?~\* \d+ RECENT
S~ f3 OK .*
C: f4 NOOP
S& * 1 EXPUNGE
S& ?~\* \d+ EXISTS
S& ?~\* \d+ RECENT
S~ f4 OK .*
C: f5 FETCH 1:* (UID)
S: * 1 FETCH (UID 2)
S: * 2 FETCH (UID 3)
S: * 3 FETCH (UID 4)
S~ f5 OK .*
C: f6 LOGOUT
S~ \* BYE .*
S~ f6 OK .*
