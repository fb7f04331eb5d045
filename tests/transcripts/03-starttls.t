# STARTTLS (RFC 9051 6.2.1): only in not-authenticated state, only once,
# no arguments; capabilities must be re-read afterwards.
@user alice secret
@connect plain
S~ \* OK .*
C: a0 STARTTLS now
S~ a0 BAD .*
C: a1 STARTTLS
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?!.* STARTTLS( |$)).*IMAP4rev1.*
S~ a2 OK .*
C: a3 STARTTLS
S~ a3 (BAD|NO) .*
C: a4 LOGIN alice secret
S~ a4 OK .*
C: a5 LOGOUT
S~ \* BYE .*
S~ a5 OK .*
@connect plain p2
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 STARTTLS
S~ b2 (BAD|NO) .*
C: b3 NOOP
S~ b3 OK .*
C: b4 LOGOUT
S~ \* BYE .*
S~ b4 OK .*
