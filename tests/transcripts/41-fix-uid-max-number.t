# Issue 12 bug: a literal 4294967295 in a sequence set is a number, not "*"
# (RFC 9051 9: seq-number = nz-number / "*"; "*" is the largest number in
# use). uidnext:4294967295 names no existing message, while uidnext:* names
# the last one (the range is unordered).
@user alice secret
@append INBOX simple.eml
@append INBOX simple.eml
@append INBOX simple.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: a3 UID SEARCH UID 4:4294967295
S: * SEARCH
S~ a3 OK .*
C: a4 UID SEARCH UID 4:*
S: * SEARCH 3
S~ a4 OK .*
C: a5 UID SEARCH UID 4294967295
S: * SEARCH
S~ a5 OK .*
C: a6 UID SEARCH UID 2:4294967295
S: * SEARCH 2 3
S~ a6 OK .*
C: a7 SEARCH UID 4294967295:4,1
S: * SEARCH 1
S~ a7 OK .*
C: a8 UID SEARCH 4:4294967295
S: * SEARCH
S~ a8 OK .*
C: b1 UID FETCH 4:4294967295 UID
S~ b1 OK .*
C: b2 UID FETCH 4294967295 UID
S~ b2 OK .*
C: b3 UID FETCH 4:* UID
S: * 3 FETCH (UID 3)
S~ b3 OK .*
C: b4 UID STORE 4:4294967295 +FLAGS (\Flagged)
S~ b4 OK .*
C: b5 UID STORE 3:4294967295 +FLAGS (\Seen)
S~ \* 3 FETCH \((?=.*UID 3\b)(?=.*\\Seen).*\)
S~ b5 OK .*
C: b6 FETCH 4294967295 UID
S~ b6 BAD .*
C: b7 UID COPY 4:4294967295 INBOX
S~ b7 OK .*
C: b8 FETCH 1:* (FLAGS)
S: * 1 FETCH (FLAGS (\Recent))
S: * 2 FETCH (FLAGS (\Recent))
S: * 3 FETCH (FLAGS (\Seen \Recent))
S~ b8 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
@eof
