# IDLE (RFC 2177 / RFC 9051 6.3.13): updates from another connection arrive
# while idling; DONE ends it
@user alice secret
@append INBOX simple.eml
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
# IDLE is valid in the authenticated state too (RFC 9051 6.3.13)
C: a2 IDLE
S~ \+ .*
C: DONE
S~ a2 OK .*
C: a3 SELECT INBOX
S* a3 OK .*
C: a4 IDLE
S~ \+ .*
@connect plain other
S~ \* OK .*
C: o1 LOGIN alice secret
S~ o1 OK .*
C: o2 APPEND INBOX {%second.eml}
S~ o2 OK .*
C: o3 SELECT INBOX
S* o3 OK .*
C: o4 STORE 1 +FLAGS.SILENT (\Flagged)
S~ o4 OK .*
@use main
S: * 2 EXISTS
S* \* 1 FETCH \((UID 1 )?FLAGS \(\\Flagged( \\Recent)?\)( UID 1)?\)
@use other
C: o5 STORE 1 +FLAGS.SILENT (\Deleted)
S~ o5 OK .*
C: o6 EXPUNGE
S: * 1 EXPUNGE
S~ o6 OK .*
@use main
S* \* 1 EXPUNGE
C: DONE
S~ a4 OK .*
C: a5 NOOP
S~ a5 OK .*
# anything but DONE ends IDLE with BAD
C: a6 IDLE
S~ \+ .*
C: NOTDONE
S~ a6 BAD .*
C: a7 LOGOUT
S~ \* BYE .*
S~ a7 OK .*
