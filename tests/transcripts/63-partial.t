# PARTIAL (RFC 9394): the SEARCH/SORT return option with positive and
# negative ranges, its interaction with MIN/MAX/COUNT/SAVE (3.2, table 1),
# the UID FETCH modifier (3.3, 3.4) and the error cases.
# Messages: UIDs 1..8 (UID 3 expunged, so 7 messages: MSN 1..7 =
# UIDs 1,2,4,5,6,7,8); UIDs 5 and 7 \Seen.
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX simple.eml \Seen
@append INBOX multipart.eml
@append INBOX simple.eml \Seen
@append INBOX second.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* PARTIAL( |$)).*
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
C: a4 STORE 3 +FLAGS.SILENT (\Deleted)
S~ a4 OK .*
C: a5 EXPUNGE
S: * 3 EXPUNGE
S~ a5 OK .*
# positive ranges: the first results in mailbox order
C: p1 UID SEARCH RETURN (PARTIAL 1:3) ALL
S: * ESEARCH (TAG "p1") UID PARTIAL (1:3 1:2,4)
S: p1 OK Search completed
C: p2 SEARCH RETURN (PARTIAL 3:1) ALL
S: * ESEARCH (TAG "p2") PARTIAL (3:1 1:3)
S: p2 OK Search completed
# spanning the end: what exists; wholly beyond: NIL
C: p3 UID SEARCH RETURN (PARTIAL 6:100) ALL
S: * ESEARCH (TAG "p3") UID PARTIAL (6:100 7:8)
S: p3 OK Search completed
C: p4 UID SEARCH RETURN (PARTIAL 8:9) ALL
S: * ESEARCH (TAG "p4") UID PARTIAL (8:9 NIL)
S: p4 OK Search completed
# negative ranges: -1 is the last result (RFC 9394 3.1)
C: p5 UID SEARCH RETURN (PARTIAL -1:-3) ALL
S: * ESEARCH (TAG "p5") UID PARTIAL (-1:-3 6:8)
S: p5 OK Search completed
C: p6 UID SEARCH RETURN (PARTIAL -3:-1) UNSEEN
S: * ESEARCH (TAG "p6") UID PARTIAL (-3:-1 4,6,8)
S: p6 OK Search completed
C: p7 UID SEARCH RETURN (PARTIAL -5:-100) ALL
S: * ESEARCH (TAG "p7") UID PARTIAL (-5:-100 1:2,4)
S: p7 OK Search completed
C: p8 SEARCH RETURN (PARTIAL -8:-9) ALL
S: * ESEARCH (TAG "p8") PARTIAL (-8:-9 NIL)
S: p8 OK Search completed
C: p9 SEARCH RETURN (PARTIAL 1:10) DELETED
S: * ESEARCH (TAG "p9") PARTIAL (1:10 NIL)
S: p9 OK Search completed
# with COUNT, MIN and MAX (no interaction)
C: p10 UID SEARCH RETURN (MIN MAX COUNT PARTIAL 2:3) ALL
S: * ESEARCH (TAG "p10") UID MIN 1 MAX 8 COUNT 7 PARTIAL (2:3 2,4)
S: p10 OK Search completed
# errors: PARTIAL with ALL, twice, bad ranges (no "*", no 0, no mixed signs)
C: e1 SEARCH RETURN (ALL PARTIAL 1:2) ALL
S~ e1 BAD .*
C: e2 SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL
S~ e2 BAD .*
C: e3 SEARCH RETURN (PARTIAL 1:*) ALL
S~ e3 BAD .*
C: e4 SEARCH RETURN (PARTIAL 0:5) ALL
S~ e4 BAD .*
C: e5 SEARCH RETURN (PARTIAL -1:5) ALL
S~ e5 BAD .*
C: e6 SEARCH RETURN (PARTIAL) ALL
S~ e6 BAD .*
C: e7 SEARCH RETURN (PARTIAL 1:4294967296) ALL
S~ e7 BAD .*
C: e8 SEARCH RETURN (PARTIAL 5) ALL
S~ e8 BAD .*
C: e9 UID SORT RETURN (PARTIAL 1:2 ALL) (ARRIVAL) UTF-8 ALL
S~ e9 BAD .*
# SAVE with PARTIAL (RFC 9394 3.2 table 1): "$" is the PARTIAL results...
C: s1 UID SEARCH RETURN (SAVE PARTIAL 2:3) ALL
S: * ESEARCH (TAG "s1") UID PARTIAL (2:3 2,4)
S: s1 OK Search completed
C: s2 UID SEARCH UID $
S: * SEARCH 2 4
S~ s2 OK .*
# ... with MIN and/or MAX too ...
C: s3 UID SEARCH RETURN (SAVE PARTIAL 3:4 MIN) ALL
S: * ESEARCH (TAG "s3") UID MIN 1 PARTIAL (3:4 4:5)
S: s3 OK Search completed
C: s4 UID SEARCH UID $
S: * SEARCH 1 4 5
S~ s4 OK .*
C: s5 UID SEARCH RETURN (SAVE MIN MAX PARTIAL -2:-3) ALL
S: * ESEARCH (TAG "s5") UID MIN 1 MAX 8 PARTIAL (-2:-3 6:7)
S: s5 OK Search completed
C: s6 UID SEARCH UID $
S: * SEARCH 1 6 7 8
S~ s6 OK .*
C: s7 UID SEARCH RETURN (SAVE MAX PARTIAL 20:30) ALL
S: * ESEARCH (TAG "s7") UID MAX 8 PARTIAL (20:30 NIL)
S: s7 OK Search completed
C: s8 UID SEARCH UID $
S: * SEARCH 8
S~ s8 OK .*
# ... and with COUNT every match
C: s9 UID SEARCH RETURN (SAVE COUNT PARTIAL 1:1) UNSEEN
S: * ESEARCH (TAG "s9") UID COUNT 5 PARTIAL (1:1 1)
S: s9 OK Search completed
C: s10 UID SEARCH UID $
S: * SEARCH 1 2 4 6 8
S~ s10 OK .*
# SORT: the range of the results in sort order (sizes: second < simple <
# multipart; ties in sequence order)
C: o1 UID SORT RETURN (PARTIAL 1:3) (REVERSE SIZE) UTF-8 ALL
S: * ESEARCH (TAG "o1") UID PARTIAL (1:3 6,1:2)
S: o1 OK Sort completed
C: o2 SORT RETURN (PARTIAL -1:-2 COUNT) (SIZE) UTF-8 ALL
S: * ESEARCH (TAG "o2") COUNT 7 PARTIAL (-1:-2 6,5)
S: o2 OK Sort completed
C: o3 UID SORT RETURN (PARTIAL 8:10) (ARRIVAL) UTF-8 ALL
S: * ESEARCH (TAG "o3") UID PARTIAL (8:10 NIL)
S: o3 OK Sort completed
C: o4 UID SORT RETURN (SAVE PARTIAL -1:-1) (REVERSE SIZE) UTF-8 ALL
S: * ESEARCH (TAG "o4") UID PARTIAL (-1:-1 8)
S: o4 OK Sort completed
C: o5 UID SEARCH UID $
S: * SEARCH 8
S~ o5 OK .*
# UID FETCH ... (PARTIAL range) (RFC 9394 3.3)
C: f1 UID FETCH 2:8 (UID) (PARTIAL -1:-3)
S: * 5 FETCH (UID 6)
S: * 6 FETCH (UID 7)
S: * 7 FETCH (UID 8)
S~ f1 OK .*
C: f2 UID FETCH 2:8 (UID) (PARTIAL 1:2)
S: * 2 FETCH (UID 2)
S: * 3 FETCH (UID 4)
S~ f2 OK .*
C: f3 UID FETCH 2:4 (UID) (PARTIAL 5:10)
S~ f3 OK .*
# with CHANGEDSINCE (3.4): the range first (UIDs 6:8), then the modseq
# filter (UID 8 was not changed since UID 7 was)
C: f4 UID FETCH 8 (MODSEQ)
S~ \* OK \[HIGHESTMODSEQ \d+\].*
S: * 7 FETCH (UID 8 MODSEQ (9))
S~ f4 OK .*
C: f4b UID STORE 6,7 +FLAGS.SILENT (\Flagged)
S~ f4b OK .*
C: f5 UID FETCH 1:* (UID) (PARTIAL -1:-3 CHANGEDSINCE 9)
S~ \* 5 FETCH \(UID 6 MODSEQ \(\d+\)\)
S~ \* 6 FETCH \(UID 7 MODSEQ \(\d+\)\)
S~ f5 OK .*
# MODSEQ (RFC 7162 3.1.10): of the messages returned in the range
C: g1 UID SEARCH RETURN (PARTIAL 1:2) MODSEQ 1
S: * ESEARCH (TAG "g1") UID PARTIAL (1:2 1:2) MODSEQ 3
S: g1 OK Search completed
C: g2 UID SEARCH RETURN (PARTIAL -1:-1 MIN) MODSEQ 1
S: * ESEARCH (TAG "g2") UID MIN 1 PARTIAL (-1:-1 8) MODSEQ 9
S: g2 OK Search completed
C: g3 UID SEARCH RETURN (PARTIAL 100:200) MODSEQ 1
S: * ESEARCH (TAG "g3") UID PARTIAL (100:200 NIL)
S: g3 OK Search completed
C: g4 UID SORT RETURN (PARTIAL 1:1) (ARRIVAL) UTF-8 MODSEQ 1
S: * ESEARCH (TAG "g4") UID PARTIAL (1:1 1) MODSEQ 2
S: g4 OK Sort completed
C: f6 FETCH 1:* (FLAGS) (PARTIAL 1:2)
S~ f6 BAD .*
C: f7 UID FETCH 1:* (FLAGS) (PARTIAL 1:*)
S~ f7 BAD .*
C: f8 UID FETCH 1:* (FLAGS) (PARTIAL 1:2 PARTIAL 1:2)
S~ f8 BAD .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
