# Review: EXPUNGE numbering (RFC 9051 6.4.3 example and 7.5.1), CLOSE,
# STORE forms (6.4.6 example), COPY / MOVE / UID responses (6.4.7-6.4.9,
# RFC 4315 COPYUID / APPENDUID, RFC 6851)
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
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
C: a3 STORE 3:4,7,11 +FLAGS.SILENT (\Deleted)
S~ a3 OK .*
# 6.4.3: messages 3, 4, 7 and 11 are expunged, each number relative to
# the state after the previous EXPUNGE response
C: A202 EXPUNGE
S: * 3 EXPUNGE
S: * 3 EXPUNGE
S: * 5 EXPUNGE
S: * 8 EXPUNGE
S~ A202 OK .*
C: a4 FETCH 1:* UID
S: * 1 FETCH (UID 1)
S: * 2 FETCH (UID 2)
S: * 3 FETCH (UID 5)
S: * 4 FETCH (UID 6)
S: * 5 FETCH (UID 8)
S: * 6 FETCH (UID 9)
S: * 7 FETCH (UID 10)
S~ a4 OK .*
# 6.4.6 example forms
C: A003 STORE 2:4 +FLAGS (\Deleted)
S~ \* 2 FETCH \(FLAGS \((?=[^)]*\\Deleted)(?=[^)]*\\Recent)[^)]*\)\)
S~ \* 3 FETCH \(FLAGS \((?=[^)]*\\Deleted)(?=[^)]*\\Recent)[^)]*\)\)
S~ \* 4 FETCH \(FLAGS \((?=[^)]*\\Deleted)(?=[^)]*\\Recent)[^)]*\)\)
S~ A003 OK .*
C: s1 STORE 2 FLAGS (\Seen $Forwarded)
S* \* 2 FETCH \(FLAGS \((?=[^)]*\\Seen)(?=[^)]*\$Forwarded)(?=[^)]*\\Recent)[^)]*\)\)
S~ s1 OK .*
C: s2 STORE 2 -FLAGS.SILENT ($Forwarded)
S~ s2 OK .*
C: s3 UID STORE 5 +FLAGS (\Answered)
S~ \* 3 FETCH \((?=.*UID 5)(?=.*FLAGS \((?=[^)]*\\Answered)(?=[^)]*\\Deleted)(?=[^)]*\\Recent)[^)]*\)).*\)
S~ s3 OK .*
C: s4 STORE 1 FLAGS ()
S: * 1 FETCH (FLAGS (\Recent))
S~ s4 OK .*
C: s5 STORE 1 +FLAGS (\Recent)
S~ s5 BAD .*
C: s6 STORE 1 FOOFLAGS (\Seen)
S~ s6 BAD .*
C: s7 STORE 1 +FLAGS \Seen
S~ \* 1 FETCH \(FLAGS \((?=[^)]*\\Seen)(?=[^)]*\\Recent)[^)]*\)\)
S~ s7 OK .*
# 6.4.8 / RFC 4315: COPY to a missing mailbox -> NO [TRYCREATE]
C: c1 COPY 1 nosuch
S~ c1 NO \[TRYCREATE\] .*
C: c2 CREATE other
S~ c2 OK .*
C: c3 COPY 1:2 other
S~ c3 OK \[COPYUID [1-9][0-9]* 1:2 1:2\] .*
C: c4 UID COPY 5,6 other
S~ c4 OK \[COPYUID [1-9][0-9]* 5:6 3:4\] .*
# UID COPY of UIDs that don't exist is not an error (6.4.9)
C: c5 UID COPY 3 other
S~ c5 OK .*
# RFC 6851 3.3: COPYUID in an untagged OK before the EXPUNGEs
C: m1 MOVE 1 other
S~ \* OK \[COPYUID [1-9][0-9]* 1 5\] .*
S: * 1 EXPUNGE
S~ m1 OK .*
C: m2 UID MOVE 9:10 other
S~ \* OK \[COPYUID [1-9][0-9]* 9:10 6:7\] .*
S: * 5 EXPUNGE
S: * 5 EXPUNGE
S~ m2 OK .*
C: m3 MOVE 1 nosuch
S~ m3 NO \[TRYCREATE\] .*
# RFC 4315: APPENDUID; APPEND to a missing mailbox -> NO [TRYCREATE], before
# the continuation (RFC 9051 7.5: the client never sends the message)
C+ p1 APPEND nosuch {320}\r\n
S~ p1 NO \[TRYCREATE\] .*
C: p2 APPEND other (\Seen) " 7-Feb-1994 21:52:25 -0800" {%simple.eml+}
S~ p2 OK \[APPENDUID [1-9][0-9]* 8\] .*
C: p3 APPEND other (\Seen) "07-Feb-1994 21:52:25 -0800" {%simple.eml+}
S~ p3 OK \[APPENDUID [1-9][0-9]* 9\] .*
C: p4 STATUS other (MESSAGES UIDNEXT)
S: * STATUS other (MESSAGES 9 UIDNEXT 10)
S~ p4 OK .*
# CLOSE expunges silently (6.4.1)
C: x1 CLOSE
S~ x1 OK .*
C: x2 EXAMINE INBOX
S* \* 2 EXISTS
S* x2 OK \[READ-ONLY\] .*
# UID 2 lost \Deleted with "STORE 2 FLAGS (\Seen $Forwarded)"
C: x3 FETCH 1:* UID
S: * 1 FETCH (UID 2)
S: * 2 FETCH (UID 8)
S~ x3 OK .*
# read-only: STORE, EXPUNGE, MOVE fail; COPY out works; CLOSE does not expunge
C: x4 STORE 1 +FLAGS (\Deleted)
S~ x4 NO .*
C: x5 EXPUNGE
S~ x5 NO .*
C: x6 MOVE 1 other
S~ x6 NO .*
C: x7 COPY 1 other
S~ x7 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
