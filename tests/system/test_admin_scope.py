#!/usr/bin/env python3
"""Administration scope and account lifecycle:
- a domain admin of the default domain cannot delete, recreate, rename
  onto or administer the account of a global admin (privilege escalation);
- "anyone"/"anonymous" are reserved local parts under virtdomains;
- deleting an account (IMAP DELETE "user/bob" and `darius user del`)
  removes the ACL entries naming it (positive and negative) and its
  per-reader \\Seen state, so a new account of that name inherits nothing;
- RENAME needs x on every child mailbox it moves (RFC 4314 4);
- MYRIGHTS needs one of l r i k x a (RFC 4314 4).
"""

import re
import sys

import darius_test as dt

R = dt.Report("admin_scope")


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def acl_text(c, mbox):
    u, t = c.command("GETACL %s" % dt.quote(mbox))
    return " ".join(x.render() for x in u), t


def vdomain_part():
    s = dt.Server(config={"virtdomains": "yes", "defaultdomain": "example.org",
                          "admins": "root root2 dadmin@example.org cadmin@example.com"})
    try:
        for u in ("root", "dadmin", "mallory", "cadmin@example.com"):
            s.add_user(u, "secret")
        d = s.login("dadmin", "secret")
        # the attack: delete the global admin's account, rename another onto it
        u, t = d.command('DELETE "user/root"')
        R.check(not tagged_ok(t), "domain admin cannot DELETE user/root (a global admin)", t.render())
        u, t = d.command('RENAME "user/mallory" "user/root"')
        R.check(not tagged_ok(t), "domain admin cannot RENAME user/mallory onto user/root", t.render())
        # root2 is a global admin without an account yet
        u, t = d.command('RENAME "user/mallory" "user/root2"')
        R.check(not tagged_ok(t), "domain admin cannot RENAME an account to a global admin's name",
                t.render())
        u, t = d.command('CREATE "user/root2"')
        R.check(not tagged_ok(t), "domain admin cannot CREATE user/root2 (a global admin's name)", t.render())
        users = s.cli("user", "list").stdout.split()
        R.check("root2" not in users, "no root2 account was created", str(users))
        u, t = d.command('RENAME "user/root" "user/mallory2"')
        R.check(not tagged_ok(t), "domain admin cannot RENAME user/root away", t.render())
        u, t = d.command('SETACL "user/root" dadmin lrswipkxtea')
        R.check(not tagged_ok(t), "domain admin cannot SETACL on user/root", t.render())
        u, t = d.command('GETACL "user/root"')
        R.check(not tagged_ok(t), "domain admin cannot GETACL user/root", t.render())
        # quotas of a global admin's account are not the domain admin's either
        # (imap-cmd-quota.c must ask access_is_admin_of_store)
        u, t = d.command('SETQUOTA "user/root" (STORAGE 10)')
        R.check(not tagged_ok(t), "domain admin cannot SETQUOTA user/root", t.render())
        u, t = d.command('GETQUOTA "user/root"')
        R.check(not tagged_ok(t), "domain admin cannot GETQUOTA user/root", t.render())
        u, t = d.command('SETQUOTA "user/mallory" (STORAGE 10)')
        R.check(tagged_ok(t), "domain admin still sets user/mallory's quota", t.render())
        lst = " ".join(x.render() for x in d.ok('LIST "" "user/*"')[0])
        R.check("user/root" not in lst, "domain admin does not list user/root", lst)
        # the domain admin still administers normal accounts of the domain
        u, t = d.command('SETACL "user/mallory" dadmin lr')
        R.check(tagged_ok(t), "domain admin still administers user/mallory", t.render())
        u, t = d.command('RENAME "user/mallory" "user/mallory2"')
        R.check(tagged_ok(t), "domain admin still renames user/mallory", t.render())
        r = s.client()
        r.greeting()
        u, t = r.command("LOGIN root secret")
        R.check(tagged_ok(t), "root still logs in with its own password", t.render())
        r.logout()
        # a global admin may do all of it
        g = s.login("root", "secret")
        u, t = g.command('SETACL "user/mallory2" root lr')
        R.check(tagged_ok(t), "global admin administers user/mallory2", t.render())

        for x in (d, g):
            x.logout()
        s.stop()
    finally:
        s.cleanup()


def reserved_part():
    s = dt.Server(config={"virtdomains": "yes", "defaultdomain": "example.org",
                          "admins": "root cadmin@example.com"})
    try:
        s.add_user("cadmin@example.com", "secret")
        # reserved local parts under virtdomains
        for name in ("anonymous@example.com", "anyone@example.com", "anyone", "anonymous@example.org"):
            res = s.cli("user", "add", name, input_text="secret\n")
            R.check(res.returncode != 0, "darius user add %s is refused" % name,
                    "%d %s" % (res.returncode, res.stdout + res.stderr))
        c = s.login("cadmin@example.com", "secret")
        for name in ("user/anyone", "user/anonymous"):
            u, t = c.command("CREATE %s" % dt.quote(name))
            R.check(not tagged_ok(t), "domain admin cannot CREATE %s" % name, t.render())
        users = s.cli("user", "list").stdout
        R.check(not re.search(r"^(anyone|anonymous)", users, re.M), "no reserved account exists", users)
        c.logout()
        s.stop()
    finally:
        s.cleanup()


