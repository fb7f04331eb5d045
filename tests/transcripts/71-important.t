# RFC 8457: the \Important special-use attribute wherever special-use
# attributes are taken (CREATE USE, /private/specialuse, LIST's SPECIAL-USE
# selection and return option) and the $Important keyword, which is an
# ordinary keyword (STORE, APPEND, SEARCH KEYWORD, FETCH FLAGS).
@user alice secret
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# RFC 8457 3.2.2
C: t1 CREATE "Important Messages" (USE (\Important))
S~ t1 OK .*
C: t1b CREATE "Imported Wine"
S~ t1b OK .*
# RFC 8457 3.2.1 (LIST shows special-use attributes without being asked,
# RFC 6154 2)
C: t2 LIST "" "Imp*"
S: * LIST (\HasNoChildren \Important) "/" "Important Messages"
S: * LIST (\HasNoChildren) "/" "Imported Wine"
S: t2 OK LIST completed
C: t3 LIST (SPECIAL-USE) "" "*"
S: * LIST (\HasNoChildren \Important) "/" "Important Messages"
S: t3 OK LIST completed
C: t4 LIST "" "Imp*" RETURN (SPECIAL-USE)
S: * LIST (\HasNoChildren \Important) "/" "Important Messages"
S: * LIST (\HasNoChildren) "/" "Imported Wine"
S: t4 OK LIST completed
C: t5 GETMETADATA "Important Messages" /private/specialuse
S: * METADATA "Important Messages" ("/private/specialuse" "\\Important")
S: t5 OK GETMETADATA completed
C: t6 SETMETADATA "Imported Wine" (/private/specialuse "\\Important \\Archive")
S: t6 OK SETMETADATA completed
C: t7 LIST "" "Imported Wine"
S: * LIST (\HasNoChildren \Archive \Important) "/" "Imported Wine"
S: t7 OK LIST completed
C: t8 CREATE Bogus (USE (\Importan))
S~ t8 NO \[USEATTR\] .*
C: t9 CREATE Both (USE (\Important \Flagged))
S~ t9 OK .*
C: t10 LIST "" Both
S: * LIST (\HasNoChildren \Flagged \Important) "/" Both
S: t10 OK LIST completed
# $Important (RFC 8457 2) is a keyword like any other
C: k1 APPEND INBOX ($Important) {%=Subject: hi\r\n\r\nbody\r\n}
S~ k1 OK .*
C: k2 APPEND INBOX {%=Subject: two\r\n\r\nbody\r\n}
S~ k2 OK .*
C: k3 SELECT INBOX
S* \* FLAGS \(.*\$Important.*\)
S* k3 OK \[READ-WRITE\] .*
C: k4 FETCH 1:* FLAGS
S: * 1 FETCH (FLAGS ($Important \Recent))
S: * 2 FETCH (FLAGS (\Recent))
S~ k4 OK .*
C: k5 STORE 2 +FLAGS ($Important)
S: * 2 FETCH (FLAGS ($Important \Recent))
S~ k5 OK .*
C: k6 STORE 1 -FLAGS ($Important)
S: * 1 FETCH (FLAGS (\Recent))
S~ k6 OK .*
C: k7 SEARCH KEYWORD $Important
S: * SEARCH 2
S~ k7 OK .*
C: k8 SEARCH UNKEYWORD $important
S: * SEARCH 1
S~ k8 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
@eof
