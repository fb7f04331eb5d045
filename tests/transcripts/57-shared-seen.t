# Per-reader \Seen in another user's mailbox (bulletin board, no
# sharedseen): every reader and the owner have their own \Seen; a selected
# reader's sync (NOOP, CONDSTORE) shows the reader's own state; SEARCH
# UNSEEN and STATUS UNSEEN follow it; EXPUNGE drops it.
@user alice secret
@user bob secret
@user carol secret
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
C: a2 CREATE board
S~ a2 OK .*
C: a3 APPEND board {%m1}
S~ a3 OK .*
C: a4 APPEND board {%m2}
S~ a4 OK .*
C: a5 SETACL board bob lrste
S~ a5 OK .*
C: a6 SETACL board carol lrs
S~ a6 OK .*
C: a7 SELECT board
S* a7 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 ENABLE CONDSTORE
S~ .*
S~ b2 OK .*
C: b3 SELECT "Other Users/alice/board"
S* b3 OK .*
C: b4 UID SEARCH UNSEEN
S: * SEARCH 1 2
S~ b4 OK .*
C: b5 FETCH 1 (FLAGS MODSEQ)
S~ \* 1 FETCH \(FLAGS \(\) MODSEQ \((?P<ms1>\d+)\)\)|\* 1 FETCH \(MODSEQ \((?P<ms1b>\d+)\) FLAGS \(\)\)
S~ b5 OK .*
# bob reads message 1: only bob's \Seen
C: b6 FETCH 1 BODY[TEXT]
S~ \* 1 FETCH .*\\Seen.*
S~ b6 OK .*
C: b7 UID SEARCH UNSEEN
S: * SEARCH 2
S~ b7 OK .*
@connect plain bob2
S~ \* OK .*
C: c1 LOGIN bob secret
S~ c1 OK .*
C: c2 STATUS "Other Users/alice/board" (MESSAGES UNSEEN)
S: * STATUS "Other Users/alice/board" (MESSAGES 2 UNSEEN 1)
S~ c2 OK .*
C: c3 SELECT "Other Users/alice/board"
S* c3 OK .*
C: c4 FETCH 1:2 FLAGS
S: * 1 FETCH (FLAGS (\Seen))
S: * 2 FETCH (FLAGS ())
S~ c4 OK .*
# the other bob session marks message 2: this session's sync shows it
@use bob
C: b8 STORE 2 +FLAGS.SILENT (\Seen)
S~ b8 OK .*
@use bob2
C: c5 NOOP
S~ \* 2 FETCH \(.*FLAGS \(\\Seen\).*\)
S~ c5 OK .*
@connect plain carol
S~ \* OK .*
C: d1 LOGIN carol secret
S~ d1 OK .*
C: d2 STATUS "Other Users/alice/board" (UNSEEN)
S: * STATUS "Other Users/alice/board" (UNSEEN 2)
S~ d2 OK .*
C: d3 EXAMINE "Other Users/alice/board"
S* d3 OK .*
C: d4 FETCH 1:2 FLAGS
S: * 1 FETCH (FLAGS ())
S: * 2 FETCH (FLAGS ())
S~ d4 OK .*
C: d5 SEARCH SEEN
S: * SEARCH
S~ d5 OK .*
# the owner's state is untouched by the readers
@use alice
# (readers' changes reach the owner's session as FETCHes of unchanged
# flags, which RFC 7162 allows: absorbed by a NOOP)
C: a7n NOOP
S* a7n OK .*
C: a8 UID SEARCH UNSEEN
S: * SEARCH 1 2
S~ a8 OK .*
C: a9 STATUS INBOX (UNSEEN)
S~ \* STATUS INBOX \(UNSEEN 0\)
S~ a9 OK .*
C: a10 UID STORE 1 +FLAGS.SILENT (\Seen)
S~ a10 OK .*
C: a11 FETCH 1:2 FLAGS
S~ \* 1 FETCH \(FLAGS \(\\Seen \\Recent\)\)
S~ \* 2 FETCH \(FLAGS \(\\Recent\)\)
S~ a11 OK .*
# bob removes his \Seen: the owner still has hers
@use bob
C: b9 STORE 1 -FLAGS (\Seen)
# (alice's STORE arrives first as a FETCH with bob's unchanged \Seen)
S* \* 1 FETCH \(.*FLAGS \(\).*\)
S~ b9 OK .*
@use alice
C: a11n NOOP
S* a11n OK .*
C: a12 FETCH 1 FLAGS
S~ \* 1 FETCH \(FLAGS \(\\Seen \\Recent\)\)
S~ a12 OK .*
# expunge by bob (e right) drops the message for everyone
@use bob
C: b10 STORE 2 +FLAGS.SILENT (\Deleted)
S~ b10 OK .*
C: b11 EXPUNGE
S: * 2 EXPUNGE
S~ b11 OK .*
@use bob2
C: c6 NOOP
S: * 2 EXPUNGE
S: * 1 FETCH (UID 1 FLAGS ())
S~ c6 OK .*
C: c7 STATUS "Other Users/alice/board" (MESSAGES UNSEEN)
S: * STATUS "Other Users/alice/board" (MESSAGES 1 UNSEEN 1)
S~ c7 OK .*
@use carol
C: d6 STATUS "Other Users/alice/board" (MESSAGES UNSEEN)
S: * STATUS "Other Users/alice/board" (MESSAGES 1 UNSEEN 1)
S* d6 OK .*
