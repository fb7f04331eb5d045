# METADATA for anonymous sessions (allowanonymouslogin): they read the
# server's entries and the /shared entries of a mailbox published to
# "anonymous" (RFC 5464 3.3: "l" and "r"), have no private entries
# (NOPRIVATE, RFC 5464 4.3) and change nothing.
@config allowanonymouslogin yes
@config admins admin
@user alice secret
@user admin secret
@sleepless
@connect plain owner
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 CREATE Public
S~ o2 OK .*
C: o3 SETACL Public anonymous lr
S~ o3 OK .*
C: o4 SETMETADATA Public (/shared/comment "read me" /private/comment "alice only")
S: o4 OK SETMETADATA completed
C: o5 LOGOUT
S~ \* BYE .*
S~ o5 OK .*
@eof
@connect plain admin
S~ \* OK .*
C: m1 LOGIN admin secret
S~ m1 OK .*
C: m2 SETMETADATA "" (/shared/comment "Welcome" /shared/vendor/example/motd "hi")
S: m2 OK SETMETADATA completed
@connect plain anon
S~ \* OK .*
C: a1 LOGIN anonymous guest@example.org
S~ a1 OK .*
C: a2 GETMETADATA "" (DEPTH infinity) (/shared)
S: * METADATA "" ("/shared/comment" "Welcome" "/shared/vendor/example/motd" "hi")
S: a2 OK GETMETADATA completed
# a mailbox that does not exist
C: a3 GETMETADATA "Shared Folders/Public" (/shared/comment /private/comment)
S~ a3 NO \[NONEXISTENT\] .*
C: a5 GETMETADATA "Other Users/alice/Public" (/shared/comment /private/comment)
S: * METADATA "Other Users/alice/Public" ("/private/comment" NIL "/shared/comment" "read me")
S: a5 OK GETMETADATA completed
C: a6 SETMETADATA "Other Users/alice/Public" (/private/comment "x")
S: a6 NO [METADATA NOPRIVATE] No private annotations without a personal store
C: a7 SETMETADATA "" (/private/vendor/example/x "x")
S: a7 NO [METADATA NOPRIVATE] No private annotations without a personal store
C: a8 SETMETADATA "Other Users/alice/Public" (/shared/comment "defaced")
S~ a8 NO \[NOPERM\] .*
C: a9 GETMETADATA "Other Users/alice/Public" /shared/comment
S: * METADATA "Other Users/alice/Public" ("/shared/comment" "read me")
S: a9 OK GETMETADATA completed
# LIST-METADATA for an anonymous session
C: a10 LIST "" "Other Users/alice/%" RETURN (METADATA (/shared/comment))
S: * LIST (\HasNoChildren) "/" "Other Users/alice/Public"
S: * METADATA "Other Users/alice/Public" ("/shared/comment" "read me")
S: a10 OK LIST completed
