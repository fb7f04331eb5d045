# GETQUOTAROOT on another user's mailbox reveals the owner's usage only to
# sessions holding "r" on it (RFC 9208 6); "l" or "p" alone do not suffice
# (with "l": NOPERM, without: as if missing). GETQUOTA of another user's
# root is for the owner and admins only. Anonymous sessions likewise.
@config admins admin
@config allowanonymouslogin yes
@user alice secret
@user bob secret
@user admin secret
@sleepless
@msg m
Subject: m

hello
@end
@connect plain admin
S~ \* OK .*
C: x1 LOGIN admin secret
S~ x1 OK .*
C: x2 SETQUOTA "user/bob" (STORAGE 100000 MESSAGE 500)
S: * QUOTA "user/bob" (STORAGE 0 100000 MESSAGE 0 500)
S~ x2 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 APPEND INBOX {%m}
S~ b2 OK .*
C: b3 CREATE lonly
S~ b3 OK .*
C: b4 SETACL lonly alice l
S~ b4 OK .*
C: b5 CREATE ponly
S~ b5 OK .*
C: b6 SETACL ponly alice p
S~ b6 OK .*
C: b7 CREATE readable
S~ b7 OK .*
C: b8 SETACL readable alice lr
S~ b8 OK .*
C: b9 CREATE pub
S~ b9 OK .*
C: b10 SETACL pub anonymous l
S~ b10 OK .*
C: b11 CREATE pubr
S~ b11 OK .*
C: b12 SETACL pubr anonymous lr
S~ b12 OK .*
# the owner sees its own root
C: b13 GETQUOTAROOT lonly
S: * QUOTAROOT "lonly" "user/bob"
S: * QUOTA "user/bob" (STORAGE 1 100000 MESSAGE 1 500)
S~ b13 OK .*
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 GETQUOTAROOT "Other Users/bob/lonly"
S~ a2 NO \[NOPERM\] .*
C: a3 GETQUOTAROOT "Other Users/bob/ponly"
S~ a3 NO \[NONEXISTENT\] .*
C: a4 GETQUOTAROOT "Other Users/bob/nosuch"
S~ a4 NO \[NONEXISTENT\] .*
C: a5 GETQUOTAROOT "Other Users/bob"
S~ a5 NO \[NONEXISTENT\] .*
C: a6 GETQUOTAROOT "Other Users/bob/readable"
S: * QUOTAROOT "Other Users/bob/readable" "user/bob"
S: * QUOTA "user/bob" (STORAGE 1 100000 MESSAGE 1 500)
S~ a6 OK .*
C: a7 GETQUOTA "user/bob"
S~ a7 NO \[NOPERM\] .*
@close
@connect plain anon
S~ \* OK .*
C: n1 LOGIN anonymous guest
S~ n1 OK .*
C: n2 GETQUOTAROOT "Other Users/bob/pub"
S~ n2 NO \[NOPERM\] .*
C: n3 GETQUOTAROOT "Other Users/bob/pubr"
S: * QUOTAROOT "Other Users/bob/pubr" "user/bob"
S: * QUOTA "user/bob" (STORAGE 1 100000 MESSAGE 1 500)
S~ n3 OK .*
C: n4 GETQUOTA "user/bob"
S~ n4 NO \[NOPERM\] .*
@close
# an admin sees every root
@use admin
C: x3 GETQUOTAROOT "user/bob/lonly"
S: * QUOTAROOT "user/bob/lonly" "user/bob"
S: * QUOTA "user/bob" (STORAGE 1 100000 MESSAGE 1 500)
S~ x3 OK .*
