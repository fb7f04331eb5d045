# REPLACE with CATENATE (RFC 8508 4.2: a server with both MUST take the
# CATENATE append-data in REPLACE): the RFC's example, a draft completed
# with new header fields by a URL to the message it replaces; the source
# is read before the old message is expunged. Then a BADURL in REPLACE
# leaves the old message in place.
@user alice secret
@sleepless
@msg draft
Date: Thu, 1 Jan 2015 00:10:00 -0500 (EST)
From: Fritz Schmidt <fritz.ze@example.org>
Message-ID: <B238822388-0100003@example.org>
MIME-Version: 1.0

Here is picture from the fireworks
@end
@msg hdrs
To: Mitzy <miss.mitzy@example.org>
Subject: My view of the fireworks
@end
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE Drafts
S~ a2 OK .*
C: a3 APPEND Drafts (\Seen \Draft) {%draft}
S~ a3 OK \[APPENDUID (?P<UV>\d+) 1\] .*
C: a4 SELECT Drafts
S* a4 OK .*
C: a5 UID REPLACE 1 Drafts CATENATE (TEXT {%hdrs} URL "/Drafts/;UID=1")
S: * OK [APPENDUID ${UV} 2] Replacement Message ready
S: * 1 EXPUNGE
S: * 1 EXISTS
S: * 1 RECENT
S~ a5 OK .*
C: a6 UID FETCH 2 (FLAGS BODY.PEEK[HEADER.FIELDS (TO SUBJECT MESSAGE-ID)])
S: * 1 FETCH (UID 2 FLAGS (\Recent) BODY[HEADER.FIELDS (TO SUBJECT MESSAGE-ID)] {119}\r\nTo: Mitzy <miss.mitzy@example.org>\r\nSubject: My view of the fireworks\r\nMessage-ID: <B238822388-0100003@example.org>\r\n\r\n)
S~ a6 OK .*
# a URL to nothing: NO [BADURL], the old message stays
C: a7 UID REPLACE 2 Drafts CATENATE (TEXT {%hdrs} URL "/Drafts/;UID=99")
S~ a7 NO \[BADURL "?/Drafts/;UID=99"?\] .*
C: a8 UID SEARCH ALL
S: * SEARCH 2
S~ a8 OK .*
C: a9 LOGOUT
S~ \* BYE .*
S~ a9 OK .*
