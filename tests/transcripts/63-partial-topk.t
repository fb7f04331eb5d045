# SORT RETURN (PARTIAL ...) with a range within the first or last eighth
# of the results: answered by top-k selection (imap-cmd-sort.c
# sort_topk) instead of a full sort; the answers must be those of the
# full sort, RFC 5256 ties going by sequence number.
# 24 messages, subjects cycling c, a, b (MSN 1 "c", 2 "a", 3 "b", 4 "c",
# ...): by SUBJECT, "a" = 2 5 8 ... 23, "b" = 3 6 ... 24, "c" = 1 4 ... 22.
@user alice secret
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
@connect plain
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
C: a6 COPY 1:3 INBOX
S* a6 OK .*
C: a7 COPY 1:6 INBOX
S* a7 OK .*
C: a8 COPY 1:12 INBOX
S* a8 OK .*
C: a9 NOOP
S* a9 OK .*
C: b1 SORT (SUBJECT) UTF-8 ALL
S: * SORT 2 5 8 11 14 17 20 23 3 6 9 12 15 18 21 24 1 4 7 10 13 16 19 22
S: b1 OK Sort completed
# the first three of a tie: by sequence number
C: t1 SORT RETURN (PARTIAL 1:3) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t1") PARTIAL (1:3 2,5,8)
S: t1 OK Sort completed
C: t2 SORT RETURN (PARTIAL 3:2) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t2") PARTIAL (3:2 5,8)
S: t2 OK Sort completed
# negative ranges: the last results, in sort order
C: t3 SORT RETURN (PARTIAL -1:-3) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t3") PARTIAL (-1:-3 16,19,22)
S: t3 OK Sort completed
C: t4 SORT RETURN (PARTIAL -2:-3) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t4") PARTIAL (-2:-3 16,19)
S: t4 OK Sort completed
C: t5 SORT RETURN (PARTIAL -1:-1) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t5") PARTIAL (-1:-1 22)
S: t5 OK Sort completed
# REVERSE turns the subjects around, never the sequence number tie-break
C: t6 SORT RETURN (PARTIAL 1:3) (REVERSE SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t6") PARTIAL (1:3 1,4,7)
S: t6 OK Sort completed
C: t7 SORT RETURN (PARTIAL -1:-3) (REVERSE SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t7") PARTIAL (-1:-3 17,20,23)
S: t7 OK Sort completed
# equal second keys (the same INTERNALDATE): still by sequence number
C: t8 UID SORT RETURN (PARTIAL 1:3) (SUBJECT REVERSE ARRIVAL) UTF-8 ALL
S: * ESEARCH (TAG "t8") UID PARTIAL (1:3 2,5,8)
S: t8 OK Sort completed
# MIN and MAX (first and last in sort order), COUNT, MODSEQ
C: t9 SORT RETURN (MIN MAX COUNT PARTIAL 1:3) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "t9") MIN 2 MAX 22 COUNT 24 PARTIAL (1:3 2,5,8)
S: t9 OK Sort completed
C: u1 SORT RETURN (MIN MAX PARTIAL -1:-2) (REVERSE SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "u1") MIN 1 MAX 23 PARTIAL (-1:-2 20,23)
S: u1 OK Sort completed
# SAVE (RFC 9394 3.2 table 1): the PARTIAL results and MIN/MAX
C: u2 SORT RETURN (SAVE MIN PARTIAL -1:-2) (SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "u2") MIN 2 PARTIAL (-1:-2 19,22)
S: u2 OK Sort completed
C: u3 SEARCH $
S: * SEARCH 2 19 22
S: u3 OK Search completed
# a subset of the messages: the selection runs over the matches only
C: u4 SORT RETURN (PARTIAL 1:1) (SUBJECT) UTF-8 NOT SUBJECT a
S: * ESEARCH (TAG "u4") PARTIAL (1:1 3)
S: u4 OK Sort completed
C: u5 SORT RETURN (PARTIAL -1:-2) (SUBJECT) UTF-8 NOT SUBJECT a
S: * ESEARCH (TAG "u5") PARTIAL (-1:-2 19,22)
S: u5 OK Sort completed
