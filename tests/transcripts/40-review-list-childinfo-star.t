# Review: RFC 9051 6.3.9.6/6.3.9.8 example 8: RECURSIVEMATCH must return CHILDINFO
# for names whose matching children are not all returned (pattern "*2")
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
# Example 8, D03: "foo2" matches "*2", is not subscribed, and has a
# subscribed child (foo2/bar1) that is NOT returned: it must be returned
# with CHILDINFO.  "eps2" is subscribed and its subscribed child
# eps2/mamba is not returned: CHILDINFO too (Table 3 of 6.3.9.6).
# baz2 / qux2 with CHILDINFO are optional (redundant).
C: D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"
S& ~\* LIST \((?!.*\\Subscribed)(?!.*\\NonExistent)[^)]*\) "/" "?foo2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed\) "/" "?foo2/bar2"?
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed\) "/" "?baz2/bar2"?
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed\) "/" "?baz2/bar22"?
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed\) "/" "?baz2/bar222"?
S& ~\* LIST \((?=[^)]*\\Subscribed)[^)]*\) "/" "?eps2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed\) "/" "?qux2/bar2"?
S& ?~\* LIST \(.*\) "/" "?baz2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S& ?~\* LIST \(.*\) "/" "?qux2"? \("CHILDINFO" \("SUBSCRIBED"\)\)
S~ D03 OK .*
C: z9 LOGOUT
S~ \* BYE .*
S~ z9 OK .*
