# Syntax errors, unknown commands, wrong state, over-long line, bad literals
@user alice secret
@connect plain
S~ \* OK .*
C: a1 FOOBAR
S~ a1 BAD .*
C: a2 SELECT INBOX
S~ a2 BAD .*
C: a3 FETCH 1 FLAGS
S~ a3 BAD .*
C: a4 LIST "" *
S~ a4 BAD .*
C: a5 login alice secret
S~ a5 OK .*
C: a6 FETCH 1 FLAGS
S~ a6 BAD .*
C: a7 EXPUNGE
S~ a7 BAD .*
C: a8 SEARCH ALL
S~ a8 BAD .*
C: a9 CLOSE
S~ a9 BAD .*
# missing tag / empty line / bad tag characters
C: NOOP
S~ (NOOP BAD|\* BAD) .*
C: a*b NOOP
S~ (\* BAD|a\*b BAD) .*
C: a10  NOOP
S~ a10 BAD .*
C: a11 NOOP 
S~ a11 BAD .*
C: a12 SELECT "INBOX
S~ a12 BAD .*
C: a13 SELECT INBOX extra
S~ a13 BAD .*
C: a14 select inbox
S* a14 OK .*
C: a15 UID FOO 1
S~ a15 BAD .*
C: a16 UID
S~ a16 BAD .*
C: a17 FETCH 1:2:3 FLAGS
S~ a17 BAD .*
C: a18 FETCH 4294967296 FLAGS
S~ a18 BAD .*
# over-long command line (over 64 KB, the lowest line limit): rejected, the connection survives or
# is closed with BYE
C: a19 NOOP %{x*70000}
S~ (a19 (BAD|NO)|\* (BAD|BYE)) \[TOOBIG\].*
@close
@connect plain c2
S~ \* OK .*
C: b1 LOGIN alice secret
S~ b1 OK .*
# a literal with a non-number size
C: b2 LOGIN {x}
S~ b2 BAD .*
# NUL in a quoted string
C+ b3 LOGIN "al\x00ice" secret\r\n
S~ (b3 BAD|\* BAD) .*
C: b4 NOOP
S~ b4 OK .*
C: b5 LOGOUT
S~ \* BYE .*
S~ b5 OK .*
@eof
