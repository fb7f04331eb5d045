#!/usr/bin/env python3
"""SEARCH on header fields from data stored at append time (issue 10
item 4). SUBJECT, FROM, TO, CC, BCC and HEADER on those names read the
fields decoded (RFC 2047, charset-converted, unfolded) when the message
was stored, never the message file; HEADER on other fields reads the raw
header cached in the database. Checked with encoded words in several
charsets, folded fields, repeated To/Cc, empty and absent fields, raw
8-bit, a header too long to be cached, and messages that came in by
APPEND, LMTP and `darius deliver`:

  1. the answers (the same as before the change: they are computed from
     the same decoding);
  2. a store from before schema 6 (the hdrfields table dropped, schema
     version 5): same answers, and the first SEARCH fills the table;
  3. every message file deleted: the same answers, while FETCH BODY[]
     fails. Before the change the message whose header is too long to be
     cached was searched in its file, so it was missing from the answers.
"""

import os
import sqlite3
import subprocess
import sys

import darius_test as dt

R = dt.Report("search_headers")

PAD = "".join("X-Pad: %04d 0123456789012345678901234567890123456789012345678901234567890123\r\n" % i
              for i in range(900))   # ~75 KB: more than the 64 KiB header cache

APPENDED = [
    # 1: encoded words (UTF-8, ISO-8859-1), two To fields, folded Subject
    b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>\r\n"
    b"To: alice@example.com, =?ISO-8859-1?Q?Andr=E9?= <andre@example.net>\r\n"
    b"To: second-to@example.org\r\n"
    b"Cc: list@lists.example.com\r\n"
    b"Subject: =?ISO-8859-1?Q?Caf=E9?= au lait,\r\n folded onto a second line\r\n"
    b"X-Custom: =?utf-8?q?custom_=C3=A9t=C3=A9?=\r\n"
    b"Message-ID: <m1@example.com>\r\n\r\nbody one\r\n",
    # 2: KOI8-R, a Bcc
    b"From: bob@example.org\r\n"
    b"To: alice@example.com\r\n"
    b"Bcc: hidden@example.net\r\n"
    b"Subject: =?KOI8-R?B?0NLJ18XU?= world\r\n"
    b"Message-ID: <m2@example.com>\r\n\r\nbody two\r\n",
    # 3: ISO-2022-JP, windows-1252, an empty Cc
    b"From: Carol <carol@example.org>\r\n"
    b"To: =?windows-1252?Q?=93Quoted=94_Dan?= <dan@example.org>\r\n"
    b"Cc:\r\n"
    b"Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= text\r\n\r\nbody three\r\n",
    # 4: no Subject, a folded From, two Cc fields, bare LF line ends
    b"From: \"Eve\n Folded\" <eve@example.org>\n"
    b"To: alice@example.com\n"
    b"Cc: one@example.com\n"
    b"cc: two@example.com\n\nbody four\n",
    # 5: a header too long to be cached in the database
    ("Subject: needle big header\r\nFrom: big@example.org\r\nTo: alice@example.com\r\n" + PAD +
     "\r\nbody five\r\n").encode(),
    # 6: raw 8-bit Latin-1 (not UTF-8: read as Latin-1)
    b"From: frank@example.org\r\nSubject: caf\xe9 cr\xe8me\r\n\r\nbody six\r\n",
]
LMTP_MSG = ("From: lmtp-sender@example.org\r\nTo: alice@example.com\r\n"
            "Subject: =?UTF-8?B?w5xiZXI=?= delivered by LMTP\r\n\r\nbody seven\r\n")
DELIVER_MSG = ("From: deliver@example.org\r\nSubject: =?iso-8859-15?q?=A4uro?= via deliver\r\n"
               "\r\nbody eight\r\n")

class N(str):
    """A search string (quoted when 7-bit, else a UTF-8 literal)."""


# (program: atoms as text, needles as N, expected UIDs)
QUERIES = [
    (["SUBJECT", N("caf\u00e9")], {1, 6}),
    (["SUBJECT", N("CAF\u00c9")], {1, 6}),
    (["SUBJECT", N("au lait, folded onto")], {1}),
    (["SUBJECT", N("\u043f\u0440\u0438\u0432\u0435\u0442")], {2}),
    (["SUBJECT", N("\u65e5\u672c\u8a9e")], {3}),
    (["SUBJECT", N("cr\u00e8me")], {6}),
    (["SUBJECT", N("")], {1, 2, 3, 5, 6, 7, 8}),
    (["HEADER Subject", N("")], {1, 2, 3, 5, 6, 7, 8}),
    (["NOT HEADER SUBJECT", N("")], {4}),
    (["SUBJECT", N("needle")], {5}),
    (["SUBJECT", N("\u00fcber delivered")], {7}),
    (["SUBJECT", N("\u20acuro via")], {8}),
    (["FROM", N("j\u00fcrgen m\u00fcller")], {1}),
    (["FROM", N("eve folded")], {4}),
    (["FROM", N("example.org")], {2, 3, 4, 5, 6, 7, 8}),
    (["FROM", N("big@")], {5}),
    (["TO", N("andr\u00e9 <andre")], {1}),
    (["TO", N("second-to")], {1}),
    (["TO", N("alice")], {1, 2, 4, 5, 7}),
    (["TO", N("\u201cquoted\u201d dan")], {3}),
    (["TO", N("andre@example.net>second-to")], set()),   # no match across two fields
    (["CC", N("list@lists")], {1}),
    (["CC", N("")], {1, 3, 4}),
    (["CC", N("two")], {4}),
    (["HEADER cc", N("one@")], {4}),
    (["BCC", N("hidden")], {2}),
    (["BCC", N("")], {2}),
    (["HEADER bCC", N("HIDDEN@")], {2}),
    (["HEADER X-Custom", N("\u00e9t\u00e9")], {1}),
    (["HEADER Message-ID", N("m2@")], {2}),
    (["HEADER X-Absent", N("")], set()),
    (["OR SUBJECT", N("\u043f\u0440\u0438\u0432\u0435\u0442"), "FROM", N("carol")], {2, 3}),
    (["SUBJECT", N("needle"), "FROM", N("big"), "TO", N("alice"), "NOT CC", N("")], {5}),
]


