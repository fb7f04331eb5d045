# PREVIEW (RFC 8970): the FETCH item and its LAZY modifier. The text is
# computed at APPEND time (mime-preview.c): the first text/plain part, else
# text/html reduced to text, transfer-decoded, converted from its charset,
# white space collapsed, at most 200 characters (cut on a character
# boundary); "" when there is no text part. Non-ASCII text comes as a literal.
@user alice secret
@msg pv1
From: a@example.org
Subject: plain
Content-Type: text/plain; charset=us-ascii

Hello   world,
	this is    a test.

Bye
@end
@msg pv2
Subject: alternative
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html; charset=utf-8

<p>HTML version</p>
--b1
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 au lait =
soon
--b1--
@end
@msg pv3
Subject: html
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PGh0bWw+PGhlYWQ+PHRpdGxlPlQ8L3RpdGxlPjxzdHlsZT5we2NvbG9yOnJlZH08L3N0eWxlPjwv
aGVhZD48Ym9keT48cD5GaXNoICZhbXA7IGNoaXBzPC9wPjwhLS0gaGlkZGVuIC0tPjxwPiYjODM2
NDs1Jm5ic3A7b25seTwvcD48L2JvZHk+PC9odG1sPg==
@end
@msg pv4
Subject: image only
MIME-Version: 1.0
Content-Type: image/png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
@end
@msg pv5
Subject: long
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
@end
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* PREVIEW( |$)).*
S~ a2 OK .*
C: a3 APPEND INBOX {%pv1}
S~ a3 OK .*
C: a4 APPEND INBOX {%pv2}
S~ a4 OK .*
C: a5 APPEND INBOX {%pv3}
S~ a5 OK .*
C: a6 APPEND INBOX {%pv4}
S~ a6 OK .*
C: a7 APPEND INBOX {%pv5}
S~ a7 OK .*
C: a8 SELECT INBOX
S* a8 OK .*
# RFC 8970 section 5, example 1: PREVIEW alone and with other items
C: b1 FETCH 1 (PREVIEW)
S: * 1 FETCH (PREVIEW "Hello world, this is a test. Bye")
S~ b1 OK .*
C: b2 FETCH 2 (RFC822.SIZE PREVIEW)
S~ \* 2 FETCH \(RFC822.SIZE \d+ PREVIEW \{18\}\\r\\nCafé au lait soon\)
S~ b2 OK .*
C: b3 FETCH 3 PREVIEW
S: * 3 FETCH (PREVIEW {22}\r\nFish & chips €5 only)
S~ b3 OK .*
# no text part: the empty string (RFC 8970 3.2), not NIL
C: b4 FETCH 4 (PREVIEW)
S: * 4 FETCH (PREVIEW "")
S~ b4 OK .*
# at most 200 characters (RFC 8970 3.3's SHOULD), never a cut character
C: b5 FETCH 5 (PREVIEW)
S: * 5 FETCH (PREVIEW {400}\r\néééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé)
S~ b5 OK .*
# example 2: LAZY (these were stored at APPEND: returned, not NIL)
C: b6 FETCH 1:4 (UID PREVIEW (LAZY))
S: * 1 FETCH (UID 1 PREVIEW "Hello world, this is a test. Bye")
S: * 2 FETCH (UID 2 PREVIEW {18}\r\nCafé au lait soon)
S: * 3 FETCH (UID 3 PREVIEW {22}\r\nFish & chips €5 only)
S: * 4 FETCH (UID 4 PREVIEW "")
S~ b6 OK .*
C: b7 UID FETCH 1 PREVIEW (lazy LAZY)
S: * 1 FETCH (UID 1 PREVIEW "Hello world, this is a test. Bye")
S~ b7 OK .*
# outside a list "PREVIEW (" may start the FETCH modifiers
C: b8 FETCH 1 PREVIEW (CHANGEDSINCE 0)
S~ \* OK \[HIGHESTMODSEQ \d+\].*
S~ \* 1 FETCH \(PREVIEW "Hello world, this is a test. Bye" MODSEQ \(\d+\)\)
S~ b8 OK .*
# example 3: SEARCHRES
C: b9 SEARCH RETURN (SAVE) SUBJECT html
S~ b9 OK .*
C: b10 FETCH $ (UID PREVIEW (LAZY))
S: * 3 FETCH (UID 3 PREVIEW {22}\r\nFish & chips €5 only)
S~ b10 OK .*
# COPY keeps the preview with the message
C: b11 CREATE other
S~ b11 OK .*
C: b12 COPY 1 other
S~ b12 OK .*
C: b13 EXAMINE other
S* b13 OK .*
C: b14 FETCH 1 (PREVIEW (LAZY))
S: * 1 FETCH (PREVIEW "Hello world, this is a test. Bye")
S~ b14 OK .*
# bad syntax
C: c1 FETCH 1 (PREVIEW (FOO))
S~ c1 BAD .*
C: c2 FETCH 1 (PREVIEW (LAZY)
S~ c2 BAD .*
C: c3 FETCH 1 (PREVIEW ())
S~ c3 BAD .*
C: c4 FETCH 1 (PREVIEW (LAZY FOO))
S~ c4 BAD .*
C: c5 FETCH 1 PREVIEW (LAZY
S~ c5 BAD .*
C: c6 LOGOUT
S~ \* BYE .*
S~ c6 OK .*
