# COPY and MOVE into another user's mailbox (mailbox_copy_to): needs i on
# the target, COPYUID names the target's UIDs, the target owner's quota
# applies ([OVERQUOTA], nothing copied, nothing expunged by a failed
# MOVE), MOVE removes the source messages; a reader's own \Seen goes
# along, the owner's does not.
@config admins admin
@user alice secret
@user bob secret
@user admin secret
@sleepless
@msg m1
Subject: one

hello
@end
@msg m2
Subject: two

world
@end
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE drop
S~ a2 OK .*
C: a3 SETACL drop bob lrsi
S~ a3 OK .*
C: a4 CREATE board
S~ a4 OK .*
C: a5 APPEND board (\Seen \Flagged) {%m1}
S~ a5 OK .*
C: a6 SETACL board bob lrs
S~ a6 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 APPEND INBOX {%m1}
S~ b2 OK .*
C: b3 APPEND INBOX (\Seen) {%m2}
S~ b3 OK .*
C: b4 SELECT INBOX
S* b4 OK .*
C: b5 COPY 1:2 "Other Users/alice/drop"
S~ b5 OK \[COPYUID \d+ 1:2 1:2\] .*
C: b6 STATUS "Other Users/alice/drop" (MESSAGES)
S: * STATUS "Other Users/alice/drop" (MESSAGES 2)
S~ b6 OK .*
# no i right on board: refused, as if it were read-only
C: b7 COPY 1 "Other Users/alice/board"
S~ b7 NO .*
# the owner's quota: alice (3 messages now) may have 4
@connect plain admin
S~ \* OK .*
C: x1 LOGIN admin secret
S~ x1 OK .*
C: x2 SETQUOTA user/alice (MESSAGE 4)
S: * QUOTA "user/alice" (MESSAGE 3 4)
S~ x2 OK .*
@use bob
C: b8 MOVE 1:2 "Other Users/alice/drop"
S~ b8 NO \[OVERQUOTA\] .*
C: b9 FETCH 1:2 FLAGS
S: * 1 FETCH (FLAGS (\Recent))
S: * 2 FETCH (FLAGS (\Seen \Recent))
S~ b9 OK .*
C: b10 UID MOVE 2 "Other Users/alice/drop"
S~ \* OK \[COPYUID \d+ 2 3\].*
S: * 2 EXPUNGE
S~ b10 OK .*
C: b11 STATUS INBOX (MESSAGES)
S~ \* STATUS "?INBOX"? \(MESSAGES 1\)
S~ b11 OK .*
@use alice
C: a7 SELECT drop
S* a7 OK .*
C: a8 FETCH 1:3 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S~ \* 1 FETCH \(FLAGS \(\\Recent\) BODY\[HEADER.FIELDS \(SUBJECT\)\] \{\d+\}\\r\\nSubject: one\\r\\n\\r\\n\)
S~ \* 2 FETCH \(FLAGS \(\\Recent\) BODY\[HEADER.FIELDS \(SUBJECT\)\] \{\d+\}\\r\\nSubject: two\\r\\n\\r\\n\)
S~ \* 3 FETCH \(FLAGS \(\\Recent\) BODY\[HEADER.FIELDS \(SUBJECT\)\] \{\d+\}\\r\\nSubject: two\\r\\n\\r\\n\)
S~ a8 OK .*
# (bob's \Seen of message 2 went into bob's own state, not alice's)
# bob copies from alice's board into his INBOX: his own (empty) \Seen
# goes along, not alice's; \Flagged is shared
@use bob
C: b12 SELECT "Other Users/alice/board"
S* b12 OK .*
C: b13 COPY 1 INBOX
S~ b13 OK \[COPYUID \d+ 1 \d+\] .*
C: b14 STORE 1 +FLAGS.SILENT (\Seen)
S~ b14 OK .*
C: b15 COPY 1 INBOX
S~ b15 OK \[COPYUID \d+ 1 \d+\] .*
C: b16 SELECT INBOX
S* b16 OK .*
C: b17 FETCH 2:3 FLAGS
S: * 2 FETCH (FLAGS (\Flagged \Recent))
S: * 3 FETCH (FLAGS (\Seen \Flagged \Recent))
S~ b17 OK .*
