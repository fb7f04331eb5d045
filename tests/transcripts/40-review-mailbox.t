# Review: CREATE / DELETE / RENAME examples of RFC 9051 6.3.4-6.3.6
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# 6.3.4: trailing delimiter is dropped; foo/bar creates the hierarchy
C: A003 CREATE owatagusiam/
S~ A003 OK .*
C: A004 CREATE owatagusiam/blurdybloop
S~ A004 OK .*
C: A005 LIST "" owatagusiam
S: * LIST (\HasChildren) "/" owatagusiam
S~ A005 OK .*
C: c1 CREATE inbox
S~ c1 NO .*
C: c2 CREATE INBOX
S~ c2 NO .*
# 6.3.5 first example: a \Noselect name with inferiors cannot be deleted
C: A682 CREATE blurdybloop
S~ A682 OK .*
C: A682a CREATE foo/bar
S~ A682a OK .*
C: A683 DELETE blurdybloop
S~ A683 OK .*
C: A684 DELETE foo
S~ A684 NO .*
C: A685 DELETE foo/bar
S~ A685 OK .*
C: A686 LIST "" foo*
S~ A686 OK .*
# 6.3.5 second example: deleting a selectable parent keeps the child,
# the parent then is \Noselect (or the DELETE is refused with NO)
C: A82 CREATE foo
S~ A82 OK .*
C: A83 CREATE foo/bar
S~ A83 OK .*
C: A84 DELETE foo
S~ A84 OK .*
C: A85 LIST "" foo/%
S: * LIST (\HasNoChildren) "/" foo/bar
S~ A85 OK .*
C: A86 LIST "" %
S& ~\* LIST \(.*\) "/" INBOX
S& ~\* LIST \((?=.*\\(Noselect|NonExistent))(?=.*\\HasChildren).*\) "/" foo
S& * LIST (\HasChildren) "/" owatagusiam
S~ A86 OK .*
C: A87 SELECT foo
S~ A87 NO .*
C: A88 DELETE foo/bar
S~ A88 OK .*
C: A89 DELETE foo
S~ A89 NO .*
# deleting INBOX or a name that does not exist is an error
C: A90 DELETE INBOX
S~ A90 NO .*
C: A91 DELETE nosuch
S~ A91 NO \[NONEXISTENT\] .*
# 6.3.6: RENAME moves the inferior hierarchy along
C: A683 CREATE foo
S~ A683 OK .*
C: A684 CREATE foo/bar
S~ A684 OK .*
C: A684b CREATE foo/bar/baz
S~ A684b OK .*
C: A685 RENAME foo zap
S~ A685 OK .*
C: A686 LIST "" *
S& ~\* LIST \(.*\) "/" INBOX
S& * LIST (\HasChildren) "/" owatagusiam
S& * LIST (\HasNoChildren) "/" owatagusiam/blurdybloop
S& * LIST (\HasChildren) "/" zap
S& * LIST (\HasChildren) "/" zap/bar
S& * LIST (\HasNoChildren) "/" zap/bar/baz
S~ A686 OK .*
# target exists; source missing; into itself
C: r1 RENAME owatagusiam zap
S~ r1 NO \[ALREADYEXISTS\] .*
C: r2 RENAME nosuch other
S~ r2 NO \[NONEXISTENT\] .*
C: r3 RENAME zap zap/inner
S~ r3 NO .*
C: r4 RENAME zap INBOX
S~ r4 NO .*
# 6.3.6: renaming INBOX moves its messages, INBOX stays and is empty;
# inferiors of INBOX are not renamed
@append INBOX simple.eml
@append INBOX second.eml
C: r5 CREATE INBOX/child
S~ r5 OK .*
C: r6 RENAME INBOX old-mail
S~ r6 OK .*
C: r7 STATUS old-mail (MESSAGES)
S: * STATUS old-mail (MESSAGES 2)
S~ r7 OK .*
C: r8 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 0)
S~ r8 OK .*
C: r9 LIST "" INBOX*
S& * LIST (\HasChildren) "/" INBOX
S& * LIST (\HasNoChildren) "/" INBOX/child
S~ r9 OK .*
C: r10 LIST "" old-mail*
S: * LIST (\HasNoChildren) "/" old-mail
S~ r10 OK .*
# 6.3.5: a new mailbox with the name of a deleted one must not reuse
# its UIDs unless its UIDVALIDITY differs
C: u1 CREATE box
S~ u1 OK .*
C: u2 APPEND box {%=Subject: x\r\n\r\nabc+}
S~ u2 OK .*
C: u3 STATUS box (UIDNEXT UIDVALIDITY)
S~ \* STATUS box \(UIDNEXT 2 UIDVALIDITY (?P<uv>[0-9]+)\)
S~ u3 OK .*
C: u4 DELETE box
S~ u4 OK .*
C: u5 CREATE box
S~ u5 OK .*
C: u6 STATUS box (UIDNEXT UIDVALIDITY)
S~ \* STATUS box \((UIDNEXT ([2-9]|[1-9][0-9]+) UIDVALIDITY [0-9]+|UIDNEXT [0-9]+ UIDVALIDITY (?!${uv}\))[0-9]+)\)
S~ u6 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
