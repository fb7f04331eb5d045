#!/usr/bin/env python3
"""PREVIEW (RFC 8970) stored with the message (schema 13, table preview).

  1. APPEND and an LMTP delivery store the preview text with the message
     (one preview row per message body), and FETCH PREVIEW (LAZY) returns
     it;
  2. a store from before schema 13 (the preview table dropped, schema
     version 11): the migration adds the table without filling it;
     PREVIEW (LAZY) answers NIL for those messages (RFC 8970 4.1), PREVIEW
     without LAZY computes the text from the message file in the FETCH job
     and saves it, so a later LAZY FETCH returns it.
"""

import os
import sqlite3
import sys

import darius_test as dt

R = dt.Report("preview_store")

MSG1 = (b"From: a@example.org\r\nSubject: one\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=FC=DFe   aus\r\n\r\n  Berlin\r\n")
MSG2 = b"From: b@example.org\r\nSubject: two\r\n\r\nSecond   message\r\n"
LMTP_MSG = b"From: c@example.org\r\nSubject: three\r\n\r\nDelivered by LMTP.\r\n"
TEXTS = {1: "Grüße aus Berlin", 2: "Second message", 3: "Delivered by LMTP."}


def maildb(s):
    return os.path.join(s.datadir, "user", "a", "alice", "mail.db")


def db_count(s, table):
    db = sqlite3.connect(maildb(s), timeout=10)
    try:
        return db.execute("SELECT count(*) FROM " + table).fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


def previews(c, items):
    """{msn: text or None} from FETCH 1:* (items)."""
    u, _ = c.ok("FETCH 1:* (%s)" % items)
    out = {}
    for r in u:
        t = r.text
        if " FETCH " not in t:
            continue
        msn = int(t.split()[1])
        if "PREVIEW NIL" in t:
            out[msn] = None
        elif r.literals:
            out[msn] = r.literals[0].decode("utf-8")
        else:
            out[msn] = t.split("PREVIEW \"", 1)[1].rsplit("\"", 1)[0]
    return out


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


def run(s):
    c = s.login()
    c.ok("APPEND INBOX %L", [MSG1])
    c.ok("APPEND INBOX %L", [MSG2])
    c.logout()
    deliver_lmtp(s)
    n = db_count(s, "preview")
    R.check(n == 3, "APPEND and LMTP store the preview", "%s rows" % n)
    c = s.login()
    c.ok("SELECT INBOX")
    got = previews(c, "PREVIEW (LAZY)")
    R.check(got == TEXTS, "PREVIEW (LAZY) returns the stored text", repr(got))
    c.logout()

    # A store written before schema 13.
    s.stop()
    db = sqlite3.connect(maildb(s), timeout=10)
    db.executescript("DROP TABLE preview; DROP TABLE urlauth_key; UPDATE schema_version SET version=11;")
    db.close()
    s.start()
    c = s.login()
    c.ok("SELECT INBOX")
    db = sqlite3.connect(maildb(s), timeout=10)
    (ver,), = db.execute("SELECT version FROM schema_version").fetchall()
    db.close()
    R.check(ver == 13, "store migrated", "schema version %d" % ver)
    R.check(db_count(s, "preview") == 0, "migration leaves the fill to first use")
    got = previews(c, "PREVIEW (LAZY)")
    R.check(got == {1: None, 2: None, 3: None}, "LAZY: NIL for messages without a stored preview", repr(got))
    u, _ = c.ok("FETCH 1 (PREVIEW)")
    R.check(any(r.literals and r.literals[0].decode() == TEXTS[1] for r in u),
            "PREVIEW without LAZY computes the text", repr([r.render() for r in u]))
    n = db_count(s, "preview")
    R.check(n == 1, "and saves it", "%s rows" % n)
    got = previews(c, "PREVIEW (LAZY)")
    R.check(got == {1: TEXTS[1], 2: None, 3: None}, "LAZY then returns the saved text", repr(got))
    got = previews(c, "PREVIEW")
    R.check(got == TEXTS, "PREVIEW of all", repr(got))
    R.check(db_count(s, "preview") == 3, "all saved")
    c.logout()


def main():
    s = dt.server_with_user("alice", "secret")
    try:
        R.run("preview store", run, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
