#!/usr/bin/env python3
"""Virtual domains (virtdomains: yes): logins with and without the default
domain, isolation of the other-users and shared namespaces per domain,
domain admins confined to their domain, global admins reaching every domain.
"""

import re
import sys

import darius_test as dt

R = dt.Report("vdomains")


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def names(untagged):
    out = []
    for r in untagged:
        m = re.fullmatch(r'\* LIST \(([^)]*)\) (?:"."|NIL) (.*)', r.render())
        if m:
            n = m.group(2)
            if n.startswith('"') and n.endswith('"'):
                n = n[1:-1]
            out.append((n, m.group(1)))
    return out


def main():
    s = dt.Server(config={"virtdomains": "yes", "defaultdomain": "example.org",
                          "admins": "admin admin2@example.com"})
    try:
        for u in ("alice", "bob", "admin", "carol@example.com", "dave@example.com",
                  "admin2@example.com"):
            s.add_user(u, "secret")

        # logins: bare name = default domain; name@defaultdomain is the same user
        c = s.client()
        c.greeting()
        u, t = c.command("LOGIN alice@example.org secret")
        R.check(tagged_ok(t), "alice@example.org logs in as the default-domain user alice", t.render())
        c.ok("CREATE Private")
        c.logout()
        a = s.login("alice", "secret")
        lst = [n for n, _ in names(a.ok('LIST "" "*"')[0])]
        R.check("Private" in lst, "alice and alice@example.org are one account", lst)

        # carol (example.com) shares her INBOX with dave (same domain) and anyone
        carol = s.login("carol@example.com", "secret")
        carol.ok("SETACL INBOX dave lr")
        carol.ok("SETACL INBOX anyone lr")
        u, t = carol.command("SETACL INBOX alice@example.org lr")
        R.check(not tagged_ok(t), "carol cannot name a user of another domain in an ACL", t.render())
        u, t = carol.command("GETACL INBOX")
        acl = " ".join(x.render() for x in u)
        R.check(re.search(r"\bdave lr\b", acl) is not None, "GETACL shows dave unqualified in his own domain", acl)

        dave = s.login("dave@example.com", "secret")
        lst = [n for n, _ in names(dave.ok('LIST "" "*"')[0])]
        R.check("Other Users/carol" in lst, "dave sees Other Users/carol", lst)
        u, t = dave.command('SELECT "Other Users/carol"')
        R.check(tagged_ok(t), "dave selects carol's INBOX", t.render())

        # alice (default domain) sees nothing of example.com, even with "anyone"
        lst = [n for n, _ in names(a.ok('LIST "" "*"')[0])]
        R.check(not any("carol" in n for n in lst), "alice's LIST shows nothing of example.com", lst)
        for name in ('"Other Users/carol"', '"Other Users/carol@example.com"',
                     '"Other Users/carol@example.com/INBOX"'):
            u, t = a.command("SELECT %s" % name)
            R.check("[NONEXISTENT]" in t.render(), "alice: SELECT %s is NONEXISTENT" % name, t.render())

        # shared folders are per domain
        ad2 = s.login("admin2@example.com", "secret")
        u, t = ad2.command('CREATE "Shared Folders/news"')
        R.check(tagged_ok(t), "domain admin creates Shared Folders/news in example.com", t.render())
        lst = [n for n, _ in names(carol.ok('LIST "" "Shared Folders/*"')[0])]
        R.check("Shared Folders/news" in lst, "carol sees example.com's shared news", lst)
        lst = [n for n, _ in names(a.ok('LIST "" "Shared Folders/*"')[0])]
        R.check("Shared Folders/news" not in lst, "alice does not see example.com's shared news", lst)
        u, t = a.command('CREATE "Shared Folders/news"')
        R.check(not tagged_ok(t), "alice (no admin) cannot create a shared top-level mailbox", t.render())

        # domain admin: own domain only
        u, t = ad2.command('SETQUOTA "user/carol" (STORAGE 100)')
        R.check(tagged_ok(t), "domain admin sets carol's quota", t.render())
        u, t = ad2.command('SETQUOTA "user/alice" (STORAGE 100)')
        R.check(not tagged_ok(t), "domain admin cannot set a quota in another domain", t.render())
        u, t = ad2.command('CREATE "user/erin"')
        R.check(tagged_ok(t), "domain admin creates account user/erin", t.render())
        users = s.cli("user", "list").stdout
        R.check(re.search(r"^erin@example\.com\b", users, re.M) is not None,
                "the new account is erin@example.com", users)
        lst = [n for n, _ in names(ad2.ok('LIST "" "user/*"')[0])]
        R.check("user/carol" in lst and not any(n.startswith("user/alice") for n in lst),
                "domain admin lists only example.com accounts", lst)

        # global admin reaches other domains with a qualified name
        adm = s.login("admin", "secret")
        u, t = adm.command('GETACL "user/carol@example.com"')
        R.check(tagged_ok(t), "global admin GETACL user/carol@example.com", t.render())
        u, t = adm.command('GETQUOTAROOT "user/carol@example.com"')
        R.check(tagged_ok(t), "global admin GETQUOTAROOT user/carol@example.com", t.render())
        # ... and another domain's shared folders as "Shared Folders@DOMAIN/..."
        lst = [n for n, _ in names(adm.ok('LIST "" "Shared Folders*"')[0])]
        R.check("Shared Folders@example.com/news" in lst, "global admin lists example.com's shared news", lst)
        u, t = adm.command('SETACL "Shared Folders@example.com/news" dave lrsip')
        R.check(tagged_ok(t), "global admin SETACL on Shared Folders@example.com/news", t.render())
        u, t = ad2.command('GETACL "Shared Folders/news"')
        acl = " ".join(x.render() for x in u)
        R.check(re.search(r"\bdave lrsip\b", acl) is not None, "the domain admin sees that change", acl)
        u, t = adm.command('SETQUOTA "Shared Folders@example.com" (STORAGE 500)')
        R.check(tagged_ok(t) and any('"Shared Folders@example.com"' in x.render() for x in u),
                "global admin SETQUOTA on example.com's shared store", [x.render() for x in u] + [t.render()])
        u, t = adm.command('GETQUOTAROOT "Shared Folders@example.com/news"')
        R.check(any('QUOTAROOT' in x.render() and '"Shared Folders@example.com"' in x.render() for x in u),
                "GETQUOTAROOT names the root Shared Folders@example.com", [x.render() for x in u])
        u, t = adm.command('SELECT "Shared Folders@example.org/news"')
        R.check("[NONEXISTENT]" in t.render(), "the default domain has no @-spelling", t.render())
        u, t = ad2.command('SELECT "Shared Folders@example.com/news"')
        R.check(not tagged_ok(t), "a domain admin has no @DOMAIN shared spelling", t.render())
        # the CLI (a global admin) lists that spelling and takes it back
        out = s.cli("mailbox", "list", "--all").stdout
        R.check("Shared Folders@example.com/news" in out, "darius mailbox list --all shows the @DOMAIN spelling", out)
        r = s.cli("acl", "list", "Shared Folders@example.com/news")
        R.check(r.returncode == 0 and re.search(r"\bdave lrsip\b", r.stdout) is not None,
                "darius acl list takes Shared Folders@example.com/news", r.stdout + r.stderr)
        r = s.cli("acl", "set", "Shared Folders@example.com/news", "dave", "+w")
        R.check(r.returncode == 0, "darius acl set on Shared Folders@example.com/news", r.stdout + r.stderr)
        r = s.cli("acl", "list", "Shared Folders@example.com/news")
        R.check(re.search(r"\bdave lrswip\b", r.stdout) is not None, "... and the change is there", r.stdout)
        for c in (a, carol, dave, ad2, adm):
            c.logout()
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
