# COPY (RFC 9051 6.4.7), MOVE (RFC 6851), COPYUID (RFC 4315), UID variants
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml \Seen
@append INBOX multipart.eml \Flagged
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE dest
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
C: c1 COPY 2:3 dest
S~ c1 OK \[COPYUID [1-9][0-9]* 2:3 1:2\] .*
C: c2 UID COPY 1 dest
S~ c2 OK \[COPYUID [1-9][0-9]* 1 3\] .*
C: c3 STATUS dest (MESSAGES UNSEEN)
S: * STATUS dest (MESSAGES 3 UNSEEN 2)
S~ c3 OK .*
C: c4 COPY 1 nosuch
S~ c4 NO \[TRYCREATE\] .*
C: c5 COPY 9 dest
S~ c5 BAD .*
C: c6 UID COPY 9 dest
S~ c6 OK .*
C: c7 COPY 1
S~ c7 BAD .*
# MOVE: COPYUID in an untagged OK, then EXPUNGE responses (RFC 6851 3.3)
C: m1 MOVE 2 dest
S~ \* OK \[COPYUID [1-9][0-9]* 2 4\].*
S: * 2 EXPUNGE
S~ m1 OK .*
C: m2 UID MOVE 3 dest
S~ \* OK \[COPYUID [1-9][0-9]* 3 5\].*
S: * 2 EXPUNGE
S~ m2 OK .*
C: m3 MOVE 1 nosuch
S~ m3 NO \[TRYCREATE\] .*
C: m4 FETCH 1:* UID
S: * 1 FETCH (UID 1)
S~ m4 OK .*
C: m5 EXAMINE dest
S* m5 OK \[READ-ONLY\] .*
C: m6 FETCH 1:* (UID FLAGS)
S~ \* 1 FETCH \(UID 1 FLAGS \(\\Seen.*\)\)
S~ \* 2 FETCH \(UID 2 FLAGS \(\\Flagged.*\)\)
S~ \* 3 FETCH \(UID 3 FLAGS \((\\Recent)?\)\)
S~ \* 4 FETCH \(UID 4 FLAGS \(\\Seen.*\)\)
S~ \* 5 FETCH \(UID 5 FLAGS \(\\Flagged.*\)\)
S~ m6 OK .*
# MOVE out of a read-only mailbox fails
C: m7 MOVE 1 INBOX
S~ m7 NO .*
C: m8 COPY 1 INBOX
S~ m8 OK .*
C: m9 LOGOUT
S~ \* BYE .*
S~ m9 OK .*
