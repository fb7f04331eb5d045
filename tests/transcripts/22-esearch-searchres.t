# ESEARCH (RFC 4731 / RFC 9051 6.4.4) and SEARCHRES (RFC 5182)
@user alice secret
@append INBOX simple.eml
@append INBOX multipart.eml
@append INBOX second.eml \Seen
@append INBOX simple.eml \Seen
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: e1 SEARCH RETURN (MIN MAX COUNT ALL) ALL
S: * ESEARCH (TAG "e1") MIN 1 MAX 4 COUNT 4 ALL 1:4
S~ e1 OK .*
C: e2 SEARCH RETURN (MIN MAX COUNT) SEEN
S: * ESEARCH (TAG "e2") MIN 3 MAX 4 COUNT 2
S~ e2 OK .*
C: e3 UID SEARCH RETURN () UNSEEN
S: * ESEARCH (TAG "e3") UID ALL 1:2
S~ e3 OK .*
C: e4 SEARCH RETURN (COUNT) ANSWERED
S~ \* ESEARCH \(TAG "e4"\)( COUNT 0)?
S~ e4 OK .*
C: e5 SEARCH RETURN (ALL) 1,3:4
S: * ESEARCH (TAG "e5") ALL 1,3:4
S~ e5 OK .*
C: e6 SEARCH RETURN (BOGUS) ALL
S~ e6 BAD .*
# SAVE only: no ESEARCH response (RFC 5182 2.4)
C: r1 SEARCH RETURN (SAVE) SEEN
S~ r1 OK .*
C: r2 FETCH $ (UID)
S: * 3 FETCH (UID 3)
S: * 4 FETCH (UID 4)
S~ r2 OK .*
C: r3 UID SEARCH UID $ SUBJECT afternoon
S: * SEARCH 4
S~ r3 OK .*
C: r4 SEARCH RETURN (SAVE MIN) UNSEEN
S: * ESEARCH (TAG "r4") MIN 1
S~ r4 OK .*
# with SAVE and MIN, only the minimum is saved (RFC 5182 2.1)
C: r5 UID FETCH $ FLAGS
S~ \* 1 FETCH \((UID 1 FLAGS \(.*\)|FLAGS \(.*\) UID 1)\)
S~ r5 OK .*
C: r6 STORE $ +FLAGS.SILENT (\Answered)
S~ r6 OK .*
C: r7 SEARCH ANSWERED
S: * SEARCH 1
S~ r7 OK .*
# a failed search with SAVE resets $ to empty
C: r8 SEARCH RETURN (SAVE) CHARSET X-BOGUS SUBJECT x
S~ r8 NO \[BADCHARSET.*
C: r9 SEARCH $
S~ (\* SEARCH|\* ESEARCH \(TAG "r9"\))
S~ r9 OK .*
C: r10 LOGOUT
S~ \* BYE .*
S~ r10 OK .*
