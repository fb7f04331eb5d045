# AUTHENTICATE (RFC 9051 6.2.2, RFC 4959 SASL-IR, RFC 4616 PLAIN)
@user alice secret
# SASL-IR
@connect plain
S~ \* OK .*
C: a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==
S~ a1 OK .*
C: a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==
S~ a2 BAD .*
C: a3 LOGOUT
S~ \* BYE .*
S~ a3 OK .*
# with a continuation
@connect plain c2
S~ \* OK .*
C: b1 AUTHENTICATE PLAIN
S~ \+ ?
C: AGFsaWNlAHNlY3JldA==
S* b1 OK .*
C: b2 SELECT INBOX
S* b2 OK .*
# authorization identity equal to the user is allowed
@connect plain c3
S~ \* OK .*
C: c1 AUTHENTICATE PLAIN YWxpY2UAYWxpY2UAc2VjcmV0
S* c1 OK .*
# wrong password
@connect plain c4
S~ \* OK .*
C: d1 AUTHENTICATE PLAIN AGFsaWNlAHdyb25n
S~ d1 NO \[AUTHENTICATIONFAILED\].*
# bad base64 in the continuation
C: d2 AUTHENTICATE PLAIN
S~ \+ ?
C: !!!notbase64!!!
S~ d2 BAD .*
# client cancels with "*" (RFC 9051 6.2.2)
C: d3 AUTHENTICATE PLAIN
S~ \+ ?
C: *
S~ d3 BAD .*
# unknown mechanism
C: d4 AUTHENTICATE X-UNKNOWN-MECH
S~ d4 NO .*
# bad base64 as initial response
C: d5 AUTHENTICATE PLAIN ***
S~ d5 BAD .*
# still not authenticated
C: d7 SELECT INBOX
S~ d7 BAD .*
C: d8 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==
S* d8 OK .*
C: d9 LOGOUT
S~ \* BYE .*
S~ d9 OK .*
@eof
