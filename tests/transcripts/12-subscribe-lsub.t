# SUBSCRIBE / UNSUBSCRIBE / LSUB (RFC 9051 6.3.7, 6.3.8; RFC 3501 LSUB)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE news
S~ a2 OK .*
C: a3 CREATE news/tech
S~ a3 OK .*
# start from a known state: the server may subscribe on CREATE
C: a3b UNSUBSCRIBE news
S~ a3b (OK|NO) .*
C: a4 SUBSCRIBE news/tech
S~ a4 OK .*
C: a5 LSUB "" n*
S~ \* LSUB \((\\HasNoChildren)?\) "/" news/tech
S~ a5 OK .*
# LSUB with % returns the parent as \Noselect when only a child is subscribed
C: a6 LSUB "" %
S~ \* LSUB \(\\No[Ss]elect( \\HasChildren)?\) "/" news
S~ a6 OK .*
C: a7 LIST (SUBSCRIBED) "" *
S~ \* LIST \((\\HasNoChildren )?\\Subscribed( \\HasNoChildren)?\) "/" news/tech
S~ a7 OK .*
# subscribing to a non-existent name is allowed (6.3.7: server MAY refuse)
C: a8 SUBSCRIBE ghost
S~ a8 (OK|NO) .*
C: a9 UNSUBSCRIBE news/tech
S~ a9 OK .*
C: a10 LSUB "" news*
S~ a10 OK .*
C: a11 UNSUBSCRIBE neversubscribed
S~ a11 (OK|NO) .*
C: a12 SUBSCRIBE
S~ a12 BAD .*
C: a13 SUBSCRIBE INBOX
S~ a13 OK .*
C: a14 LIST "" INBOX RETURN (SUBSCRIBED)
S~ \* LIST \((\\HasNoChildren )?\\Subscribed( \\HasNoChildren)?\) "/" INBOX
S~ a14 OK .*
C: a15 LOGOUT
S~ \* BYE .*
S~ a15 OK .*
