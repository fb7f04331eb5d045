# Review: \Recent belongs to exactly one session (RFC 3501 2.3.2, 7.3.2;
# IMAP4rev1 sessions): "This session is the first session to have been
# notified about this message; if the session is read-write, subsequent
# sessions will not see \Recent set for this message."
@user alice secret
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 SELECT INBOX
S* b2 OK \[READ-WRITE\] .*
@append INBOX simple.eml
# B is notified first: the new message is recent for B
C: b3 NOOP
S& * 1 EXISTS
S& * 1 RECENT
S~ b3 OK .*
C: b4 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS (\Recent))
S~ b4 OK .*
# A is notified later: it must not see \Recent, and RECENT stays 0
@use A
C: a3 NOOP
S& * 1 EXISTS
S& ?* 0 RECENT
S~ a3 OK .*
C: a4 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS ())
S~ a4 OK .*
C: a5 SEARCH RECENT
S: * SEARCH
S~ a5 OK .*
C: a6 LOGOUT
S~ \* BYE .*
S~ a6 OK .*