def render(prog):
    return " ".join(str(p) if not isinstance(p, N) else repr(str(p)) for p in prog)


def search(c, prog):
    """UIDs UID SEARCH returns for the program."""
    lits = []
    parts = []
    for p in prog:
        if not isinstance(p, N):
            parts.append(p)
        elif p.isascii():
            parts.append(dt.quote(p))
        else:
            parts.append("%L")
            lits.append(p.encode())
    text = "UID SEARCH CHARSET UTF-8 " + " ".join(parts)
    u, t = c.command(text, lits)
    if " OK " not in t.text:
        raise dt.TestFailure("%s: %s" % (text, t.render()))
    got = set()
    for r in u:
        if r.text.startswith("* SEARCH"):
            got |= {int(x) for x in r.text.split()[2:]}
    return got


def check_queries(c, what):
    bad = []
    for prog, want in QUERIES:
        got = search(c, prog)
        if got != want:
            bad.append("%s: got %s, want %s" % (render(prog), sorted(got), sorted(want)))
    R.check(not bad, what, "; ".join(bad))


def maildb(s):
    return os.path.join(s.datadir, "user", "a", "alice", "mail.db")


def db_count(s, table):
    """Rows of a table of alice's mail.db (None when there is no such table)."""
    db = sqlite3.connect(maildb(s), timeout=10)
    try:
        return db.execute("SELECT count(*) FROM " + table).fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


def deliver_lmtp(s):
    lm = s.lmtp()
    for line, code in (("LHLO client.example", 250), ("MAIL FROM:<x@example.org>", 250),
                       ("RCPT TO:<alice>", 250), ("DATA", 354)):
        got, lines = lm.cmd(line)
        if got != code:
            raise dt.TestFailure("LMTP %s: %r" % (line, lines))
    lm.send_raw(dt.lmtp_data(LMTP_MSG))
    lm.expect(250, "LMTP delivery")
    lm.cmd("QUIT")
    lm.close()


def deliver_cli(s):
    r = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "alice"], input=DELIVER_MSG.encode(),
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise dt.TestFailure("darius deliver: %d %r" % (r.returncode, r.stderr))


def run(s):
    c = s.login()
    c.ok("ENABLE UTF8=ACCEPT")   # message 6 has raw 8-bit header octets (RFC 6855 4)
    for m in APPENDED:
        c.ok("APPEND INBOX %L", [m])
    c.logout()
    deliver_lmtp(s)
    deliver_cli(s)
    # Every way in stores the decoded fields with the message.
    nblob, nhf = db_count(s, "blob"), db_count(s, "hdrfields")
    R.check(nblob == 8 and nhf == 8, "APPEND, LMTP and deliver store the decoded fields",
            "%s blobs, %s hdrfields rows" % (nblob, nhf))

    c = s.login()
    c.ok("SELECT INBOX")
    check_queries(c, "answers")
    c.logout()

    # A store written before schema 6.
    s.stop()
    db = sqlite3.connect(maildb(s), timeout=10)
    db.executescript("DROP TABLE IF EXISTS preview; DROP TABLE IF EXISTS urlauth_key; "
                     "DROP TABLE IF EXISTS thread_msgid; DROP TABLE IF EXISTS sortkeys; "
                     "DROP TRIGGER IF EXISTS metadata_mailbox_gone; DROP TABLE IF EXISTS metadata; "
                     "DROP TABLE IF EXISTS sieve_script; DROP TABLE IF EXISTS viewer; DROP TABLE IF EXISTS retained; "
                     "DROP TABLE IF EXISTS hdrfields; UPDATE schema_version SET version=5;")
    db.close()
    s.start()
    c = s.login()
    c.ok("SELECT INBOX")
    db = sqlite3.connect(maildb(s), timeout=10)
    (ver,), = db.execute("SELECT version FROM schema_version").fetchall()
    db.close()
    R.check(ver >= 6, "store migrated", "schema version %d" % ver)
    R.check(db_count(s, "hdrfields") == 0, "migration leaves the fill to first use")
    check_queries(c, "answers for messages stored before the migration")
    nhf = db_count(s, "hdrfields")
    R.check(nhf == 8, "first SEARCH fills the decoded fields of older messages", "%s rows" % nhf)

    # No message file any more: header searches still answer, FETCH of a
    # body cannot.
    msgdir = os.path.join(s.datadir, "user", "a", "alice", "msg")
    removed = 0
    for root, _, files in os.walk(msgdir):
        for f in files:
            os.unlink(os.path.join(root, f))
            removed += 1
    if removed != 8:
        raise dt.TestFailure("removed %d message files, expected 8" % removed)
    check_queries(c, "answers without the message files")
    u, t = c.command("UID FETCH 5 (BODY.PEEK[])")
    R.check(" OK " not in t.text or not any(r.literals for r in u), "FETCH BODY[] fails without the file",
            t.render())
    c.logout()


def main():
    s = dt.server_with_user("alice", "secret")
    try:
        R.run("header searches", run, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
