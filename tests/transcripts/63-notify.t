# NOTIFY (RFC 5465) in one session: the capability, NOTIFY SET's syntax
# and its errors (BAD for malformed arguments and the rules of 5 and 6.1,
# NO [BADEVENT] listing the supported events for an unknown one or
# AnnotationChange, 3.1),
# any fetch-att for MessageNew,
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
# 8: many-mailboxes holds at least one mailbox
C: b5a NOTIFY SET (mailboxes () (MessageNew MessageExpunge))
S~ b5a BAD .*
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
S: c1 NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported event
# AnnotationChange (5.1) needs per-message annotations (RFC 5257), which
# Darius does not have: an unsupported event, not listed in BADEVENT
C: c1a NOTIFY SET (selected (MessageNew MessageExpunge FlagChange AnnotationChange))
S: c1a NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported event
C: c1b NOTIFY SET (personal (AnnotationChange)) (personal (MailboxName))
S: c1b NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported event
C: c1c notify set (inboxes (messagenew messageexpunge annotationchange))
S: c1c NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported event
# any fetch-att for MessageNew (5.2), also those that read the message
# (built as a job when a message arrives: tests/system/test_notify.py)
C: c2 NOTIFY SET (selected (MessageNew (uid envelope) MessageExpunge))
S: c2 OK NOTIFY completed
C: c3 NOTIFY SET (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge))
S: c3 OK NOTIFY completed
C: c3a NOTIFY SET (selected (MessageNew (uid preview bodystructure body[] binary.peek[1] emailid threadid) MessageExpunge))
S: c3a OK NOTIFY completed
C: c3b NOTIFY NONE
S: c3b OK NOTIFY completed

# ---- bounds: 100 mailbox names, 32 event groups (NO [LIMIT]) ----
C: c4 NOTIFY SET (mailboxes (m0 m1 m2 m3 m4 m5 m6 m7 m8 m9 m10 m11 m12 m13 m14 m15 m16 m17 m18 m19 m20 m21 m22 m23 m24 m25 m26 m27 m28 m29 m30 m31 m32 m33 m34 m35 m36 m37 m38 m39 m40 m41 m42 m43 m44 m45 m46 m47 m48 m49 m50 m51 m52 m53 m54 m55 m56 m57 m58 m59 m60 m61 m62 m63 m64 m65 m66 m67 m68 m69 m70 m71 m72 m73 m74 m75 m76 m77 m78 m79 m80 m81 m82 m83 m84 m85 m86 m87 m88 m89 m90 m91 m92 m93 m94 m95 m96 m97 m98 m99 m100) (MailboxName))
S: c4 NO [LIMIT] Too many mailbox names
C: c5 NOTIFY SET (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName)) (personal (MailboxName))
S: c5 NO [LIMIT] Too many event groups

# ---- accepted forms ----
C: d1 NOTIFY SET (selected (MessageNew (uid flags internaldate rfc822.size modseq) MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))
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
