# Review: command syntax (RFC 9051 2.2.1, 9): tags, case-insensitive
# command names, quoted / literal / LITERAL+ arguments
@user alice secret
@connect plain
S~ \* OK .*
# "]" is an ASTRING-CHAR and so valid in a tag; "+" is not
C: a]b NOOP
S~ a\]b OK .*
C: a.b-c_d!e NOOP
S~ a\.b-c_d!e OK .*
C: a+b NOOP
S~ (\* |a\+b )BAD .*
C: a{b NOOP
S~ (\* |a\{b )?BAD .*
C: noop
S~ (\* |noop )BAD .*
C: x1 cApAbIlItY
S~ \* CAPABILITY .*
S~ x1 OK .*
# LOGIN with a literal user name and a quoted password (LITERAL- allows
# non-synchronizing literals up to 4096 octets before authentication)
C: x2 LOGIN {%=alice+} "secret"
S~ x2 OK .*
C: x3 LOGOUT
S~ \* BYE .*
S~ x3 OK .*
@eof
@connect plain
S~ \* OK .*
C: y1 login {%=alice} {%=secret}
S~ y1 OK .*
C: y2 select "inbox"
S* y2 OK \[READ-WRITE\] .*
C: y3 Fetch 1:* Flags
S~ y3 BAD .*
C: y4 uid fetch 1:* (flags)
S~ y4 OK .*
C: y5 LOGIN alice secret
S~ y5 BAD .*
C: y6 STARTTLS
S~ y6 BAD .*
C: y7 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==
S~ y7 BAD .*
C: y8 logout
S~ \* BYE .*
S~ y8 OK .*
