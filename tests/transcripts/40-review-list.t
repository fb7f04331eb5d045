# Review: LIST examples of RFC 9051 6.3.9.8 that the server gets right
# (LIST "" "", RECURSIVEMATCH alone, RETURN STATUS, multiple patterns)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# 6.3.9.8: LIST "" "" returns the hierarchy delimiter
C: A101 LIST "" ""
S: * LIST (\Noselect) "/" ""
S~ A101 OK .*
# hierarchy of example 8 (baz2, eps2 and qux2 do not exist themselves)
C: x1 CREATE foo2
S~ x1 OK .*
C: x2 CREATE foo2/bar1
S~ x2 OK .*
C: x3 CREATE foo2/bar2
S~ x3 OK .*
C: x4 CREATE baz2/bar2
S~ x4 OK .*
C: x5 CREATE baz2/bar22
S~ x5 OK .*
C: x6 CREATE baz2/bar222
S~ x6 OK .*
C: x7 CREATE eps2/mamba
S~ x7 OK .*
C: x8 CREATE qux2/bar2
S~ x8 OK .*
C: y1 SUBSCRIBE foo2/bar1
S~ y1 OK .*
C: y2 SUBSCRIBE foo2/bar2
S~ y2 OK .*
C: y3 SUBSCRIBE baz2/bar2
S~ y3 OK .*
C: y4 SUBSCRIBE baz2/bar22
S~ y4 OK .*
C: y5 SUBSCRIBE baz2/bar222
S~ y5 OK .*
C: y6 SUBSCRIBE eps2
S~ y6 OK .*
C: y7 SUBSCRIBE eps2/mamba
S~ y7 OK .*
C: y8 SUBSCRIBE qux2/bar2
S~ y8 OK .*
# RECURSIVEMATCH alone is a BAD command (6.3.9.1)
C: D10 LIST (RECURSIVEMATCH) "" %
S~ D10 BAD .*
# basic LIST with STATUS: a \Noselect / \NonExistent name has no STATUS
C: A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))
S& ~\* LIST \(.*\) "/" "?INBOX"?
S& * STATUS INBOX (MESSAGES 0 UNSEEN 0)
S& ~\* LIST \(.*\) "/" "?foo2"?
S& * STATUS foo2 (MESSAGES 0 UNSEEN 0)
S& ~\* LIST \((?=.*\\(NonExistent|Noselect)).*\) "/" "?baz2"?
S& ~\* LIST \((?=.*\\(NonExistent|Noselect)).*\) "/" "?eps2"?
S& ~\* LIST \((?=.*\\(NonExistent|Noselect)).*\) "/" "?qux2"?
S~ A01 OK .*
# multiple patterns (6.3.9 "mbox-or-pat")
C: D09 LIST "" (foo2 eps2/%)
S& ~\* LIST \(.*\) "/" "?eps2/mamba"?
S& ~\* LIST \(.*\) "/" "?foo2"?
S~ D09 OK .*
# 6.3.9.8 example 9: CHILDINFO does not imply \HasChildren
C: e1 CREATE foo
S~ e1 OK .*
C: e2 SUBSCRIBE foo/bar
S~ e2 OK .*
C: e3 LIST "" (foo)
S~ \* LIST \((\\HasNoChildren)?\) "/" foo
S~ e3 OK .*
C: e4 LIST (SUBSCRIBED) "" "foo/*"
S~ \* LIST \((?=[^)]*\\Subscribed)(?=[^)]*\\NonExistent)[^)]*\) "/" foo/bar
S~ e4 OK .*
C: e5 LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)
S: * LIST (\HasNoChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))
S~ e5 OK .*
C: z9 LOGOUT
S~ \* BYE .*
S~ z9 OK .*
