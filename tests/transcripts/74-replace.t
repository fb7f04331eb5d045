# REPLACE and UID REPLACE (RFC 8508): the new message is appended to the
# named mailbox and the old one expunged from the selected mailbox as one
# action; APPENDUID in an untagged OK before the EXPUNGE (4.3); the error
# rules of APPEND (TRYCREATE, TOOBIG) and of UID STORE/EXPUNGE (rights,
# read-only), a message that does not exist, UIDONLY (RFC 9586).
@config admins admin
@user alice secret
@user bob secret
@user carol secret
@user admin secret
@msg d1
Subject: draft 1

first draft
@end
@msg d2
Date: Thu, 1 Jan 2015 00:05:00 -0500 (EST)
From: Fritz Schmidt <fritz.ze@example.org>
Subject: happy new year !!
To: miss.mitzy@example.org
Message-Id: <B238822388-0100000@example.org>
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

Just saw the best fireworks show. Wish you were here.
@end
@msg d3
Subject: draft 3

Just saw the best fireworks show. Wish you were here.
Hopefully next year you can join us.
@end
@msg big
Subject: big

xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
@end
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* REPLACE( |$)).*
S~ a2 OK .*
C: a3 CREATE Drafts
S~ a3 OK .*
C: a4 CREATE Sent
S~ a4 OK .*
C: a5 APPEND Drafts (\Draft) {%d1}
S~ a5 OK \[APPENDUID (?P<uv>\d+) 1\] .*
C: a6 APPEND Drafts (\Draft) {%d1}
S~ a6 OK .*
# not in the selected state
C: a7 REPLACE 1 Drafts {%=x}
S~ a7 BAD .*
C: a8 SELECT Drafts
S* a8 OK .*
# RFC 8508 3.2 example: REPLACE by message number, into the same mailbox
C: b1 REPLACE 1 Drafts (\Seen \Draft) {%d2}
S: * OK [APPENDUID ${uv} 3] Replacement Message ready
S: * 1 EXPUNGE
S: * 2 EXISTS
S~ \* \d+ RECENT
S~ b1 OK .*
C: b2 UID FETCH 1:* (FLAGS ENVELOPE)
S~ \* 1 FETCH \(UID 2 FLAGS \(\\Draft \\Recent\) ENVELOPE \(NIL \"draft 1\" .*
S~ \* 2 FETCH \(UID 3 FLAGS \(\\Seen \\Draft \\Recent\) ENVELOPE \("Thu, 1 Jan 2015 00:05:00 -0500 \(EST\)" "happy new year !!" .*
S~ b2 OK .*
# 3.3 example: UID REPLACE, a LITERAL+ literal
C: b3 UID REPLACE 3 Drafts (\Seen \Draft) {%d3+}
S: * OK [APPENDUID ${uv} 4] Replacement Message ready
S: * 2 EXPUNGE
S: * 2 EXISTS
S~ \* \d+ RECENT
S~ b3 OK .*
C: b4 UID SEARCH ALL
S: * SEARCH 2 4
S~ b4 OK .*
# into another mailbox (a draft becomes a sent message), binary literal
C: b5 REPLACE 2 Sent ~{%d1}
S~ \* OK \[APPENDUID \d+ 1\] Replacement Message ready
S: * 2 EXPUNGE
S~ b5 OK .*
C: b6 STATUS Sent (MESSAGES)
S: * STATUS Sent (MESSAGES 1)
S~ b6 OK .*
C: b7 UID SEARCH ALL
S: * SEARCH 2
S~ b7 OK .*
# errors: nothing changes
# refused before the literal is read (as APPEND): sent as LITERAL+
C: c1 REPLACE 1 Nonexistent {%d1+}
S~ c1 NO \[TRYCREATE\] .*
C: c2 UID REPLACE 99 Drafts {%d1}
S~ c2 NO .*
C: c3 REPLACE 5 Drafts {%d1}
S~ c3 BAD .*
C: c4 REPLACE 1:2 Drafts {%d1}
S~ c4 BAD .*
C: c5 REPLACE 1 Drafts {%d1} {%d1}
S~ c5 BAD .*
C: c6 REPLACE 1 Drafts {0+}
C:
S~ c6 NO \[CANNOT\] .*
C: c7 REPLACE $ Drafts {%d1}
S~ c7 BAD .*
C: c8 UID SEARCH ALL
S: * SEARCH 2
S~ c8 OK .*
C: c9 STATUS Sent (MESSAGES)
S: * STATUS Sent (MESSAGES 1)
S~ c9 OK .*
# read-only
C: d1 EXAMINE Drafts
S* d1 OK .*
C: d2 REPLACE 1 Drafts {%d1}
S~ d2 NO \[READ-ONLY\] .*
# rights: bob may insert into Sent but not expunge from alice's Drafts
C: d3 SETACL Drafts bob lrs
S~ d3 OK .*
C: d4 SETACL Sent bob lrsi
S~ d4 OK .*
C: d5 SETACL Sent2 bob lrs
S~ d5 NO .*
C: d6 CREATE Drafts2
S~ d6 OK .*
C: d7 SETACL Drafts2 bob lrstei
S~ d7 OK .*
C: d8 APPEND Drafts2 {%d1}
S~ d8 OK .*
C: d9 APPEND Drafts2 {%d1}
S~ d9 OK .*
@connect plain bobc
S~ \* OK .*
C: e1 LOGIN bob secret
S~ e1 OK .*
C: e2 SELECT "Other Users/alice/Drafts"
S* e2 OK .*
C: e3 REPLACE 1 "Other Users/alice/Sent" {%d1+}
S~ e3 NO \[NOPERM\] .*
C: e4 SELECT "Other Users/alice/Drafts2"
S* e4 OK .*
# no "i" on the target (visible: NOPERM)
C: e5 REPLACE 1 "Other Users/alice/Drafts" {%d1+}
S~ e5 NO \[NOPERM\] .*
# into the selected mailbox of alice's store (one transaction there)
C: e5b REPLACE 1 "Other Users/alice/Drafts2" {%d3}
S~ \* OK \[APPENDUID \d+ 3\] Replacement Message ready
S: * 1 EXPUNGE
S: * 2 EXISTS
S* e5b OK .*
C: e5c UID SEARCH ALL
S: * SEARCH 2 3
S~ e5c OK .*
# into a mailbox of bob's own store: append there, then expunge here
C: e6 REPLACE 1 INBOX {%d3}
S~ \* OK \[APPENDUID \d+ 1\] Replacement Message ready
S: * 1 EXPUNGE
S~ e6 OK .*
C: e7 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 1)
S~ e7 OK .*
# UIDONLY: the message-number form is refused
C: e8 ENABLE UIDONLY
S~ \* ENABLED UIDONLY
S~ e8 OK .*
C: e9 REPLACE 1 INBOX {%d1}
S~ e9 BAD \[UIDREQUIRED\] .*
C: e10 LOGOUT
S~ \* BYE .*
S~ e10 OK .*
@use main
C: f1 STATUS Drafts2 (MESSAGES)
S: * STATUS Drafts2 (MESSAGES 1)
S~ f1 OK .*
# QRESYNC (RFC 8508 4.5): the replaced message is reported as VANISHED, as
# by UID EXPUNGE; the new one has its own EMAILID (4.6)
C: g1 ENABLE QRESYNC
S~ \* ENABLED QRESYNC
S* g1 OK .*
C: g2 SELECT Drafts
S* g2 OK .*
C: g3 UID FETCH 2 (EMAILID)
S~ \* 1 FETCH \(UID 2 EMAILID \((?P<old>M[0-9a-f]+)\)\)
S~ g3 OK .*
C: g4 UID REPLACE 2 Drafts {%d2}
S~ \* OK \[APPENDUID \d+ 5\] Replacement Message ready
S: * VANISHED 2
S: * 1 EXISTS
S~ \* \d+ RECENT
S~ g4 OK .*
C: g5 UID FETCH 5 (EMAILID)
S~ \* 1 FETCH \(UID 5 EMAILID \((?!${old}\))M[0-9a-f]+\)\)
S~ g5 OK .*
C: f2 LOGOUT
S~ \* BYE .*
S~ f2 OK .*
# quota: only the net change counts (RFC 8508 3.4)
@connect plain adm
S~ \* OK .*
C: h1 LOGIN admin secret
S~ h1 OK .*
C: h2 SETQUOTA "user/carol" (STORAGE 1 MESSAGE 1)
S~ \* QUOTA .*
S~ h2 OK .*
@connect plain carol
S~ \* OK .*
C: i1 LOGIN carol secret
S~ i1 OK .*
C: i2 APPEND INBOX {%big}
S~ i2 OK .*
C: i3 SELECT INBOX
S* i3 OK .*
C: i4 APPEND INBOX {%big+}
S~ i4 NO \[OVERQUOTA\] .*
C: i5 REPLACE 1 INBOX {%big}
S~ \* OK \[APPENDUID \d+ 2\] Replacement Message ready
S: * 1 EXPUNGE
S: * 1 EXISTS
S~ \* \d+ RECENT
S~ i5 OK .*
C: i6 GETQUOTAROOT INBOX
S~ \* QUOTAROOT .*
S: * QUOTA "user/carol" (STORAGE 1 1 MESSAGE 1 1)
S~ i6 OK .*

# seq-number "*" (the last message, RFC 9051 seq-number), checked before
# the literal is read as well as after
C: j1 REPLACE * INBOX {%d1}
S~ \* OK \[APPENDUID \d+ 3\] Replacement Message ready
S: * 1 EXPUNGE
S: * 1 EXISTS
S~ \* \d+ RECENT
S~ j1 OK .*
C: j2 UID SEARCH ALL
S: * SEARCH 3
S~ j2 OK .*
