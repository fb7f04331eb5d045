# Review: SEARCHRES (RFC 5182 2.1-2.4, RFC 9051 6.4.4.1) and ESEARCH result
# options (RFC 9051 6.4.4 examples)
@user alice secret
@append INBOX simple.eml
@append INBOX second.eml \Seen
@append INBOX multipart.eml \Flagged
@append INBOX simple.eml \Flagged
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
# $ is empty before any SEARCH RETURN (SAVE)
C: s0 FETCH $ FLAGS
S~ s0 OK .*
# A282 / A283 / A286 forms
C: A282 SEARCH RETURN (MIN COUNT) FLAGGED
S: * ESEARCH (TAG "A282") MIN 3 COUNT 2
S~ A282 OK .*
C: A283 SEARCH RETURN () FLAGGED
S: * ESEARCH (TAG "A283") ALL 3:4
S~ A283 OK .*
C: A284 SEARCH RETURN (MIN MAX) TEXT "string not in mailbox"
S: * ESEARCH (TAG "A284")
S~ A284 OK .*
C: A285 UID SEARCH RETURN (MIN MAX) 1:5000
S: * ESEARCH (TAG "A285") UID MIN 1 MAX 4
S~ A285 OK .*
C: A286 SEARCH RETURN (COUNT) DELETED
S: * ESEARCH (TAG "A286") COUNT 0
S~ A286 OK .*
# SAVE alone: no ESEARCH response
C: s1 SEARCH RETURN (SAVE) ALL
S~ s1 OK .*
# a SEARCH with SAVE that fails with NO empties $ (RFC 5182 2.1)
C: s2 SEARCH RETURN (SAVE) CHARSET X-UNKNOWN TEXT x
S~ s2 NO \[BADCHARSET.*
C: s3 FETCH $ UID
S~ s3 OK .*
# ... but one that fails with BAD leaves it alone
C: s4 SEARCH RETURN (SAVE) ALL
S~ s4 OK .*
C: s5 SEARCH RETURN (SAVE) BADKEY
S~ s5 BAD .*
C: s6 FETCH $ UID
S: * 1 FETCH (UID 1)
S: * 2 FETCH (UID 2)
S: * 3 FETCH (UID 3)
S: * 4 FETCH (UID 4)
S~ s6 OK .*
# SAVE with MIN / MAX saves only those (RFC 5182 2.4)
C: s7 SEARCH RETURN (SAVE MIN) FLAGGED
S: * ESEARCH (TAG "s7") MIN 3
S~ s7 OK .*
C: s8 FETCH $ UID
S: * 3 FETCH (UID 3)
S~ s8 OK .*
C: s9 SEARCH RETURN (SAVE MAX MIN) ALL
S: * ESEARCH (TAG "s9") MIN 1 MAX 4
S~ s9 OK .*
C: s10 FETCH $ UID
S: * 1 FETCH (UID 1)
S: * 4 FETCH (UID 4)
S~ s10 OK .*
# SAVE with COUNT saves everything
C: s11 SEARCH RETURN (SAVE COUNT) UNSEEN
S: * ESEARCH (TAG "s11") COUNT 3
S~ s11 OK .*
C: s12 FETCH $ UID
S: * 1 FETCH (UID 1)
S: * 3 FETCH (UID 3)
S: * 4 FETCH (UID 4)
S~ s12 OK .*
# $ holds UIDs: an expunged message drops out, numbering follows
C: s13 SEARCH RETURN (SAVE) 2:4
S~ s13 OK .*
C: s14 STORE 3 +FLAGS.SILENT (\Deleted)
S~ s14 OK .*
C: s15 EXPUNGE
S: * 3 EXPUNGE
S~ s15 OK .*
C: s16 UID SEARCH UID $
S: * SEARCH 2 4
S~ s16 OK .*
C: s17 SEARCH $
S: * SEARCH 2 3
S~ s17 OK .*
# "$" is a whole sequence set, it cannot be part of one
C: s18 SEARCH 1,$
S~ s18 BAD .*
C: s19 SEARCH OR $ 1 NOT $
S: * SEARCH 1
S~ s19 OK .*
# $ does not survive deselection
C: s20 UNSELECT
S~ s20 OK .*
C: s21 SELECT INBOX
S* s21 OK .*
C: s22 FETCH $ UID
S~ s22 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
