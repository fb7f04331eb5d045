# ACL (RFC 4314 3.1-3.8): SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS;
# the virtual c/d rights (2.1.1), negative rights, BAD for unknown rights
# letters and empty identifiers, and NO [NONEXISTENT]/[NOPERM] by visibility.
@user alice secret
@user bob secret
@sleepless
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* ACL( |$))(?=.* RIGHTS=kxten( |$))(?=.* LIST-MYRIGHTS( |$))(?=.* NAMESPACE( |$)).*
S~ a2 OK .*
C: a3 CREATE proj
S~ a3 OK .*
# the owner holds every right, c and d included (2.1.1)
C: a4 MYRIGHTS INBOX
S: * MYRIGHTS INBOX lrswipkxteancd
S~ a4 OK .*
C: a5 MYRIGHTS proj
S: * MYRIGHTS proj lrswipkxteancd
S~ a5 OK .*
C: a6 SETACL proj bob lrs
S~ a6 OK .*
C: a7 GETACL proj
S~ \* ACL proj(?=.* bob lrs( |$)).*
S~ a7 OK .*
# "+" adds, "-" removes, plain replaces
C: a8 SETACL proj bob +wi
S~ a8 OK .*
C: a9 GETACL proj
S~ \* ACL proj(?=.* bob lrswi( |$)).*
S~ a9 OK .*
C: a10 SETACL proj bob -s
S~ a10 OK .*
C: a11 GETACL proj
S~ \* ACL proj(?=.* bob lrwi( |$)).*
S~ a11 OK .*
# c = k x, d = t e; shown as members plus the virtual letter
C: a12 SETACL proj bob lrc
S~ a12 OK .*
C: a13 GETACL proj
S~ \* ACL proj(?=.* bob lrkxc( |$)).*
S~ a13 OK .*
C: a14 SETACL proj bob lrd
S~ a14 OK .*
C: a15 GETACL proj
S~ \* ACL proj(?=.* bob lrted( |$)).*
S~ a15 OK .*
C: a16 SETACL proj bob lrk
S~ a16 OK .*
C: a17 GETACL proj
S~ \* ACL proj(?=.* bob lrkc( |$)).*
S~ a17 OK .*
# negative rights
C: a18 SETACL proj -bob w
S~ a18 OK .*
C: a19 GETACL proj
S~ \* ACL proj(?=.* -bob w( |$))(?=.* bob lrkc( |$)).*
S~ a19 OK .*
C: a20 DELETEACL proj -bob
S~ a20 OK .*
C: a21 GETACL proj
S~ \* ACL proj(?!.* -bob ).*
S~ a21 OK .*
# identifiers are astrings
C: a22 SETACL "proj" "anyone" "l"
S~ a22 OK .*
C: a23 SETACL proj {6+}
C: anyone {2+}
C: lr
S~ a23 OK .*
C: a24 GETACL proj
S~ \* ACL proj(?=.* anyone lr( |$)).*
S~ a24 OK .*
# unknown, upper-case or missing rights letters: BAD (3.1)
C: a25 SETACL proj bob lrQ
S~ a25 BAD .*
C: a26 SETACL proj bob lrq
S~ a26 BAD .*
C: a27 SETACL proj bob +x1
S~ a27 BAD .*
C: a28 SETACL proj "" lr
S~ a28 BAD .*
C: a29 SETACL proj bob
S~ a29 BAD .*
C: a30 GETACL
S~ a30 BAD .*
C: a31 MYRIGHTS proj extra
S~ a31 BAD .*
C: a32 DELETEACL proj
S~ a32 BAD .*
# missing mailboxes
C: a33 GETACL nosuch
S~ a33 NO \[NONEXISTENT\] .*
C: a34 SETACL nosuch bob lr
S~ a34 NO \[NONEXISTENT\] .*
C: a35 MYRIGHTS nosuch
S~ a35 NO \[NONEXISTENT\] .*
C: a36 LISTRIGHTS nosuch bob
S~ a36 NO \[NONEXISTENT\] .*
C: a37 DELETEACL nosuch bob
S~ a37 NO \[NONEXISTENT\] .*
# LISTRIGHTS (3.7): the identifier as given, required rights, then each
# grantable right by itself with c and d
C: a38 LISTRIGHTS proj bob
S: * LISTRIGHTS proj bob "" l r s w i p k x t e a n c d
S~ a38 OK .*
C: a39 LISTRIGHTS proj alice
S: * LISTRIGHTS proj alice lrswipkxteancd
S~ a39 OK .*
C: a40 LISTRIGHTS proj "anyone"
S: * LISTRIGHTS proj anyone "" l r s w i p k x t e a n c d
S~ a40 OK .*
C: a41 DELETEACL proj anyone
S~ a41 OK .*
# deleting an absent entry is not an error
C: a42 DELETEACL proj anyone
S~ a42 OK .*
C: a43 SETACL proj bob lr
S~ a43 OK .*
# effective rights: union of the positive entries minus the negative ones
C: a43b SETACL proj anyone lrsw
S~ a43b OK .*
C: a43c SETACL proj -bob sw
S~ a43c OK .*
C: a44 LOGOUT
S~ \* BYE .*
S~ a44 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 MYRIGHTS "Other Users/alice/proj"
S: * MYRIGHTS "Other Users/alice/proj" lr
S~ b2 OK .*
# l without a: NOPERM for the administrative commands
C: b3 GETACL "Other Users/alice/proj"
S~ b3 NO \[NOPERM\] .*
C: b4 SETACL "Other Users/alice/proj" bob lrswipkxtea
S~ b4 NO \[NOPERM\] .*
C: b5 LISTRIGHTS "Other Users/alice/proj" bob
S~ b5 NO \[NOPERM\] .*
C: b6 DELETEACL "Other Users/alice/proj" bob
S~ b6 NO \[NOPERM\] .*
# no right at all on alice's INBOX: it does not exist for bob
C: b7 MYRIGHTS "Other Users/alice"
S~ b7 NO \[NONEXISTENT\] .*
C: b8 GETACL "Other Users/alice"
S~ b8 NO \[NONEXISTENT\] .*
C: b9 SETACL "Other Users/alice" bob lrswipkxtea
S~ b9 NO \[NONEXISTENT\] .*
C: b10 LOGOUT
S~ \* BYE .*
S~ b10 OK .*
