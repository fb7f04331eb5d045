# METADATA-SERVER under virtdomains: each domain has its own shared
# server annotations (kept in the domain's shared store), set by that
# domain's admin and read by its users only; other users cannot set them.
@config virtdomains yes
@config admins boss@example.com
@user alice@example.com secret
@user carol@other.org secret
@user boss@example.com secret
@sleepless
@connect plain boss
S~ \* OK .*
C: b1 LOGIN boss@example.com secret
S~ b1 OK .*
C: b2 SETMETADATA "" (/shared/comment "example.com news")
S: b2 OK SETMETADATA completed
@connect plain carol
S~ \* OK .*
C: c1 LOGIN carol@other.org secret
S~ c1 OK .*
C: c2 GETMETADATA "" /shared/comment
S: * METADATA "" ("/shared/comment" NIL)
S: c2 OK GETMETADATA completed
C: c3 SETMETADATA "" (/shared/comment "hijack")
S~ c3 NO \[NOPERM\] .*
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice@example.com secret
S~ a1 OK .*
C: a2 GETMETADATA "" /shared/comment
S: * METADATA "" ("/shared/comment" "example.com news")
S: a2 OK GETMETADATA completed
C: a3 SETMETADATA "" (/shared/comment "mine")
S~ a3 NO \[NOPERM\] .*
