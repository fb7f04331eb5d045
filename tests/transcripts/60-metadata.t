# METADATA and METADATA-SERVER (RFC 5464): the RFC's examples (mailbox
# and server entries, several entries, MAXSIZE with LONGENTRIES, DEPTH 0,
# 1 and infinity, NIL to delete, a multi-line literal, a binary literal8),
# /private/specialuse tied to the special-use attributes (RFC 6154 4),
# /shared/admin from the configuration, and every error: entry names
# against RFC 5464 3.2 (BAD), MAXSIZE, TOOMANY, NOPRIVATE (anonymous),
# rights (RFC 5464 3.3), a missing mailbox, read-only /shared/admin,
# shared server entries for admins only. LIST-METADATA (RFC 9590) with
# its examples.
@config admins admin
@config metadata_admin mailto:postmaster@example.com
@config metadata_max_value_size 1024
@config metadata_max_entries 10
@user alice secret
@user bob secret
@user admin secret
@sleepless
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* METADATA( |$))(?=.* METADATA-SERVER( |$))(?=.* LIST-METADATA( |$)).*
S~ a2 OK .*

# ---- RFC 5464 4.3: set, multi-line literal, several entries, NIL ----
C: a3 SETMETADATA INBOX (/private/comment {33}
S~ \+ .*
C+ My new comment across\r\ntwo lines.)\r\n
S: a3 OK SETMETADATA completed
C: a4 GETMETADATA "INBOX" /private/comment
S: * METADATA "INBOX" ("/private/comment" {33}\r\nMy new comment across\r\ntwo lines.)
S: a4 OK GETMETADATA completed
C: a5 SETMETADATA INBOX (/private/comment "My new comment" /shared/comment "This one is for you!")
S: a5 OK SETMETADATA completed
# 4.2: a list of entries; names are case-insensitive (3.2)
C: a6 GETMETADATA "INBOX" (/shared/comment /PRIVATE/Comment)
S: * METADATA "INBOX" ("/private/comment" "My new comment" "/shared/comment" "This one is for you!")
S: a6 OK GETMETADATA completed
# 4.4.1's form without parentheses is accepted too
C: a7 GETMETADATA "INBOX" /private/comment /shared/comment
S: * METADATA "INBOX" ("/private/comment" "My new comment" "/shared/comment" "This one is for you!")
S: a7 OK GETMETADATA completed
C: a8 SETMETADATA INBOX (/private/comment NIL)
S: a8 OK SETMETADATA completed
# an entry that does not exist is NIL
C: a9 GETMETADATA "INBOX" (/private/comment /shared/comment)
S: * METADATA "INBOX" ("/private/comment" NIL "/shared/comment" "This one is for you!")
S: a9 OK GETMETADATA completed

# ---- 4.2.1 MAXSIZE: LONGENTRIES gives the biggest value left out ----
C: b1 SETMETADATA INBOX (/shared/comment "%{x*1000}" /private/comment "My own comment")
S: b1 OK SETMETADATA completed
C: b2 GETMETADATA (MAXSIZE 100) "INBOX" (/shared/comment /private/comment)
S: * METADATA "INBOX" ("/private/comment" "My own comment")
S: b2 OK [METADATA LONGENTRIES 1000] GETMETADATA completed
# the example's order (options after the mailbox) works as well
C: b3 GETMETADATA "INBOX" (MAXSIZE 1024) (/shared/comment /private/comment)
S~ \* METADATA "INBOX" \("/private/comment" "My own comment" "/shared/comment" "x{1000}"\)
S: b3 OK GETMETADATA completed

