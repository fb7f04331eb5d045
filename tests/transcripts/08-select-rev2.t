# SELECT after ENABLE IMAP4rev2: no RECENT/UNSEEN, LIST response, [CLOSED]
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 ENABLE IMAP4rev2
S: * ENABLED IMAP4rev2
S~ a2 OK .*
C: a3 CREATE Drafts
S~ a3 OK .*
@append INBOX simple.eml
C: a4 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\].*
S& * 1 EXISTS
S& ?~\* \d+ RECENT
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 2\].*
S& ~\* LIST \(.*\) "/" INBOX
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a4 OK \[READ-WRITE\] .*
C: a5 SELECT Drafts
S& ~\* OK \[CLOSED\].*
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\].*
S& * 0 EXISTS
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 1\].*
S& ~\* LIST \(.*\) "/" Drafts
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a5 OK \[READ-WRITE\] .*
# a failed SELECT closes the previous mailbox too
C: a6 SELECT nosuch
S* a6 NO .*
C: a7 FETCH 1 FLAGS
S~ a7 BAD .*
C: a8 LOGOUT
S~ \* BYE .*
S~ a8 OK .*
