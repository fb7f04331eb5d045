# Review: RFC 7162 3.2.4 (the server advertises QRESYNC): "Once a CONDSTORE
# enabling command is issued by the client, the server MUST automatically
# include both UID and mod-sequence data in all subsequent untagged FETCH
# responses ... whether they were caused by a regular STORE/UID STORE, a
# STORE/UID STORE with an UNCHANGEDSINCE modifier, a FETCH/UID FETCH that
# implicitly set the \Seen flag, or an external agent."
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 ENABLE CONDSTORE
S: * ENABLED CONDSTORE
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
# regular STORE
C: a4 STORE 1 +FLAGS (\Flagged)
S~ \* 1 FETCH \((?=.*\bUID 1\b)(?=.*\bMODSEQ \([0-9]+\)).*\)
S~ a4 OK .*
# STORE with UNCHANGEDSINCE
C: a5 STORE 2 (UNCHANGEDSINCE 999999) +FLAGS (\Answered)
S~ \* 2 FETCH \((?=.*\bUID 2\b)(?=.*\bMODSEQ \([0-9]+\)).*\)
S~ a5 OK .*
# FETCH that implicitly sets \Seen
C: a6 FETCH 1 (BODY[TEXT])
S~ \* 1 FETCH \((?=.*\bUID 1\b)(?=.*\bMODSEQ \([0-9]+\))(?=.*FLAGS \([^)]*\\Seen).*\)
S~ a6 OK .*
# an external agent
@connect plain B
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 SELECT INBOX
S* b2 OK .*
C: b3 STORE 2 +FLAGS.SILENT (\Draft)
S~ b3 OK .*
@use A
C: a7 NOOP
S~ \* 2 FETCH \((?=.*\bUID 2\b)(?=.*\bMODSEQ \([0-9]+\))(?=.*FLAGS \([^)]*\\Draft).*\)
S~ a7 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
