# MULTISEARCH bound (RFC 7377 2.4): more mailboxes than
# imap_multisearch_max_mailboxes is NO [LIMIT] up front.
@config imap_multisearch_max_mailboxes 2
@user alice secret
@user bob secret
@append INBOX second.eml
@connect plain B
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 CREATE p1
S~ b2 OK .*
C: b3 CREATE p2
S~ b3 OK .*
C: b4 CREATE p3
S~ b4 OK .*
@close
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
# mailboxes alice cannot see do not count (else NO [LIMIT] would
# reveal how many bob has)
C: a7 ESEARCH IN (subtree "Other Users/bob") ALL
S: a7 OK ESEARCH completed
C: z1 LOGOUT
S~ \* BYE .*
S~ z1 OK .*
