# SORT with a MODSEQ search key (RFC 7162 3.1.5): "(MODSEQ n)" after the
# SORT numbers; with RETURN, the MODSEQ result is that of the messages
# returned (RFC 4731 3.2, RFC 7162 3.1.10): MIN/MAX are the first/last in
# sort order (RFC 5267 3.1), so their mod-sequences, not the UID extremes'.
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 APPEND INBOX "05-Jan-2024 00:00:00 +0000" {%sort-1.eml}
S~ a2 OK .*
C: a3 APPEND INBOX "01-Jan-2020 00:00:00 +0000" {%sort-2.eml}
S~ a3 OK .*
C: a4 APPEND INBOX "03-Jan-2024 00:00:00 +0000" {%sort-3.eml}
S~ a4 OK .*
C: a5 SELECT INBOX (CONDSTORE)
S* a5 OK \[READ-WRITE\] .*
# message 1 gets the highest mod-sequence; ARRIVAL order is 2 3 1
C: c1 STORE 1 +FLAGS.SILENT (\Answered)
S~ c1 OK .*
C: c2 FETCH 1:3 (MODSEQ)
S~ \* 1 FETCH \(MODSEQ \((?P<m1>[0-9]+)\)\)
S~ \* 2 FETCH \(MODSEQ \((?P<m2>[0-9]+)\)\)
S~ \* 3 FETCH \(MODSEQ \((?P<m3>[0-9]+)\)\)
S~ c2 OK .*
C: c3 SORT (ARRIVAL) UTF-8 MODSEQ 1
S: * SORT 2 3 1 (MODSEQ ${m1})
S~ c3 OK .*
C: c4 SORT RETURN (MIN) (ARRIVAL) UTF-8 MODSEQ 1
S: * ESEARCH (TAG "c4") MIN 2 MODSEQ ${m2}
S~ c4 OK .*
C: c5 SORT RETURN (MAX) (ARRIVAL) UTF-8 MODSEQ 1
S: * ESEARCH (TAG "c5") MAX 1 MODSEQ ${m1}
S~ c5 OK .*
C: c6 SORT RETURN (MIN MAX) (ARRIVAL) UTF-8 2:3 MODSEQ 1
S: * ESEARCH (TAG "c6") MIN 2 MAX 3 MODSEQ ${m3}
S~ c6 OK .*
C: c7 UID SORT RETURN (COUNT) (REVERSE ARRIVAL) UTF-8 MODSEQ 1
S: * ESEARCH (TAG "c7") UID COUNT 3 MODSEQ ${m1}
S~ c7 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
