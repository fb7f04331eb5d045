# CREATE with a partition: Cyrus's "CREATE name partition" (cyradm
# cm --partition) and the RFC 4466 create-param "(PARTITION name)".
# Only admins may name a partition; for an account it picks the store's
# partition, for any other mailbox it must be the store's own.
@config admins admin
@user admin secret
@user alice secret
@sleepless
@connect plain admin
S~ \* OK .*
C: a1 LOGIN admin secret
S~ a1 OK .*
C: a2 CREATE user/bob default
S~ a2 OK .*CREATE completed
C: a3 CREATE user/carol (PARTITION default)
S~ a3 OK .*CREATE completed
C: a4 CREATE user/dave nosuchpartition
S: a4 NO [CANNOT] No such partition
C: a5 LIST "" "user/%"
S& * LIST (\HasNoChildren) "/" user/alice
S& * LIST (\HasNoChildren) "/" user/bob
S& * LIST (\HasNoChildren) "/" user/carol
S: a5 OK LIST completed
C: a6 CREATE user/bob/Lists (PARTITION default USE (\Archive))
S~ a6 OK .*CREATE completed
C: a7 CREATE user/bob/Other (PARTITION elsewhere)
S: a7 NO [CANNOT] A mailbox lives on its account's partition
C: a8 CREATE user/bob/Bad (PARTITION)
S~ a8 BAD .*
@connect plain alice
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
C: b2 CREATE Mine default
S~ b2 NO \[NOPERM\] .*
C: b3 CREATE Mine
S~ b3 OK .*
