# UTF8=ACCEPT (RFC 6855/9755) mailbox names, modified UTF-7 for other
# sessions; APPEND of a binary literal ~{N} (RFC 3516 4.2)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE "Entw&APw-rfe"
S~ a2 OK .*
C: a3 LIST "" Entw*
S: * LIST (\HasNoChildren) "/" Entw&APw-rfe
S~ a3 OK .*
# an invalid modified UTF-7 name is refused
C: a4 CREATE "bad&Jjo"
S~ a4 (NO|BAD) .*
@connect plain u
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 ENABLE UTF8=ACCEPT
S: * ENABLED UTF8=ACCEPT
S~ b2 OK .*
C: b3 LIST "" Entw*
S: * LIST (\HasNoChildren) "/" "Entwürfe"
S~ b3 OK .*
C: b4 CREATE "Café"
S~ b4 OK .*
@use main
C: a5 LIST "" Caf*
S: * LIST (\HasNoChildren) "/" Caf&AOk-
S~ a5 OK .*
# binary literal: 8-bit content with a NUL needs ~{N} (RFC 3516)
C+ a6 APPEND INBOX ~{49+}\r\nSubject: bin\r\nContent-Type: text/plain\r\n\r\nab\x00cd\r\n\r\n
S~ a6 (OK \[APPENDUID \d+ 1\]|NO \[UNKNOWN-CTE\]) .*
# a NUL in a normal literal is refused
C+ a7 APPEND INBOX {21+}\r\nSubject: x\r\n\r\nab\x00cd\r\n\r\n
S~ a7 (NO|BAD) .*
C: a8 NOOP
S~ a8 OK .*
C: a9 LOGOUT
S~ \* BYE .*
S~ a9 OK .*
