# SORT and UID SORT (RFC 5256), SORT=DISPLAY (RFC 5957), ESORT (RFC 5267 3)
# with SAVE (RFC 5182). Orders computed by hand from msgs/sort-*.eml:
#   msn uid  base subject  sent date (UTC)            INTERNALDATE  size  from/display   to/display     cc
#   1   2    "x"           2024-01-01 10:00           2024-01-05    146   b / "Zed"      carol / carol@ex.org
#   2   3    "apple"       none -> INTERNALDATE 2020  2020-01-01    151   e / "Émile"    z / "Anna"
#   3   4    "X"           malformed -> INTERNALDATE  2024-01-03    276   a / a@ex.org   -              d
#   4   5    "Banana"      2024-01-01 23:30           2024-01-02    133   c / "bob"      -              a
#   5   6    ""            2024-01-01 07:00           2024-01-04     87   - / -          -
# Subjects: "Re: [list] Fwd: x (fwd)" -> "x"; "=?UTF-8?Q?Re:_X?=" -> "X" (the same
# key as "x": ties go by sequence number); "[fwd: Banana]" -> "Banana".
# Display names are RFC 2047 decoded; "Émile" casemaps to E U+0301 MILE (after
# "BOB", before "ZED").
@user alice secret
@msg m0
Subject: to be expunged