# ---- 4.2.2 DEPTH ----
C: c1 SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" /private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/boss/deep "x")
S: c1 OK SETMETADATA completed
C: c2 GETMETADATA "INBOX" (DEPTH 1) (/private/filters/values)
S: * METADATA "INBOX" ("/private/filters/values/boss" "FROM \"boss@example.com\"" "/private/filters/values/small" "SMALLER 5000")
S: c2 OK GETMETADATA completed
C: c3 GETMETADATA (DEPTH infinity) "INBOX" (/private/filters)
S: * METADATA "INBOX" ("/private/filters/values/boss" "FROM \"boss@example.com\"" "/private/filters/values/boss/deep" "x" "/private/filters/values/small" "SMALLER 5000")
S: c3 OK GETMETADATA completed
C: c4 GETMETADATA (DEPTH 0) "INBOX" (/private/filters/values/small)
S: * METADATA "INBOX" ("/private/filters/values/small" "SMALLER 5000")
S: c4 OK GETMETADATA completed
C: c5 GETMETADATA (DEPTH 1) "INBOX" (/private/nothing)
S: c5 OK GETMETADATA completed
# cyradm's "info": a trailing "/*" is DEPTH infinity (Cyrus compatibility)
C: c6 GETMETADATA "INBOX" ("/shared/*")
S~ \* METADATA "INBOX" \("/shared/comment" "x{1000}"\)
S: c6 OK GETMETADATA completed
C: c6b GETMETADATA "INBOX" ("/private/filters/values/%")
S: * METADATA "INBOX" ("/private/filters/values/boss" "FROM \"boss@example.com\"" "/private/filters/values/small" "SMALLER 5000")
S: c6b OK GETMETADATA completed
# every value too big: no METADATA response, only LONGENTRIES
C: c6c GETMETADATA (MAXSIZE 3 DEPTH 1) "INBOX" (/private/filters/values)
S: c6c OK [METADATA LONGENTRIES 23] GETMETADATA completed
C: c7 SETMETADATA INBOX (/private/filters/values/small NIL /private/filters/values/boss NIL /private/filters/values/boss/deep NIL)
S: c7 OK SETMETADATA completed

# ---- binary values: literal8 in, literal8 out (value = nstring / literal8) ----
C: d1 SETMETADATA INBOX (/private/vendor/example/bin ~{3}
S~ \+ .*
C+ a\x00b)\r\n
S: d1 OK SETMETADATA completed
C: d2 GETMETADATA INBOX /private/vendor/example/bin
S~ \* METADATA "INBOX" \("/private/vendor/example/bin" ~\{3\}\\r\\na\x00b\)
S: d2 OK GETMETADATA completed
C: d3 SETMETADATA INBOX (/private/vendor/example/bin NIL)
S: d3 OK SETMETADATA completed

