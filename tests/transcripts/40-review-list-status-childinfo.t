# Review: RFC 5819 section 3 / RFC 9051 6.3.9.8 example 11: no STATUS for a
# name returned only because of CHILDINFO
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
# Example 11 (RFC 5819 section 3): a name returned only because of
# CHILDINFO does not meet the selection criteria: no STATUS for it.
C: z1 SUBSCRIBE INBOX
S~ z1 OK .*
C: A02 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed\) "/" "?INBOX"?
S& * STATUS INBOX (MESSAGES 0)
S& ~\* LIST \(.*\) "/" "?baz2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S& ~\* LIST \(.*\) "/" "?eps2"?( \("CHILDINFO" \("SUBSCRIBED"\)\))?
S& ~\* LIST \(.*\) "/" "?foo2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S& ~\* LIST \(.*\) "/" "?qux2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S~ A02 OK .*
C: z9 LOGOUT
S~ \* BYE .*
S~ z9 OK .*
