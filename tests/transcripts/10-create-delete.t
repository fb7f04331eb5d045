# CREATE / DELETE (RFC 9051 6.3.4, 6.3.5; RFC 5530 codes; RFC 6154 CREATE-SPECIAL-USE)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE work
S~ a2 OK .*
C: a3 CREATE work
S~ a3 NO \[ALREADYEXISTS\] .*
C: a4 CREATE INBOX
S~ a4 NO .*
C: a5 CREATE inbox
S~ a5 NO .*
# a trailing separator is ignored (6.3.4)
C: a6 CREATE projects/
S~ a6 OK .*
# intermediate levels are created as needed (6.3.4: SHOULD create superior
# names; they may be \Noselect placeholders)
C: a7 CREATE x/y/z
S~ a7 OK .*
C: a8 LIST "" x*
S& ~\* LIST \((\\Noselect )?\\HasChildren\) "/" x
S& ~\* LIST \((\\Noselect )?\\HasChildren\) "/" x/y
S& * LIST (\HasNoChildren) "/" x/y/z
S~ a8 OK .*
C: a9 CREATE a
S~ a9 OK .*
C: a9b CREATE a/b
S~ a9b OK .*
C: a9c CREATE a/b/c
S~ a9c OK .*
C: a10 CREATE "Sent Items" (USE (\Sent))
S~ a10 OK .*
C: a11 LIST "" "Sent Items" RETURN (SPECIAL-USE)
S~ \* LIST \((\\HasNoChildren )?\\Sent( \\HasNoChildren)?\) "/" "Sent Items"
S~ a11 OK .*
C: a12 CREATE Bogus (USE (\NoSuchUse))
S~ a12 NO \[USEATTR\] .*
C: a13 CREATE
S~ a13 BAD .*
C: a14 CREATE "bad//name"
S~ a14 (NO|BAD) .*
C: a15 CREATE {8}
S~ \+ .*
C: caf&AOk-
S~ a15 OK .*
C: a16 LIST "" caf*
S: * LIST (\HasNoChildren) "/" caf&AOk-
S~ a16 OK .*
# DELETE
C: b1 DELETE work
S~ b1 OK .*
C: b2 DELETE work
S~ b2 NO \[NONEXISTENT\] .*
C: b3 DELETE INBOX
S~ b3 NO .*
C: b4 DELETE nosuch/thing
S~ b4 NO \[NONEXISTENT\] .*
# deleting a mailbox with children: it becomes \Noselect (6.3.5)
C: b5 DELETE a/b
S~ b5 OK .*
C: b6 LIST "" a/*
S& * LIST (\Noselect \HasChildren) "/" a/b
S& * LIST (\HasNoChildren) "/" a/b/c
S~ b6 OK .*
C: b7 SELECT a/b
S~ b7 NO .*
C: b8 DELETE a/b
S~ b8 NO .*
C: b9 DELETE a/b/c
S~ b9 OK .*
# selected mailbox can be deleted; then it is gone
C: b10 CREATE tmpbox
S~ b10 OK .*
C: b11 SELECT tmpbox
S* b11 OK .*
C: b12 DELETE tmpbox
S* b12 OK .*
C: b13 STATUS tmpbox (MESSAGES)
S~ b13 NO .*
C: b14 LOGOUT
S~ \* BYE .*
S~ b14 OK .*
