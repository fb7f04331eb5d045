# Greeting, CAPABILITY before and after login, NOOP, LOGOUT (RFC 9051 6.1, 7.2.2)
@user alice secret
@connect plain
S~ \* OK \[CAPABILITY [^]]*IMAP4rev1[^]]*\] .*
C: a1 CAPABILITY
S~ \* CAPABILITY (.* )?IMAP4rev1( .*)?
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* IMAP4rev2( |$))(?=.* STARTTLS( |$))(?=.* AUTH=PLAIN( |$))(?=.* SASL-IR( |$))(?=.* LITERAL[+-]( |$))(?=.* ENABLE( |$))(?=.* IDLE( |$))(?=.* ID( |$)).*
S~ a2 OK .*
C: a5 NOOP
S~ a5 OK .*
C: a6 LOGIN alice secret
S~ a6 OK .*
# after login: no STARTTLS, no LOGINDISABLED, no AUTH=
C: a7 CAPABILITY
S~ \* CAPABILITY(?!.* STARTTLS( |$))(?!.* LOGINDISABLED( |$))(?!.* AUTH=).* IMAP4rev1( .*)?
S~ a7 OK .*
C: b3 CAPABILITY
S~ \* CAPABILITY(?=.* NAMESPACE( |$))(?=.* UIDPLUS( |$))(?=.* MOVE( |$))(?=.* CONDSTORE( |$))(?=.* QRESYNC( |$))(?=.* ESEARCH( |$))(?=.* SEARCHRES( |$))(?=.* ID( |$))(?=.* UNSELECT( |$))(?=.* CHILDREN( |$)).*
S~ b3 OK .*
C: b4 CAPABILITY
S~ \* CAPABILITY(?=.* LIST-EXTENDED( |$))(?=.* LIST-STATUS( |$))(?=.* SPECIAL-USE( |$))(?=.* STATUS=SIZE( |$))(?=.* OBJECTID( |$))(?=.* SAVEDATE( |$))(?=.* BINARY( |$))(?=.* MULTIAPPEND( |$)).*
S~ b4 OK .*
C: a8 NOOP
S~ a8 OK .*
# CAPABILITY takes no arguments
C: a9 CAPABILITY extra
S~ a9 BAD .*
C: a10 NOOP junk
S~ a10 BAD .*
C: a11 LOGOUT
S~ \* BYE .*
S~ a11 OK .*
@eof
