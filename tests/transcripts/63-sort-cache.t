# SORT's result cache (imap-cmd-sort.c, sort_cache): a repeated SORT of
# the same criteria and program is answered from the last result, which
# must never be used once anything changed: an APPEND, an EXPUNGE, a
# flag change (also one that cannot change the order, sorting by a key
# that no flag touches: the MODSEQ of the answer changes) and a change by
# another session that this one has not synced yet.
# Messages: MSN 1 "c", 2 "a", 3 "b" (UIDs 1..3); then UID 4 "0".
@user alice secret
@msg m0
Subject: 0

x
@end
@msg ma
Subject: a

x
@end
@msg mb
Subject: b

x
@end
@msg mc
Subject: c

x
@end
@connect plain s1
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK .*
C: a3 APPEND INBOX {%mc+}
S* a3 OK .*
C: a4 APPEND INBOX {%ma+}
S* a4 OK .*
C: a5 APPEND INBOX {%mb+}
S* a5 OK .*
C: a6 NOOP
S* a6 OK .*
C: c1 SORT (SUBJECT) UTF-8 ALL
S: * SORT 2 3 1
S: c1 OK Sort completed
# the same again, then other RETURN options and UID SORT: from the cache
C: c2 SORT (SUBJECT) UTF-8 ALL
S: * SORT 2 3 1
S: c2 OK Sort completed
C: c3 SORT RETURN (PARTIAL 1:2 COUNT) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "c3") COUNT 3 PARTIAL (1:2 2:3)
S: c3 OK Sort completed
C: c4 UID SORT RETURN (MIN MAX) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "c4") UID MIN 2 MAX 1
S: c4 OK Sort completed
# APPEND: the new message sorts first
C: d1 APPEND INBOX {%m0+}
S* d1 OK .*
C: d2 SORT (SUBJECT) UTF-8 ALL
S* \* SORT 4 2 3 1
S* d2 OK Sort completed
# EXPUNGE: "a" (MSN 2) goes, the numbers move
C: d3 STORE 2 +FLAGS.SILENT (\Deleted)
S* d3 OK .*
C: d4 EXPUNGE
S* d4 OK .*
C: d5 SORT (SUBJECT) UTF-8 ALL
S* \* SORT 3 2 1
S* d5 OK Sort completed
C: d6 UID SORT (SUBJECT) UTF-8 ALL
S: * SORT 4 3 1
S: d6 OK Sort completed
# STORE, sorting by SUBJECT: the order stays, the MODSEQ of the answer
# (RFC 7162 3.1.10) is the message's new one
C: e1 UID SORT RETURN (PARTIAL 1:1) (SUBJECT) UTF-8 MODSEQ 1
S* \* ESEARCH \(TAG "e1"\) UID PARTIAL \(1:1 4\) MODSEQ \d+
S: e1 OK Sort completed
C: e2 UID STORE 4 +FLAGS.SILENT (\Flagged)
S* e2 OK .*
C: e3 UID FETCH 4 (MODSEQ)
S* \* 3 FETCH \(UID 4 MODSEQ \((?P<ms>\d+)\)\)
S* e3 OK .*
C: e4 UID SORT RETURN (PARTIAL 1:1) (SUBJECT) UTF-8 MODSEQ 1
S* \* ESEARCH \(TAG "e4"\) UID PARTIAL \(1:1 4\) MODSEQ ${ms}
S* e4 OK Sort completed
# another session's flag change, not yet synced here
C: f1 UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 UNSEEN
S* \* ESEARCH \(TAG "f1"\) UID PARTIAL \(1:2 4,3\)
S* f1 OK Sort completed
@connect plain s2
S~ \* OK .*
C: g1 LOGIN alice secret
S~ g1 OK .*
C: g2 SELECT INBOX
S* g2 OK .*
C: g3 UID STORE 4 +FLAGS.SILENT (\Seen)
S* g3 OK .*
@use s1
C: f2 UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 UNSEEN
S* \* ESEARCH \(TAG "f2"\) UID PARTIAL \(1:2 3,1\)
S* f2 OK Sort completed
