# Review: CONDSTORE (RFC 7162 3.1): SEARCH MODSEQ forms, conditional STORE
# (MODIFIED response code, UNCHANGEDSINCE 0), FETCH CHANGEDSINCE
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml \Seen
@append INBOX multipart.eml \Flagged
@append INBOX simple.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX (CONDSTORE)
S* \* OK \[HIGHESTMODSEQ (?P<hm>[0-9]+)\].*
S* a2 OK \[READ-WRITE\] .*
C: c1 FETCH 1:4 (MODSEQ)
S~ \* 1 FETCH \(MODSEQ \((?P<m1>[0-9]+)\)\)
S~ \* 2 FETCH \(MODSEQ \((?P<m2>[0-9]+)\)\)
S~ \* 3 FETCH \(MODSEQ \((?P<m3>[0-9]+)\)\)
S~ \* 4 FETCH \(MODSEQ \((?P<m4>[0-9]+)\)\)
S~ c1 OK .*
C: c2 STORE 2 +FLAGS.SILENT (\Answered)
S~ c2 OK .*
C: c3 FETCH 2 (MODSEQ)
S~ \* 2 FETCH \(MODSEQ \((?P<m2b>[0-9]+)\)\)
S~ c3 OK .*
# 3.1.5: SEARCH MODSEQ adds "(MODSEQ n)" with the highest mod-sequence
C: c4 SEARCH MODSEQ ${m2b}
S: * SEARCH 2 (MODSEQ ${m2b})
S~ c4 OK .*
C: c5 SEARCH MODSEQ "/flags/\\answered" all ${m2b}
S: * SEARCH 2 (MODSEQ ${m2b})
S~ c5 OK .*
C: c6 SEARCH RETURN (ALL) MODSEQ ${m2b}
S: * ESEARCH (TAG "c6") ALL 2 MODSEQ ${m2b}
S~ c6 OK .*
# no match: no MODSEQ part
C: c7 SEARCH MODSEQ 999999
S: * SEARCH
S~ c7 OK .*
# 3.1.3: UNCHANGEDSINCE 0 always fails; MODIFIED lists the failures
C: c8 STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\Seen)
S~ c8 OK \[MODIFIED 1\] .*
C: c9 STORE 1:2 (UNCHANGEDSINCE ${m1}) +FLAGS (\Draft)
S~ \* 1 FETCH \((?=.*FLAGS \([^)]*\\Draft)(?=.*MODSEQ \([0-9]+\)).*\)
S~ c9 OK \[MODIFIED 2\] .*
C: c10 FETCH 2 FLAGS
S~ \* 2 FETCH \(FLAGS \((?![^)]*\\Draft)[^)]*\)\)
S~ c10 OK .*
# 3.1.4: CHANGEDSINCE returns only newer messages, with MODSEQ
C: c11 FETCH 1:* (UID) (CHANGEDSINCE ${m4})
S& ~\* 1 FETCH \((?=.*UID 1)(?=.*MODSEQ).*\)
S& ~\* 2 FETCH \((?=.*UID 2)(?=.*MODSEQ).*\)
S~ c11 OK .*
# VANISHED needs QRESYNC enabled (RFC 7162 3.2.6)
C: c12 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)
S~ c12 BAD .*
C: c13 STATUS INBOX (HIGHESTMODSEQ)
S~ \* STATUS INBOX \(HIGHESTMODSEQ [0-9]+\)
S~ c13 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
