#!/usr/bin/env python3
"""An account rename (admin RENAME "user/a" "user/b") carries the account's
ACL entries in other users' and shared mailboxes along: grants keep
working under the new name, and negative entries keep excluding it."""

import re
import sys

import darius_test as dt

R = dt.Report("account-rename-acl")


def ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def acl_of(c, name):
    u, t = c.command('GETACL "%s"' % name)
    return " ".join(x.render() for x in u)


def main():
    s = dt.Server(config={"admins": "admin"})
    try:
        for u in ("admin", "bob", "alice", "carol"):
            s.add_user(u, "secret")
        bob = s.login("bob", "secret")
        bob.ok("CREATE Team")
        bob.ok("SETACL Team alice lr")
        bob.ok("CREATE Notices")
        bob.ok("SETACL Notices anyone lr")
        bob.ok("SETACL Notices -carol lr")
        adm = s.login("admin", "secret")
        adm.ok('CREATE "Shared Folders/board"')
        adm.ok('SETACL "Shared Folders/board" alice lrs')
        # carol has no store yet (never logged in): a rename must still work
        u, t = adm.command('RENAME "user/alice" "user/alice2"')
        R.check(ok(t), "admin renames user/alice to user/alice2", t.render())
        u, t = adm.command('RENAME "user/carol" "user/carol2"')
        R.check(ok(t), "admin renames user/carol (no store yet) to user/carol2", t.render())

        acl = acl_of(bob, "Team")
        R.check(re.search(r"\balice2 lr\b", acl) and not re.search(r"\balice\b", acl),
                "bob's Team ACL names alice2, not alice", acl)
        acl = acl_of(bob, "Notices")
        R.check(re.search(r"-carol2 lr\b", acl) is not None, "the negative entry follows carol to carol2", acl)
        acl = acl_of(adm, "Shared Folders/board")
        R.check(re.search(r"\balice2 lrs\b", acl) is not None, "the shared mailbox's ACL names alice2", acl)

        a2 = s.login("alice2", "secret")
        u, t = a2.command('SELECT "Other Users/bob/Team"')
        R.check(ok(t), "alice2 (same password) still reads bob's Team", t.render())
        lst = " ".join(x.render() for x in a2.ok('LIST "" "*"')[0])
        R.check("Shared Folders/board" in lst, "alice2 still sees the shared board", lst)
        c2 = s.login("carol2", "secret")
        u, t = c2.command('SELECT "Other Users/bob/Notices"')
        R.check(not ok(t), "carol2 is still excluded from Notices", t.render())
        for c in (bob, adm, a2, c2):
            c.logout()
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
