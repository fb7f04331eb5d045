# virtdomains: identities are user@domain; a bare identifier or account
# name means the same domain, other domains are invisible (domain
# suffixes in names and identifiers are refused), a domain admin
# administers only its own domain; anonymous sessions have no personal
# namespace.
@config virtdomains yes
@config admins boss@example.com
@config allowanonymouslogin yes
@user alice@example.com secret
@user bob@example.com secret
@user carol@other.org secret
@user boss@example.com secret
@sleepless
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice@example.com secret
S~ a1 OK .*
C: a2 CREATE proj
S~ a2 OK .*
C: a3 SETACL proj bob lr
S~ a3 OK .*
C: a4 GETACL proj
S~ \* ACL proj(?=.* bob lr( |$))(?!.*@).*
S~ a4 OK .*
# another domain's user cannot be named by a user
C: a5 SETACL proj carol@other.org lr
S~ a5 BAD .*
C: a6 SETACL proj bob@example.com +s
S~ a6 OK .*
C: a7 GETACL proj
S~ \* ACL proj(?=.* bob lrs( |$))(?!.*@).*
S~ a7 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob@example.com secret
S~ b1 OK .*
C: b2 LIST "" "Other Users/*"
S: * LIST (\Noselect \HasChildren) "/" "Other Users/alice"
S: * LIST (\HasNoChildren) "/" "Other Users/alice/proj"
S~ b2 OK .*
C: b3 MYRIGHTS "Other Users/alice/proj"
S: * MYRIGHTS "Other Users/alice/proj" lrs
S~ b3 OK .*
# the domain is implied; spelling it out is a second spelling
C: b4 MYRIGHTS "Other Users/alice@example.com/proj"
S~ b4 NO \[NONEXISTENT\] .*
@connect plain carol
S~ \* OK .*
C: c1 LOGIN carol@other.org secret
S~ c1 OK .*
C: c2 LIST "" "*"
S~ \* LIST \(\\HasNoChildren\) "/" "?INBOX"?
S~ c2 OK .*
C: c3 MYRIGHTS "Other Users/alice/proj"
S~ c3 NO \[NONEXISTENT\] .*
C: c4 MYRIGHTS "Other Users/alice@example.com/proj"
S~ c4 NO \[NONEXISTENT\] .*
C: c5 SELECT "Other Users/alice@example.com/proj"
S~ c5 NO \[NONEXISTENT\] .*
@connect plain boss
S~ \* OK .*
C: d1 LOGIN boss@example.com secret
S~ d1 OK .*
C: d2 NAMESPACE
S: * NAMESPACE (("" "/")) (("user/" "/")) (("Shared Folders/" "/"))
S~ d2 OK .*
C: d3 LIST "" "user/%"
S& * LIST (\HasChildren) "/" user/alice
S& * LIST (\HasNoChildren) "/" user/bob
S~ d3 OK .*
C: d4 GETACL user/alice/proj
S~ \* ACL user/alice/proj(?=.* bob lrs( |$)).*
S~ d4 OK .*
C: d5 SETQUOTA user/bob (STORAGE 50)
S: * QUOTA "user/bob" (STORAGE 0 50)
S~ d5 OK .*
# not this admin's domain
C: d6 SETQUOTA user/carol@other.org (STORAGE 50)
S~ d6 NO .*
C: d7 GETQUOTA user/carol@other.org
S~ d7 NO .*
C: d8 MYRIGHTS user/carol@other.org
S~ d8 NO \[NONEXISTENT\] .*
@connect plain anon
S~ \* OK .*
C: e1 LOGIN anonymous guest
S~ e1 OK .*
C: e2 NAMESPACE
S: * NAMESPACE NIL (("Other Users/" "/")) (("Shared Folders/" "/"))
S~ e2 OK .*
C: e3 SUBSCRIBE "Shared Folders/x"
S~ e3 NO .*
C: e4 LOGOUT
S~ \* BYE .*
S~ e4 OK .*
