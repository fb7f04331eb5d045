# URLAUTH=BINARY (RFC 5524): URLFETCH (url BINARY / BODY /
# BODYPARTSTRUCTURE), the decoded content, literal8 for NUL, NIL for an
# unknown transfer encoding and for invalid URLs.
@config servername mail.example.org
@user alice secret
@sleepless
@msg m1
Subject: parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain
Content-Transfer-Encoding: base64

SGVsbG8sIHdvcmxkIQ==
--XX
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAEC
--XX
Content-Type: image/png
Content-Transfer-Encoding: x-blurdybloop

zzz
--XX--
@end
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY .* URLAUTH=BINARY .*
S~ a2 OK .*
C: a3 APPEND INBOX {%m1}
S~ a3 OK .*
C: a4 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=anonymous" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=2;urlauth=anonymous" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=3;urlauth=anonymous" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=9;urlauth=anonymous" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=1/;partial=7.5;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<P1>[^"]*)" "(?P<P2>[^"]*)" "(?P<P3>[^"]*)" "(?P<P9>[^"]*)" "(?P<PP>[^"]*)"
S~ a4 OK .*
# BINARY: decoded; BODY: as stored; BODYPARTSTRUCTURE shows the identity encoding with BINARY
C: b1 URLFETCH ("${P1}" BINARY)
S~ \* URLFETCH "[^"]*" \(BINARY \{13\}\\r\\nHello, world!\)
S~ b1 OK .*
C: b2 URLFETCH ("${P1}" BODY BODYPARTSTRUCTURE)
S~ \* URLFETCH "[^"]*" \(BODYPARTSTRUCTURE \("TEXT" "PLAIN" NIL NIL NIL "BASE64" 20 0\)\) \(BODY \{20\}\\r\\nSGVsbG8sIHdvcmxkIQ==\)
S~ b2 OK .*
C: b3 URLFETCH ("${P1}" BINARY BODYPARTSTRUCTURE)
S~ \* URLFETCH "[^"]*" \(BODYPARTSTRUCTURE \("TEXT" "PLAIN" NIL NIL NIL "BINARY" 13 0\)\) \(BINARY \{13\}\\r\\nHello, world!\)
S~ b3 OK .*
C: b4 URLFETCH ("${P1}" BODYPARTSTRUCTURE)
S~ \* URLFETCH "[^"]*" \(BODYPARTSTRUCTURE \("TEXT" "PLAIN" NIL NIL NIL "BASE64" 20 0\)\)
S~ b4 OK .*
# NUL octets: literal8 (RFC 5524 3.1)
C: b5 URLFETCH ("${P2}" BINARY)
S~ \* URLFETCH "[^"]*" \(BINARY ~\{3\}\\r\\n\x00\x01\x02\)
S~ b5 OK .*
# an unknown transfer encoding: BINARY NIL, the structure as it is
C: b6 URLFETCH ("${P3}" BODYPARTSTRUCTURE BINARY)
S~ \* URLFETCH "[^"]*" \(BODYPARTSTRUCTURE \("IMAGE" "PNG" NIL NIL NIL "X-BLURDYBLOOP" 3\)\) \(BINARY NIL\)
S~ b6 OK .*
# no such part: NIL instead of the metadata
C: b7 URLFETCH ("${P9}" BODYPARTSTRUCTURE BODY)
S~ \* URLFETCH "[^"]*" NIL
S~ b7 OK .*
# PARTIAL of the decoded content; the simple form and "(url)" are unextended
C: b8 URLFETCH ("${PP}" BINARY) "${P1}" ("${P1}")
S~ \* URLFETCH "[^"]*" \(BINARY \{5\}\\r\\nworld\)
S~ \* URLFETCH "[^"]*" \{20\}\\r\\nSGVsbG8sIHdvcmxkIQ==
S~ \* URLFETCH "[^"]*" \{20\}\\r\\nSGVsbG8sIHdvcmxkIQ==
S~ b8 OK .*
# a section that is no body part: RFC 5524 5 wants a body all the same
C: b9 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=header;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<PH>[^"]*)"
S~ b9 OK .*
C: b10 URLFETCH ("${PH}" BODYPARTSTRUCTURE)
S~ \* URLFETCH "[^"]*" \(BODYPARTSTRUCTURE \("TEXT" "PLAIN" NIL NIL NIL "7BIT" \d+ \d+\)\)
S~ b10 OK .*
# syntax
C: c1 URLFETCH ("${P1}" BINARY BODY)
S~ c1 BAD .*
C: c2 URLFETCH ("${P1}" BINARY BINARY)
S~ c2 BAD .*
C: c3 URLFETCH ("${P1}" FOO)
S~ c3 BAD .*
C: c4 URLFETCH ("${P1}" BINARY
S~ c4 BAD .*
C: c5 LOGOUT
S* c5 OK .*
