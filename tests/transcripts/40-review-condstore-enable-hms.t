# Review: RFC 7162 3.1: "A first CONDSTORE enabling command executed in
# the session with a mailbox selected MUST cause the server to return
# HIGHESTMODSEQ (Section 3.1.2.1) for the mailbox" (cf. example 5 in
# 3.1.3: "* OK [HIGHESTMODSEQ ...]" sent by a conditional STORE).
# Each connection tries one of the enabling commands of 3.1 (ENABLE is
# left out: RFC 5161 3.1 forbids it once a mailbox is selected).
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
S& ~\* 1 FETCH \(MODSEQ \([0-9]+\)\)
S& ~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S~ b3 OK .*
@connect plain C
S~ \* OK .*
C: c1 LOGIN alice secret
S~ c1 OK .*
C: c2 SELECT INBOX
S* c2 OK \[READ-WRITE\] .*
C: c3 STORE 1 (UNCHANGEDSINCE 999999) +FLAGS.SILENT (\Answered)
S& ~\* 1 FETCH \(.*MODSEQ \([0-9]+\).*\)
S& ~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S~ c3 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
