# unixhierarchysep: no - '.' separates levels, so a '.' in a user name is
# shown as '^' ("Other Users.john^smith"); admins see the other users
# namespace as "user" (Cyrus's admin namespace, what cyradm uses) with l
# and a on every mailbox; quota roots of other users for admins.
@config unixhierarchysep no
@config admins admin
@user alice secret
@user john.smith secret
@user admin secret
@sleepless
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 NAMESPACE
S: * NAMESPACE (("" ".")) (("Other Users." ".")) (("Shared Folders." "."))
S~ a2 OK .*
C: a3 CREATE proj
S~ a3 OK .*
C: a4 CREATE proj.sub
S~ a4 OK .*
C: a5 SETACL proj john.smith lr
S~ a5 OK .*
C: a6 GETACL proj
S~ \* ACL proj(?=.* john\.smith lr( |$)).*
S~ a6 OK .*
# '/' is not a separator here and not allowed in names
C: a7 CREATE "a/b"
S~ a7 NO .*
@connect plain john
S~ \* OK .*
C: j1 LOGIN john.smith secret
S~ j1 OK .*
C: j2 LIST "" "*"
S& ~\* LIST \(\\HasNoChildren\) "\." "?INBOX"?
S& * LIST (\Noselect \HasChildren) "." "Other Users"
S& * LIST (\Noselect \HasChildren) "." "Other Users.alice"
S& * LIST (\HasNoChildren) "." "Other Users.alice.proj"
S~ j2 OK .*
C: j3 MYRIGHTS "Other Users.alice.proj"
S: * MYRIGHTS "Other Users.alice.proj" lr
S~ j3 OK .*
C: j4 EXAMINE "Other Users.alice.proj"
S* j4 OK \[READ-ONLY\] .*
C: j5 SELECT "Other Users.alice.proj"
S* j5 OK \[READ-ONLY\] .*
C: j6 CREATE mine
S~ j6 OK .*
C: j7 SETACL mine alice lr
S~ j7 OK .*
C: j8 GETQUOTAROOT INBOX
S: * QUOTAROOT "INBOX" "user.john^smith"
S: * QUOTA "user.john^smith" ()
S~ j8 OK .*
@use alice
C: a8 LIST "" "Other Users.*"
S: * LIST (\Noselect \HasChildren) "." "Other Users.john^smith"
S: * LIST (\HasNoChildren) "." "Other Users.john^smith.mine"
S~ a8 OK .*
C: a9 MYRIGHTS "Other Users.john^smith.mine"
S: * MYRIGHTS "Other Users.john^smith.mine" lr
S~ a9 OK .*
# the '.' spelling of the user name is a second spelling: refused
C: a10 MYRIGHTS "Other Users.john.smith.mine"
S~ a10 NO \[NONEXISTENT\] .*
@connect plain admin
S~ \* OK .*
C: d1 LOGIN admin secret
S~ d1 OK .*
C: d2 NAMESPACE
S: * NAMESPACE (("" ".")) (("user." ".")) (("Shared Folders." "."))
S~ d2 OK .*
C: d3 LIST "" "user.%"
S& * LIST (\HasChildren) "." user.alice
S& * LIST (\HasChildren) "." "user.john^smith"
S~ d3 OK .*
C: d4 MYRIGHTS user.alice.proj
S: * MYRIGHTS user.alice.proj la
S~ d4 OK .*
C: d5 GETACL user.alice.proj
S~ \* ACL user\.alice\.proj(?=.* john\.smith lr( |$)).*
S~ d5 OK .*
# l and a, not r: no SELECT
C: d6 SELECT user.alice.proj
S~ d6 NO \[NOPERM\] .*
C: d7 SETACL user.alice.proj admin +r
S~ d7 OK .*
C: d8 EXAMINE user.alice.proj
S* d8 OK \[READ-ONLY\] .*
C: d9 SETQUOTA "user.john^smith" (STORAGE 100)
S: * QUOTA "user.john^smith" (STORAGE 0 100)
S~ d9 OK .*
C: d10 GETQUOTAROOT user.alice.proj
S: * QUOTAROOT "user.alice.proj" "user.alice"
S: * QUOTA "user.alice" ()
S~ d10 OK .*
# "Other Users" means nothing special to an admin: a personal name
C: d11 MYRIGHTS "Other Users.alice.proj"
S~ d11 NO \[NONEXISTENT\] .*
# accounts as top-level mailboxes (cyradm "cm user.carol")
C: d12 CREATE user.carol
S~ d12 OK .*
C: d13 LIST "" "user.carol*"
S: * LIST (\HasNoChildren) "." user.carol
S~ d13 OK .*
C: d14 SETQUOTA user.carol (STORAGE 10 MESSAGE 5)
S: * QUOTA "user.carol" (STORAGE 0 10 MESSAGE 0 5)
S~ d14 OK .*
C: d15 DELETE user.carol
S~ d15 OK .*
C: d16 LIST "" "user.carol*"
S~ d16 OK .*
C: d17 GETQUOTA user.carol
S~ d17 NO \[NONEXISTENT\] .*
# shared folders: the quota root of the whole shared store
C: d18 CREATE "Shared Folders.news"
S~ d18 OK .*
C: d19 SETQUOTA "Shared Folders" (MAILBOX 10)
S~ \* QUOTA "Shared Folders" \(MAILBOX [0-9]+ 10\)
S~ d19 OK .*
C: d20 GETQUOTAROOT "Shared Folders.news"
S: * QUOTAROOT "Shared Folders.news" "Shared Folders"
S~ \* QUOTA "Shared Folders" \(MAILBOX [0-9]+ 10\)
S~ d20 OK .*
@use john
C: j9 GETQUOTAROOT INBOX
S: * QUOTAROOT "INBOX" "user.john^smith"
S: * QUOTA "user.john^smith" (STORAGE 0 100)
S~ j9 OK .*
C: j10 GETQUOTA "user.alice"
S~ j10 NO \[NOPERM\] .*
C: j11 LOGOUT
S~ \* BYE .*
S~ j11 OK .*
