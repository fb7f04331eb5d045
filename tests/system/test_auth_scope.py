#!/usr/bin/env python3
"""Who may act as whom, after the issue 9 item 1 fix (review r2).

- A proxy login (SASL authzid, RFC 4422 3.4.1) never becomes a locked
  account: one that exists (it has a store, gets mail) but cannot log in
  until "darius user passwd" (docs/admin.md). Checked over IMAP and POP3.
- "proxyservers" under virtdomains: an entry written with the default
  domain ("webmail@main.test", whose id is "webmail") is confined to the
  default domain, as the same form in "admins" is - before, it matched
  nothing at all, which pushed operators to the bare (every-domain) form.
  It never becomes a global admin (bare names, living in that domain) nor
  a user of another domain.
- LMTP AUTH by a domain admin ("admins: dadmin@a.test"): an authenticated
  LMTP client is trusted (IGNOREQUOTA, delivery when lmtp_auth_required),
  so a domain admin's LMTP session takes recipients of its own domain
  only - "550 5.7.1" for any other (it delivered into every domain, and
  bypassed their quotas with IGNOREQUOTA). A global admin still reaches
  every domain.
"""

import base64
import sys

import darius_test as dt

R = dt.Report("auth_scope")


def plain(authzid, authcid, pw):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, pw)).encode()).decode()


def imap_auth(s, authzid, authcid, pw="pw"):
    c = s.client()
    c.greeting()
    _, t = c.command("AUTHENTICATE PLAIN " + plain(authzid, authcid, pw))
    c.close()
    return t.render().split(" ")[1]


def pop3_auth(s, authzid, authcid, pw="pw"):
    p = s.pop3()
    line = p.cmd("AUTH PLAIN " + plain(authzid, authcid, pw))
    p.close()
    return line.split(" ")[0]


def lmtp_session(s, authcid):
    c = s.lmtp()
    c.send("LHLO test")
    c.expect(250, "LHLO")
    code, lines = c.cmd("AUTH PLAIN " + plain("", authcid, "pw"))
    if code != 235:
        raise dt.TestFailure("AUTH as %s: %r" % (authcid, lines))
    return c


def lmtp_rcpts(s, authcid, rcpts):
    c = lmtp_session(s, authcid)
    c.send("MAIL FROM:<x@y.test>")
    c.expect(250, "MAIL")
    codes = []
    for r in rcpts:
        code, _ = c.cmd("RCPT TO:<%s> IGNOREQUOTA" % r)
        codes.append(code)
    c.cmd("QUIT")
    c.close()
    return codes


def main():
    s = dt.Server(start=False, config={
        "virtdomains": "yes", "defaultdomain": "main.test",
        "admins": "admin dadmin@a.test", "proxyservers": "gproxy webmail@main.test",
        "lmtp_auth_required": "yes"})
    try:
        for u in ("admin", "dadmin@a.test", "gproxy", "webmail", "carol", "alice@a.test", "bob@b.test"):
            s.add_user(u, "pw")
        s.start()
        r = s.cli("user", "add", "--locked", "frozen")
        if r.returncode != 0:
            raise dt.TestFailure("user add --locked: %s" % r.stderr)

        # a locked account is no proxy target
        R.check(imap_auth(s, "frozen", "gproxy") == "NO", "IMAP: a proxyserver cannot become a locked account")
        R.check(pop3_auth(s, "frozen", "gproxy") == "-ERR", "POP3: a proxyserver cannot become a locked account")
        R.check(imap_auth(s, "carol", "gproxy") == "OK", "IMAP: a proxyserver still becomes a normal account")

        # the default-domain form of a proxyserver entry
        R.check(imap_auth(s, "carol", "webmail") == "OK", "IMAP: webmail@main.test acts in the default domain")
        R.check(imap_auth(s, "carol@main.test", "webmail@main.test") == "OK",
                "IMAP: the same with both names qualified")
        R.check(pop3_auth(s, "carol", "webmail") == "+OK", "POP3: webmail@main.test acts in the default domain")
        R.check(imap_auth(s, "bob@b.test", "webmail") == "NO", "IMAP: webmail@main.test stays in its domain")
        R.check(imap_auth(s, "admin", "webmail") == "NO", "IMAP: webmail@main.test never becomes the global admin")

        # LMTP: a domain admin's session is confined to its domain
        R.check(lmtp_rcpts(s, "dadmin@a.test", ["alice@a.test", "bob@b.test", "carol", "carol@main.test"]) ==
                [250, 550, 550, 550], "LMTP: a domain admin's recipients must be in its domain")
        R.check(lmtp_rcpts(s, "admin", ["alice@a.test", "bob@b.test", "carol"]) == [250, 250, 250],
                "LMTP: a global admin reaches every domain")
        s.stop()
        err = s.stderr_text()
        R.check("proxy authorization refused (account locked): authcid=gproxy authzid=frozen" in err,
                "the refused proxy login to a locked account is logged")
        R.check("outside the authenticated administrator's domain" in err,
                "the refused LMTP recipient is logged")
        R.check_sanitizer(s)
    except Exception as e:
        R.fail("auth_scope", repr(e))
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
