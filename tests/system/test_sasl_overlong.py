#!/usr/bin/env python3
"""An over-long line in a SASL exchange ends the exchange (issue 9 item 9):
- IMAP AUTHENTICATE: a response line over maxline gets "<tag> BAD [TOOBIG]"
  (not an untagged BAD that leaves the command waiting), both when the
  line arrives whole and when the server sees its first 64 KiB before the
  end of line; the next line is a new command (answered BAD as one), never
  the next SASL step, so the credentials on it do not log in; the
  connection stays usable. The same for IDLE (the next "DONE" is a command);
- POP3 AUTH: -ERR, then the next line is a command;
- LMTP AUTH: 500 5.5.6 (RFC 4954 4), then the next line is a command."""

import base64
import sys

import darius_test as dt

R = dt.Report("sasl_overlong")

PLAIN = base64.b64encode(b"\0alice\0pw")


def imap_not_logged_in(c, tag):
    _, t = c.command("SELECT INBOX")
    if " BAD " not in t.text:
        raise dt.TestFailure("SELECT after the refused exchange: %s (logged in?)" % t.render())


def imap_whole_line(s):
    c = s.client()
    c.greeting()
    c.send_raw(b"a1 AUTHENTICATE PLAIN\r\n")
    if not c.read().text.startswith("+"):
        raise dt.TestFailure("no challenge")
    # the over-long response and the real credentials in one go
    c.send_raw(b"A" * 70000 + b"\r\n" + PLAIN + b"\r\n")
    r = c.read()
    if not r.text.startswith("a1 BAD [TOOBIG]"):
        raise dt.TestFailure("over-long response: %s" % r.render())
    r = c.read()
    if " OK" in r.text[:40] or not (" BAD " in r.text):
        raise dt.TestFailure("the line after it continued the exchange: %s" % r.render())
    imap_not_logged_in(c, "a2")
    c.ok('LOGIN alice pw')
    c.logout()


def imap_split_line(s):
    c = s.client()
    c.greeting()
    c.send_raw(b"b1 AUTHENTICATE PLAIN\r\n")
    if not c.read().text.startswith("+"):
        raise dt.TestFailure("no challenge")
    c.send_raw(b"A" * 70000)             # no end of line yet
    r = c.read()
    if not r.text.startswith("b1 BAD [TOOBIG]"):
        raise dt.TestFailure("over-long response (no EOL yet): %s" % r.render())
    c.send_raw(b"A" * 1000 + b"\r\n" + PLAIN + b"\r\n")
    r = c.read()
    if " OK" in r.text[:40] or " BAD " not in r.text:
        raise dt.TestFailure("the line after it continued the exchange: %s" % r.render())
    imap_not_logged_in(c, "b2")
    c.ok('LOGIN alice pw')
    c.logout()


def imap_idle(s):
    c = s.login("alice", "pw")
    c.send_raw(b"i1 IDLE\r\n")
    if not c.read().text.startswith("+"):
        raise dt.TestFailure("no IDLE continuation")
    c.send_raw(b"D" * 70000 + b"\r\nDONE\r\n")
    r = c.read()
    if not r.text.startswith("i1 BAD [TOOBIG]"):
        raise dt.TestFailure("over-long line in IDLE: %s" % r.render())
    r = c.read()
    if not r.text.startswith("DONE BAD"):
        raise dt.TestFailure("DONE after the ended IDLE: %s" % r.render())
    c.ok("NOOP")
    c.logout()


def pop3(s):
    for split in (False, True):
        p = s.pop3()
        r = p.cmd("AUTH PLAIN")
        if not r.startswith("+"):
            raise dt.TestFailure("AUTH PLAIN: %r" % r)
        if split:
            p.send_raw(b"A" * 20000)
            r = p.line()
            p.send_raw(b"A" * 100 + b"\r\n" + PLAIN + b"\r\n")
        else:
            p.send_raw(b"A" * 20000 + b"\r\n" + PLAIN + b"\r\n")
            r = p.line()
        if not r.startswith("-ERR"):
            raise dt.TestFailure("over-long SASL response: %r" % r)
        r = p.line()
        if not r.startswith("-ERR"):
            raise dt.TestFailure("the line after it continued the exchange: %r" % r)
        p.err("STAT")                    # not logged in
        p.ok("USER alice")
        p.ok("PASS pw")
        p.ok("QUIT")
        p.close()


def lmtp(s):
    ok = base64.b64encode(b"\0lmtpadmin\0adminpw")
    for split in (False, True):
        c = s.lmtp()
        c.cmd("LHLO x")
        code, lines = c.cmd("AUTH PLAIN")
        if code != 334:
            raise dt.TestFailure("AUTH PLAIN: %r" % lines)
        if split:
            c.send_raw(b"A" * 20000)
            code, lines = c.reply()
            c.send_raw(b"A" * 100 + b"\r\n" + ok + b"\r\n")
        else:
            c.send_raw(b"A" * 20000 + b"\r\n" + ok + b"\r\n")
            code, lines = c.reply()
        if code != 500 or "5.5.6" not in lines[0]:
            raise dt.TestFailure("over-long SASL response: %r" % lines)
        code, lines = c.reply()
        if code < 500:
            raise dt.TestFailure("the line after it continued the exchange: %r" % lines)
        code, lines = c.cmd("MAIL FROM:<s@x>")
        if code != 530:
            raise dt.TestFailure("MAIL after the refused AUTH: %r (authenticated?)" % lines)
        code, lines = c.cmd("AUTH PLAIN " + ok.decode())
        if code != 235:
            raise dt.TestFailure("AUTH afterwards: %r" % lines)
        c.cmd("QUIT")
        c.close()


def main():
    s = dt.Server(config={"lmtp_auth_required": "yes", "admins": "lmtpadmin"}, start=False)
    try:
        s.add_user("alice", "pw")
        s.add_user("lmtpadmin", "adminpw")
        s.start()
        R.run("IMAP AUTHENTICATE: over-long response line, whole: tagged BAD, next line a command",
              imap_whole_line, s)
        R.run("IMAP AUTHENTICATE: over-long response line, split: tagged BAD, next line a command",
              imap_split_line, s)
        R.run("IMAP IDLE: over-long line: tagged BAD, DONE then a command", imap_idle, s)
        R.run("POP3 AUTH: over-long response: -ERR, next line a command", pop3, s)
        R.run("LMTP AUTH: over-long response: 500 5.5.6, next line a command", lmtp, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
