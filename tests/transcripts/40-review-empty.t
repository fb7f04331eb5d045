# Review: commands on an empty mailbox (RFC 9051 9 "seq-number": a
# sequence number greater than the number of messages, including "*"
# on an empty mailbox, gets a tagged BAD; UID ranges that match nothing
# are not an error, 6.4.9)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: a3 FETCH 1:* FLAGS
S~ a3 BAD .*
C: a4 FETCH * FLAGS
S~ a4 BAD .*
C: a5 UID FETCH 1:* FLAGS
S~ a5 OK .*
C: a6 SEARCH ALL
S: * SEARCH
S~ a6 OK .*
C: a7 UID SEARCH ALL
S: * SEARCH
S~ a7 OK .*
C: a8 SEARCH RETURN (MIN MAX COUNT) ALL
S: * ESEARCH (TAG "a8") COUNT 0
S~ a8 OK .*
C: a9 STORE 1:* +FLAGS (\Seen)
S~ a9 BAD .*
C: a10 UID STORE 1:* +FLAGS (\Seen)
S~ a10 OK .*
C: a11 UID COPY 1:* INBOX
S~ a11 OK .*
C: a12 UID MOVE 1:* INBOX
S~ a12 OK .*
C: a13 EXPUNGE
S~ a13 OK .*
C: a14 UID EXPUNGE 1:*
S~ a14 OK .*
C: a15 COPY 1 nosuch
S~ a15 BAD .*
# the UID prefix only goes with COPY, MOVE, FETCH, STORE, SEARCH, EXPUNGE
C: a16 UID NOOP
S~ a16 BAD .*
C: a17 UID CAPABILITY
S~ a17 BAD .*
C: a18 UID SELECT INBOX
S~ a18 BAD .*
C: a19 UID
S~ a19 BAD .*
# one message: 2 is out of range, 1:* and *:1 are fine
@append INBOX simple.eml
C: b1 NOOP
S& * 1 EXISTS
S& ~\* [01] RECENT
S~ b1 OK .*
C: b2 FETCH 2 FLAGS
S~ b2 BAD .*
C: b3 FETCH *:1 UID
S: * 1 FETCH (UID 1)
S~ b3 OK .*
C: b4 UID FETCH 5:* UID
S: * 1 FETCH (UID 1)
S~ b4 OK .*
C: b5 UID FETCH 5:7 UID
S~ b5 OK .*
C: b6 FETCH 0 FLAGS
S~ b6 BAD .*
# seq-number comment in RFC 9051 9 names COPY, FETCH, STORE; SEARCH may say OK
C: b7 SEARCH 2
S* b7 (OK|BAD) .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
