# EXPUNGE, UID EXPUNGE (RFC 4315), CLOSE, UNSELECT (RFC 3691), CHECK
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX multipart.eml
@append INBOX simple.eml
@append INBOX second.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: a3 CHECK
S~ a3 OK .*
C: a4 STORE 2,4 +FLAGS.SILENT (\Deleted)
S~ a4 OK .*
C: a5 EXPUNGE
S: * 2 EXPUNGE
S: * 3 EXPUNGE
S~ a5 OK .*
C: a6 FETCH 1:* UID
S: * 1 FETCH (UID 1)
S: * 2 FETCH (UID 3)
S: * 3 FETCH (UID 5)
S~ a6 OK .*
# UID EXPUNGE removes only the given \Deleted messages
C: u1 STORE 1:3 +FLAGS.SILENT (\Deleted)
S~ u1 OK .*
C: u2 UID EXPUNGE 3:5
S: * 2 EXPUNGE
S: * 2 EXPUNGE
S~ u2 OK .*
C: u3 UID EXPUNGE
S~ u3 BAD .*
C: u4 FETCH 1:* (UID FLAGS)
S~ \* 1 FETCH \(UID 1 FLAGS \((\\Deleted \\Recent|\\Recent \\Deleted)\)\)
S~ u4 OK .*
# UNSELECT: no expunge
C: n1 UNSELECT
S~ n1 OK .*
C: n2 STATUS INBOX (MESSAGES DELETED)
S: * STATUS INBOX (MESSAGES 1 DELETED 1)
S~ n2 OK .*
C: n3 UNSELECT
S~ n3 BAD .*
C: n4 EXPUNGE
S~ n4 BAD .*
# CLOSE expunges silently
C: n5 SELECT INBOX
S* n5 OK .*
C: n6 CLOSE
S~ n6 OK .*
C: n7 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 0)
S~ n7 OK .*
C: n8 CLOSE
S~ n8 BAD .*
# CLOSE on EXAMINE does not expunge
@append INBOX simple.eml \Deleted
C: x1 EXAMINE INBOX
S* x1 OK \[READ-ONLY\] .*
C: x2 CLOSE
S~ x2 OK .*
C: x3 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 1)
S~ x3 OK .*
C: x4 LOGOUT
S~ \* BYE .*
S~ x4 OK .*
