# Two users sharing through ACLs: NAMESPACE, LIST across namespaces
# (\Noselect levels, \HasChildren, RETURN (MYRIGHTS), LIST-STATUS needing
# r), SELECT/EXAMINE/STATUS of another user's mailbox, CREATE needing k,
# subscriptions to other users' mailboxes, and name tricks that must not
# reach a mailbox the user may not see.
@user alice secret
@user bob secret
@sleepless
@msg m1
Subject: one

hello
@end
@append INBOX m1
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 NAMESPACE
S: * NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))
S~ a2 OK .*
C: a3 CREATE proj
S~ a3 OK .*
C: a4 CREATE proj/sub
S~ a4 OK .*
C: a5 CREATE secret
S~ a5 OK .*
C: a6 APPEND proj {%m1}
S~ a6 OK .*
C: a7 SETACL proj bob lrs
S~ a7 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
# alice's proj is visible in the other users namespace; the namespace
# root and the account level are \Noselect; secret and her INBOX are not
C: b2 LIST "" "*"
S& ~\* LIST \(\\HasNoChildren\) "/" "?INBOX"?
S& * LIST (\Noselect \HasChildren) "/" "Other Users"
S& * LIST (\Noselect \HasChildren) "/" "Other Users/alice"
S& * LIST (\HasNoChildren) "/" "Other Users/alice/proj"
S~ b2 OK .*
C: b3 LIST "" "%"
S& ~\* LIST \(\\HasNoChildren\) "/" "?INBOX"?
S& * LIST (\Noselect \HasChildren) "/" "Other Users"
S~ b3 OK .*
C: b4 LIST "Other Users/" "%"
S: * LIST (\Noselect \HasChildren) "/" "Other Users/alice"
S~ b4 OK .*
C: b5 LIST "" "Other Users/alice/*" RETURN (MYRIGHTS)
S: * LIST (\HasNoChildren) "/" "Other Users/alice/proj"
S: * MYRIGHTS "Other Users/alice/proj" lrs
S~ b5 OK .*
C: b6 LIST "" "Other Users/alice/proj" RETURN (STATUS (MESSAGES UNSEEN))
S: * LIST (\HasNoChildren) "/" "Other Users/alice/proj"
S: * STATUS "Other Users/alice/proj" (MESSAGES 1 UNSEEN 1)
S~ b6 OK .*
C: b7 STATUS "Other Users/alice/proj" (MESSAGES UNSEEN)
S: * STATUS "Other Users/alice/proj" (MESSAGES 1 UNSEEN 1)
S~ b7 OK .*
# SELECT with l r s: read-write (s), and bob's \Seen is his own
C: b8 SELECT "Other Users/alice/proj"
S* \* OK \[PERMANENTFLAGS \(\\Seen\)\].*
S* b8 OK \[READ-WRITE\] .*
C: b9 FETCH 1 (FLAGS)
S: * 1 FETCH (FLAGS ())
S~ b9 OK .*
C: b10 STORE 1 +FLAGS (\Seen)
S: * 1 FETCH (FLAGS (\Seen))
S~ b10 OK .*
C: b11 STORE 1 +FLAGS (\Flagged)
S~ b11 NO .*
C: b12 UNSELECT
S~ b12 OK .*
C: b13 STATUS "Other Users/alice/proj" (UNSEEN)
S: * STATUS "Other Users/alice/proj" (UNSEEN 0)
S~ b13 OK .*
C: b14 CREATE "Other Users/alice/proj/mine"
S~ b14 NO \[NOPERM\] .*
C: b15 DELETE "Other Users/alice/proj"
S~ b15 NO \[NOPERM\] .*
# subscriptions to names in other namespaces
C: b16 SUBSCRIBE "Other Users/alice/proj"
S~ b16 OK .*
C: b17 LSUB "" "Other*"
S: * LSUB () "/" "Other Users/alice/proj"
S~ b17 OK .*
C: b18 LIST (SUBSCRIBED) "" "Other*"
S: * LIST (\HasNoChildren \Subscribed) "/" "Other Users/alice/proj"
S~ b18 OK .*
# name tricks: none of these reaches alice's hidden mailboxes
C: b19 SELECT "Other Users/alice/secret"
S~ b19 NO \[NONEXISTENT\] .*
C: b20 SELECT "Other Users/alice"
S~ b20 NO \[NONEXISTENT\] .*
C: b21 SELECT "Other Users/bob/../alice/secret"
S~ b21 NO \[NONEXISTENT\] .*
C: b22 SELECT "other users/alice/proj"
S~ b22 NO \[NONEXISTENT\] .*
C: b23 SELECT "Other Users//alice/proj"
S~ b23 NO .*
C: b24 SELECT "Other Users/ALICE/proj"
S~ b24 NO \[NONEXISTENT\] .*
# modified UTF-7 overlong form of "a" (printable ASCII must not be encoded)
C: b25 SELECT "Other Users/&AGE-lice/proj"
S~ b25 NO .*
C: b26 SELECT "Other Users/alice/proj/"
S~ b26 NO .*
C: b27 SELECT "Other Users/alice@localhost/proj"
S~ b27 NO \[NONEXISTENT\] .*
C: b28 STATUS "Other Users/alice/secret" (MESSAGES)
S~ b28 NO \[NONEXISTENT\] .*
C: b29 EXAMINE "Other Users/alice/secret"
S~ b29 NO \[NONEXISTENT\] .*
# "user/alice" is an ordinary personal name for a non-admin
C: b30 CREATE user/alice
S~ b30 OK .*
C: b31 MYRIGHTS user/alice
S: * MYRIGHTS user/alice lrswipkxteancd
S~ b31 OK .*
C: b32 LIST "" "user/*"
S: * LIST (\HasNoChildren) "/" user/alice
S~ b32 OK .*
@use alice
# r without l: usable by name, but not listed
C: a8 SETACL proj bob r
S~ a8 OK .*
C: a9 SETACL proj/sub bob lrk
S~ a9 OK .*
@use bob
C: b33 LIST "" "Other Users/*"
S: * LIST (\Noselect \HasChildren) "/" "Other Users/alice"
S: * LIST (\Noselect \HasChildren) "/" "Other Users/alice/proj"
S: * LIST (\HasNoChildren) "/" "Other Users/alice/proj/sub"
S~ b33 OK .*
C: b34 EXAMINE "Other Users/alice/proj"
S* b34 OK \[READ-ONLY\] .*
C: b35 CREATE "Other Users/alice/proj/sub/mine"
S~ b35 OK .*
C: b36 MYRIGHTS "Other Users/alice/proj/sub/mine"
S: * MYRIGHTS "Other Users/alice/proj/sub/mine" lrkc
S~ b36 OK .*
C: b37 LOGOUT
S~ \* BYE .*
S~ b37 OK .*
