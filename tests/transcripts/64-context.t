# CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4): RETURN (UPDATE) contexts
# updated by this session's own STORE, EXPUNGE and APPEND and by another
# session's changes; REMOVEFROM before EXPUNGE (4.3.4), ADDTO after EXISTS
# (4.3.3); positional pairs for SORT; tag reuse, NOUPDATE, CANCELUPDATE.
# UIDs 1..4, sizes: 1 simple (311), 2 second (196), 3 multipart (645),
# 4 simple \Seen.
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX multipart.eml
@append INBOX simple.eml \Seen
@connect plain main
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* CONTEXT=SEARCH( |$))(?=.* CONTEXT=SORT( |$)).*
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
C: b1 UID SEARCH RETURN (UPDATE COUNT) UNSEEN
S: * ESEARCH (TAG "b1") UID COUNT 3
S: b1 OK Search completed
# tag reuse (4.3): BAD, no effect
C: b1 SORT RETURN (UPDATE) (ARRIVAL) UTF-8 FLAGGED
S~ b1 BAD .*
C: c1 SEARCH RETURN (UPDATE) FLAGGED
S: * ESEARCH (TAG "c1")
S: c1 OK Search completed
# our own STORE: the flag change moves messages in and out
C: c2 STORE 2 +FLAGS.SILENT (\Seen \Flagged)
S: * ESEARCH (TAG "b1") UID REMOVEFROM (0 2)
S: * ESEARCH (TAG "c1") ADDTO (0 2)
S: c2 OK Store completed
C: c3 UID STORE 1,3 +FLAGS.SILENT (\Flagged)
S: * ESEARCH (TAG "c1") ADDTO (0 1,3)
S: c3 OK Store completed
# a SORT context: positions and numbers (REVERSE SIZE: 3 1 4 2)
C: d1 UID SORT RETURN (UPDATE ALL) (REVERSE SIZE) UTF-8 ALL
S: * ESEARCH (TAG "d1") UID ALL 3,1,4,2
S: d1 OK Sort completed
# expunge: REMOVEFROM with the numbers before the EXPUNGE
C: e1 STORE 1 +FLAGS.SILENT (\Deleted)
S~ e1 OK .*
C: e2 EXPUNGE
S: * ESEARCH (TAG "b1") UID REMOVEFROM (0 1)
S: * ESEARCH (TAG "c1") REMOVEFROM (0 1)
S: * ESEARCH (TAG "d1") UID REMOVEFROM (2 1)
S: * 1 EXPUNGE
S~ e2 OK .*
# our own APPEND: ADDTO after EXISTS; SORT at its position (simple: after 3)
C: f1 APPEND INBOX {%simple.eml}
S: * 4 EXISTS
S~ \* \d+ RECENT
S: * ESEARCH (TAG "b1") UID ADDTO (0 5)
S: * ESEARCH (TAG "d1") UID ADDTO (3 5)
S~ f1 OK .*
# another session: flags, append, expunge
@connect plain other
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 SELECT INBOX
S* o2 OK .*
C: o3 UID STORE 3 -FLAGS (\Flagged)
S* o3 OK .*
C: o4 APPEND INBOX (\Flagged) {%second.eml}
S* o4 OK .*
C: o5 UID STORE 2 +FLAGS.SILENT (\Deleted)
S~ o5 OK .*
C: o6 UID EXPUNGE 2
S* o6 OK .*
@use main
C: g1 NOOP
S: * ESEARCH (TAG "c1") REMOVEFROM (0 1)
S: * ESEARCH (TAG "d1") UID REMOVEFROM (4 2)
S: * 1 EXPUNGE
S: * 4 EXISTS
S~ \* \d+ RECENT
S~ \* 1 FETCH \(UID 3 FLAGS \((\\Recent)?\)\)
S: * ESEARCH (TAG "b1") UID ADDTO (0 6)
S: * ESEARCH (TAG "c1") REMOVEFROM (0 1) ADDTO (0 4)
S: * ESEARCH (TAG "d1") UID ADDTO (4 6)
S~ g1 OK .*
# no expunge during a non-UID FETCH (RFC 9051 7.5.1): nor its REMOVEFROM
@use other
C: o7 UID STORE 3 +FLAGS.SILENT (\Deleted)
S~ o7 OK .*
C: o8 UID EXPUNGE 3
S* o8 OK .*
@use main
C: h1 FETCH 1 (UID)
S: * 1 FETCH (UID 3)
S: h1 OK Fetch completed
C: h2 NOOP
S: * ESEARCH (TAG "b1") UID REMOVEFROM (0 3)
S: * ESEARCH (TAG "d1") UID REMOVEFROM (1 3)
S: * 1 EXPUNGE
S~ h2 OK .*
# CANCELUPDATE: no more updates for d1; the others go on
C: i1 CANCELUPDATE "d1"
S: i1 OK No further updates
C: i2 UID STORE 5 +FLAGS.SILENT (\Deleted)
S~ i2 OK .*
C: i3 EXPUNGE
S: * ESEARCH (TAG "b1") UID REMOVEFROM (0 5)
S: * 2 EXPUNGE
S~ i3 OK .*
# unknown tags are no error; syntax is
C: i4 CANCELUPDATE "zz" "d1"
S: i4 OK No further updates
C: i5 CANCELUPDATE
S~ i5 BAD .*
C: i6 CANCELUPDATE d1
S~ i6 BAD .*
# a tag freed by CANCELUPDATE may be used again
C: d1 UID SEARCH RETURN (UPDATE COUNT) ALL
S: * ESEARCH (TAG "d1") UID COUNT 2
S: d1 OK Search completed
# header keys and SORT by stored keys are updated too (evaluated on the
# pool: test_context_content.py); NOUPDATE (4.3.1) for message numbers
# and age; the other options are answered
C: n1 SEARCH RETURN (UPDATE COUNT) SUBJECT meeting
S: * ESEARCH (TAG "n1") COUNT 1
S: n1 OK Search completed
C: n2 UID SEARCH RETURN (UPDATE MIN) 1:2
S: * ESEARCH (TAG "n2") UID MIN 4
S~ \* NO \[NOUPDATE "n2"\] .*
S: n2 OK Search completed
C: n3 UID SORT RETURN (UPDATE COUNT) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "n3") UID COUNT 2
S: n3 OK Sort completed
C: n4 UID SEARCH RETURN (UPDATE COUNT) YOUNGER 3600
S: * ESEARCH (TAG "n4") UID COUNT 2
S~ \* NO \[NOUPDATE "n4"\] .*
S: n4 OK Search completed
C: n5 CANCELUPDATE "n1" "n3"
S: n5 OK No further updates
# at most 8 contexts (b1 c1 d1 + 5)
C: m1 UID SEARCH RETURN (UPDATE COUNT) DELETED
S: * ESEARCH (TAG "m1") UID COUNT 0
S: m1 OK Search completed
C: m2 UID SEARCH RETURN (UPDATE COUNT) DELETED
S: * ESEARCH (TAG "m2") UID COUNT 0
S: m2 OK Search completed
C: m3 UID SEARCH RETURN (UPDATE COUNT) DELETED
S: * ESEARCH (TAG "m3") UID COUNT 0
S: m3 OK Search completed
C: m4 UID SEARCH RETURN (UPDATE COUNT) DELETED
S: * ESEARCH (TAG "m4") UID COUNT 0
S: m4 OK Search completed
C: m5 UID SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 DELETED
S: * ESEARCH (TAG "m5") UID COUNT 0
S: m5 OK Sort completed
C: m6 UID SEARCH RETURN (UPDATE COUNT) DELETED
S: * ESEARCH (TAG "m6") UID COUNT 0
S~ \* NO \[NOUPDATE "m6"\] .*
S: m6 OK Search completed
C: m7 UID STORE 6 +FLAGS.SILENT (\Deleted)
S: * ESEARCH (TAG "m1") UID ADDTO (0 6)
S: * ESEARCH (TAG "m2") UID ADDTO (0 6)
S: * ESEARCH (TAG "m3") UID ADDTO (0 6)
S: * ESEARCH (TAG "m4") UID ADDTO (0 6)
S: * ESEARCH (TAG "m5") UID ADDTO (1 6)
S~ m7 OK .*
# UPDATE with PARTIAL: the updates cover every result (RFC 9394 3.1)
C: m8 CANCELUPDATE "m1" "m2"
S: m8 OK No further updates
C: p1 UID SEARCH RETURN (UPDATE PARTIAL 1:1) UNDELETED
S: * ESEARCH (TAG "p1") UID PARTIAL (1:1 4)
S: p1 OK Search completed
C: p2 UID STORE 6 -FLAGS.SILENT (\Deleted)
S: * ESEARCH (TAG "m3") UID REMOVEFROM (0 6)
S: * ESEARCH (TAG "m4") UID REMOVEFROM (0 6)
S: * ESEARCH (TAG "m5") UID REMOVEFROM (1 6)
S: * ESEARCH (TAG "p1") UID ADDTO (0 6)
S~ p2 OK .*
# bounds: at most 64 tags in one CANCELUPDATE
C: q1 CANCELUPDATE "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x" "x"
S~ q1 BAD \[LIMIT\] .*
# contexts end with the selection
C: u1 UNSELECT
S~ u1 OK .*
C: u2 SELECT INBOX
S* u2 OK .*
C: u3 UID STORE 6 +FLAGS.SILENT (\Deleted)
S: u3 OK Store completed
C: u5 CLOSE
S~ u5 OK .*
C: u6 CANCELUPDATE "b1"
S~ u6 BAD .*
C: u7 SEARCH RETURN (UPDATE) ALL
S~ u7 BAD .*
C: u4 LOGOUT
S~ \* BYE .*
S~ u4 OK .*
