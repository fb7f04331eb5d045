# MULTISEARCH bound (RFC 7377 2.4): more mailboxes than
# imap_multisearch_max_mailboxes is NO [LIMIT] up front.
@config imap_multisearch_max_mailboxes 2
@user alice secret
@append INBOX second.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE one
S~ a2 OK .*
C: a3 ESEARCH IN (personal) ALL
S~ \* ESEARCH \(TAG "a3" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: a3 OK ESEARCH completed
C: a4 CREATE two
S~ a4 OK .*
C: a5 ESEARCH IN (personal) ALL
S~ a5 NO \[LIMIT\] .*
C: a6 ESEARCH IN (mailboxes (INBOX two)) ALL
S~ \* ESEARCH \(TAG "a6" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: a6 OK ESEARCH completed
C: z1 LOGOUT
S~ \* BYE .*
S~ z1 OK .*
