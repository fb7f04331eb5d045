# Review: RFC 4731 3.2 (with RFC 7162 3.1.10): with a single MIN or MAX
# result option the MODSEQ result option is the mod-sequence of that one
# message; with MIN and MAX (no ALL/COUNT) the higher of those two;
# otherwise the highest of all matching messages.
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX multipart.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX (CONDSTORE)
S* a2 OK \[READ-WRITE\] .*
# make message 1 the one with the highest mod-sequence
C: c1 STORE 1 +FLAGS.SILENT (\Answered)
S~ c1 OK .*
C: c2 FETCH 1:3 (MODSEQ)
S~ \* 1 FETCH \(MODSEQ \((?P<m1>[0-9]+)\)\)
S~ \* 2 FETCH \(MODSEQ \((?P<m2>[0-9]+)\)\)
S~ \* 3 FETCH \(MODSEQ \((?P<m3>[0-9]+)\)\)
S~ c2 OK .*
C: c3 SEARCH RETURN (MIN) MODSEQ 1
S: * ESEARCH (TAG "c3") MIN 1 MODSEQ ${m1}
S~ c3 OK .*
C: c4 SEARCH RETURN (COUNT) MODSEQ 1
S: * ESEARCH (TAG "c4") COUNT 3 MODSEQ ${m1}
S~ c4 OK .*
# MAX is message 3: its own mod-sequence, not message 1's
C: c5 SEARCH RETURN (MAX) MODSEQ 1
S: * ESEARCH (TAG "c5") MAX 3 MODSEQ ${m3}
S~ c5 OK .*
C: c6 UID SEARCH RETURN (MAX) MODSEQ 1
S: * ESEARCH (TAG "c6") UID MAX 3 MODSEQ ${m3}
S~ c6 OK .*
C: c7 SEARCH RETURN (MIN MAX) 2:3 MODSEQ 1
S: * ESEARCH (TAG "c7") MIN 2 MAX 3 MODSEQ ${m3}
S~ c7 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
