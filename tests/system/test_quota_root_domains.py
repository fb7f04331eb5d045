#!/usr/bin/env python3
"""Quota root names under virtdomains: "@DOMAIN" is left out of a
"user/NAME" root only when DOMAIN is the session's own domain, so a global
admin (default domain) sees "user/carol@example.com" - a name that GETQUOTA
and SETQUOTA resolve back to the same account - and never a bare
"user/carol", which names the default domain's carol. A domain admin of
example.com sees its own users bare.
"""

import re
import sys

import darius_test as dt

R = dt.Report("quota_root_domains")


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def quota_lines(untagged):
    return [u.render() for u in untagged if u.render().startswith("* QUOTA ")]


def main():
    s = dt.Server(config={"virtdomains": "yes", "defaultdomain": "example.org",
                          "admins": "root admin2@example.com"})
    try:
        for u in ("root", "carol", "carol@example.com", "admin2@example.com"):
            s.add_user(u, "secret")
        # both carols have a store
        for u in ("carol", "carol@example.com"):
            s.login(u, "secret").logout()

        root = s.login("root", "secret")
        u, t = root.command('SETQUOTA "user/carol@example.com" (STORAGE 100)')
        q = quota_lines(u)
        R.check(tagged_ok(t) and q == ['* QUOTA "user/carol@example.com" (STORAGE 0 100)'],
                "global admin: SETQUOTA answers with the qualified root name", repr(q))
        u, t = root.command('GETQUOTA "user/carol@example.com"')
        q = quota_lines(u)
        R.check(tagged_ok(t) and q == ['* QUOTA "user/carol@example.com" (STORAGE 0 100)'],
                "global admin: GETQUOTA user/carol@example.com", repr(q))
        u, t = root.command('GETQUOTAROOT "user/carol@example.com"')
        r = [x.render() for x in u]
        R.check(tagged_ok(t) and '* QUOTAROOT "user/carol@example.com" "user/carol@example.com"' in r,
                "global admin: GETQUOTAROOT names the qualified root", repr(r))
        # the bare name is the default domain's carol, untouched
        u, t = root.command('GETQUOTA "user/carol"')
        q = quota_lines(u)
        R.check(tagged_ok(t) and q == ['* QUOTA "user/carol" ()'],
                "global admin: user/carol is the default-domain carol (no limit)", repr(q))
        u, t = root.command('GETQUOTAROOT "user/carol"')
        r = [x.render() for x in u]
        R.check(tagged_ok(t) and '* QUOTAROOT "user/carol" "user/carol"' in r,
                "global admin: GETQUOTAROOT user/carol names user/carol", repr(r))

        # the domain admin of example.com names its users bare
        ad2 = s.login("admin2@example.com", "secret")
        u, t = ad2.command('GETQUOTA "user/carol"')
        q = quota_lines(u)
        R.check(tagged_ok(t) and q == ['* QUOTA "user/carol" (STORAGE 0 100)'],
                "domain admin: GETQUOTA user/carol is carol@example.com", repr(q))
        u, t = ad2.command('SETQUOTA "user/carol" (STORAGE 200)')
        q = quota_lines(u)
        R.check(tagged_ok(t) and q == ['* QUOTA "user/carol" (STORAGE 0 200)'],
                "domain admin: SETQUOTA user/carol answers user/carol", repr(q))

        # carol@example.com herself
        c = s.login("carol@example.com", "secret")
        u, t = c.command("GETQUOTAROOT INBOX")
        r = [x.render() for x in u]
        R.check(tagged_ok(t) and '* QUOTAROOT "INBOX" "user/carol"' in r,
                "carol@example.com sees her root as user/carol", repr(r))
        for x in (root, ad2, c):
            x.logout()
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