# ---- entry names (3.2): BAD ----
C: e1 GETMETADATA INBOX /comment
S~ e1 BAD .*
C: e2 SETMETADATA INBOX (/other/comment "x")
S~ e2 BAD .*
C: e3 SETMETADATA INBOX (/private/a*b "x")
S~ e3 BAD .*
C: e4 SETMETADATA INBOX (/private/a%b "x")
S~ e4 BAD .*
C: e5 SETMETADATA INBOX (/private//comment "x")
S~ e5 BAD .*
C: e6 SETMETADATA INBOX (/private/comment/ "x")
S~ e6 BAD .*
C: e7 SETMETADATA INBOX (/private "x")
S~ e7 BAD .*
C: e8 SETMETADATA INBOX (/shared/vendor/example "x")
S~ e8 BAD .*
C: e9 SETMETADATA INBOX ("/private/caf\xc3\xa9" "x")
S~ e9 BAD .*
C: e10 SETMETADATA INBOX (/private/%{a*300} "x")
S~ e10 BAD .*
C: e11 GETMETADATA INBOX (/private/*x)
S~ e11 BAD .*
C: e12 GETMETADATA (DEPTH 2) INBOX /private/comment
S~ e12 BAD .*
C: e13 GETMETADATA (MAXSIZE x) INBOX /private/comment
S~ e13 BAD .*
C: e14 GETMETADATA (FOO 1) INBOX /private/comment
S~ e14 BAD .*
C: e15 SETMETADATA INBOX ()
S~ e15 BAD .*
C: e16 SETMETADATA INBOX (/private/comment)
S~ e16 BAD .*
C: e17 GETMETADATA INBOX
S~ e17 BAD .*

# ---- 4.3 MAXSIZE and TOOMANY: nothing of a failing command is changed ----
C: f1 SETMETADATA INBOX (/private/comment "kept" /shared/comment "%{y*1025}")
S: f1 NO [METADATA MAXSIZE 1024] Annotation value too large
C: f2 GETMETADATA INBOX /private/comment
S: * METADATA "INBOX" ("/private/comment" "My own comment")
S: f2 OK GETMETADATA completed
C: f3 SETMETADATA INBOX (/private/n1 "1" /private/n2 "2" /private/n3 "3" /private/n4 "4" /private/n5 "5" /private/n6 "6" /private/n7 "7" /private/n8 "8")
S: f3 OK SETMETADATA completed
C: f4 SETMETADATA INBOX (/private/n9 "9" /private/n10 "10")
S: f4 NO [METADATA TOOMANY] Too many annotations (at most 10)
C: f5 GETMETADATA INBOX /private/n9
S: * METADATA "INBOX" ("/private/n9" NIL)
S: f5 OK GETMETADATA completed
# replacing and removing stay possible at the limit
C: f6 SETMETADATA INBOX (/private/n9 "9")
S: f6 OK SETMETADATA completed
C: f7 SETMETADATA INBOX (/private/n10 "10")
S: f7 NO [METADATA TOOMANY] Too many annotations (at most 10)
C: f8 SETMETADATA INBOX (/private/n1 "one" /private/n2 NIL)
S: f8 OK SETMETADATA completed
C: f9 SETMETADATA INBOX (/private/n1 NIL /private/n3 NIL /private/n4 NIL /private/n5 NIL /private/n6 NIL /private/n7 NIL /private/n8 NIL /private/n9 NIL)
S: f9 OK SETMETADATA completed

# ---- missing mailbox ----
C: g1 GETMETADATA nosuch /shared/comment
S~ g1 NO \[NONEXISTENT\] .*
C: g2 SETMETADATA nosuch (/shared/comment "x")
S~ g2 NO \[NONEXISTENT\] .*

# ---- server entries (METADATA-SERVER) ----
C: h1 GETMETADATA "" /shared/admin
S: * METADATA "" ("/shared/admin" "mailto:postmaster@example.com")
S: h1 OK GETMETADATA completed
C: h2 SETMETADATA "" (/shared/admin "mailto:me@example.com")
S~ h2 NO \[NOPERM\] .*
C: h3 SETMETADATA "" (/shared/comment "Shared comment")
S~ h3 NO \[NOPERM\] .*
C: h4 SETMETADATA "" (/private/vendor/example/theme "dark")
S: h4 OK SETMETADATA completed
C: h5 GETMETADATA "" (DEPTH infinity) (/private /shared)
S: * METADATA "" ("/private/vendor/example/theme" "dark" "/shared/admin" "mailto:postmaster@example.com")
S: h5 OK GETMETADATA completed

# ---- /private/specialuse (RFC 6154 4 and 5.4) ----
C: i1 CREATE MyDrafts (USE (\Drafts))
S~ i1 OK .*
C: i2 CREATE SavedDrafts
S~ i2 OK .*
C: i3 GETMETADATA "MyDrafts" /private/specialuse
S: * METADATA "MyDrafts" ("/private/specialuse" "\\Drafts")
S: i3 OK GETMETADATA completed
C: i4 SETMETADATA "SavedDrafts" (/private/specialuse "\\Drafts \\Archive")
S: i4 OK SETMETADATA completed
C: i5 LIST "" "SavedDrafts" RETURN (SPECIAL-USE)
S: * LIST (\HasNoChildren \Archive \Drafts) "/" SavedDrafts
S: i5 OK LIST completed
C: i6 SETMETADATA "SavedDrafts" (/private/specialuse "\\Bogus")
S~ i6 NO \[USEATTR\] .*
C: i7 SETMETADATA "MyDrafts" (/private/specialuse NIL)
S: i7 OK SETMETADATA completed
C: i8 GETMETADATA "MyDrafts" /private/specialuse
S: * METADATA "MyDrafts" ("/private/specialuse" NIL)
S: i8 OK GETMETADATA completed

# ---- LIST-METADATA (RFC 9590 4) ----
C: j1 CREATE foo
S~ j1 OK .*
C: j2 CREATE bar/baz
S~ j2 OK .*
C: j3 SETMETADATA INBOX (/shared/vendor/cmu/cyrus-imapd/color "#b71c1c")
S: j3 OK SETMETADATA completed
C: j4 SUBSCRIBE INBOX
S~ j4 OK .*
C: j5 SUBSCRIBE bar/baz
S~ j5 OK .*
C: j6 LIST "" % RETURN (METADATA ("/shared/vendor/cmu/cyrus-imapd/color"))
S: * LIST (\HasNoChildren) "/" INBOX
S: * METADATA "INBOX" ("/shared/vendor/cmu/cyrus-imapd/color" "#b71c1c")
S: * LIST (\HasNoChildren) "/" MyDrafts
S~ \* METADATA "MyDrafts" .*
S: * LIST (\HasNoChildren \Archive \Drafts) "/" SavedDrafts
S~ \* METADATA "SavedDrafts" .*
S: * LIST (\NonExistent \HasChildren) "/" bar
S: * LIST (\HasNoChildren) "/" foo
S: * METADATA "foo" ("/shared/vendor/cmu/cyrus-imapd/color" NIL)
S: j6 OK LIST completed
C: j7 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (METADATA ("/shared/vendor/cmu/cyrus-imapd/color" /private/specialuse))
S: * LIST (\HasNoChildren \Subscribed) "/" INBOX
S: * METADATA "INBOX" ("/private/specialuse" NIL "/shared/vendor/cmu/cyrus-imapd/color" "#b71c1c")
S~ \* LIST \(\\NonExistent[^)]*\) "/" bar \("CHILDINFO" \("SUBSCRIBED"\)\)
S: j7 OK LIST completed
C: j8 LIST "" % RETURN (METADATA (/private/a*b))
S~ j8 BAD .*
C: j9 LIST "" % RETURN (METADATA ())
S~ j9 BAD .*
C: j10 LOGOUT
S~ \* BYE .*
S~ j10 OK .*
@close

# ---- rights (RFC 5464 3.3): "l" and one of r s w i p ----
@connect plain bob
S~ \* OK .*
C: k1 LOGIN bob secret
S~ k1 OK .*
C: k2 CREATE shared
S~ k2 OK .*
C: k3 CREATE hidden
S~ k3 OK .*
C: k4 SETACL shared alice l
S~ k4 OK .*
C: k5 SETMETADATA shared (/shared/comment "bob's")
S: k5 OK SETMETADATA completed
C: k6 SETMETADATA hidden (/shared/comment "secret")
S: k6 OK SETMETADATA completed
@connect plain alice2
S~ \* OK .*
C: l1 LOGIN alice secret
S~ l1 OK .*
# "l" alone: NO
C: l2 GETMETADATA "Other Users/bob/shared" /shared/comment
S~ l2 NO \[NOPERM\] .*
C: l3 SETMETADATA "Other Users/bob/shared" (/private/comment "mine")
S~ l3 NO \[NOPERM\] .*
# no "l": as if it did not exist
C: l4 GETMETADATA "Other Users/bob/hidden" /shared/comment
S~ l4 NO \[NONEXISTENT\] .*
@use bob
C: k7 SETACL shared alice lr
S~ k7 OK .*
@use alice2
C: l5 GETMETADATA "Other Users/bob/shared" /shared/comment
S: * METADATA "Other Users/bob/shared" ("/shared/comment" "bob's")
S: l5 OK GETMETADATA completed
# private entries are per user
C: l6 SETMETADATA "Other Users/bob/shared" (/private/comment "alice's own")
S: l6 OK SETMETADATA completed
C: l7 GETMETADATA "Other Users/bob/shared" /private/comment
S: * METADATA "Other Users/bob/shared" ("/private/comment" "alice's own")
S: l7 OK GETMETADATA completed
# special use is the owner's
C: l8 SETMETADATA "Other Users/bob/shared" (/private/specialuse "\\Trash")
S~ l8 NO \[NOPERM\] .*
@use bob
C: k8 GETMETADATA shared /private/comment
S: * METADATA "shared" ("/private/comment" NIL)
S: k8 OK GETMETADATA completed
# bob does not see alice's server entries either
C: k9 GETMETADATA "" /private/vendor/example/theme
S: * METADATA "" ("/private/vendor/example/theme" NIL)
S: k9 OK GETMETADATA completed
@close

# ---- shared server entries: admins set, everyone reads ----
@connect plain admin
S~ \* OK .*
C: m1 LOGIN admin secret
S~ m1 OK .*
C: m2 SETMETADATA "" (/shared/comment "Shared comment")
S: m2 OK SETMETADATA completed
@use alice2
C: l9 GETMETADATA "" /shared/comment
S: * METADATA "" ("/shared/comment" "Shared comment")
S: l9 OK GETMETADATA completed

# ---- RFC 9590 3: no METADATA for a listed mailbox the session may not read ----
@connect plain bobagain
S~ \* OK .*
C: k10 LOGIN bob secret
S~ k10 OK .*
C: k11 SETACL shared alice l
S~ k11 OK .*
@use alice2
C: l10 LIST "" "Other Users/bob/%" RETURN (METADATA (/shared/comment))
S: * LIST (\HasNoChildren) "/" "Other Users/bob/shared"
S: l10 OK LIST completed

# ---- admins of a store read and set its annotations (cyradm) ----
@use admin
C: m3 GETMETADATA "user/bob/hidden" /shared/comment
S: * METADATA "user/bob/hidden" ("/shared/comment" "secret")
S: m3 OK GETMETADATA completed
C: m4 SETMETADATA "user/bob/hidden" (/shared/comment "reviewed")
S: m4 OK SETMETADATA completed
C: m5 LIST "" "user/bob/h%" RETURN (METADATA (/shared/comment))
S: * LIST (\HasNoChildren) "/" "user/bob/hidden"
S: * METADATA "user/bob/hidden" ("/shared/comment" "reviewed")
S: m5 OK LIST completed
