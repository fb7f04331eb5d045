# CATENATE (RFC 4469): APPEND built from TEXT literals and IMAP URLs
# (RFC 5092) of messages this session may read; BADURL for URLs that
# name nothing readable (bad syntax, other server, other user's URL form,
# no "r" right, gone UID, wrong UIDVALIDITY, missing part), TOOBIG over
# maxmessagesize, MULTIAPPEND with CATENATE, relative URLs.
@config maxmessagesize 4096
@config servername mail.example.org
@user alice secret
@user bob secret
@user admin secret
@config admins admin
@sleepless
@msg m1
From: a@example.org
Subject: one
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain

part one
--XX
Content-Type: text/plain

part two
--XX--
@end
@msg m2
Subject: two

world
@end
@msg t1
new body
@end
@msg t2
x
@end
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY .* CATENATE .*
S~ a2 OK .*
C: a3 APPEND INBOX {%m1}
S~ a3 OK \[APPENDUID (?P<UV>\d+) 1\] .*
C: a4 APPEND INBOX {%m2}
S~ a4 OK \[APPENDUID \d+ 2\] .*
C: a5 CREATE Drafts
S~ a5 OK .*
# RFC 4469 example 1 style: header of one message, a TEXT, a body part
C: a6 APPEND Drafts (\Draft) CATENATE (URL "/INBOX;UIDVALIDITY=${UV}/;UID=2/;section=HEADER" TEXT {%t1} URL "/INBOX/;UID=1/;SECTION=1")
S~ a6 OK \[APPENDUID \d+ 1\] .*
C: a7 SELECT Drafts
S* a7 OK .*
C: a8 FETCH 1 (FLAGS BODY.PEEK[])
S: * 1 FETCH (FLAGS (\Draft \Recent) BODY[] {34}\r\nSubject: two\r\n\r\nnew body\r\npart one)
S~ a8 OK .*
# relative to the selected mailbox (";UID="), MIME header, PARTIAL,
# HEADER.FIELDS, and an absolute URL of this server and user
C: a9 APPEND Drafts CATENATE (URL ";UID=1/;SECTION=HEADER" TEXT {%t2} URL "imap://alice@MAIL.example.org/INBOX/;UID=1/;SECTION=2.MIME" URL "/INBOX/;UID=1/;SECTION=2/;PARTIAL=5.3" URL "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)")
S* a9 OK \[APPENDUID \d+ 2\] .*
C: a10 FETCH 2 BODY.PEEK[]
S: * 2 FETCH (BODY[] {66}\r\nSubject: two\r\n\r\nx\r\nContent-Type: text/plain\r\n\r\ntwoSubject: one\r\n\r\n)
S~ a10 OK .*
# \Seen is not set on the sources (RFC 4469 3)
C: a11 STATUS INBOX (UNSEEN)
S: * STATUS INBOX (UNSEEN 2)
S~ a11 OK .*
# MULTIAPPEND (RFC 3502) with a CATENATE and a plain message: both or none
C: a12 APPEND Drafts CATENATE (URL "/INBOX/;UID=2") {%m2}
S* a12 OK \[APPENDUID \d+ 3:4\] .*
C: a13 APPEND Drafts CATENATE (URL "/INBOX/;UID=2") CATENATE (URL "/INBOX/;UID=99")
S: a13 NO [BADURL /INBOX/;UID=99] CATENATE: the URL names no readable message or part
C: a14 STATUS Drafts (MESSAGES)
S: * STATUS Drafts (MESSAGES 4)
S~ a14 OK .*
# BADURL: the first URL that fails, as sent
C: b1 APPEND Drafts CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=1")
S: b1 NO [BADURL /INBOX;UIDVALIDITY=1/;UID=1] CATENATE: the URL names no readable message or part
C: b2 APPEND Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=7")
S: b2 NO [BADURL /INBOX/;UID=1/;SECTION=7] CATENATE: the URL names no readable message or part
C: b3 APPEND Drafts CATENATE (URL "/INBOX/;UID=0")
S: b3 NO [BADURL /INBOX/;UID=0] CATENATE: the URL names no readable message
C: b4 APPEND Drafts CATENATE (URL "/INBOX/;UID=4294967296")
S: b4 NO [BADURL /INBOX/;UID=4294967296] CATENATE: the URL names no readable message
C: b5 APPEND Drafts CATENATE (URL "imap://alice@other.example.net/INBOX/;UID=1")
S: b5 NO [BADURL imap://alice@other.example.net/INBOX/;UID=1] CATENATE: the URL names no readable message
C: b6 APPEND Drafts CATENATE (URL "imap://bob@mail.example.org/INBOX/;UID=1")
S: b6 NO [BADURL imap://bob@mail.example.org/INBOX/;UID=1] CATENATE: the URL names no readable message
C: b7 APPEND Drafts CATENATE (URL "http://mail.example.org/x")
S: b7 NO [BADURL http://mail.example.org/x] CATENATE: the URL names no readable message
C: b8 APPEND Drafts CATENATE (URL "/IN%ZZBOX/;UID=1")
S: b8 NO [BADURL /IN%ZZBOX/;UID=1] CATENATE: the URL names no readable message
C: b9 APPEND Drafts CATENATE (URL "/nosuch/;UID=1")
S: b9 NO [BADURL /nosuch/;UID=1] CATENATE: the URL names no readable message
C: b10 APPEND Drafts CATENATE (URL "/INBOX")
S: b10 NO [BADURL /INBOX] CATENATE: the URL names no readable message
C: b11 APPEND Drafts CATENATE (URL "/INBOX/;UID=1]x")
S: b11 NO [BADURL /INBOX/;UID=1?x] CATENATE: the URL names no readable message
# the target is checked first
C: b12 APPEND nosuch CATENATE (URL "/INBOX/;UID=99")
S~ b12 NO \[TRYCREATE\] .*
# syntax
C: c1 APPEND Drafts CATENATE ()
S~ c1 BAD .*
C: c2 APPEND Drafts CATENATE (FOO "x")
S~ c2 BAD .*
C: c3 APPEND Drafts CATENATE (URL "/INBOX/;UID=1"
S~ c3 BAD .*
C: c4 APPEND Drafts CATENATE URL "/INBOX/;UID=1"
S~ c4 BAD .*
C: c5 APPEND Drafts CATENATE (TEXT "quoted")
S~ c5 BAD .*
C: c6 APPEND Drafts CATENATEX (URL "/INBOX/;UID=1")
S~ c6 BAD .*
# TOOBIG: the sum of the parts over maxmessagesize (4096)
C: d1 APPEND Drafts CATENATE (TEXT {3900+}
C: %{x*3898}
C:  URL "/INBOX/;UID=1" URL "/INBOX/;UID=1" URL "/INBOX/;UID=1" URL "/INBOX/;UID=1")
S~ d1 NO \[TOOBIG\] .*
C: d2 APPEND Drafts CATENATE (TEXT {5000}
S~ d2 NO \[TOOBIG\] .*
C: d3 STATUS Drafts (MESSAGES)
S: * STATUS Drafts (MESSAGES 4)
S~ d3 OK .*
# a URL into a mailbox alice may see but not read ("l" without "r")
C: e1 CREATE shared
S~ e1 OK .*
C: e2 APPEND shared {%m2}
S~ e2 OK .*
C: e3 SETACL shared bob l
S~ e3 OK .*
C: e4 CREATE open
S~ e4 OK .*
C: e5 APPEND open {%m2}
S~ e5 OK .*
C: e6 SETACL open bob lr
S~ e6 OK .*
@connect plain bob
S~ \* OK .*
C: f1 LOGIN bob secret
S~ f1 OK .*
C: f2 APPEND INBOX CATENATE (URL "/Other%20Users/alice/shared/;UID=1")
S: f2 NO [BADURL /Other%20Users/alice/shared/;UID=1] CATENATE: the URL names no readable message
C: f3 APPEND INBOX CATENATE (URL "/Other%20Users/alice/INBOX/;UID=1")
S: f3 NO [BADURL /Other%20Users/alice/INBOX/;UID=1] CATENATE: the URL names no readable message
C: f4 APPEND INBOX CATENATE (URL "/Other%20Users/alice/open/;UID=1" TEXT {%=!})
S~ f4 OK \[APPENDUID \d+ 1\] .*
C: f5 SELECT INBOX
S* f5 OK .*
C: f6 FETCH 1 BODY.PEEK[]
S: * 1 FETCH (BODY[] {24}\r\nSubject: two\r\n\r\nworld\r\n!)
S~ f6 OK .*
# relative ";UID=" needs a selected mailbox
C: f7 UNSELECT
S~ f7 OK .*
C: f8 APPEND INBOX CATENATE (URL ";UID=1")
S: f8 NO [BADURL ;UID=1] CATENATE: the URL names no readable message
C: f9 LOGOUT
S* f9 OK .*
# TEXT parts are pieces of one message: the reader's early quota check
# counts the message once, not once per TEXT literal (RFC 9208 MESSAGE)
@connect plain admin
S~ \* OK .*
C: g1 LOGIN admin secret
S~ g1 OK .*
C: g2 SETQUOTA "user/alice" (MESSAGE 9)
S~ \* QUOTA "user/alice" \(MESSAGE 8 9\)
S~ g2 OK .*
@use alice
C: g3 APPEND Drafts CATENATE (TEXT {%t1} TEXT {%t2})
S* g3 OK \[APPENDUID \d+ 5\] .*
C: g4 APPEND Drafts CATENATE (TEXT {10}
S~ g4 NO \[OVERQUOTA\] .*
