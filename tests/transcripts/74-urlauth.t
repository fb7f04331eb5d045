# URLAUTH (RFC 4467): GENURLAUTH, URLFETCH, RESETKEY, access identifiers,
# EXPIRE, tampered tokens, and URLAUTH URLs in CATENATE (RFC 4469).
@config servername mail.example.org
@config admins admin
@user alice secret
@user bob secret
@user admin secret
@sleepless
@msg m1
From: a@example.org
Subject: one
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain

Si vis pacem, para bellum.
--XX
Content-Type: text/plain

part two
--XX--
@end
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY .* URLAUTH .*
S~ a2 OK .*
C: a3 APPEND INBOX {%m1}
S~ a3 OK .*
# RFC 4467 8: URLMECH in an untagged OK to SELECT and EXAMINE
C: m1 SELECT INBOX
S* \* OK \[URLMECH INTERNAL\] .*
S* m1 OK \[READ-WRITE\] .*
C: m2 EXAMINE INBOX
S* \* OK \[URLMECH INTERNAL\] .*
S* m2 OK \[READ-ONLY\] .*
C: m3 UNSELECT
S~ m3 OK .*
# RFC 4467 examples: the owner and the access identifier are required
C: a4 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=1" INTERNAL
S: a4 BAD missing access identifier in supplied URL
C: a5 GENURLAUTH "imap://mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob" INTERNAL
S: a5 BAD missing owner username in supplied URL
C: a6 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob" XSAMPLE
S~ a6 BAD .*
C: a7 GENURLAUTH "imap://bob@mail.example.org/INBOX/;uid=1;urlauth=anonymous" INTERNAL
S~ a7 BAD .*
C: a8 GENURLAUTH "imap://alice@other.example.net/INBOX/;uid=1;urlauth=anonymous" INTERNAL
S~ a8 BAD .*
C: a9 GENURLAUTH "imap://alice@mail.example.org/nosuch/;uid=1;urlauth=anonymous" INTERNAL
S~ a9 BAD .*
C: a10 GENURLAUTH "imap://alice@mail.example.org/INBOX;urlauth=anonymous" INTERNAL
S~ a10 BAD .*
C: a11 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:0123456789abcdef0123456789abcdef" INTERNAL
S~ a11 BAD .*
C: a12 GENURLAUTH
S~ a12 BAD .*
# generate several at once
C: b1 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<SUB>imap://alice@mail\.example\.org/INBOX/;uid=1/;section=1;urlauth=submit\+bob:internal:01[0-9a-f]{40})" "(?P<ANON>imap://alice@mail\.example\.org/INBOX/;uid=1/;section=1;urlauth=anonymous:internal:01[0-9a-f]{40})"
S~ b1 OK .*
C: b2 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=2;urlauth=user+bob" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=2;urlauth=authuser" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1;expire=2001-01-01T00:00:00Z;urlauth=anonymous" INTERNAL "imap://alice@mail.example.org/INBOX/;uid=1/;section=2;expire=2999-01-01T00:00:00Z;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<USR>[^"]*)" "(?P<AUTH>[^"]*)" "(?P<OLD>[^"]*)" "(?P<FUT>[^"]*)"
S~ b2 OK .*
# the owner fetches: anonymous and authuser admit her; user+bob and submit+bob do not
C: b3 URLFETCH "${ANON}"
S~ \* URLFETCH "imap://[^"]*anonymous:internal:01[0-9a-f]{40}" \{26\}\\r\\nSi vis pacem, para bellum\.
S~ b3 OK .*
C: b4 URLFETCH "${USR}" "${SUB}" "${AUTH}"
S~ \* URLFETCH "imap://[^"]*user\+bob:[^"]*" NIL
S~ \* URLFETCH "imap://[^"]*submit\+bob:[^"]*" NIL
S~ \* URLFETCH "imap://[^"]*authuser:[^"]*" \{8\}\\r\\npart two
S~ b4 OK .*
# EXPIRE: past is refused (RFC 4467 3), future works
C: b5 URLFETCH "${OLD}" "${FUT}"
S~ \* URLFETCH "imap://[^"]*2001-01-01T00:00:00Z[^"]*" NIL
S~ \* URLFETCH "imap://[^"]*2999-01-01T00:00:00Z[^"]*" \{8\}\\r\\npart two
S~ b5 OK .*
# tampered URLs: another token, another UID or section under the same token, a plain URL
C: b6 URLFETCH "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=anonymous:internal:010000000000000000000000000000000000000000" "imap://alice@mail.example.org/INBOX/;uid=1/;section=1" "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=anonymous:xsample:0123456789abcdef0123456789abcdef"
S~ \* URLFETCH "[^"]*" NIL
S~ \* URLFETCH "[^"]*" NIL
S~ \* URLFETCH "[^"]*" NIL
S~ b6 OK .*
# One answer, the same bytes but for the URL itself, whatever fails
# (RFC 4467 6 and the URLFETCH response): no such user, no such mailbox,
# no such UID (under a token that verifies), a wrong token, a URL that
# is no URLAUTH URL. All of them go through the urlfetch job, where the
# user is looked up (tests/system/test_urlauth_oracle.py).
C: n1 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=99;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<U99>imap://alice@mail\.example\.org/INBOX/;uid=99;urlauth=anonymous:internal:01[0-9a-f]{40})"
S~ n1 OK .*
C: n2 URLFETCH "imap://ghost@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567"
S: * URLFETCH "imap://ghost@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" NIL
S: n2 OK URLFETCH completed
C: n3 URLFETCH "imap://alice@mail.example.org/Nosuch/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567"
S: * URLFETCH "imap://alice@mail.example.org/Nosuch/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" NIL
S: n3 OK URLFETCH completed
C: n4 URLFETCH "${U99}"
S: * URLFETCH "${U99}" NIL
S: n4 OK URLFETCH completed
C: n5 URLFETCH "imap://alice@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567"
S: * URLFETCH "imap://alice@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" NIL
S: n5 OK URLFETCH completed
C: n6 URLFETCH "imap://ghost@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" "imap://alice@mail.example.org/Nosuch/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" "${U99}" "imap://alice@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" "imap://alice@mail.example.org/INBOX/;uid=1"
S: * URLFETCH "imap://ghost@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" NIL
S: * URLFETCH "imap://alice@mail.example.org/Nosuch/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" NIL
S: * URLFETCH "${U99}" NIL
S: * URLFETCH "imap://alice@mail.example.org/INBOX/;uid=1;urlauth=anonymous:internal:010123456789abcdef0123456789abcdef01234567" NIL
S: * URLFETCH "imap://alice@mail.example.org/INBOX/;uid=1" NIL
S: n6 OK URLFETCH completed
C: b7 URLFETCH "not a url" (
S~ b7 BAD .*
C: b8 URLFETCH
S~ b8 BAD .*
# bob uses what alice authorized him
@connect plain bob
S~ \* OK .*
C: c1 LOGIN bob secret
S~ c1 OK .*
C: c2 URLFETCH "${SUB}" "${USR}" "${ANON}"
S~ \* URLFETCH "[^"]*submit\+bob:[^"]*" \{26\}\\r\\nSi vis pacem, para bellum\.
S~ \* URLFETCH "[^"]*user\+bob:[^"]*" \{8\}\\r\\npart two
S~ \* URLFETCH "[^"]*anonymous:[^"]*" \{26\}\\r\\nSi vis pacem, para bellum\.
S~ c2 OK .*
# CATENATE with URLAUTH URLs (RFC 4469 + 4467): bob builds a message from alice's part
C: c3 APPEND INBOX CATENATE (TEXT {%=Subject: fwd\r\n\r\n} URL "${SUB}")
S~ c3 OK \[APPENDUID \d+ 1\] .*
C: c4 APPEND INBOX CATENATE (URL "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob:internal:010000000000000000000000000000000000000000")
S: c4 NO [BADURL imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob:internal:010000000000000000000000000000000000000000] CATENATE: the URL names no readable message or part
# the same answer for a user or a mailbox that does not exist
C: c4a APPEND INBOX CATENATE (URL "imap://ghost@mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob:internal:010000000000000000000000000000000000000000")
S: c4a NO [BADURL imap://ghost@mail.example.org/INBOX/;uid=1/;section=1;urlauth=submit+bob:internal:010000000000000000000000000000000000000000] CATENATE: the URL names no readable message or part
C: c4b APPEND INBOX CATENATE (URL "imap://alice@mail.example.org/Nosuch/;uid=1/;section=1;urlauth=submit+bob:internal:010000000000000000000000000000000000000000")
S: c4b NO [BADURL imap://alice@mail.example.org/Nosuch/;uid=1/;section=1;urlauth=submit+bob:internal:010000000000000000000000000000000000000000] CATENATE: the URL names no readable message or part
# a plain URL to alice's mailbox is not bob's to use
C: c5 APPEND INBOX CATENATE (URL "imap://alice@mail.example.org/INBOX/;uid=1/;section=1")
S~ c5 NO \[BADURL .*
# admin counts as a submission entity for submit+
@connect plain admin
S~ \* OK .*
C: d1 LOGIN admin secret
S~ d1 OK .*
C: d2 URLFETCH "${SUB}" "${USR}"
S~ \* URLFETCH "[^"]*submit\+bob:[^"]*" \{26\}\\r\\nSi vis pacem, para bellum\.
S~ \* URLFETCH "[^"]*user\+bob:[^"]*" NIL
S~ d2 OK .*
# a mailbox of another store: the URL works while its user (alice) may
# read it, and gives NIL once she may not (RFC 4467 URLFETCH: the access
# of the URL's user, as it is now)
@use bob
C: s1 CREATE shared
S~ s1 OK .*
C: s2 APPEND shared {%m1}
S~ s2 OK .*
C: s3 SETACL shared alice lr
S~ s3 OK .*
@use alice
C: s4 GENURLAUTH "imap://alice@mail.example.org/Other%20Users/bob/shared/;uid=1/;section=2;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<SH>imap://alice@mail\.example\.org/Other%20Users/bob/shared/;uid=1/;section=2;urlauth=anonymous:internal:01[0-9a-f]{40})"
S~ s4 OK .*
C: s5 URLFETCH "${SH}"
S~ \* URLFETCH "[^"]*" \{8\}\\r\\npart two
S~ s5 OK .*
@use bob
C: s6 SETACL shared alice l
S~ s6 OK .*
C: s7 URLFETCH "${SH}"
S~ \* URLFETCH "[^"]*" NIL
S~ s7 OK .*
@use alice
C: s8 URLFETCH "${SH}"
S~ \* URLFETCH "[^"]*" NIL
S~ s8 OK .*
C: s9 GENURLAUTH "imap://alice@mail.example.org/Other%20Users/bob/shared/;uid=1/;section=2;urlauth=anonymous" INTERNAL
S~ s9 BAD .*
# RESETKEY with a mailbox revokes that mailbox's URLs
@use alice
C: e1 RESETKEY INBOX
S: e1 OK [URLMECH INTERNAL] Key reset
C: e2 URLFETCH "${ANON}"
S~ \* URLFETCH "[^"]*" NIL
S~ e2 OK .*
C: e3 RESETKEY INBOX XSAMPLE
S~ e3 BAD .*
C: e4 RESETKEY nosuch
S~ e4 NO \[NONEXISTENT\] .*
C: e5 RESETKEY INBOX INTERNAL
S: e5 OK [URLMECH INTERNAL] Key reset
C: e6 GENURLAUTH "imap://alice@mail.example.org/INBOX/;uid=1/;section=1;urlauth=anonymous" INTERNAL
S~ \* GENURLAUTH "(?P<ANON2>[^"]*)"
S~ e6 OK .*
C: e7 URLFETCH "${ANON2}"
S~ \* URLFETCH "[^"]*" \{26\}\\r\\nSi vis pacem, para bellum\.
S~ e7 OK .*
# RESETKEY alone drops every key
C: e8 RESETKEY
S: e8 OK All keys removed
C: e9 URLFETCH "${ANON2}"
S~ \* URLFETCH "[^"]*" NIL
S~ e9 OK .*
C: e10 LOGOUT
S* e10 OK .*
