# Anonymous access (allowanonymouslogin: yes): AUTH=ANONYMOUS (RFC 4505),
# LOGIN anonymous <trace> (Cyrus), no personal namespace, only mailboxes
# whose ACL grants rights to "anonymous", capped to "lr".
@config allowanonymouslogin yes
@user alice secret
@msg m1
From: alice@example.org
Subject: public post

hello world
@end
@sleepless
# alice publishes a mailbox
@connect plain owner
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 CREATE Public
S~ o2 OK .*
C: o3 SETACL Public anonymous lr
S~ o3 OK .*
C: o4 APPEND Public {%m1}
S* o4 OK .*
C: o5 LOGOUT
S~ \* BYE .*
S~ o5 OK .*
@eof
# the mechanism is advertised before login
@connect plain
S~ \* OK \[CAPABILITY (.* )?AUTH=ANONYMOUS( .*)?\] .*
C: a1 CAPABILITY
S~ \* CAPABILITY (.* )?AUTH=ANONYMOUS( .*)?
S~ a1 OK .*
C: a2 LOGIN anonymous guest@example.org
S~ a2 OK \[CAPABILITY [^]]*\] .*
# no personal mailboxes
C: a3 SELECT INBOX
S~ a3 NO \[NONEXISTENT\].*
C: a4 LIST "" INBOX
S~ a4 OK .*
C: a5 CREATE Mine
S~ a5 NO \[NOPERM\].*
C: a6 LSUB "" "*"
S~ a6 OK .*
C: a7 SUBSCRIBE "Other Users/alice/Public"
S~ a7 NO \[NOPERM\].*
# refused before the continuation (RFC 9051 7.5)
C+ a8 APPEND "Other Users/alice/Public" {62}\r\n
S~ a8 NO \[NOPERM\].*
# alice's INBOX does not grant anonymous anything: as if it did not exist
C: a9 EXAMINE "Other Users/alice"
S~ a9 NO \[NONEXISTENT\].*
C: a10 STATUS "Other Users/alice" (MESSAGES)
S~ a10 NO \[NONEXISTENT\].*
# the public mailbox is visible and readable, never writable
C: b1 LIST "" "Other Users/alice/Public"
S~ \* LIST \([^)]*\) "/" "Other Users/alice/Public"
S~ b1 OK .*
C: b2 MYRIGHTS "Other Users/alice/Public"
S~ \* MYRIGHTS "Other Users/alice/Public" lr
S~ b2 OK .*
C: b3 SELECT "Other Users/alice/Public"
S* b3 OK \[READ-ONLY\].*
C: b4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S~ \* 1 FETCH .*public post.*
S~ b4 OK .*
C: b5 STORE 1 +FLAGS (\Flagged)
S~ b5 NO .*
C: b6 COPY 1 "Other Users/alice/Public"
S~ b6 NO \[NOPERM\].*
C: b7 EXPUNGE
S~ b7 NO \[NOPERM\].*
# every other command answers sensibly without a personal store
C: f1 SEARCH ALL
S~ \* SEARCH 1
S~ f1 OK .*
C: f2 UID STORE 1 +FLAGS (\Seen)
S~ f2 NO .*
C: f3 CHECK
S~ f3 OK .*
C: f4 UNSELECT
S~ f4 OK .*
C: f5 NAMESPACE
S~ \* NAMESPACE .*
S~ f5 OK .*
C: f6 LIST "" "*"
S* f6 OK .*
C: f7 STATUS "Other Users/alice/Public" (MESSAGES)
S~ \* STATUS "Other Users/alice/Public" \(MESSAGES 1\)
S~ f7 OK .*
C: f8 GETQUOTAROOT "Other Users/alice/Public"
S* f8 (OK|NO) .*
C: f9 GETQUOTAROOT INBOX
S* f9 NO .*
C: f10 GETACL "Other Users/alice/Public"
S~ f10 NO .*
C: f11 LISTRIGHTS "Other Users/alice/Public" bob
S~ f11 NO .*
C: f12 ENABLE CONDSTORE
S* f12 OK .*
C: f13 DELETE "Other Users/alice/Public"
S~ f13 NO \[NOPERM\].*
C: f14 RENAME "Other Users/alice/Public" Foo
S~ f14 NO \[NOPERM\].*
C: f15 SETACL "Other Users/alice/Public" anonymous lrswi
S~ f15 NO \[NOPERM\].*
C: f16 GETQUOTA ""
S* f16 (OK|NO) .*
C: f17 EXAMINE "Other Users/alice/Public"
S* f17 OK \[READ-ONLY\].*
C: f18 CLOSE
S~ f18 OK .*
C: f19 IDLE
S~ \+ .*
C: DONE
S~ f19 OK .*
C: b8 LOGOUT
S~ \* BYE .*
S~ b8 OK .*
@eof
# AUTHENTICATE ANONYMOUS with an initial response (trace "guest")
@connect plain c2
S~ \* OK .*
C: c1 AUTHENTICATE ANONYMOUS Z3Vlc3Q=
S~ c1 OK .*
C: c2 SELECT INBOX
S~ c2 NO \[NONEXISTENT\].*
C: c3 LOGOUT
S~ \* BYE .*
S~ c3 OK .*
# ... and without one: an empty challenge, then the (empty) trace
@connect plain c3
S~ \* OK .*
C: d1 AUTHENTICATE ANONYMOUS
S~ \+ ?
C+ \r\n
S~ d1 OK .*
C: d2 LOGOUT
S~ \* BYE .*
S~ d2 OK .*
# a trace with NUL is refused
@connect plain c4
S~ \* OK .*
C: e1 AUTHENTICATE ANONYMOUS YQBi
S~ e1 NO \[AUTHENTICATIONFAILED\].*
# real users are unaffected
C: e2 LOGIN alice secret
S~ e2 OK .*
C: e3 SELECT INBOX
S* e3 OK .*
