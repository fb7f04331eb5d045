# LOGIN (RFC 9051 6.2.3, RFC 5530 AUTHENTICATIONFAILED)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice wrong
S~ a1 NO \[AUTHENTICATIONFAILED\].*
C: a2 LOGIN nosuchuser secret
S~ a2 NO \[AUTHENTICATIONFAILED\].*
C: a3 LOGIN alice
S~ a3 BAD .*
C: a4 LOGIN
S~ a4 BAD .*
C: a5 LOGIN "alice" "secret"
S~ a5 OK .*
C: a6 LOGIN alice secret
S~ a6 BAD .*
C: a7 LOGOUT
S~ \* BYE .*
S~ a7 OK .*
@eof
# literal password
@connect plain c2
S~ \* OK .*
C: b1 LOGIN {5}
S~ \+ .*
C: alice {6}
S~ \+ .*
C: secret
S~ b1 OK .*
C: b2 LOGOUT
S~ \* BYE .*
S~ b2 OK .*
# a quoted password with an escaped quote and backslash (never valid here)
@connect plain c3
S~ \* OK .*
C: c1 LOGIN "alice" "se\"cr\\et"
S~ c1 NO \[AUTHENTICATIONFAILED\].*
C: c2 LOGIN alice secret
S~ c2 OK .*
