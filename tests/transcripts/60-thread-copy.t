# RFC 8474 THREADID across stores: a message COPYed into another user's
# mailbox keeps its THREADID there, and a reply later stored in that
# user's store (naming the copied message's Message-ID) joins it.
@user bob secret
@user alice secret
@append INBOX thread-01.eml
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE drop
S~ a2 OK .*
C: a3 SETACL drop bob lrsi
S~ a3 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 SELECT INBOX
S* b2 OK .*
C: b3 FETCH 1 (THREADID)
S~ \* 1 FETCH \(THREADID \(T(?P<tb>[0-9a-f]{32})\)\)
S~ b3 OK .*
C: b4 COPY 1 "Other Users/alice/drop"
S~ b4 OK .*
@use alice
C: a4 APPEND drop {%thread-02.eml}
S~ a4 OK .*
C: a5 APPEND drop {%thread-04.eml}
S~ a5 OK .*
C: a6 SELECT drop
S* a6 OK .*
C: a7 FETCH 1:3 (THREADID)
S: * 1 FETCH (THREADID (T${tb}))
S: * 2 FETCH (THREADID (T${tb}))
S~ \* 3 FETCH \(THREADID \(T(?!${tb})[0-9a-f]{32}\)\)
S~ a7 OK .*
C: a8 THREAD REFS UTF-8 ALL
S: * THREAD (3)(1 2)
S: a8 OK Thread completed
