# COMPRESS (RFC 4978): capability after login only, state and argument
# errors, nothing compressed after a refused COMPRESS. The compressed
# stream itself is tested in tests/system/test_compress.py.
@sleepless
@user alice secret
@connect plain
S~ \* OK \[CAPABILITY (?!.*COMPRESS=).*\] .*
C: a0 CAPABILITY
S~ \* CAPABILITY (?!.*COMPRESS=).*
S~ a0 OK .*
# RFC 4978 5: command-auth, so not before login
C: a1 COMPRESS DEFLATE
S~ a1 BAD .*
C: a2 LOGIN alice secret
S~ a2 OK .*
C: a3 CAPABILITY
S~ \* CAPABILITY (?=.* COMPRESS=DEFLATE( |$)).*
S~ a3 OK .*
# RFC 4978 3: BAD for an unknown or invalid argument, and compression
# stays off (the next replies are plain)
C: a4 COMPRESS GZIP
S: a4 BAD Unknown compression mechanism
C: a5 COMPRESS
S: a5 BAD Syntax: COMPRESS DEFLATE
C: a6 COMPRESS DEFLATE EXTRA
S: a6 BAD Syntax: COMPRESS DEFLATE
C: a7 COMPRESS "DEFLATE"
S: a7 BAD Syntax: COMPRESS DEFLATE
C: a8 NOOP
S~ a8 OK .*
C: a9 SELECT INBOX
S* a9 OK .*
# case-insensitive mechanism name (RFC 4978 5); the OK itself is plain
C: b1 compress deflate
S: b1 OK DEFLATE active
