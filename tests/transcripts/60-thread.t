# THREAD and UID THREAD (RFC 5256 BASE.6.4.THREAD): ORDEREDSUBJECT,
# REFERENCES, REFS (draft-ietf-morg-inthread), search criteria, errors.
# The messages (msgs/thread-*.eml) carry a quoted Message-ID referred to
# unquoted, an In-Reply-To with text around the id, a -0500 Date, an
# unparsable Date (INTERNALDATE: the append time, later than all others),
# a missing parent, an RFC 2047 encoded "Re:", a References loop, a
# message without Message-ID and a duplicate Message-ID.
@user alice secret
@append INBOX thread-01.eml
@append INBOX thread-02.eml
@append INBOX thread-03.eml
@append INBOX thread-04.eml
@append INBOX thread-05.eml
@append INBOX thread-06.eml
@append INBOX thread-07.eml
@append INBOX thread-08.eml
@append INBOX thread-09.eml
@append INBOX thread-10.eml
@connect plain
S~ \* OK .*
C: a0 CAPABILITY
S~ \* CAPABILITY .*
S~ a0 OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CAPABILITY
S~ \* CAPABILITY .* THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS( .*)?
S~ a2 OK .*
# Not before SELECT.
C: b0 THREAD REFERENCES UTF-8 ALL
S~ b0 BAD .*
C: a3 SELECT INBOX
S* a3 OK \[READ-WRITE\] .*
# REFERENCES. 4 (Fwd:) hangs below 1 by subject (step 5), before 2 by
# date; 3 follows 2 through In-Reply-To; 8 refuses the link that would
# close the loop with 7; 5's missing parent is pruned (step 3); 9 (RE:, no
# ids) joins 5 by subject; 10's duplicate Message-ID is its own.
C: t1 THREAD REFERENCES UTF-8 ALL
S: * THREAD (1 (4)(2 3))(8 7)(10)(5 (6)(9))
S: t1 OK Thread completed
# REFS: no subject merging; threads ordered by their newest message.
C: t2 THREAD REFS UTF-8 ALL
S: * THREAD (4)(1 2 3)(8 7)(9)(10)(5 6)
S: t2 OK Thread completed
# ORDEREDSUBJECT: by base subject, the first (oldest) message the parent.
C: t3 THREAD ORDEREDSUBJECT US-ASCII ALL
S: * THREAD (4 (1)(2)(3))(6 (9)(5))(7)(8)(10)
S: t3 OK Thread completed
# Names are case-insensitive, the charset may be quoted.
C: t4 thread references "utf-8" SUBJECT budget
S: * THREAD (5 (6)(9))
S: t4 OK Thread completed
# RFC 5256's example of an empty result.
C: t5 THREAD ORDEREDSUBJECT US-ASCII TEXT "gewp"
S: * THREAD
S: t5 OK Thread completed
C: t6 UID THREAD REFS UTF-8 UID 7:8
S: * THREAD (8 7)
S: t6 OK Thread completed
# Errors: unknown algorithm (BAD), unsupported charset (NO BADCHARSET),
# missing arguments, SEARCH's RETURN/CHARSET are not THREAD syntax, bad keys.
C: e1 THREAD FOO UTF-8 ALL
S~ e1 BAD .*
C: e2 THREAD REFERENCES KOI8-R ALL
S~ e2 NO \[BADCHARSET \(US-ASCII UTF-8\)\] .*
C: e3 THREAD REFERENCES
S~ e3 BAD .*
C: e4 THREAD REFERENCES UTF-8
S~ e4 BAD .*
C: e5 THREAD
S~ e5 BAD .*
C: e6 THREAD REFERENCES UTF-8 RETURN (ALL) ALL
S~ e6 BAD .*
C: e7 THREAD REFERENCES UTF-8 CHARSET UTF-8 ALL
S~ e7 BAD .*
C: e8 THREAD REFERENCES UTF-8 NOSUCHKEY
S~ e8 BAD .*
C: e9 THREAD (REFERENCES) UTF-8 ALL
S~ e9 BAD .*
# RFC 8474 THREADID: one per conversation, assigned when each message was
# stored from the Message-IDs it names: 1-3 (References, In-Reply-To) and
# 10 (the same Message-ID as 1); 5-6 (through the missing parent); 7-8
# (the loop); 4 (subject only) and 9 (no ids) are threads of their own.
C: o1 FETCH 1:10 (THREADID)
S~ \* 1 FETCH \(THREADID \(T(?P<ta>[0-9a-f]{32})\)\)
S: * 2 FETCH (THREADID (T${ta}))
S: * 3 FETCH (THREADID (T${ta}))
S~ \* 4 FETCH \(THREADID \(T(?!${ta})(?P<td>[0-9a-f]{32})\)\)
S~ \* 5 FETCH \(THREADID \(T(?!${ta}|${td})(?P<tb>[0-9a-f]{32})\)\)
S: * 6 FETCH (THREADID (T${tb}))
S~ \* 7 FETCH \(THREADID \(T(?!${ta}|${td}|${tb})(?P<tl>[0-9a-f]{32})\)\)
S: * 8 FETCH (THREADID (T${tl}))
S~ \* 9 FETCH \(THREADID \(T(?!${ta}|${td}|${tb}|${tl})[0-9a-f]{32}\)\)
S: * 10 FETCH (THREADID (T${ta}))
S~ o1 OK .*
C: o2 SEARCH THREADID T${ta}
S: * SEARCH 1 2 3 10
S~ o2 OK .*
C: o3 UID SEARCH THREADID T${tl}
S: * SEARCH 7 8
S~ o3 OK .*
# Expunge the original (UID 1): its duplicate, UID 10, now owns
# <a1@example.org> and becomes the parent of UID 2. Sequence numbers
# shift down by one; UID THREAD prints UIDs.
C: x1 STORE 1 +FLAGS.SILENT (\Deleted)
S~ x1 OK .*
C: x2 EXPUNGE
S: * 1 EXPUNGE
S~ x2 OK .*
C: t7 UID THREAD REFERENCES UTF-8 ALL
S: * THREAD (4)(8 7)(10 2 3)(5 (6)(9))
S: t7 OK Thread completed
C: t8 THREAD REFERENCES UTF-8 ALL
S: * THREAD (3)(7 6)(9 1 2)(4 (5)(8))
S: t8 OK Thread completed
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
