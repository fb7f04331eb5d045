#!/usr/bin/env python3
"""Login names under virtdomains (Cyrus) for POP3 and LMTP (IMAP is in
tests/transcripts/56-virtdomains-login.t): "bob" and "bob@DEFAULTDOMAIN"
are the same user, stored without the domain; "bob@other.example" is a
different user. Also: POP3 never offers or accepts ANONYMOUS, even with
allowanonymouslogin (a maildrop needs an owner)."""

import base64
import sys

import darius_test as dt

R = dt.Report("virtdomains_login")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def pop3_user_pass(s):
    for name, pw in (("bob", "secret"), ("bob@example.com", "secret"), ("BOB@EXAMPLE.COM", "secret"),
                     ("bob@other.example", "other")):
        p = s.pop3()
        p.ok("USER " + name)
        r = p.cmd("PASS " + pw)
        if not r.startswith("+OK"):
            raise dt.TestFailure("USER %s: %r" % (name, r))
        p.ok("QUIT")
        p.close()
    # the other domain's password is not bob's and vice versa
    for name, pw in (("bob@example.com", "other"), ("bob@other.example", "secret"), ("bob@", "secret")):
        p = s.pop3()
        p.cmd("USER " + name)
        r = p.cmd("PASS " + pw)
        p.close()
        if not r.startswith("-ERR"):
            raise dt.TestFailure("USER %s with the wrong password: %r" % (name, r))


def pop3_same_maildrop(s):
    """bob@example.com and bob read the same INBOX; bob@other.example not."""
    lm = s.lmtp()
    lm.cmd("LHLO client.example")
    code, _ = lm.cmd("MAIL FROM:<sender@example.net>")
    if code != 250:
        raise dt.TestFailure("MAIL: %d" % code)
    code, lines = lm.cmd("RCPT TO:<bob@example.com>")
    if code != 250:
        raise dt.TestFailure("RCPT bob@example.com: %r" % lines)
    lm.cmd("DATA")
    lm.send_raw(dt.lmtp_data("Subject: hi bob\r\n\r\nbody\r\n"))
    code, lines = lm.reply()
    if code != 250:
        raise dt.TestFailure("DATA: %r" % lines)
    lm.cmd("QUIT")
    lm.close()
    counts = {}
    for name, pw in (("bob", "secret"), ("bob@other.example", "other")):
        p = s.pop3()
        p.ok("USER " + name)
        p.ok("PASS " + pw)
        r = p.cmd("STAT")
        counts[name] = int(r.split()[1])
        p.ok("QUIT")
        p.close()
    if counts != {"bob": 1, "bob@other.example": 0}:
        raise dt.TestFailure("message counts: %r" % counts)


def pop3_auth_plain(s):
    p = s.pop3()
    r = p.cmd("AUTH PLAIN " + b64("\0bob@example.com\0secret"))
    if not r.startswith("+OK"):
        raise dt.TestFailure("AUTH PLAIN bob@example.com: %r" % r)
    p.ok("QUIT")
    p.close()


def pop3_no_anonymous(s):
    p = s.pop3()
    _, lines = p.ok_multi("CAPA")
    text = repr(lines)
    if "ANONYMOUS" in text:
        raise dt.TestFailure("CAPA offers ANONYMOUS: %r" % text)
    r = p.cmd("AUTH ANONYMOUS " + b64("guest"))
    if not r.startswith("-ERR"):
        raise dt.TestFailure("AUTH ANONYMOUS: %r" % r)
    p.cmd("USER anonymous")
    r = p.cmd("PASS guest@example.org")
    if not r.startswith("-ERR"):
        raise dt.TestFailure("USER anonymous: %r" % r)
    p.close()


def lmtp_auth(s):
    lm = s.lmtp()
    code, lines = lm.cmd("LHLO client.example")
    if any("ANONYMOUS" in l for l in lines):
        raise dt.TestFailure("LMTP offers ANONYMOUS: %r" % lines)
    code, lines = lm.cmd("AUTH PLAIN " + b64("\0postman@example.com\0pw"))
    if code != 235:
        raise dt.TestFailure("LMTP AUTH postman@example.com: %r" % lines)
    lm.close()
    lm = s.lmtp()
    lm.cmd("LHLO client.example")
    code, lines = lm.cmd("AUTH ANONYMOUS " + b64("guest"))
    if code < 500:
        raise dt.TestFailure("LMTP AUTH ANONYMOUS: %r" % lines)
    lm.close()


def main():
    s = dt.Server(start=False, config={"virtdomains": "yes", "defaultdomain": "example.com",
                                       "admins": "postman", "allowanonymouslogin": "yes"})
    try:
        s.add_user("bob@example.com", "secret")
        s.add_user("bob@other.example", "other")
        s.add_user("postman", "pw")
        s.start()
        R.run("POP3 USER/PASS: bob = bob@example.com, bob@other.example apart", pop3_user_pass, s)
        R.run("LMTP to bob@example.com lands in bob's maildrop only", pop3_same_maildrop, s)
        R.run("POP3 AUTH PLAIN with the qualified default-domain name", pop3_auth_plain, s)
        R.run("POP3 refuses ANONYMOUS even with allowanonymouslogin", pop3_no_anonymous, s)
        R.run("LMTP AUTH maps the default domain; no ANONYMOUS", lmtp_auth, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
