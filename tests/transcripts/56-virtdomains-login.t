# Logins under virtdomains (Cyrus): a name without a domain and a name in
# defaultdomain are the same user (stored without the domain); a name in
# another domain is a different user.
@config virtdomains yes
@config defaultdomain example.com
@user bob secret
@user bob@other.example other
@sleepless
@connect plain
S~ \* OK .*
C: a1 LOGIN bob secret
S~ a1 OK .*
C: a2 CREATE FromBob
S~ a2 OK .*
C: a3 LOGOUT
S~ \* BYE .*
S~ a3 OK .*
@eof
# bob@example.com is bob
@connect plain c2
S~ \* OK .*
C: b1 LOGIN bob@example.com secret
S~ b1 OK .*
C: b2 LIST "" FromBob
S~ \* LIST \(.*\) "/" FromBob
S~ b2 OK .*
C: b3 LOGOUT
S~ \* BYE .*
S~ b3 OK .*
@eof
# case does not matter, in the local part or the domain
@connect plain c3
S~ \* OK .*
C: c1 LOGIN BOB@Example.COM secret
S~ c1 OK .*
C: c2 LIST "" FromBob
S~ \* LIST \(.*\) "/" FromBob
S~ c2 OK .*
# AUTHENTICATE PLAIN with the qualified name (authcid bob@example.com)
@connect plain c4
S~ \* OK .*
C: d1 AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLmNvbQBzZWNyZXQ=
S~ d1 OK .*
C: d2 LIST "" FromBob
S~ \* LIST \(.*\) "/" FromBob
S~ d2 OK .*
# bob@other.example is somebody else, with his own password and store
@connect plain c5
S~ \* OK .*
C: e1 LOGIN bob@other.example secret
S~ e1 NO \[AUTHENTICATIONFAILED\].*
C: e2 LOGIN bob@other.example other
S~ e2 OK .*
C: e3 LIST "" FromBob
S~ e3 OK .*
C: e4 LOGOUT
S~ \* BYE .*
S~ e4 OK .*
@eof
# and the default-domain bob cannot use the other one's password
@connect plain c6
S~ \* OK .*
C: f1 LOGIN bob@example.com other
S~ f1 NO \[AUTHENTICATIONFAILED\].*
C: f2 LOGIN bob@ secret
S~ f2 NO \[AUTHENTICATIONFAILED\].*
