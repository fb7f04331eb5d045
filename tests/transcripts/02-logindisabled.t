# allowplaintext: no -> LOGINDISABLED on the plain port until STARTTLS (RFC 9051 6.2.3, 7.2.2)
@config allowplaintext no
@user alice secret
@connect plain
S~ \* OK .*
C: a1 CAPABILITY
S~ \* CAPABILITY(?=.* LOGINDISABLED( |$))(?=.* STARTTLS( |$))(?!.* AUTH=PLAIN( |$)).*
S~ a1 OK .*
C: a2 LOGIN alice secret
S~ a2 (NO|BAD) .*
C: a3 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==
S~ a3 (NO|BAD) .*
C: a4 STARTTLS
S~ a4 OK .*
C: a5 CAPABILITY
S~ \* CAPABILITY(?!.* LOGINDISABLED( |$))(?!.* STARTTLS( |$))(?=.* AUTH=PLAIN( |$)).*
S~ a5 OK .*
C: a6 LOGIN alice secret
S~ a6 OK .*
C: a7 LOGOUT
S~ \* BYE .*
S~ a7 OK .*
@eof
# implicit TLS port: login allowed at once
@connect tls t
S~ \* OK .*
C: b1 CAPABILITY
S~ \* CAPABILITY(?!.* LOGINDISABLED( |$))(?!.* STARTTLS( |$))(?=.* AUTH=PLAIN( |$)).*
S~ b1 OK .*
C: b2 LOGIN alice secret
S~ b2 OK .*
C: b3 LOGOUT
S~ \* BYE .*
S~ b3 OK .*
