# STORE (RFC 9051 6.4.6), keywords, UNCHANGEDSINCE / MODIFIED (RFC 7162 3.1.3)
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@append INBOX multipart.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 ENABLE IMAP4rev2
S~ \* ENABLED IMAP4rev2
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
C: s1 STORE 1 +FLAGS (\Seen)
S: * 1 FETCH (FLAGS (\Seen))
S~ s1 OK .*
C: s2 STORE 1 +FLAGS (\Flagged $Work)
S& ?~\* FLAGS \(.*\$Work.*\)
S& ?~\* OK \[PERMANENTFLAGS .*
S& ~\* 1 FETCH \(FLAGS \((?=[^)]*\\Seen)(?=[^)]*\\Flagged)(?=[^)]*\$Work)[^)]*\)\)
S~ s2 OK .*
C: s3 STORE 1 -FLAGS.SILENT (\Seen)
S~ s3 OK .*
C: s4 FETCH 1 FLAGS
S~ \* 1 FETCH \(FLAGS \((\\Flagged \$Work|\$Work \\Flagged)\)\)
S~ s4 OK .*
C: s5 STORE 1:2 FLAGS (\Answered)
S: * 1 FETCH (FLAGS (\Answered))
S: * 2 FETCH (FLAGS (\Answered))
S~ s5 OK .*
C: s6 UID STORE 3 +FLAGS (\Draft)
S~ \* 3 FETCH \((FLAGS \(\\Draft\) UID 3|UID 3 FLAGS \(\\Draft\))\)
S~ s6 OK .*
C: s7 STORE 2 FLAGS ()
S: * 2 FETCH (FLAGS ())
S~ s7 OK .*
# new keywords show up in FLAGS and PERMANENTFLAGS on next SELECT
C: s8 SELECT INBOX
S& ~\* OK \[CLOSED\].*
S& ~\* FLAGS \((?=.*\$Work).*\)
S& ~\* OK \[PERMANENTFLAGS \((?=.*\\\*).*\)\].*
S& * 3 EXISTS
S& ~\* OK \[UIDVALIDITY \d+\].*
S& ~\* OK \[UIDNEXT 4\].*
S& ?~\* LIST \(.*\) "/" INBOX
S& ?~\* OK \[HIGHESTMODSEQ \d+\].*
S& ?~\* OK \[MAILBOXID \(.*\)\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ s8 OK \[READ-WRITE\] .*
# errors
C: e1 STORE 1 +FLAGS (\Recent)
S~ e1 (BAD|NO) .*
C: e2 STORE 1 FLAGZ (\Seen)
S~ e2 BAD .*
C: e3 STORE 1 +FLAGS
S~ e3 BAD .*
C: e4 STORE 9 +FLAGS (\Seen)
S~ e4 BAD .*
C: e5 UID STORE 9 +FLAGS (\Seen)
S~ e5 OK .*
# CONDSTORE
C: c1 ENABLE CONDSTORE
S~ (\* ENABLED CONDSTORE|c1 OK .*)
S* c1 OK .*
C: c2 FETCH 1 (MODSEQ)
S~ \* 1 FETCH \(MODSEQ \((\d+)\)\)
S~ c2 OK .*
C: c3 STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\Seen)
S~ c3 OK \[MODIFIED 1\] .*
C: c4 STORE 1,2 (UNCHANGEDSINCE 18446744073709551) +FLAGS (\Seen)
# RFC 7162 3.2.4 (QRESYNC is advertised): with CONDSTORE enabled every
# untagged FETCH caused by a STORE includes UID and MODSEQ
S~ \* 1 FETCH \(UID \d+ FLAGS \(.*\\Seen.*\) MODSEQ \(\d+\)\)
S~ \* 2 FETCH \(UID \d+ FLAGS \(\\Seen\) MODSEQ \(\d+\)\)
S~ c4 OK .*
C: c5 UID STORE 2 (UNCHANGEDSINCE 0) -FLAGS (\Seen)
S~ c5 OK \[MODIFIED 2\] .*
C: c6 FETCH 1:3 (FLAGS) (CHANGEDSINCE 1)
S~ \* 1 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)
S~ \* 2 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)
S~ \* 3 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)
S~ c6 OK .*
# IMAP4rev2 is enabled: SEARCH answers with ESEARCH (RFC 9051 6.4.4, RFC 7162 3.1.10)
C: c7 SEARCH MODSEQ 1
S~ \* ESEARCH \(TAG "c7"\) ALL 1:3 MODSEQ \d+
S~ c7 OK .*
C: c8 STORE 1 (UNCHANGEDSINCE x) +FLAGS (\Seen)
S~ c8 BAD .*
C: c9 LOGOUT
S~ \* BYE .*
S~ c9 OK .*
