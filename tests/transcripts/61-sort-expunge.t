# SORT while another session expunges (RFC 5256 3: no untagged EXPUNGE
# during SORT, allowed during UID SORT); the message this session still
# shows is sorted with the rest (as SEARCH evaluates it, RFC 2180 4.3).
@user alice secret
@append INBOX sort-4.eml
@append INBOX sort-2.eml
@append INBOX sort-1.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK .*
C: a3 SORT (SUBJECT) UTF-8 ALL
S: * SORT 2 1 3
S~ a3 OK .*
@connect plain other
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 SELECT INBOX
S* o2 OK .*
C: o3 STORE 2 +FLAGS.SILENT (\Deleted)
S~ o3 OK .*
C: o4 EXPUNGE
S: * 2 EXPUNGE
S~ o4 OK .*
@use main
C: b1 SORT (SUBJECT) UTF-8 ALL
S& * SORT 2 1 3
S& ?~\* \d+ FETCH \(FLAGS .*\)
S~ b1 OK .*
C: b2 SORT RETURN (COUNT MIN) (REVERSE SUBJECT) UTF-8 ALL
S& * ESEARCH (TAG "b2") MIN 3 COUNT 3
S& ?~\* \d+ FETCH \(FLAGS .*\)
S~ b2 OK .*
C: b3 UID SORT (SUBJECT) UTF-8 ALL
S& * SORT 2 1 3
S& * 2 EXPUNGE
S& ?~\* \d+ FETCH \(FLAGS .*\)
S~ b3 OK .*
C: b4 SORT (SUBJECT) UTF-8 ALL
S: * SORT 1 2
S~ b4 OK .*
C: z1 LOGOUT
S~ \* BYE .*
S~ z1 OK .*
