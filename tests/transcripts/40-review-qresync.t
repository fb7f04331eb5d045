# Review: QRESYNC SELECT parameters (RFC 7162 3.2.5, 3.2.5.1): known-uids
# limit what is reported, "*" is not allowed in known-uids, QRESYNC
# needs ENABLE QRESYNC first, and a UIDVALIDITY mismatch reports nothing
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# 3.2.5: QRESYNC without ENABLE QRESYNC is a BAD
C: a2 SELECT INBOX (QRESYNC (1 1))
S* a2 BAD .*
C: a3 ENABLE QRESYNC
S: * ENABLED QRESYNC
S~ a3 OK .*
C: a4 SELECT INBOX
S* \* OK \[UIDVALIDITY (?P<uv>[0-9]+)\].*
S* \* OK \[HIGHESTMODSEQ (?P<hm>[0-9]+)\].*
S* a4 OK .*
C: a5 UNSELECT
S~ a5 OK .*
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 SELECT INBOX
S* b2 OK .*
C: b3 UID STORE 2,5 +FLAGS.SILENT (\Deleted)
S~ b3 OK .*
C: b4 UID EXPUNGE 2,5
S* b4 OK .*
C: b5 UID STORE 3,6 +FLAGS.SILENT (\Seen)
S~ b5 OK .*
@use A
# known UIDs 1:4: UID 2 vanished and UID 3 changed; UID 5 and UID 6
# are outside the known set ("should only report ... for the specified
# messages", 3.2.5.1), so they are optional
C: a6 SELECT INBOX (QRESYNC (${uv} ${hm} 1:4))
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS .*
S& * 4 EXISTS
S& ~\* [0-9]+ RECENT
S& ~\* OK \[UIDVALIDITY ${uv}\].*
S& ~\* OK \[UIDNEXT 7\].*
S& ~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ~\* OK \[MAILBOXID .*
S& ?~\* OK \[UNSEEN [0-9]+\].*
S& ~\* VANISHED \(EARLIER\) 2(,5)?
S& ~\* 2 FETCH \((?=.*UID 3)(?=.*FLAGS \([^)]*\\Seen)(?=.*MODSEQ).*\)
S& ?~\* 4 FETCH \((?=.*UID 6).*\)
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a6 OK \[READ-WRITE\] .*
# wrong UIDVALIDITY: a normal SELECT, no VANISHED and no FETCH
C: a8 UNSELECT
S* a8 (OK|BAD) .*
C: a9 SELECT INBOX (QRESYNC (1 ${hm}))
S& * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S& ~\* OK \[PERMANENTFLAGS .*
S& * 4 EXISTS
S& ~\* [0-9]+ RECENT
S& ~\* OK \[UIDVALIDITY ${uv}\].*
S& ~\* OK \[UIDNEXT 7\].*
S& ~\* OK \[HIGHESTMODSEQ [0-9]+\].*
S& ~\* OK \[MAILBOXID .*
S& ?~\* OK \[UNSEEN [0-9]+\].*
S& ?~\* OK \[URLMECH INTERNAL\].*
S~ a9 OK \[READ-WRITE\] .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