x
@end
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SORT (SUBJECT) UTF-8 ALL
S~ a2 BAD .*
C: a3 APPEND INBOX {%m0}
S~ a3 OK .*
C: a4 APPEND INBOX "05-Jan-2024 00:00:00 +0000" {%sort-1.eml}
S~ a4 OK .*
C: a5 APPEND INBOX "01-Jan-2020 00:00:00 +0000" {%sort-2.eml}
S~ a5 OK .*
C: a6 APPEND INBOX "03-Jan-2024 00:00:00 +0000" {%sort-3.eml}
S~ a6 OK .*
C: a7 APPEND INBOX "02-Jan-2024 00:00:00 +0000" {%sort-4.eml}
S~ a7 OK .*
C: a8 APPEND INBOX "04-Jan-2024 00:00:00 +0000" {%sort-5.eml}
S~ a8 OK .*
C: a9 SELECT INBOX
S* a9 OK .*
C: a10 STORE 1 +FLAGS.SILENT (\Deleted)
S~ a10 OK .*
C: a11 EXPUNGE
S: * 1 EXPUNGE
S~ a11 OK .*
C: a12 CAPABILITY
S~ \* CAPABILITY(?=.* SORT( |$))(?=.* SORT=DISPLAY( |$))(?=.* ESORT( |$)).*
S~ a12 OK .*
C: b0 FETCH 1:* (RFC822.SIZE)
S: * 1 FETCH (RFC822.SIZE 146)
S: * 2 FETCH (RFC822.SIZE 151)
S: * 3 FETCH (RFC822.SIZE 276)
S: * 4 FETCH (RFC822.SIZE 133)
S: * 5 FETCH (RFC822.SIZE 87)
S~ b0 OK .*
# every key
C: b1 SORT (SUBJECT) UTF-8 ALL
S: * SORT 5 2 4 1 3
S: b1 OK Sort completed
C: b2 SORT (DATE) UTF-8 ALL
S: * SORT 2 5 1 4 3
S~ b2 OK .*
C: b3 SORT (ARRIVAL) UTF-8 ALL
S: * SORT 2 4 3 5 1
S~ b3 OK .*
C: b4 SORT (FROM) UTF-8 ALL
S: * SORT 5 3 1 4 2
S~ b4 OK .*
C: b5 SORT (TO) US-ASCII ALL
S: * SORT 3 4 5 1 2
S~ b5 OK .*
C: b6 SORT (CC) UTF-8 ALL
S: * SORT 1 2 5 4 3
S~ b6 OK .*
C: b7 SORT (SIZE) UTF-8 ALL
S: * SORT 5 4 1 2 3
S~ b7 OK .*
C: b8 SORT (DISPLAYFROM) UTF-8 ALL
S: * SORT 5 3 4 2 1
S~ b8 OK .*
C: b9 SORT (DISPLAYTO) UTF-8 ALL
S: * SORT 3 4 5 2 1
S~ b9 OK .*
# REVERSE reverses one criterion, never the implicit sequence order
C: c1 SORT (REVERSE SUBJECT) UTF-8 ALL
S: * SORT 1 3 4 2 5
S~ c1 OK .*
C: c2 SORT (SUBJECT REVERSE DATE) UTF-8 ALL
S: * SORT 5 2 4 3 1
S~ c2 OK .*
C: c3 sort (reverse size) utf-8 all
S: * SORT 3 2 1 4 5
S~ c3 OK .*
C: c4 SORT (FROM SUBJECT) UTF-8 ALL
S: * SORT 5 3 1 4 2
S~ c4 OK .*
# search criteria as SEARCH has them (RFC 5256 3 examples)
C: d1 SORT (SUBJECT) UTF-8 SINCE 2-Jan-2024
S: * SORT 5 4 1 3
S~ d1 OK .*
C: d2 SORT (SUBJECT) US-ASCII TEXT "not in mailbox"
S: * SORT
S~ d2 OK .*
C: d3 SORT (DATE) UTF-8 SUBJECT apple
S: * SORT 2
S~ d3 OK .*
C: d4 SORT (DATE) UTF-8 FROM "mile"
S: * SORT 2
S~ d4 OK .*
C: d5 UID SORT (SUBJECT) UTF-8 ALL
S: * SORT 6 3 5 2 4
S~ d5 OK .*
C: d6 UID SORT (SIZE) UTF-8 UID 3:5
S: * SORT 5 3 4
S~ d6 OK .*
C: d7 SORT (ARRIVAL) UTF-8 2:4
S: * SORT 2 4 3
S~ d7 OK .*
# ESORT: RETURN options answered with ESEARCH, MIN/MAX in sort order,
# ALL in sort order with ranges only for ascending runs (RFC 5267 3.1, 3.2)
C: e1 SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "e1") MIN 5 MAX 3 COUNT 5 ALL 5,2,4,1,3
S~ e1 OK .*
C: e2 UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk
S: * ESEARCH (TAG "e2") UID ALL 4:5,2,6,3
S~ e2 OK .*
C: e3 SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "e3") ALL 1,3:4,2,5
S~ e3 OK .*
C: e4 SORT RETURN (COUNT) (SUBJECT) UTF-8 DELETED
S: * ESEARCH (TAG "e4") COUNT 0
S~ e4 OK .*
C: e5 SORT RETURN (MIN) (SIZE) UTF-8 ALL
S: * ESEARCH (TAG "e5") MIN 5
S~ e5 OK .*
# SAVE (RFC 5182): with MIN only the first in sort order is saved
C: f1 SORT RETURN (SAVE MIN) (DATE) UTF-8 ALL
S: * ESEARCH (TAG "f1") MIN 2
S~ f1 OK .*
C: f2 FETCH $ (UID)
S: * 2 FETCH (UID 3)
S~ f2 OK .*
# SAVE alone: no response; $ is the set of matches
C: f3 SORT RETURN (SAVE) (REVERSE SIZE) UTF-8 SINCE 3-Jan-2024
S~ f3 OK .*
C: f4 SEARCH $
S: * SEARCH 1 3 5
S~ f4 OK .*
C: f5 SORT (SUBJECT) UTF-8 UID $
S: * SORT 5 1 3
S~ f5 OK .*
# a SORT with SAVE answered NO empties $
C: f6 SORT RETURN (SAVE) (SUBJECT) X-BOGUS ALL
S~ f6 NO \[BADCHARSET \(US-ASCII UTF-8\)\] .*
C: f7 SEARCH $
S: * SEARCH
S~ f7 OK .*
# errors
C: g1 SORT (FOO) UTF-8 ALL
S~ g1 BAD .*
C: g2 SORT SUBJECT UTF-8 ALL
S~ g2 BAD .*
C: g3 SORT (SUBJECT) X-BOGUS ALL
S~ g3 NO \[BADCHARSET \(US-ASCII UTF-8\)\] .*
C: g4 SORT (REVERSE REVERSE SUBJECT) UTF-8 ALL
S~ g4 BAD .*
C: g5 SORT (REVERSE) UTF-8 ALL
S~ g5 BAD .*
C: g6 SORT () UTF-8 ALL
S~ g6 BAD .*
C: g7 SORT (SUBJECT) UTF-8
S~ g7 BAD .*
C: g8 SORT (SUBJECT)
S~ g8 BAD .*
C: g9 SORT (SUBJECT DATE UTF-8 ALL
S~ g9 BAD .*
C: g10 SORT (SUBJECT) UTF-8 BOGUSKEY
S~ g10 BAD .*
C: g11 SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL
S~ g11 BAD .*
C: g12 SORT (SUBJECT  DATE) UTF-8 ALL
S~ g12 BAD .*
C: g13 SORT (SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE) UTF-8 ALL
S~ g13 BAD .*
C: g14 SORT
S~ g14 BAD .*
# still fine afterwards
C: h1 SORT (SIZE SIZE) UTF-8 ALL
S: * SORT 5 4 1 2 3
S~ h1 OK .*
# an empty mailbox
C: i1 CREATE empty
S~ i1 OK .*
C: i2 SELECT empty
S* i2 OK .*
C: i3 SORT (SUBJECT) UTF-8 ALL
S: * SORT
S~ i3 OK .*
C: i4 SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL
S: * ESEARCH (TAG "i4") COUNT 0
S~ i4 OK .*
C: i5 UID SORT (ARRIVAL) UTF-8 ALL
S: * SORT
S~ i5 OK .*
C: z1 LOGOUT
S~ \* BYE .*
S~ z1 OK .*
