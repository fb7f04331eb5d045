# QUOTA (RFC 9208): GETQUOTAROOT, GETQUOTA, SETQUOTA (admins only),
# [OVERQUOTA] for APPEND/COPY/MOVE, the quotawarn ALERT at SELECT, and
# STATUS SIZE consistent with STORAGE usage.
@config admins admin
@config quotawarn 90
@user alice secret
@user admin secret
@sleepless
# big is 616 octets, small 18
@msg big
Subject: big

xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
@end
@msg small
Subject: s

hi
@end
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY .* QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTA=RES-MAILBOX QUOTASET( .*)?
S~ a2 OK .*
# every mailbox is under the user's root, which has no limits yet
C: a3 GETQUOTAROOT INBOX
S~ \* QUOTAROOT "?INBOX"? "user/alice"
S: * QUOTA "user/alice" ()
S~ a3 OK .*
# the mailbox need not exist (RFC 9208 4.1.2)
C: a4 GETQUOTAROOT nosuch/child
S~ \* QUOTAROOT "?nosuch/child"? "user/alice"
S: * QUOTA "user/alice" ()
S~ a4 OK .*
C: a5 GETQUOTA "user/alice"
S: * QUOTA "user/alice" ()
S~ a5 OK .*
# not an admin: no SETQUOTA, no other users' roots
C: a6 SETQUOTA "user/alice" (STORAGE 100)
S~ a6 NO \[NOPERM\] .*
C: a7 GETQUOTA "user/admin"
S~ a7 NO \[NOPERM\] .*
C: a8 GETQUOTA "user/alice/nosuch"
S~ a8 NO \[NONEXISTENT\] .*
C: a9 GETQUOTA
S~ a9 BAD .*
@connect plain admin
S~ \* OK .*
C: b1 LOGIN admin secret
S~ b1 OK .*
C: b2 SETQUOTA "user/alice" (STORAGE 1 MESSAGE 2)
S: * QUOTA "user/alice" (STORAGE 0 1 MESSAGE 0 2)
S~ b2 OK .*
C: b3 SETQUOTA "user/alice" (STORAGE 1 FROBS 3)
S~ b3 NO .*
C: b4 SETQUOTA "user/alice" (STORAGE)
S~ b4 BAD .*
C: b5 SETQUOTA "user/alice" (STORAGE 1 STORAGE 2)
S~ b5 BAD .*
C: b6 GETQUOTA "user/nobody"
S~ b6 NO \[NONEXISTENT\] .*
C: b7 SETQUOTA "user/alice/nosuch" (STORAGE 5)
S~ b7 NO \[NONEXISTENT\] .*
@use alice
# 616 of 1024 octets, then 1232 would exceed STORAGE 1 (KiB)
C: c1 APPEND INBOX {%big}
S~ c1 OK .*
# refused before the continuation (RFC 9051 7.5): the client never sends the data
C+ c2 APPEND INBOX {616}\r\n
S~ c2 NO \[OVERQUOTA\] .*
C: c3 APPEND INBOX {%small}
S~ c3 OK .*
C: c4 GETQUOTA "user/alice"
S: * QUOTA "user/alice" (STORAGE 1 1 MESSAGE 2 2)
S~ c4 OK .*
# LITERAL+: the NO comes at once, the literal's octets are read and discarded
C: c5 APPEND INBOX {%small+}
S~ c5 NO \[OVERQUOTA\] .*
C: c6 CREATE dest
S~ c6 OK .*
# at 100% of both limits: SELECT warns (quotawarn 90)
C: c7 SELECT INBOX
S* \* OK \[ALERT\] Mailbox is at 100% of quota
S* c7 OK \[READ-WRITE\] .*
C: c8 COPY 1 dest
S~ c8 NO \[OVERQUOTA\] .*
# a MOVE inside the root changes nothing and is allowed
C: c9 MOVE 1 dest
S~ \* OK \[COPYUID .*
S: * 1 EXPUNGE
S~ c9 OK .*
@use admin
C: d1 SETQUOTA "user/alice/dest" (MESSAGE 1)
S: * QUOTA "user/alice/dest" (MESSAGE 1 1)
S~ d1 OK .*
@use alice
C: d2 GETQUOTAROOT dest
S~ \* QUOTAROOT "?dest"? "user/alice" "user/alice/dest"
S: * QUOTA "user/alice" (STORAGE 1 1 MESSAGE 2 2)
S: * QUOTA "user/alice/dest" (MESSAGE 1 1)
S~ d2 OK .*
# the sub-root is full even though the user root would allow a move
C: d3 MOVE 1 dest
S~ d3 NO \[OVERQUOTA\] .*
# STATUS SIZE adds up to the STORAGE usage (616 + 18 octets)
C: d4 STATUS INBOX (SIZE MESSAGES)
S: * STATUS INBOX (MESSAGES 1 SIZE 18)
S~ d4 OK .*
C: d5 STATUS dest (SIZE MESSAGES)
S: * STATUS dest (MESSAGES 1 SIZE 616)
S~ d5 OK .*
# deletions are always allowed
C: d6 STORE 1 +FLAGS.SILENT (\Deleted)
S~ d6 OK .*
# DELETED-STORAGE (RFC 9208 4.1.4): what an EXPUNGE would free
C: d6b STATUS INBOX (DELETED DELETED-STORAGE)
S: * STATUS INBOX (DELETED 1 DELETED-STORAGE 18)
S~ d6b OK .*
C: d6c STATUS dest (DELETED-STORAGE)
S: * STATUS dest (DELETED-STORAGE 0)
S~ d6c OK .*
C: d7 EXPUNGE
S: * 1 EXPUNGE
S~ d7 OK .*
C: d8 GETQUOTA "user/alice"
S: * QUOTA "user/alice" (STORAGE 1 1 MESSAGE 1 2)
S~ d8 OK .*
@use admin
# () removes the limits: a sub-root goes, the user root stays
C: e1 SETQUOTA "user/alice/dest" ()
S~ e1 OK .*
C: e2 GETQUOTA "user/alice/dest"
S~ e2 NO \[NONEXISTENT\] .*
C: e3 SETQUOTA "user/alice" ()
S: * QUOTA "user/alice" ()
S~ e3 OK .*
# an admin's own root
C: e4 GETQUOTA "user/admin"
S: * QUOTA "user/admin" ()
S~ e4 OK .*
@use alice
C: e5 APPEND INBOX {%big}
S: * 1 EXISTS
S* e5 OK .*
C: e6 LOGOUT
S~ \* BYE .*
S~ e6 OK .*