def plain_part():
    s = dt.Server(config={"admins": "admin"})
    try:
        for u in ("admin", "alice", "bob", "carol", "dave"):
            s.add_user(u, "secret")
        a = s.login("alice", "secret")
        adm = s.login("admin", "secret")

        # ---- MYRIGHTS needs one of l r i k x a
        a.ok("CREATE Post")
        a.ok("SETACL Post bob p")
        a.ok("CREATE Look")
        a.ok("SETACL Look bob l")
        b = s.login("bob", "secret")
        u, t = b.command('MYRIGHTS "Other Users/alice/Post"')
        R.check("[NONEXISTENT]" in t.render(), "MYRIGHTS with only p answers NONEXISTENT", t.render())
        u, t = b.command('MYRIGHTS "Other Users/alice/Look"')
        R.check(tagged_ok(t) and any(" l" in x.render() for x in u), "MYRIGHTS with l answers",
                t.render() + " " + " ".join(x.render() for x in u))

        # ---- RENAME checks x on every child
        a.ok("CREATE Proj")
        a.ok("CREATE Proj/secret")          # no entry for bob
        a.ok("SETACL Proj bob lrx")
        a.ok("SETACL INBOX bob lk")         # k on the account level: may create top levels
        u, t = b.command('RENAME "Other Users/alice/Proj" "Other Users/alice/Moved"')
        R.check(not tagged_ok(t), "RENAME refused without x on a child", t.render())
        lst = " ".join(x.render() for x in a.ok('LIST "" "*"')[0])
        R.check("Proj/secret" in lst and "Moved" not in lst, "nothing moved", lst)
        a.ok("SETACL Proj/secret bob lx")
        u, t = b.command('RENAME "Other Users/alice/Proj" "Other Users/alice/Moved"')
        R.check(tagged_ok(t), "RENAME allowed with x on every child", t.render())
        a.ok("CREATE Own")
        a.ok("CREATE Own/kid")
        a.ok("SETACL Own/kid anyone l")
        u, t = a.command('RENAME Own Own2')
        R.check(tagged_ok(t), "the owner renames without entries on the children", t.render())
        b.logout()
        a.logout()
        adm.logout()
        s.stop()
    finally:
        s.cleanup()


def delete_part():
    s = dt.Server(config={"admins": "admin"})
    try:
        for u in ("admin", "alice", "bob", "carol"):
            s.add_user(u, "secret")
        a = s.login("alice", "secret")
        adm = s.login("admin", "secret")
        # ---- account delete removes the identifier everywhere
        a.ok("SETACL INBOX bob lr")
        a.ok("SETACL INBOX anyone lr")
        a.ok("SETACL INBOX -carol r")
        a.ok("SETACL INBOX carol l")
        adm.ok('CREATE "Shared Folders/news"')
        adm.ok('SETACL "Shared Folders/news" bob lrs')
        adm.ok('SETACL "Shared Folders/news" carol lrs')
        adm.ok('SETACL "Shared Folders/news" anyone lrs')
        adm.ok('SETACL "Shared Folders/news" admin lrsi')
        adm.ok('APPEND "Shared Folders/news" %L', [MSG])
        for who in ("bob", "carol"):
            c = s.login(who, "secret")
            c.ok('SELECT "Shared Folders/news"')
            c.ok("STORE 1 +FLAGS (\\Seen)")
            c.logout()

        u, t = adm.command('DELETE "user/bob"')
        R.check(tagged_ok(t), "admin deletes user/bob over IMAP", t.render())
        res = s.cli("user", "del", "carol")
        R.check(res.returncode == 0, "darius user del carol", res.stdout + res.stderr)
        acl, _ = acl_text(a, "INBOX")
        R.check(not re.search(r"\b-?(bob|carol)\b", acl), "alice's INBOX ACL names neither bob nor carol", acl)
        acl, _ = acl_text(adm, "Shared Folders/news")
        R.check(not re.search(r"\b(bob|carol)\b", acl), "the shared ACL names neither bob nor carol", acl)
        for who in ("bob", "carol"):
            s.add_user(who, "new")
            n = s.login(who, "new")
            u, t = n.command('MYRIGHTS "Other Users/alice"')
            rights = " ".join(x.render() for x in u)
            R.check(tagged_ok(t) and re.search(r'MYRIGHTS .* "?lr"?$', rights) is not None,
                    "the new %s has only anyone's rights on alice's INBOX" % who, rights + " " + t.render())
            u, t = n.command('STATUS "Shared Folders/news" (UNSEEN)')
            st = " ".join(x.render() for x in u)
            R.check("UNSEEN 1" in st, "the new %s has not seen the old one's messages" % who, st + t.render())
            n.logout()
        a.logout()
        adm.logout()
        s.stop()
    finally:
        s.cleanup()


MSG = "From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"


def main():
    for part in (vdomain_part, reserved_part, plain_part, delete_part):
        try:
            part()
        except Exception as e:   # one part failing must not hide the other's results
            R.fail(part.__name__, repr(e))
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
