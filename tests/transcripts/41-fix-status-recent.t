# Issue 12 bug: STATUS (RECENT) on the selected mailbox counts the \Recent
# messages this IMAP4rev1 session holds (RFC 3501 2.3.2, 6.3.10), also in
# LIST-STATUS (RFC 5819); other sessions do not see them as recent.
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* \* 2 RECENT
S* a2 OK \[READ-WRITE\] .*
C: a3 STATUS INBOX (MESSAGES RECENT)
S: * STATUS INBOX (MESSAGES 2 RECENT 2)
S~ a3 OK .*
C: a4 LIST "" INBOX RETURN (STATUS (RECENT))
S~ \* LIST \(.*\) "/" INBOX
S: * STATUS INBOX (RECENT 2)
S~ a4 OK .*
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 STATUS INBOX (RECENT)
S: * STATUS INBOX (RECENT 0)
S~ b2 OK .*
@append INBOX simple.eml
C: b3 STATUS INBOX (RECENT)
S: * STATUS INBOX (RECENT 1)
S~ b3 OK .*
@use A
C: a5 NOOP
S& * 3 EXISTS
S& * 3 RECENT
S~ a5 OK .*
C: a6 STATUS INBOX (RECENT)
S: * STATUS INBOX (RECENT 3)
S~ a6 OK .*
C: a7 STORE 1 +FLAGS.SILENT (\Deleted)
S~ a7 OK .*
C: a8 EXPUNGE
S: * 1 EXPUNGE
S~ a8 OK .*
C: a9 STATUS INBOX (RECENT MESSAGES)
S: * STATUS INBOX (MESSAGES 2 RECENT 2)
S~ a9 OK .*
C: a10 CLOSE
S~ a10 OK .*
C: a11 STATUS INBOX (RECENT)
S: * STATUS INBOX (RECENT 0)
S~ a11 OK .*
@use B
C: b4 EXAMINE INBOX
S* \* 0 RECENT
S* b4 OK \[READ-ONLY\] .*
C: b5 STATUS INBOX (RECENT)
S: * STATUS INBOX (RECENT 0)
S~ b5 OK .*
C: b6 LOGOUT
S~ \* BYE .*
S~ b6 OK .*
