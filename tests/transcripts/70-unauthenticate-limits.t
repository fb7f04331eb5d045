# UNAUTHENTICATE releases the login slot (maxlogins_per_user): another
# connection may log in as the user again (RFC 8437 3).
@config maxlogins_per_user 1
@user alice secret
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 NO \[LIMIT\] .*
@use A
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: a3 UNAUTHENTICATE
S~ a3 OK .*
@use B
C: b2 LOGIN alice secret
S~ b2 OK .*
@use A
C: a4 LOGIN alice secret
S~ a4 NO \[LIMIT\] .*
@use B
C: b3 UNAUTHENTICATE
S~ b3 OK .*
C: b4 LOGOUT
S~ \* BYE .*
S~ b4 OK .*
@eof
@use A
C: a5 LOGIN alice secret
S~ a5 OK .*
C: a6 LOGOUT
S~ \* BYE .*
S~ a6 OK .*
@eof
