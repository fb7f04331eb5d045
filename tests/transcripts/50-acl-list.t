# LIST across namespaces: shared folders (created by an admin, defaultacl
# "anyone lrs"), LIST-STATUS only where the user holds "r", RETURN
# (MYRIGHTS) (RFC 8440) in every namespace, LIST-EXTENDED selection with
# names in other namespaces, STATUS/SELECT of a shared folder.
@config admins admin
@user alice secret
@user bob secret
@user admin secret
@sleepless
@msg m1
Subject: one

hello
@end
@connect plain admin
S~ \* OK .*
C: d1 LOGIN admin secret
S~ d1 OK .*
# account administration: create, rename, delete "user/NAME"
C: d1a CREATE user/tmp1
S~ d1a OK .*
C: d1b CREATE user/tmp1/box
S~ d1b OK .*
C: d1c RENAME user/tmp1 user/tmp2
S~ d1c OK .*
C: d1d LIST "" "user/tmp*"
S: * LIST (\HasChildren) "/" user/tmp2
S: * LIST (\HasNoChildren) "/" user/tmp2/box
S~ d1d OK .*
C: d1e DELETE user/tmp2
S~ d1e OK .*
C: d1f LIST "" "user/tmp*"
S~ d1f OK .*
C: d2 CREATE "Shared Folders/news"
S~ d2 OK .*
C: d3 GETACL "Shared Folders/news"
S~ \* ACL "Shared Folders/news"(?=.* anyone lrs( |$)).*
S~ d3 OK .*
C: d4 CREATE "Shared Folders/news/tech"
S~ d4 OK .*
# refused before the continuation: no i right (RFC 4314, RFC 9051 7.5)
C+ d5 APPEND "Shared Folders/news" {23}\r\n
S~ d5 NO .*
C: d6 SETACL "Shared Folders/news" admin lrswipkxtea
S~ d6 OK .*
C: d7 APPEND "Shared Folders/news" {%m1}
S~ d7 OK .*
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# users may not create top-level shared folders
C: a2 CREATE "Shared Folders/mine"
S~ a2 NO .*
C: a3 LIST "" "Shared Folders*"
S: * LIST (\Noselect \HasChildren) "/" "Shared Folders"
S: * LIST (\HasChildren) "/" "Shared Folders/news"
S: * LIST (\HasNoChildren) "/" "Shared Folders/news/tech"
S~ a3 OK .*
C: a4 LIST "" "Shared Folders/%" RETURN (MYRIGHTS STATUS (MESSAGES))
S: * LIST (\HasChildren) "/" "Shared Folders/news"
S: * STATUS "Shared Folders/news" (MESSAGES 1)
S: * MYRIGHTS "Shared Folders/news" lrs
S~ a4 OK .*
C: a5 STATUS "Shared Folders/news" (MESSAGES UNSEEN)
S: * STATUS "Shared Folders/news" (MESSAGES 1 UNSEEN 1)
S~ a5 OK .*
C: a6 SELECT "Shared Folders/news"
S* a6 OK \[READ-WRITE\] .*
C: a7 FETCH 1 (FLAGS BODY[])
S~ \* 1 FETCH \(FLAGS \(\\Seen\) BODY\[\] \{23\}.*|\* 1 FETCH \(BODY\[\] \{23\}.*
S~ a7 OK .*
C: a8 CLOSE
S~ a8 OK .*
C: a9 STATUS "Shared Folders/news" (UNSEEN)
S: * STATUS "Shared Folders/news" (UNSEEN 0)
S~ a9 OK .*
C: a10 CREATE proj
S~ a10 OK .*
C: a11 SETACL proj bob l
S~ a11 OK .*
C: a12 LIST "" "%" RETURN (MYRIGHTS)
S& ~\* LIST \(\\HasNoChildren\) "/" "?INBOX"?
S& ~\* MYRIGHTS "?INBOX"? lrswipkxteancd
S& * LIST (\HasNoChildren) "/" proj
S& ~\* MYRIGHTS "?proj"? lrswipkxteancd
S& * LIST (\Noselect \HasChildren) "/" "Shared Folders"
S~ a12 OK .*
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
# bob is still unaware of the shared folder's message
C: b2 STATUS "Shared Folders/news" (UNSEEN)
S: * STATUS "Shared Folders/news" (UNSEEN 1)
S~ b2 OK .*
# "l" only: listed, but no STATUS and no SELECT
C: b3 LIST "" "Other Users/*" RETURN (STATUS (MESSAGES) MYRIGHTS)
S: * LIST (\Noselect \HasChildren) "/" "Other Users/alice"
S: * LIST (\HasNoChildren) "/" "Other Users/alice/proj"
S: * MYRIGHTS "Other Users/alice/proj" l
S~ b3 OK .*
C: b4 STATUS "Other Users/alice/proj" (MESSAGES)
S~ b4 NO \[NOPERM\] .*
C: b5 SELECT "Other Users/alice/proj"
S~ b5 NO \[NOPERM\] .*
# LIST-EXTENDED: selection options and several patterns across namespaces
C: b6 SUBSCRIBE "Shared Folders/news/tech"
S~ b6 OK .*
C: b7 LIST (SUBSCRIBED RECURSIVEMATCH) "" ("Shared Folders/%" "Other*")
S: * LIST (\HasChildren) "/" "Shared Folders/news" ("CHILDINFO" ("SUBSCRIBED"))
S~ b7 OK .*
C: b7b LIST (SUBSCRIBED) "" ("Shared*" "Other*")
S: * LIST (\HasNoChildren \Subscribed) "/" "Shared Folders/news/tech"
S~ b7b OK .*
C: b8 LIST "" ("Shared Folders/news" "Other Users/alice/proj") RETURN (CHILDREN)
S: * LIST (\HasNoChildren) "/" "Other Users/alice/proj"
S: * LIST (\HasChildren) "/" "Shared Folders/news"
S~ b8 OK .*
C: b9 LOGOUT
S~ \* BYE .*
S~ b9 OK .*
