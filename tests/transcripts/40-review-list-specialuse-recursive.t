# Review: RFC 9051 6.3.9.1 RECURSIVEMATCH "forces the server to return
# information about parent mailboxes that don't match other selection
# options but have some submailboxes that do" (with CHILDINFO, 6.3.9.6).
# That is generic: with the SPECIAL-USE selection option (RFC 6154) a
# parent of a special-use mailbox is returned with
# ("CHILDINFO" ("SPECIAL-USE")). (The server accepts the combination
# but ignores RECURSIVEMATCH.)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: c1 CREATE Archive
S~ c1 OK .*
C: c2 CREATE Archive/2020 (USE (\Archive))
S~ c2 OK .*
C: c3 CREATE Other/Bin (USE (\Trash))
S~ c3 OK .*
C: l1 LIST (SPECIAL-USE) "" *
S& ~\* LIST \((?=[^)]*\\Archive)[^)]*\) "/" "?Archive/2020"?
S& ~\* LIST \((?=[^)]*\\Trash)[^)]*\) "/" "?Other/Bin"?
S~ l1 OK .*
C: l2 LIST (SPECIAL-USE RECURSIVEMATCH) "" %
S& ~\* LIST \((?![^)]*\\NonExistent)[^)]*\) "/" "?Archive"? \("CHILDINFO" \("SPECIAL-USE"\)\)
S& ~\* LIST \([^)]*\) "/" "?Other"? \("CHILDINFO" \("SPECIAL-USE"\)\)
S~ l2 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
