# NOTIFY (RFC 5465) in one session: the capability, NOTIFY SET's syntax
# and its errors (BAD for malformed arguments and the rules of 5 and 6.1,
# NO [BADEVENT] listing the supported events for an unknown one, 3.1),
# NO [CANNOT] for MessageNew attributes a message record cannot answer,
# the STATUS indicator (a STATUS for each watched non-selected mailbox
# before the tagged OK, none for the selected one), the \NoAccess rule
# does not apply to the own store, NOTIFY NONE. Events from other sessions
# are in tests/system/test_notify.py.
@user alice secret
@sleepless
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY(?=.* NOTIFY( |$)).*
S~ a2 OK .*
C: a3 CREATE Lists/Lemonade
S~ a3 OK .*
C: a4 CREATE misc
S~ a4 OK .*

# ---- syntax: BAD ----
C: b1 NOTIFY
S~ b1 BAD .*
C: b2 NOTIFY SET
S~ b2 BAD .*
C: b3 NOTIFY NONE extra
S~ b3 BAD .*
C: b4 NOTIFY BOGUS
S~ b4 BAD .*
C: b5 NOTIFY SET (elsewhere (MessageNew MessageExpunge))
S~ b5 BAD .*
# 5: MessageNew and MessageExpunge together; FlagChange needs both
C: b6 NOTIFY SET (selected (MessageNew))
S~ b6 BAD .*
C: b7 NOTIFY SET (personal (MessageExpunge))
S~ b7 BAD .*
C: b8 NOTIFY SET (personal (FlagChange))
S~ b8 BAD .*
C: b9 NOTIFY SET (personal (MessageNew FlagChange))
S~ b9 BAD .*
# 6.1: only message events for SELECTED, and only one SELECTED
C: b10 NOTIFY SET (selected (MailboxName))
S~ b10 BAD .*
C: b11 NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))
S~ b11 BAD .*
# 8: fetch attributes only with SELECTED
C: b12 NOTIFY SET (personal (MessageNew (uid) MessageExpunge))
S~ b12 BAD .*
C: b13 NOTIFY SET (subtree (MessageNew MessageExpunge))
S~ b13 BAD .*
C: b14 NOTIFY SET (personal ())
S~ b14 BAD .*
C: b15 NOTIFY SET (personal (MessageNew MessageExpunge)
S~ b15 BAD .*
C: b16 NOTIFY SET (selected (MessageNew (uid body[) MessageExpunge))
S~ b16 BAD .*

# ---- an unknown event: NO [BADEVENT (the supported ones)] ----
C: c1 NOTIFY SET (personal (MessageNew MessageExpunge MessageTeleported))
S: c1 NO [BADEVENT (MessageNew MessageExpunge FlagChange AnnotationChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported event
# attributes that need the message itself
C: c2 NOTIFY SET (selected (MessageNew (uid envelope) MessageExpunge))
S: c2 NO [CANNOT] MessageNew attributes supported: UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ
C: c3 NOTIFY SET (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge))
S~ c3 NO \[CANNOT\] .*

# ---- accepted forms ----
C: d1 NOTIFY SET (selected (MessageNew (uid flags internaldate rfc822.size modseq) MessageExpunge FlagChange AnnotationChange)) (personal (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))
S: d1 OK NOTIFY completed
C: d2 notify set (Selected-Delayed NONE) (inboxes NONE) (subscribed (messagenew messageexpunge)) (subtree (Lists misc) (MailboxName)) (mailboxes "nonexistent" (MailboxName)) (mailboxes INBOX (MessageNew MessageExpunge))
S: d2 OK NOTIFY completed

# ---- the STATUS indicator: every watched mailbox but the selected one
# ("Lists" is no mailbox, only the parent of Lists/Lemonade) ----
C: e1 NOTIFY SET STATUS (personal (MessageNew MessageExpunge))
S~ \* STATUS "?INBOX"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
S~ \* STATUS "?Lists/Lemonade"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
S~ \* STATUS "?misc"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
S: e1 OK NOTIFY completed
C: e2 SELECT INBOX
S~ \* .*
S~ \* .*
S~ \* .*
S~ \* .*
S~ \* .*
S~ \* .*
S~ \* .*
S~ e2 OK .*
C: e3 NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge FlagChange)) (mailboxes (INBOX misc) (MessageNew MessageExpunge))
S~ \* STATUS "?Lists/Lemonade"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)
S~ \* STATUS "?misc"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
S: e3 OK NOTIFY completed
# without STATUS: none
C: e4 NOTIFY SET (personal (MessageNew MessageExpunge))
S: e4 OK NOTIFY completed
C: e5 NOTIFY NONE
S: e5 OK NOTIFY completed
C: e6 LOGOUT
S~ \* BYE .*
S~ e6 OK .*
