# Review: RFC 7162 3.1 / 3.1.2: CONDSTORE awareness is per session, not
# per selected mailbox. After a CONDSTORE enabling command (here FETCH
# MODSEQ, STATUS (HIGHESTMODSEQ), SEARCH MODSEQ) "the server MUST then
# include mod-sequence data in all subsequent untagged FETCH responses
# (until the connection is closed)", and HIGHESTMODSEQ (or NOMODSEQ)
# "MUST be returned ... for any successful SELECT/EXAMINE command issued
# after a CONDSTORE enabling command".
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 SELECT INBOX
S* b2 OK \[READ-WRITE\] .*
C: b3 FETCH 1 (MODSEQ)
S* b3 OK .*
# the same selection: STORE reports MODSEQ
C: b4 STORE 1 +FLAGS (\Seen)
S~ \* 1 FETCH \((?=.*FLAGS \([^)]*\\Seen)(?=.*MODSEQ \([0-9]+\)).*\)
S~ b4 OK .*
# a new selection in the same session
C: b5 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS .*
S& * 2 EXISTS
S& ~\* [0-9]+ RECENT
S& ~\* OK \[UIDVALIDITY [0-9]+\].*
S& ~\* OK \[UIDNEXT 3\].*
S& ~\* OK \[(HIGHESTMODSEQ [0-9]+|NOMODSEQ)\].*
S& ~\* OK \[MAILBOXID .*
S& ?~\* OK \[UNSEEN [0-9]+\].*
S& ?~\* OK \[CLOSED\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ b5 OK \[READ-WRITE\] .*
C: b6 STORE 2 +FLAGS (\Seen)
S~ \* 2 FETCH \((?=.*FLAGS \([^)]*\\Seen)(?=.*MODSEQ \([0-9]+\)).*\)
S~ b6 OK .*
@close
# STATUS (HIGHESTMODSEQ) is an enabling command too
@connect plain C
S~ \* OK .*
C: c1 LOGIN alice secret
S~ c1 OK .*
C: c2 STATUS INBOX (HIGHESTMODSEQ)
S~ \* STATUS INBOX \(HIGHESTMODSEQ [0-9]+\)
S~ c2 OK .*
C: c3 EXAMINE INBOX
S* \* OK \[(HIGHESTMODSEQ [0-9]+|NOMODSEQ)\].*
S* c3 OK \[READ-ONLY\] .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
