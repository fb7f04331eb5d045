# FETCH (RFC 9051 6.4.5, 7.5.2), BINARY (RFC 3516), CONDSTORE MODSEQ (RFC 7162),
# SAVEDATE (RFC 8514), OBJECTID EMAILID/THREADID (RFC 8474)
@user alice secret
@append INBOX simple.eml
@append INBOX multipart.eml
@append INBOX second.eml \Seen
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: a3 FETCH 1 ENVELOPE
S: * 1 FETCH (ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) ((NIL NIL "mooch" "owatagu.siam.edu.example")) NIL NIL NIL "<B27397-0100000@Blurdybloop.example>"))
S~ a3 OK .*
C: a4 FETCH 2 ENVELOPE
S: * 2 FETCH (ENVELOPE ("Tue, 8 Feb 1994 10:00:00 +0000" "=?UTF-8?Q?caf=C3=A9?= report" (("Joe Q. Public" NIL "john.q.public" "example.com")) (("Joe Q. Public" NIL "john.q.public" "example.com")) (("Joe Q. Public" NIL "john.q.public" "example.com")) (("Mary Smith" NIL "mary" "x.test")(NIL NIL "jdoe" "example.org")) (("Who?" NIL "one" "y.test")) NIL "<orig@example.com>" "<mp1@example.com>"))
S~ a4 OK .*
C: a5 FETCH 1 BODYSTRUCTURE
S~ \* 1 FETCH \(BODYSTRUCTURE \((?i:"TEXT" "PLAIN" \("CHARSET" "US-ASCII"\)) NIL NIL "7BIT" 55 1( NIL)*\)\)
S~ a5 OK .*
C: a6 FETCH 1 BODY
S~ \* 1 FETCH \(BODY \((?i:"TEXT" "PLAIN" \("CHARSET" "US-ASCII"\)) NIL NIL "7BIT" 55 1\)\)
S~ a6 OK .*
C: a7 FETCH 2 BODYSTRUCTURE
S~ \* 2 FETCH \(BODYSTRUCTURE \(\((?i:"text" "plain" \("charset" "utf-8"\) NIL NIL "quoted-printable") \d+ \d+[^()]*\)\((?i:"application" "octet-stream" \("name" "data.bin"\) NIL NIL "base64") 16 [^(]*\((?i:"attachment" \("filename" "data.bin"\))\)[^()]*\) (?i:"mixed") \((?i:"boundary") "XYZ"\)[^()]*\)\)
S~ a7 OK .*
C: a8 FETCH 1 (RFC822.SIZE INTERNALDATE UID)
S~ \* 1 FETCH \(RFC822.SIZE 320 INTERNALDATE "[ 0-9]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}" UID 1\)
S~ a8 OK .*
# partial fetch (RFC 9051 6.4.5 <origin.count>)
C: a9 FETCH 1 BODY.PEEK[]<0.10>
S: * 1 FETCH (BODY[]<0> {10}\r\nDate: Mon,)
S~ a9 OK .*
C: a10 FETCH 1 BODY.PEEK[]<315.100>
S: * 1 FETCH (BODY[]<315> {5}\r\now?\r\n)
S~ a10 OK .*
C: a11 FETCH 1 BODY.PEEK[]<400.10>
S~ \* 1 FETCH \(BODY\[\]<400> (""|\{0\}\\r\\n)\)
S~ a11 OK .*
C: a12 FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]
S~ \* 1 FETCH \(BODY\[HEADER\.FIELDS \((?i:SUBJECT FROM)\)\] \{78\}\\r\\nFrom: Fred Foobar <foobar@Blurdybloop\.example>\\r\\nSubject: afternoon meeting\\r\\n\\r\\n\)
S~ a12 OK .*
C: a13 FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From Subject Date To Message-ID)]
S~ \* 1 FETCH \(BODY\[HEADER\.FIELDS\.NOT \((?i:From Subject Date To Message-ID)\)\] \{65\}\\r\\nMIME-Version: 1\.0\\r\\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\\r\\n\\r\\n\)
S~ a13 OK .*
C: a14 FETCH 1 BODY.PEEK[TEXT]
S: * 1 FETCH (BODY[TEXT] {55}\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n)
S~ a14 OK .*
C: a15 FETCH 1 (BODY.PEEK[HEADER])
S~ \* 1 FETCH \(BODY\[HEADER\] \{265\}\\r\\nDate: .*\\r\\n\\r\\n\)
S~ a15 OK .*
C: a16 FETCH 2 BODY.PEEK[1]
S: * 2 FETCH (BODY[1] {27}\r\nCaf=C3=A9 numbers attached.)
S~ a16 OK .*
C: a17 FETCH 2 BODY.PEEK[1.MIME]
S: * 2 FETCH (BODY[1.MIME] {88}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n)
S~ a17 OK .*
C: a18 FETCH 2 BODY.PEEK[2]
S: * 2 FETCH (BODY[2] {16}\r\nAAECAwQFBgcICQ==)
S~ a18 OK .*
# BINARY: decoded content; literal8 required for NUL
C: b1 FETCH 2 (BINARY.SIZE[1] BINARY.SIZE[2])
S: * 2 FETCH (BINARY.SIZE[1] 23 BINARY.SIZE[2] 10)
S~ b1 OK .*
C: b2 FETCH 2 BINARY.PEEK[1]
S~ \* 2 FETCH \(BINARY\[1\] ~?\{23\}\\r\\nCafé numbers attached\.\)
S~ b2 OK .*
C: b3 FETCH 2 BINARY.PEEK[2]
S~ \* 2 FETCH \(BINARY\[2\] ~\{10\}\\r\\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\)
S~ b3 OK .*
C: b4 FETCH 2 BINARY.PEEK[2]<2.3>
S~ \* 2 FETCH \(BINARY\[2\]<2> ~?\{3\}\\r\\n\x02\x03\x04\)
S~ b4 OK .*
# FETCH of BODY[] (not PEEK) sets \Seen and reports the flag change
C: b5 FETCH 1 BODY[TEXT]
S~ \* 1 FETCH \((BODY\[TEXT\] \{55\}\\r\\nHello Joe, do you think we can meet at 3:30 tomorrow\?\\r\\n FLAGS \(\\Seen( \\Recent)?\)|FLAGS \(\\Seen( \\Recent)?\) BODY\[TEXT\] \{55\}\\r\\nHello Joe, do you think we can meet at 3:30 tomorrow\?\\r\\n)\)
S~ b5 OK .*
C: b6 FETCH 1:3 (FLAGS)
S~ \* 1 FETCH \(FLAGS \(\\Seen( \\Recent)?\)\)
S~ \* 2 FETCH \(FLAGS \((\\Recent)?\)\)
S~ \* 3 FETCH \(FLAGS \(\\Seen( \\Recent)?\)\)
S~ b6 OK .*
# macros
C: b7 FETCH 3 FAST
S~ \* 3 FETCH \(FLAGS \(\\Seen( \\Recent)?\) INTERNALDATE "[^"]+" RFC822.SIZE 203\)
S~ b7 OK .*
C: b8 FETCH 3 ALL
S~ \* 3 FETCH \(FLAGS \(\\Seen( \\Recent)?\) INTERNALDATE "[^"]+" RFC822.SIZE 203 ENVELOPE \("Wed, 9 Feb 1994 12:00:00 \+0100" "second message zebra" .*\)\)
S~ b8 OK .*
# UID FETCH always includes UID
C: b9 UID FETCH 2:3 (FLAGS)
S~ \* 2 FETCH \((UID 2 FLAGS \(.*\)|FLAGS \(.*\) UID 2)\)
S~ \* 3 FETCH \((UID 3 FLAGS \(.*\)|FLAGS \(.*\) UID 3)\)
S~ b9 OK .*
C: b10 UID FETCH 100:200 FLAGS
S~ b10 OK .*
C: b11 UID FETCH * UID
S: * 3 FETCH (UID 3)
S~ b11 OK .*
# OBJECTID, SAVEDATE, MODSEQ
C: c1 FETCH 1 (EMAILID THREADID)
S~ \* 1 FETCH \(EMAILID \([A-Za-z0-9_-]{1,255}\) THREADID (NIL|\([A-Za-z0-9_-]{1,255}\))\)
S~ c1 OK .*
C: c2 FETCH 1 SAVEDATE
S~ \* 1 FETCH \(SAVEDATE "[ 0-9]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"\)
S~ c2 OK .*
C: c3 FETCH 1 MODSEQ
# RFC 7162 3.1: the first CONDSTORE-enabling command with a mailbox
# selected returns HIGHESTMODSEQ
S~ \* OK \[HIGHESTMODSEQ [0-9]+\].*
S~ \* 1 FETCH \(MODSEQ \([1-9][0-9]*\)\)
S~ c3 OK .*
# errors
C: d1 FETCH 4 FLAGS
S~ d1 BAD .*
C: d2 FETCH 0 FLAGS
S~ d2 BAD .*
C: d3 FETCH 1 BOGUS
S~ d3 BAD .*
C: d4 FETCH 1 BODY[HEADER.FIELDS]
S~ d4 BAD .*
C: d5 FETCH 1 (FLAGS
S~ d5 BAD .*
C: d6 FETCH
S~ d6 BAD .*
C: d7 FETCH 1 BINARY[1]<1.x>
S~ d7 BAD .*
C: d8 FETCH 2 BINARY.PEEK[1.MIME]
S~ d8 BAD .*
C: d9 LOGOUT
S~ \* BYE .*
S~ d9 OK .*
