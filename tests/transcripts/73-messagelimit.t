# MESSAGELIMIT (RFC 9738) with a limit of 3 over 9 messages: FETCH,
# SEARCH (and SAVE), STORE, MOVE and UID EXPUNGE process the 3 highest
# UIDs of their set and say so with OK [MESSAGELIMIT 3 lowest-uid]; COPY
# and MULTIAPPEND are atomic: NO, nothing done; EXPUNGE is never limited;
# UIDAFTER/UIDBEFORE search keys (3.2).
@config imap_messagelimit 3
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
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK \[CAPABILITY (?=.* MESSAGELIMIT=3( |\]))(?!.*SAVELIMIT).*
C: a2 CREATE Dest
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
# FETCH: the highest 3 of the set
C: f1 FETCH 1:* (UID)
S: * 7 FETCH (UID 7)
S: * 8 FETCH (UID 8)
S: * 9 FETCH (UID 9)
S: f1 OK [MESSAGELIMIT 3 7] Fetch completed with 3 partial results
C: f2 UID FETCH 2:4 (UID)
S: * 2 FETCH (UID 2)
S: * 3 FETCH (UID 3)
S: * 4 FETCH (UID 4)
S: f2 OK Fetch completed
C: f3 UID FETCH 1:6 (UID)
S: * 4 FETCH (UID 4)
S: * 5 FETCH (UID 5)
S: * 6 FETCH (UID 6)
S: f3 OK [MESSAGELIMIT 3 4] Fetch completed with 3 partial results
# resuming below the lowest processed UID
C: f4 UID FETCH 1:3 (UID)
S: * 1 FETCH (UID 1)
S: * 2 FETCH (UID 2)
S: * 3 FETCH (UID 3)
S: f4 OK Fetch completed
# SEARCH: the number of messages searched counts, not the matches
C: s1 UID SEARCH ALL
S: * SEARCH 7 8 9
S: s1 OK [MESSAGELIMIT 3 7] Search completed with 3 partial results
C: s2 UID SEARCH UID 2:5 UNDELETED
S: * SEARCH 3 4 5
S: s2 OK [MESSAGELIMIT 3 3] Search completed with 3 partial results
C: s3 UID SEARCH UIDBEFORE 4
S: * SEARCH 1 2 3
S: s3 OK Search completed
C: s4 UID SEARCH UIDAFTER 7
S: * SEARCH 8 9
S: s4 OK Search completed
C: s5 UID SEARCH UIDBEFORE 1
S: * SEARCH
S: s5 OK Search completed
C: s6 UID SEARCH UIDAFTER 4294967295
S: * SEARCH
S: s6 OK Search completed
C: s7 UID SEARCH UIDAFTER 0
S~ s7 BAD .*
C: s8 UID SEARCH UIDBEFORE
S~ s8 BAD .*
C: s9 UID SEARCH UIDAFTER 2 UIDBEFORE 5
S: * SEARCH 3 4
S: s9 OK Search completed
# SEARCHRES (3.4): $ holds only what was searched
C: r1 SEARCH RETURN (SAVE) ALL
S: r1 OK [MESSAGELIMIT 3 7] Search completed with 3 partial results
C: r2 UID FETCH $ (UID)
S: * 7 FETCH (UID 7)
S: * 8 FETCH (UID 8)
S: * 9 FETCH (UID 9)
S: r2 OK Fetch completed
C: r3 UID SEARCH RETURN (COUNT MIN MAX) 1:8
S~ \* ESEARCH \(TAG "r3"\) UID MIN 6 MAX 8 COUNT 3
S: r3 OK [MESSAGELIMIT 3 6] Search completed with 3 partial results
# COPY is atomic: nothing copied
C: c1 COPY 1:* Dest
S: c1 NO [MESSAGELIMIT 3 7] Too many messages to copy, try a smaller subset
C: c2 UID COPY 1:5 Dest
S: c2 NO [MESSAGELIMIT 3 3] Too many messages to copy, try a smaller subset
C: c3 STATUS Dest (MESSAGES)
S: * STATUS Dest (MESSAGES 0)
S~ c3 OK .*
C: c4 UID COPY 1:3 Dest
S~ c4 OK \[COPYUID [1-9][0-9]* 1:3 1:3\] .*
# MOVE: the highest 3, COPYUID in an untagged OK
C: m1 UID MOVE 4:9 Dest
S~ \* OK \[COPYUID [1-9][0-9]* 7:9 4:6\] .*
S: * 7 EXPUNGE
S: * 7 EXPUNGE
S: * 7 EXPUNGE
S: m1 OK [MESSAGELIMIT 3 7] Move completed for the last 3 messages
C: m2 STATUS Dest (MESSAGES)
S: * STATUS Dest (MESSAGES 6)
S~ m2 OK .*
# STORE: the highest 3
C: t1 STORE 1:* +FLAGS (\Deleted)
S: * 4 FETCH (FLAGS (\Deleted \Recent))
S: * 5 FETCH (FLAGS (\Deleted \Recent))
S: * 6 FETCH (FLAGS (\Deleted \Recent))
S: t1 OK [MESSAGELIMIT 3 4] Store completed for the last 3 messages
C: t2 UID STORE 1:3 +FLAGS.SILENT (\Deleted)
S: t2 OK Store completed
C: t3 UID STORE 5 -FLAGS.SILENT (\Deleted)
S: t3 OK Store completed
# UID EXPUNGE: at most 3 \Deleted messages (1 2 3 4 6 are), the highest
C: x1 UID EXPUNGE 1:*
S: * 3 EXPUNGE
S: * 3 EXPUNGE
S: * 4 EXPUNGE
S: x1 OK [MESSAGELIMIT 3 3] UID EXPUNGE completed for the last 3 messages
C: x2 UID EXPUNGE 1:2
S: * 1 EXPUNGE
S: * 1 EXPUNGE
S~ x2 OK .*
C: x3 UID FETCH 1:* (UID)
S: * 1 FETCH (UID 5)
S: x3 OK Fetch completed
C: x4 UID STORE 5 +FLAGS.SILENT (\Deleted)
S: x4 OK Store completed
C: x5 UNSELECT
S~ x5 OK .*
# EXPUNGE is never limited (3.1): 6 \Deleted messages in Dest
C: e1 SELECT Dest
S* e1 OK \[READ-WRITE\] .*
C: e2 STORE 1:3 +FLAGS.SILENT (\Deleted)
S: e2 OK Store completed
C: e3 STORE 4:6 +FLAGS.SILENT (\Deleted)
S: e3 OK Store completed
C: e4 EXPUNGE
S: * 1 EXPUNGE
S: * 1 EXPUNGE
S: * 1 EXPUNGE
S: * 1 EXPUNGE
S: * 1 EXPUNGE
S: * 1 EXPUNGE
S: e4 OK Expunge completed
# MULTIAPPEND is atomic: a 4th message is refused, nothing appended
C: p1 APPEND Dest {%simple.eml+} {%simple.eml+} {%simple.eml+} {%simple.eml+}
S~ p1 NO \[MESSAGELIMIT 3\] .*
C: p2 APPEND Dest {%simple.eml+} {%simple.eml+} {%simple.eml+}
S~ \* [0-9]+ EXISTS
S* p2 OK \[APPENDUID \d+ (?P<U1>\d+):\d+\] .*
C: p3 STATUS Dest (MESSAGES)
S: * STATUS Dest (MESSAGES 3)
S~ p3 OK .*
# CATENATE messages (RFC 4469) count as messages of the command, as
# literals do, though they carry none for the reader to count
C: p4 APPEND Dest CATENATE (URL "/Dest/;UID=${U1}") CATENATE (URL "/Dest/;UID=${U1}") CATENATE (URL "/Dest/;UID=${U1}") CATENATE (URL "/Dest/;UID=${U1}")
S: p4 NO [MESSAGELIMIT 3] Too many messages in one APPEND
C: p5 APPEND Dest {%simple.eml+} {%simple.eml+} CATENATE (URL "/Dest/;UID=${U1}") CATENATE (URL "/Dest/;UID=${U1}")
S: p5 NO [MESSAGELIMIT 3] Too many messages in one APPEND
C: p6 STATUS Dest (MESSAGES)
S: * STATUS Dest (MESSAGES 3)
S~ p6 OK .*
C: p7 APPEND Dest {%simple.eml+} CATENATE (URL "/Dest/;UID=${U1}") CATENATE (TEXT {%=x+})
S~ \* [0-9]+ EXISTS
S* p7 OK \[APPENDUID \d+ \d+:\d+\] .*
C: p8 STATUS Dest (MESSAGES)
S: * STATUS Dest (MESSAGES 6)
S~ p8 OK .*
# RFC 9738 3.1 with PARTIAL (RFC 9394): a range over the limit is
# refused before any work, one within it is answered in full
C: q1 UID FETCH 1:* (UID) (PARTIAL 1:5)
S~ q1 NO \[MESSAGELIMIT 3\] .*
C: q2 UID FETCH 1:* (UID) (PARTIAL -1:-2)
S~ \* [0-9]+ FETCH \(UID [0-9]+\)
S~ \* [0-9]+ FETCH \(UID [0-9]+\)
S~ q2 OK .*
C: z1 LOGOUT
S~ \* BYE .*
S~ z1 OK .*
