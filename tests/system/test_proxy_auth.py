#!/usr/bin/env python3
"""SASL proxy authorization (issue 9, critical). An authzid different from
the authcid is honoured only for identities listed in "proxyservers" (never
for "admins"), a proxyserver with a domain part stays in its domain, and
every proxy login is logged with both identities. Checked over IMAP
AUTHENTICATE PLAIN (with and without SASL-IR), POP3 AUTH PLAIN and LMTP
AUTH PLAIN, with the attack from the report: the domain admin
dadmin@a.test authenticating as the global admin and as bob@b.test."""

import base64
import sys

import darius_test as dt

R = dt.Report("proxy_auth")

USERS = {"admin": "adminpw", "dadmin@a.test": "dpw", "bob@b.test": "bobpw", "carol@a.test": "cpw",
         "dproxy@a.test": "ppw", "gproxy": "gpw"}


def plain(authzid, authcid):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, USERS[authcid])).encode()).decode()


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def imap_auth(s, authzid, authcid, sasl_ir=True):
    """AUTHENTICATE PLAIN; returns (tagged OK?, the session's own INBOX
    owner as seen through NAMESPACE-independent MYRIGHTS on INBOX)."""
    c = s.client()
    c.greeting()
    if sasl_ir:
        u, t = c.command("AUTHENTICATE PLAIN " + plain(authzid, authcid))
    else:
        tag = c.next_tag()
        c.send("%s AUTHENTICATE PLAIN" % tag)
        r = c.read()
        if not r.text.startswith("+"):
            raise dt.TestFailure("no continuation: %s" % r.render())
        c.send(plain(authzid, authcid))
        u, t = c.collect(tag)
    ok = tagged_ok(t)
    who = None
    if ok:
        # The session's identity: GETACL on its own INBOX lists the owner
        # (named without the domain, which is the session's own).
        u2, t2 = c.command("GETACL INBOX")
        who = " ".join(x.render() for x in u2)
    c.close()
    return ok, who


def pop3_auth(s, authzid, authcid):
    p = s.pop3()
    line = p.cmd("AUTH PLAIN " + plain(authzid, authcid))
    p.close()
    return line.startswith("+OK")


def lmtp_auth(s, authzid, authcid):
    c = s.lmtp()
    c.cmd("LHLO test")
    code, _ = c.cmd("AUTH PLAIN " + plain(authzid, authcid))
    c.close()
    return code == 235


def main():
    s = dt.Server(start=False, config={
        "virtdomains": "yes", "defaultdomain": "main.test",
        "admins": "admin dadmin@a.test", "proxyservers": "gproxy dproxy@a.test"})
    try:
        for u, p in USERS.items():
            s.add_user(u, p)
        s.start()
        # the attack, both forms, over every protocol
        for target in ("admin", "bob@b.test", "carol@a.test"):
            for ir in (True, False):
                ok, _ = imap_auth(s, target, "dadmin@a.test", ir)
                R.check(not ok, "IMAP: domain admin cannot authorize as %s (SASL-IR %s)" % (target, ir))
            R.check(not pop3_auth(s, target, "dadmin@a.test"), "POP3: domain admin cannot authorize as %s" % target)
            R.check(not lmtp_auth(s, target, "dadmin@a.test"), "LMTP: domain admin cannot authorize as %s" % target)
        ok, _ = imap_auth(s, "bob@b.test", "admin")
        R.check(not ok, "IMAP: the global admin is no proxy either")
        # proxyservers
        ok, who = imap_auth(s, "bob@b.test", "gproxy")
        R.check(ok and who is not None and "ACL INBOX bob " in who, "IMAP: a global proxyserver acts as bob@b.test",
                str(who))
        ok, who = imap_auth(s, "carol@a.test", "dproxy@a.test")
        R.check(ok and who is not None and "ACL INBOX carol " in who, "IMAP: a domain proxyserver acts in its domain",
                str(who))
        ok, _ = imap_auth(s, "bob@b.test", "dproxy@a.test")
        R.check(not ok, "IMAP: a domain proxyserver cannot leave its domain")
        ok, _ = imap_auth(s, "admin", "dproxy@a.test")
        R.check(not ok, "IMAP: a domain proxyserver cannot become the global admin")
        R.check(pop3_auth(s, "bob@b.test", "gproxy"), "POP3: a proxyserver may proxy")
        R.check(not pop3_auth(s, "bob@b.test", "dproxy@a.test"), "POP3: a domain proxyserver stays in its domain")
        # an authzid equal to the authcid is no proxy login
        ok, _ = imap_auth(s, "dadmin@a.test", "dadmin@a.test")
        R.check(ok, "IMAP: authzid equal to authcid is accepted")
        s.stop()
        err = s.stderr_text()
        R.check("proxy authorization: authcid=gproxy authzid=bob@b.test" in err and
                "imap: proxy login: authcid=gproxy user=bob@b.test addr=" in err,
                "a proxy login is logged with both identities and the address")
        R.check("proxy authorization refused (not in proxyservers): authcid=dadmin@a.test authzid=admin" in err,
                "a refused proxy attempt is logged with both identities")
    except Exception as e:
        R.fail("proxy_auth", repr(e))
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
