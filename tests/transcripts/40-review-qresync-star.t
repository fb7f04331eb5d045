# Review: RFC 7162 3.2.5 / section 7 grammar: known-uids is a sequence-set
# of UIDs where "*" is not allowed ("known-uids = sequence-set ;; Sequence
# of UIDs; "*" is not allowed."): SELECT ... (QRESYNC (uv modseq 1:*))
# is a syntax error and must get a tagged BAD
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
# "*" is not allowed in known-uids
C: a7 SELECT INBOX (QRESYNC (${uv} ${hm} 1:*))
S~ a7 BAD .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
