# Review: APPEND (RFC 9051 6.3.12), MULTIAPPEND atomicity (RFC 3502 6.3.11:
# if any message fails none is appended), APPENDLIMIT / TOOBIG (RFC 7889),
# LITERAL- (RFC 7888 4: a non-synchronizing literal over 4096 octets is
# rejected), date-time forms (date-day-fixed allows " 7" and "07")
@user alice secret
@connect plain
S~ \* OK .*
C+ l0 LOGIN {5000+}\r\n
S~ l0 BAD .*
@close
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# second message has an invalid flag: nothing is appended
C+ m1 APPEND INBOX {10+}\r\nabc\r\n\r\nxyz (\\Bogus) {10+}\r\ndef\r\n\r\nxyz\r\n
S~ m1 (BAD|NO) .*
# second message is empty
C+ m2 APPEND INBOX {10+}\r\nabc\r\n\r\nxyz {0+}\r\n\r\n
S~ m2 (OK|NO) .*
# second message has an impossible date
C+ m3 APPEND INBOX {10+}\r\nabc\r\n\r\nxyz (\\Seen) "31-Feb-2020 10:00:00 +0000" {10+}\r\ndef\r\n\r\nxyz\r\n
S~ m3 (BAD|NO) .*
# the synchronizing literal of the second message is too big: the server
# refuses it instead of sending "+"
C+ m4 APPEND INBOX {10+}\r\nabc\r\n\r\nxyz {60000000}\r\n
S~ m4 NO \[TOOBIG\] .*
C: m5 STATUS INBOX (MESSAGES UIDNEXT)
S~ \* STATUS INBOX \(MESSAGES 0 UIDNEXT 1\)|\* STATUS INBOX \(MESSAGES 1 UIDNEXT 2\)
S~ m5 OK .*
C: d1 APPEND INBOX (\Seen) " 7-Feb-1994 21:52:25 -0800" {%simple.eml+}
S~ d1 OK \[APPENDUID [0-9]+ [0-9]+\] .*
C: d2 APPEND INBOX (\Seen) "07-Feb-1994 21:52:25 -0800" {%simple.eml+}
S~ d2 OK \[APPENDUID [0-9]+ [0-9]+\] .*
C: d3 APPEND INBOX "07-Feb-1994 21:52:25" {%simple.eml+}
S~ d3 BAD .*
C: d4 SELECT INBOX
S* d4 OK .*
C: d5 FETCH 1:* (INTERNALDATE)
S* \* [0-9]+ FETCH \(INTERNALDATE "( 7|07)-Feb-1994 21:52:25 -0800"\)
S* d5 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
