# State survives a clean restart (SIGTERM, exit 0, start on the same datadir):
# mailboxes, subscriptions, messages, flags, UIDVALIDITY, UIDNEXT, MODSEQ
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE Keep
S~ a2 OK .*
C: a3 SUBSCRIBE Keep
S~ a3 OK .*
C: a4 SELECT INBOX
S* \* OK \[UIDVALIDITY (?P<uv>\d+)\].*
S* a4 OK .*
C: a5 STORE 2 +FLAGS (\Answered $Label1)
S* a5 OK .*
C: a6 STORE 1 +FLAGS.SILENT (\Deleted)
S~ a6 OK .*
C: a7 EXPUNGE
S: * 1 EXPUNGE
S~ a7 OK .*
C: a8 STATUS INBOX (HIGHESTMODSEQ)
# RFC 7162 3.1: the first CONDSTORE-enabling command with a mailbox
# selected returns HIGHESTMODSEQ
S~ \* OK \[HIGHESTMODSEQ [0-9]+\].*
S~ \* STATUS INBOX \(HIGHESTMODSEQ (?P<hm>\d+)\)
S~ a8 OK .*
@restart
@connect plain
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)
S: * STATUS INBOX (HIGHESTMODSEQ ${hm} MESSAGES 1 UIDNEXT 3 UIDVALIDITY ${uv})
S~ b2 OK .*
C: b3 LSUB "" Keep
S~ \* LSUB \(.*\) "/" Keep
S~ b3 OK .*
C: b4 EXAMINE INBOX
S* b4 OK .*
C: b5 FETCH 1 (UID FLAGS RFC822.SIZE)
S~ \* 1 FETCH \(UID 2 FLAGS \((?=[^)]*\\Answered)(?=[^)]*\$Label1)[^)]*\) RFC822.SIZE 203\)
S~ b5 OK .*
C: b6 LOGOUT
S~ \* BYE .*
S~ b6 OK .*
