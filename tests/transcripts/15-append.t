# APPEND (RFC 9051 6.3.12), APPENDUID (RFC 4315), TRYCREATE, TOOBIG,
# LITERAL+ (RFC 7888), MULTIAPPEND (RFC 3502)
@config maxmessagesize 2048
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 APPEND INBOX {%simple.eml}
S~ a2 OK \[APPENDUID [1-9][0-9]* 1\] .*
C: a3 APPEND INBOX (\Seen \Flagged $Important) "05-Oct-2020 14:30:00 +0200" {%second.eml}
S~ a3 OK \[APPENDUID [1-9][0-9]* 2\] .*
C: a4 APPEND INBOX () {%simple.eml+}
S~ a4 OK \[APPENDUID [1-9][0-9]* 3\] .*
C: a5 APPEND nosuch (\Seen) {%simple.eml+}
S~ a5 NO \[TRYCREATE\] .*
C: a6 APPEND nosuch {%simple.eml+}
S~ a6 NO \[TRYCREATE\] .*
C: a7 SELECT INBOX
S* a7 OK .*
C: a8 FETCH 1:3 (FLAGS INTERNALDATE RFC822.SIZE)
S~ \* 1 FETCH \(FLAGS \(\\Recent\) INTERNALDATE "[ 0-9]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}" RFC822.SIZE 320\)
S~ \* 2 FETCH \(FLAGS \((?=[^)]*\\Seen)(?=[^)]*\\Flagged)(?=[^)]*\$Important)[^)]*\) INTERNALDATE "05-Oct-2020 14:30:00 \+0200" RFC822.SIZE 203\)
S~ \* 3 FETCH \(FLAGS \(\\Recent\) INTERNALDATE "[ 0-9]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}" RFC822.SIZE 320\)
S~ a8 OK .*
# the body round-trips byte for byte
C: a9 FETCH 2 BODY.PEEK[]
S: * 2 FETCH (BODY[] {203}\r\nFrom: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: second message zebra\r\nDate: Wed, 9 Feb 1994 12:00:00 +0100\r\nMessage-Id: <second@example.org>\r\n\r\nThe quick brown fox jumps over the lazy dog.\r\n)
S~ a9 OK .*
# APPEND to the selected mailbox: EXISTS is reported (RFC 9051 6.3.12)
C: a10 APPEND INBOX {%simple.eml}
S* \* 4 EXISTS
S* a10 OK \[APPENDUID [1-9][0-9]* 4\] .*
# TOOBIG: synchronizing literal larger than maxmessagesize is refused before data
C: b1 APPEND INBOX {4096}
S~ b1 NO \[TOOBIG\] .*
C: b2 NOOP
S~ b2 OK .*
# non-synchronizing literal over the limit: LITERAL- allows only 4096; the data is
# consumed and the command rejected
C: b3 APPEND INBOX {2049+}
C: %{x*2049}
S~ b3 (NO \[TOOBIG\]|BAD) .*
C: b4 NOOP
S~ b4 OK .*
# bad arguments
C: b6 APPEND INBOX "99-Foo-2020 00:00:00 +0000" {%simple.eml+}
S~ b6 BAD .*
C: b7 APPEND
S~ b7 BAD .*
C: b8 APPEND INBOX (\Seen) {%simple.eml+} extra
S~ b8 BAD .*
# MULTIAPPEND: all or nothing, APPENDUID with a UID set
C: c1 APPEND INBOX {%simple.eml} (\Draft) {%second.eml}
S* c1 OK \[APPENDUID [1-9][0-9]* 5:6\] .*
C: c2 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 6)
S~ c2 OK .*
C: c3 LOGOUT
S~ \* BYE .*
S~ c3 OK .*
