# autocreate_inbox_folders / autosubscribe_inbox_folders (Cyrus): a new
# account gets these mailboxes, with their RFC 6154 SPECIAL-USE attribute
# by well-known name, and subscriptions to INBOX and the listed ones.
@config autocreate_inbox_folders Drafts | Sent | Trash | Junk | Archive | Projects
@config autosubscribe_inbox_folders Drafts, Sent, Trash
@user alice secret
@sleepless
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 LIST "" "*" RETURN (SPECIAL-USE)
S& * LIST (\HasNoChildren) "/" INBOX
S& * LIST (\HasNoChildren \Drafts) "/" Drafts
S& * LIST (\HasNoChildren \Sent) "/" Sent
S& * LIST (\HasNoChildren \Trash) "/" Trash
S& * LIST (\HasNoChildren \Junk) "/" Junk
S& * LIST (\HasNoChildren \Archive) "/" Archive
S& * LIST (\HasNoChildren) "/" Projects
S: a2 OK LIST completed
C: a3 LSUB "" "*"
S& * LSUB () "/" INBOX
S& * LSUB () "/" Drafts
S& * LSUB () "/" Sent
S& * LSUB () "/" Trash
S: a3 OK LSUB completed
C: a4 GETACL Drafts
S: * ACL Drafts alice lrswipkxteancd
S: a4 OK GETACL completed
C: a5 LOGOUT
S~ \* BYE .*
S~ a5 OK .*
# a second login changes nothing (provisioning runs once)
@connect plain alice2
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 DELETE Projects
S~ b2 OK .*
C: b3 LOGOUT
S~ \* BYE .*
S~ b3 OK .*
@connect plain alice3
S~ \* OK .*
C: c1 LOGIN alice secret
S~ c1 OK .*
C: c2 LIST "" Projects
S: c2 OK LIST completed
