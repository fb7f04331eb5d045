# ENABLE (RFC 5161, RFC 9051 6.3.1) and ID (RFC 2971)
@user alice secret
@connect plain
S~ \* OK .*
C: a0 ENABLE CONDSTORE
S~ a0 BAD .*
C: a1 ID ("name" "darius-tests" "version" "1")
S~ \* ID (NIL|\(.*\))
S~ a1 OK .*
C: a2 ID NIL
S~ \* ID (NIL|\(.*\))
S~ a2 OK .*
C: a3 ID ("name")
S~ a3 BAD .*
C: a4 LOGIN alice secret
S~ a4 OK .*
C: a5 ENABLE CONDSTORE
S: * ENABLED CONDSTORE
S~ a5 OK .*
# already enabled: no ENABLED line for it again
C: a6 ENABLE CONDSTORE
S~ (\* ENABLED|a6 OK .*)
S* a6 OK .*
C: a7 ENABLE X-NO-SUCH-THING
S~ (\* ENABLED|a7 OK .*)
S* a7 OK .*
C: a8 ENABLE QRESYNC IMAP4rev2
S~ \* ENABLED (QRESYNC IMAP4rev2|IMAP4rev2 QRESYNC)
S~ a8 OK .*
C: a9 ENABLE
S~ a9 BAD .*
C: a10 SELECT INBOX
S* a10 OK .*
C: a12 ID NIL
S~ \* ID (NIL|\(.*\))
S~ a12 OK .*
C: a13 LOGOUT
S~ \* BYE .*
S~ a13 OK .*
