# Review: RFC 9051 2.3.1.1: "the combination of mailbox name, UIDVALIDITY,
# and UID must refer to a single, immutable (or expunged) message on
# that server forever". Session A has "box" selected; session B deletes
# it and creates another mailbox. A must never see (or change) the other
# mailbox's messages through its stale selection; it may get EXPUNGEs,
# a BYE, or NO. (Darius reuses the storage row id of the deleted
# mailbox, so A's view silently switches to the new mailbox.)
@user alice secret
@msg intruder
Subject: intruder

not yours
@end
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE box
S~ a2 OK .*
C: a3 APPEND box {%=Subject: old\r\n\r\nold+}
S~ a3 OK .*
C: a4 SELECT box
S* a4 OK \[READ-WRITE\] .*
C: a5 UID SEARCH SUBJECT intruder
S: * SEARCH
S~ a5 OK .*
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 DELETE box
S~ b2 OK .*
C: b3 CREATE other
S~ b3 OK .*
C: b4 APPEND other {%intruder}
S~ b4 OK .*
@use A
C: a6 UID SEARCH SUBJECT intruder
S~ (?!\* SEARCH [0-9]).*
S* \* SEARCH|\* BYE .*|a6 (NO|BAD) .*
