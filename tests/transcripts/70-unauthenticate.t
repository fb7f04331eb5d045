# UNAUTHENTICATE (RFC 8437): back to not authenticated state on the same
# connection; the selected mailbox is left without an expunge, enabled
# extensions (CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4rev2) and the saved
# search result are gone, and another user can log in and sees their own
# INBOX. Advertised after login only (RFC 8437 3 allows that).
@user alice secret
@user bob hunter2
@msg alice1
From: carol@example.org
To: alice@example.org
Subject: for alice

hello alice
@end
@msg bob1
From: carol@example.org
To: bob@example.org
Subject: for bob

hello bob
@end
@append INBOX alice1
@connect plain
S~ \* OK .*
C: p1 CAPABILITY
S~ \* CAPABILITY (?!.*UNAUTHENTICATE).*
S~ p1 OK .*
# not allowed before login
C: p2 UNAUTHENTICATE
S~ p2 BAD .*
C: a1 LOGIN alice secret
S~ a1 OK \[CAPABILITY (?=.* UNAUTHENTICATE( |\])).*
C: a2 ENABLE QRESYNC UTF8=ACCEPT IMAP4rev2
S~ \* ENABLED .*
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
C: a4 STORE 1 +FLAGS.SILENT (\Deleted)
S~ a4 OK .*
C: a5 SEARCH RETURN (SAVE) ALL
S~ a5 OK .*
C: a6 UNAUTHENTICATE extra
S~ a6 BAD .*
# no EXPUNGE response, and the \Deleted message stays
C: a7 UNAUTHENTICATE
S~ a7 OK .*
C: a8 CAPABILITY
S~ \* CAPABILITY (?!.*UNAUTHENTICATE).*
S~ a8 OK .*
# not authenticated: commands of the other states are refused
C: a9 SELECT INBOX
S~ a9 BAD .*
C: a10 FETCH 1 FLAGS
S~ a10 BAD .*
C: a11 UNAUTHENTICATE
S~ a11 BAD .*
C: b1 LOGIN bob hunter2
S~ b1 OK .*
C: b2 APPEND INBOX {%bob1}
S~ b2 OK .*
# bob's INBOX; IMAP4rev1 again (ENABLE IMAP4rev2 was reset): RECENT given
C: b3 SELECT INBOX
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\].*
S& * 1 EXISTS
S& * 1 RECENT
S& ~\* OK \[UNSEEN 1\].*
S& ~\* OK \[UIDVALIDITY [1-9][0-9]*\].*
S& ~\* OK \[UIDNEXT 2\].*
S& ?~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ?~\* OK \[MAILBOXID \([A-Za-z0-9_-]+\)\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ b3 OK \[READ-WRITE\] .*
C: b4 FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]
S: * 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: for bob\r\n\r\n)
S~ b4 OK .*
# CONDSTORE (enabled by alice's QRESYNC) is off again: no MODSEQ
C: b5 STORE 1 +FLAGS (\Flagged)
S: * 1 FETCH (FLAGS (\Flagged \Recent))
S~ b5 OK .*
# pipelined with the next login (RFC 8437 3); the selected mailbox goes
C+ b6 UNAUTHENTICATE\r\nc1 LOGIN alice secret\r\n
S~ b6 OK .*
S~ c1 OK .*
C: c2 SELECT INBOX
S* c2 OK \[READ-WRITE\] .*
# UNAUTHENTICATE expunged nothing; the IMAP4rev2 SELECT claimed no
# \Recent, this IMAP4rev1 one does
C: c3 FETCH 1:* FLAGS
S: * 1 FETCH (FLAGS (\Deleted \Recent))
S~ c3 OK .*
# the saved search result is gone with the old selection
C: c4 SEARCH $
S: * SEARCH
S~ c4 OK .*
C: c5 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 1)
S~ c5 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
@eof
