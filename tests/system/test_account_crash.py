#!/usr/bin/env python3
"""Account rename and delete are crash-safe (journaled in shares.db).

DARIUS_TEST_CRASH_AT=<point> makes the CLI die (_exit(99)) at a point of
the operation, deterministically:
  rename-after-store   store renamed, user database not yet
  rename-after-userdb  user database renamed, ACL entries not yet rewritten
  delete-after-store   store deleted, user entry and ACL entries not yet
The next operation touching one of the names (a login, `darius user add`,
an admin CREATE) finishes the interrupted one first; meanwhile the names
are busy (NO [UNAVAILABLE]). Mail, ACL entries and per-reader \\Seen
follow the account, and a new account of an old name inherits nothing.
Also: an orphan store (a store whose name is not a user) is never adopted
by `darius user add` (exit 73) or an admin CREATE "user/NAME"
(NO [ALREADYEXISTS]).
"""

import os
import re
import sqlite3
import subprocess
import sys

import darius_test as dt

R = dt.Report("account_crash")
MSG = "From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def crash_cli(s, point, *args):
    env = dict(os.environ)
    env["DARIUS_TEST_CRASH_AT"] = point
    return subprocess.run([s.darius, "-C", s.conf_path] + list(args), capture_output=True, text=True,
                          timeout=60, env=env)


def try_login(s, user, pw):
    c = s.client()
    c.greeting()
    u, t = c.command("LOGIN %s %s" % (dt.quote(user), dt.quote(pw)))
    if tagged_ok(t):
        return c, t
    c.close()
    return None, t


def acl_of(c, mbox):
    u, t = c.command("GETACL %s" % dt.quote(mbox))
    return " ".join(x.render() for x in u)


def exists_of(c, mbox):
    u, t = c.ok("SELECT %s" % dt.quote(mbox))
    for x in u:
        m = re.fullmatch(r"\* (\d+) EXISTS", x.render())
        if m:
            return int(m.group(1))
    return -1


