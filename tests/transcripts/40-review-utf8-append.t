# Review: RFC 9755 4 (was RFC 6855 4): "If an IMAP server supports
# UTF8=ACCEPT and the IMAP client has not issued the ENABLE UTF8=ACCEPT
# command, the server MUST reject, with a NO response, an APPEND command
# that includes any 8-bit character in message header fields."
# (An IMAP4rev2 session may append such messages: RFC 9051 6.3.12.)
@user alice secret
@msg utf8hdr
Subject: café résumé
From: Jörg <j@example.com>

body
@end
# UTF8=ACCEPT enabled: accepted
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 ENABLE UTF8=ACCEPT
S: * ENABLED UTF8=ACCEPT
S~ b2 OK .*
C: b3 APPEND INBOX {%utf8hdr}
S~ b3 OK .*
C: b5 LOGOUT
S~ \* BYE .*
S~ b5 OK .*
# plain IMAP4rev1 session, nothing enabled: NO
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 APPEND INBOX {%utf8hdr}
S~ a2 NO .*
C: a3 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 1)
S~ a3 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
