# Issue 12 bug: SEARCH FROM, TO, CC and BCC match the envelope's addresses
# (RFC 9051 6.4.4), so comments and folding inside an address do not hide
# it, and the decoded display name is found with its address.
@user alice secret
@msg commented
From: <user-from (comment)@ (comment) domain.org>
To: =?UTF-8?Q?J=C3=B6rg?= (the boss)
 <joerg (x) @ example.org>
Cc: team: a@x.example, b@y.example (Bee);
Bcc: <hidden (c) @ (c)
 bcc.example>
Subject: commented addresses

body
@end
@msg plain
From: other@domain.org
To: someone@example.org
Subject: plain

body
@end
@append INBOX commented
@append INBOX plain
@connect plain
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 SELECT INBOX
S* a2 OK \[READ-WRITE\] .*
C: s1 SEARCH FROM user-from@domain.org
S: * SEARCH 1
S~ s1 OK .*
C: s2 SEARCH FROM "user-from (comment)@"
S: * SEARCH 1
S~ s2 OK .*
C: s3 SEARCH FROM domain.org
S: * SEARCH 1 2
S~ s3 OK .*
C: s4 SEARCH TO joerg@example.org
S: * SEARCH 1
S~ s4 OK .*
C: s5 SEARCH CHARSET UTF-8 TO {25+}
C: Jörg <joerg@example.org>
S: * SEARCH 1
S~ s5 OK .*
C: s6 SEARCH CC b@y.example
S: * SEARCH 1
S~ s6 OK .*
C: s7 SEARCH BCC hidden@bcc.example
S: * SEARCH 1
S~ s7 OK .*
C: s8 SEARCH OR FROM user-from@domain.org TO someone@example.org
S: * SEARCH 1 2
S~ s8 OK .*
C: s9 SEARCH NOT FROM user-from@domain.org
S: * SEARCH 2
S~ s9 OK .*
C: s10 UID SEARCH FROM nobody@domain.org
S: * SEARCH
S~ s10 OK .*
C: z LOGOUT
S~ \* BYE .*
S~ z OK .*
@eof