def main():
    s = dt.Server(config={"admins": "admin"})
    try:
        for u in ("admin", "alice", "bob", "carol", "dave", "erin"):
            s.add_user(u, "secret")
        a = s.login("alice", "secret")
        adm = s.login("admin", "secret")
        a.ok("SETACL INBOX bob lr")
        a.ok("SETACL INBOX dave lrs")
        adm.ok('CREATE "Shared Folders/news"')
        adm.ok('SETACL "Shared Folders/news" anyone lrs')
        adm.ok('SETACL "Shared Folders/news" admin lrsi')
        adm.ok('APPEND "Shared Folders/news" %L', [MSG])
        b = s.login("bob", "secret")
        b.ok("APPEND INBOX %L", [MSG])
        b.ok('SELECT "Shared Folders/news"')
        b.ok("STORE 1 +FLAGS (\\Seen)")
        b.logout()
        # carol's store carries an explicit owner entry, as stores provisioned
        # before owners stopped being stored do
        c = s.login("carol", "secret")
        c.ok("SETACL INBOX carol lrswipkxtean")
        c.ok("APPEND INBOX %L", [MSG])
        c.logout()

        # ---- window 1: store renamed, user database not
        r = crash_cli(s, "rename-after-store", "user", "rename", "bob", "bob2")
        R.check(r.returncode == 99, "rename bob -> bob2 crashes after the store step",
                "%d %s" % (r.returncode, r.stderr))
        c1, t = try_login(s, "bob", "secret")
        R.check(c1 is None and "[UNAVAILABLE]" in t.render(),
                "a login of bob meanwhile is refused as busy (and finishes the rename)", t.render())
        c1, t = try_login(s, "bob", "secret")
        R.check(c1 is None and "[AUTHENTICATIONFAILED]" in t.render(), "bob does not exist any more",
                t.render())
        b2, t = try_login(s, "bob2", "secret")
        R.check(b2 is not None, "bob2 logs in with bob's password", t.render())
        if b2:
            R.check(exists_of(b2, "INBOX") == 1, "bob2 has bob's mail")
            u, t = b2.command('STATUS "Shared Folders/news" (UNSEEN)')
            st = " ".join(x.render() for x in u)
            R.check("UNSEEN 0" in st, "bob's \\Seen state on the shared folder follows to bob2", st)
            b2.logout()
        acl = acl_of(a, "INBOX")
        R.check(re.search(r"\bbob2 lr\b", acl) and not re.search(r"\bbob\b", acl),
                "alice's ACL entry for bob now names bob2", acl)
        r = s.cli("user", "add", "bob", input_text="new\n")
        R.check(r.returncode == 0, "a new user bob can be added", r.stdout + r.stderr)
        nb = s.login("bob", "new")
        R.check(exists_of(nb, "INBOX") == 0, "the new bob's INBOX is empty")
        u, t = nb.command('MYRIGHTS "Other Users/alice"')
        R.check("[NONEXISTENT]" in t.render(), "the new bob has no rights on alice's INBOX", t.render())
        u, t = nb.command('STATUS "Shared Folders/news" (UNSEEN)')
        st = " ".join(x.render() for x in u)
        R.check("UNSEEN 1" in st, "the new bob has not seen bob2's messages", st)
        nb.logout()

        # ---- window 2: user database renamed, owner entries not rewritten
        r = crash_cli(s, "rename-after-userdb", "user", "rename", "carol", "carol2")
        R.check(r.returncode == 99, "rename carol -> carol2 crashes after the user database step",
                "%d %s" % (r.returncode, r.stderr))
        r = s.cli("user", "add", "carol", input_text="new\n")
        R.check(r.returncode == 0, "user add carol finishes the rename and adds a new carol",
                "%d %s" % (r.returncode, r.stdout + r.stderr))
        nc = s.login("carol", "new")
        u, t = nc.command('SELECT "Other Users/carol2"')
        R.check("[NONEXISTENT]" in t.render(), "the new carol has no rights on carol2's INBOX", t.render())
        nc.logout()
        c2 = s.login("carol2", "secret")
        R.check(exists_of(c2, "INBOX") == 1, "carol2 has carol's mail")
        acl = acl_of(c2, "INBOX")
        R.check(re.search(r"\bcarol2 lrswipkxtean", acl) and not re.search(r"\bcarol\b", acl),
                "carol2's owner entry was rewritten", acl)
        c2.logout()

        # ---- delete: store removed, user entry and ACL entries not yet
        r = crash_cli(s, "delete-after-store", "user", "del", "dave")
        R.check(r.returncode == 99, "user del dave crashes after the store step",
                "%d %s" % (r.returncode, r.stderr))
        d, t = try_login(s, "dave", "secret")
        R.check(d is None and "[UNAVAILABLE]" in t.render(),
                "a login of dave meanwhile is refused as busy (and finishes the delete)", t.render())
        users = s.cli("user", "list").stdout.split()
        R.check("dave" not in users, "dave is gone from the user database", str(users))
        acl = acl_of(a, "INBOX")
        R.check(not re.search(r"\bdave\b", acl), "alice's ACL entry for dave is gone", acl)
        r = s.cli("user", "add", "dave", input_text="new\n")
        R.check(r.returncode == 0, "a new dave can be added", r.stdout + r.stderr)
        nd = s.login("dave", "new")
        u, t = nd.command('MYRIGHTS "Other Users/alice"')
        R.check("[NONEXISTENT]" in t.render(), "the new dave has no rights on alice's INBOX", t.render())
        nd.logout()

        # ---- orphan store: never adopted
        e = s.login("erin", "secret")
        e.ok("APPEND INBOX %L", [MSG])
        e.logout()
        db = sqlite3.connect(os.path.join(s.datadir, "users.db"))
        db.execute("DELETE FROM user WHERE name = 'erin'")
        db.commit()
        db.close()
        r = s.cli("user", "add", "erin", input_text="new\n")
        R.check(r.returncode == 73, "user add erin refuses the orphan store (exit 73)",
                "%d %s" % (r.returncode, r.stdout + r.stderr))
        u, t = adm.command('CREATE "user/erin"')
        R.check("[ALREADYEXISTS]" in t.render(), "admin CREATE user/erin refuses the orphan store", t.render())
        e, t = try_login(s, "erin", "new")
        R.check(e is None, "nobody logs in as erin", t.render())
        a.logout()
        adm.logout()
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
