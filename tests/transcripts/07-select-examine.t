# SELECT / EXAMINE (RFC 9051 6.3.2, 6.3.3; RFC 3501 for rev1 RECENT/UNSEEN)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# empty INBOX, IMAP4rev1 session
C: a2 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\].*
S& * 0 EXISTS
S& * 0 RECENT
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 1\].*
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a2 OK \[READ-WRITE\] .*
@append INBOX simple.eml
@append INBOX second.eml \Seen
@append INBOX multipart.eml
# rev1: RECENT counts new messages; UNSEEN is the first unseen MSN
C: a3 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\].*
S& * 3 EXISTS
S& * 3 RECENT
S& ~\* OK \[UNSEEN 1\].*
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 4\].*
S& ?~\* OK \[CLOSED\].*
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a3 OK \[READ-WRITE\] .*
C: a4 FETCH 1:3 (UID FLAGS)
S& * 1 FETCH (UID 1 FLAGS (\Recent))
S& * 2 FETCH (UID 2 FLAGS (\Seen \Recent))
S& * 3 FETCH (UID 3 FLAGS (\Recent))
S~ a4 OK .*
# EXAMINE: read-only, \Recent is not cleared by it
C: a5 EXAMINE INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\)\].*
S& * 3 EXISTS
S& ~\* \d+ RECENT
S& ~\* OK \[UNSEEN 1\].*
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 4\].*
S& ?~\* OK \[CLOSED\].*
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a5 OK \[READ-ONLY\] .*
C: a6 STORE 1 +FLAGS (\Deleted)
S~ a6 NO .*
C: a7 EXPUNGE
S~ a7 NO .*
# FETCH BODY[] on a read-only mailbox must not set \Seen
C: a8 FETCH 1 BODY[]
S~ \* 1 FETCH \(BODY\[\] \{320\}.*\)
S~ a8 OK .*
C: a9 FETCH 1 FLAGS
S~ \* 1 FETCH \(FLAGS \(\)\)
S~ a9 OK .*
# errors
C: b1 SELECT nosuchbox
S& ?~\* OK \[CLOSED\].*
S~ b1 NO \[NONEXISTENT\] .*
# a failed SELECT leaves the session in the authenticated state
C: b2 FETCH 1 FLAGS
S~ b2 BAD .*
C: b3 SELECT
S~ b3 BAD .*
C: b4 EXAMINE "inbox"
S* b4 OK \[READ-ONLY\] .*
C: b5 LOGOUT
S~ \* BYE .*
S~ b5 OK .*
