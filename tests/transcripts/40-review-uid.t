# Review: UID command (RFC 9051 6.4.9 examples, RFC 4315 UID EXPUNGE):
# UID EXPUNGE only touches \Deleted messages inside the set; UID FETCH /
# STORE responses carry UID; UID ranges are unordered and "*" is the
# highest UID in use
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: a3 UID STORE 2:5 +FLAGS.SILENT (\Deleted)
S~ a3 OK .*
C: A003 UID EXPUNGE 6:2
S: * 2 EXPUNGE
S: * 2 EXPUNGE
S: * 2 EXPUNGE
S: * 2 EXPUNGE
S~ A003 OK .*
C: a4 UID STORE 1 +FLAGS.SILENT (\Deleted)
S~ a4 OK .*
C: a5 UID EXPUNGE 6
S~ a5 OK .*
C: A999 UID FETCH 6:1 FLAGS
S~ \* 1 FETCH \((?=.*UID 1\b)(?=.*FLAGS \([^)]*\\Deleted).*\)
S~ \* 2 FETCH \((?=.*UID 6\b).*\)
S~ A999 OK .*
C: b1 UID FETCH * UID
S: * 2 FETCH (UID 6)
S~ b1 OK .*
C: b2 UID FETCH 100:* UID
S: * 2 FETCH (UID 6)
S~ b2 OK .*
C: b3 UID SEARCH UID 2:*
S: * SEARCH 6
S~ b3 OK .*
C: b4 UID STORE 6 +FLAGS (\Flagged)
S~ \* 2 FETCH \((?=.*UID 6\b)(?=.*FLAGS \([^)]*\\Flagged).*\)
S~ b4 OK .*
C: b5 UID FETCH 2:5 UID
S~ b5 OK .*
C: b6 SEARCH UID 6
S: * SEARCH 2
S~ b6 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
