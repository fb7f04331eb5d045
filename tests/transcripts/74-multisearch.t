# MULTISEARCH (RFC 7377): ESEARCH over several mailboxes, one ESEARCH
# response per mailbox with matches (TAG, MAILBOX, UIDVALIDITY; UIDs),
# source options, rights ("r"; "l" too unless named), errors.
@user alice secret
@user bob secret
@append INBOX simple.eml
@append INBOX second.eml
@connect plain B
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 CREATE proj
S~ b2 OK .*
C: b3 CREATE hidden
S~ b3 OK .*
C: b4 APPEND proj {%second.eml}
S~ b4 OK .*
C: b5 APPEND hidden {%second.eml}
S~ b5 OK .*
C: b6 SETACL proj alice lr
S~ b6 OK .*
C: b7 SETACL hidden alice l
S~ b7 OK .*
@connect plain A
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK \[CAPABILITY (?=.* MULTISEARCH( |\])).*
C: a2 CREATE folder1
S~ a2 OK .*
C: a3 CREATE folder2/banana
S~ a3 OK .*
C: a4 CREATE folder2/peach/deep
S~ a4 OK .*
C: a5 APPEND folder1 {%second.eml}
S~ a5 OK .*
C: a6 APPEND folder2/banana {%simple.eml}
S~ a6 OK .*
C: a7 APPEND folder2/banana {%second.eml}
S~ a7 OK .*
C: a8 APPEND folder2/peach/deep {%second.eml}
S~ a8 OK .*
C: a9 SUBSCRIBE folder1
S~ a9 OK .*
# not selected: "selected" (the default) is BAD
C: e1 ESEARCH SUBJECT zebra
S~ e1 BAD .*
C: e2 ESEARCH IN (selected personal) ALL
S~ e2 BAD .*
# personal: every own mailbox with matches, ALL implied, in UIDs
C: e3 ESEARCH IN (personal) SUBJECT zebra
S~ \* ESEARCH \(TAG "e3" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S~ \* ESEARCH \(TAG "e3" MAILBOX "?folder1"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S~ \* ESEARCH \(TAG "e3" MAILBOX "folder2/banana" UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S~ \* ESEARCH \(TAG "e3" MAILBOX "folder2/peach/deep" UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: e3 OK ESEARCH completed
# subtree, subtree-one, RETURN options per mailbox
C: e4 ESEARCH IN (subtree folder2) RETURN (COUNT) ALL
S~ \* ESEARCH \(TAG "e4" MAILBOX "folder2/banana" UIDVALIDITY [1-9][0-9]*\) UID COUNT 2
S~ \* ESEARCH \(TAG "e4" MAILBOX "folder2/peach/deep" UIDVALIDITY [1-9][0-9]*\) UID COUNT 1
S: e4 OK ESEARCH completed
C: e5 ESEARCH IN (subtree-one folder2) RETURN (MIN MAX) ALL
S~ \* ESEARCH \(TAG "e5" MAILBOX "folder2/banana" UIDVALIDITY [1-9][0-9]*\) UID MIN 1 MAX 2
S: e5 OK ESEARCH completed
C: e6 ESEARCH IN (subtree-one folder2/peach) ALL
S~ \* ESEARCH \(TAG "e6" MAILBOX "folder2/peach/deep" UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: e6 OK ESEARCH completed
# mailboxes: another user's shared mailbox with "r"; one with only "l"
# (and a missing one) is silently left out
C: e7 ESEARCH IN (mailboxes (folder1 "Other Users/bob/proj" "Other Users/bob/hidden" nosuch)) SUBJECT zebra
S~ \* ESEARCH \(TAG "e7" MAILBOX "Other Users/bob/proj" UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S~ \* ESEARCH \(TAG "e7" MAILBOX "?folder1"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: e7 OK ESEARCH completed
C: e8 ESEARCH IN (mailboxes "Other Users/bob/hidden") ALL
S: e8 OK ESEARCH completed
# subscribed, inboxes; duplicates searched once
C: e9 ESEARCH IN (subscribed) ALL
S~ \* ESEARCH \(TAG "e9" MAILBOX "?folder1"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: e9 OK ESEARCH completed
C: e10 ESEARCH IN (inboxes mailboxes INBOX) RETURN (MIN MAX COUNT) ALL
S~ \* ESEARCH \(TAG "e10" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID MIN 1 MAX 2 COUNT 2
S: e10 OK ESEARCH completed
# no match anywhere: no ESEARCH response at all, even for COUNT
C: e11 ESEARCH IN (personal) RETURN (COUNT) SUBJECT nosuchthing
S: e11 OK ESEARCH completed
# MODSEQ (RFC 7162) per mailbox
C: e12 ESEARCH IN (mailboxes folder1) MODSEQ 1
S~ \* ESEARCH \(TAG "e12" MAILBOX "?folder1"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1 MODSEQ [1-9][0-9]*
S: e12 OK ESEARCH completed
# errors
C: x1 ESEARCH IN (selected-delayed) ALL
S~ x1 BAD .*
C: x2 ESEARCH IN (personal (scope)) ALL
S~ x2 BAD .*
C: x3 ESEARCH IN (bogus) ALL
S~ x3 BAD .*
C: x4 ESEARCH IN () ALL
S~ x4 BAD .*
C: x5 ESEARCH IN (mailboxes) ALL
S~ x5 BAD .*
C: x6 ESEARCH IN (personal) RETURN (SAVE) ALL
S~ x6 BAD .*
C: x7 ESEARCH IN (personal)
S~ x7 BAD .*
C: x8 ESEARCH IN (mailboxes (folder1 INBOX) ALL
S~ x8 BAD .*
C: x9 ESEARCH IN (personal) BOGUSKEY
S~ x9 BAD .*
C: x10 ESEARCH IN (personal) CHARSET NOSUCH-CS SUBJECT x
S~ x10 NO \[BADCHARSET.*
# selected: the default source; SAVE only with the selected mailbox alone
C: s1 SELECT INBOX
S* s1 OK \[READ-WRITE\] .*
C: s2 ESEARCH SUBJECT zebra
S~ \* ESEARCH \(TAG "s2" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S: s2 OK ESEARCH completed
C: s3 ESEARCH IN (selected personal) SUBJECT zebra
S~ \* ESEARCH \(TAG "s3" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S~ \* ESEARCH \(TAG "s3" MAILBOX "?folder1"? UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S~ \* ESEARCH \(TAG "s3" MAILBOX "folder2/banana" UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S~ \* ESEARCH \(TAG "s3" MAILBOX "folder2/peach/deep" UIDVALIDITY [1-9][0-9]*\) UID ALL 1
S: s3 OK ESEARCH completed
C: s4 ESEARCH RETURN (SAVE) SUBJECT afternoon
S: s4 OK ESEARCH completed
C: s5 UID FETCH $ (UID)
S: * 1 FETCH (UID 1)
S: s5 OK Fetch completed
C: s6 ESEARCH IN (selected) RETURN (SAVE COUNT) ALL
S~ \* ESEARCH \(TAG "s6" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID COUNT 2
S: s6 OK ESEARCH completed
C: s7 ESEARCH IN (selected mailboxes folder1) RETURN (SAVE) ALL
S~ s7 BAD .*
C: s8 ESEARCH IN (mailboxes folder1) $
S~ s8 BAD .*
C: s9 ESEARCH $ SUBJECT zebra
S~ \* ESEARCH \(TAG "s9" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S: s9 OK ESEARCH completed
# sequence numbers are per mailbox (RFC 7377 2)
C: s10 ESEARCH IN (personal) 2:3
S~ \* ESEARCH \(TAG "s10" MAILBOX "?INBOX"? UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S~ \* ESEARCH \(TAG "s10" MAILBOX "folder2/banana" UIDVALIDITY [1-9][0-9]*\) UID ALL 2
S: s10 OK ESEARCH completed
C: z1 LOGOUT
S~ \* BYE .*
S~ z1 OK .*
