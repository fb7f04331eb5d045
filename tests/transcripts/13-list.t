# LIST (RFC 9051 6.3.9), LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154),
# LIST-STATUS (RFC 5819)
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE Archive (USE (\Archive))
S~ a2 OK .*
C: a3a CREATE Lists
S~ a3a OK .*
C: a3 CREATE Lists/imap
S~ a3 OK .*
C: a4 CREATE Lists/sieve
S~ a4 OK .*
@append INBOX simple.eml
@append INBOX second.eml \Seen
# hierarchy delimiter query (6.3.9: empty mailbox name)
C: a5 LIST "" ""
S: * LIST (\Noselect) "/" ""
S~ a5 OK .*
C: a6 LIST "" %
S& ~\* LIST \(.*\) "/" INBOX
S& ~\* LIST \((\\HasNoChildren \\Archive|\\Archive \\HasNoChildren)\) "/" Archive
S& * LIST (\HasChildren) "/" Lists
S~ a6 OK .*
C: a7 LIST "" *
S& ~\* LIST \(.*\) "/" INBOX
S& ~\* LIST \(.*\) "/" Archive
S& * LIST (\HasChildren) "/" Lists
S& * LIST (\HasNoChildren) "/" Lists/imap
S& * LIST (\HasNoChildren) "/" Lists/sieve
S~ a7 OK .*
C: a8 LIST Lists/ %
S& * LIST (\HasNoChildren) "/" Lists/imap
S& * LIST (\HasNoChildren) "/" Lists/sieve
S~ a8 OK .*
C: a9 LIST "" Lists/%p
S: * LIST (\HasNoChildren) "/" Lists/imap
S~ a9 OK .*
# INBOX matches case-insensitively
C: a10 LIST "" inbox
S~ \* LIST \(.*\) "/" INBOX
S~ a10 OK .*
C: a11 LIST "" nomatch*
S~ a11 OK .*
# LIST-EXTENDED selection options
C: b1 LIST (SPECIAL-USE) "" *
S~ \* LIST \((\\HasNoChildren \\Archive|\\Archive \\HasNoChildren|\\Archive)\) "/" Archive
S~ b1 OK .*
C: b2 SUBSCRIBE Lists/imap
S~ b2 OK .*
C: b3 LIST (SUBSCRIBED RECURSIVEMATCH) "" %
S& ?~\* LIST \(\\Subscribed.*\) "/" INBOX
S& ~\* LIST \(\\HasChildren\) "/" Lists \("CHILDINFO" \("SUBSCRIBED"\)\)|\* LIST \(\) "/" Lists \("CHILDINFO" \("SUBSCRIBED"\)\)
S~ b3 OK .*
C: b4 LIST (SUBSCRIBED) "" *
S& ?~\* LIST \(\\Subscribed.*\) "/" INBOX
S& ~\* LIST \((\\HasNoChildren )?\\Subscribed( \\HasNoChildren)?\) "/" Lists/imap
S~ b4 OK .*
C: b5 LIST (RECURSIVEMATCH) "" %
S~ b5 BAD .*
C: b6 LIST (BOGUSOPTION) "" %
S~ b6 BAD .*
# multiple patterns
C: b7 LIST "" ("Lists/imap" "Archive")
S& ~\* LIST \(.*\) "/" Lists/imap
S& ~\* LIST \(.*\) "/" Archive
S~ b7 OK .*
# return options
C: b8 LIST "" Lists RETURN (CHILDREN)
S: * LIST (\HasChildren) "/" Lists
S~ b8 OK .*
C: b9 LIST "" Archive RETURN (SPECIAL-USE)
S~ \* LIST \((.* )?\\Archive( .*)?\) "/" Archive
S~ b9 OK .*
# LIST-STATUS
C: b10 LIST "" INBOX RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))
S~ \* LIST \(.*\) "/" INBOX
S: * STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3)
S~ b10 OK .*
C: b11 LIST "" "Lists/*" RETURN (STATUS (MESSAGES))
S& * LIST (\HasNoChildren) "/" Lists/imap
S& * STATUS Lists/imap (MESSAGES 0)
S& * LIST (\HasNoChildren) "/" Lists/sieve
S& * STATUS Lists/sieve (MESSAGES 0)
S~ b11 OK .*
C: b12 LIST "" % RETURN (BOGUS)
S~ b12 BAD .*
C: b13 LIST ""
S~ b13 BAD .*
# NAMESPACE (RFC 9051 6.3.10, RFC 2342): personal, other users, shared
C: c1 NAMESPACE
S: * NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))
S~ c1 OK .*
C: c2 NAMESPACE x
S~ c2 BAD .*
C: c3 LOGOUT
S~ \* BYE .*
S~ c3 OK .*
