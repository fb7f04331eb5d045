# RENAME (RFC 9051 6.3.6), including INBOX
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE old
S~ a2 OK .*
C: a3 CREATE old/child
S~ a3 OK .*
@append old simple.eml
C: a4 RENAME old new
S~ a4 OK .*
C: a5 LIST "" *
S& ~\* LIST \(.*\) "/" INBOX
S& * LIST (\HasChildren) "/" new
S& * LIST (\HasNoChildren) "/" new/child
S~ a5 OK .*
C: a6 STATUS new (MESSAGES)
S: * STATUS new (MESSAGES 1)
S~ a6 OK .*
C: a7 RENAME nosuch other
S~ a7 NO \[NONEXISTENT\] .*
C: a8 CREATE taken
S~ a8 OK .*
C: a9 RENAME new taken
S~ a9 NO \[ALREADYEXISTS\] .*
C: a10 RENAME new INBOX
S~ a10 NO .*
C: a11 RENAME new
S~ a11 BAD .*
# RENAME INBOX moves the messages to a new mailbox and leaves INBOX empty
@append INBOX simple.eml
@append INBOX second.eml
C: b1 RENAME INBOX saved
S~ b1 OK .*
C: b2 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 0)
S~ b2 OK .*
C: b3 STATUS saved (MESSAGES)
S: * STATUS saved (MESSAGES 2)
S~ b3 OK .*
C: b4 LOGOUT
S~ \* BYE .*
S~ b4 OK .*
