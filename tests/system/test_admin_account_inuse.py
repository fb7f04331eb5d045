#!/usr/bin/env python3
"""An admin's DELETE/RENAME of a whole account ("user/bob") while bob has
sessions in the same worker process (workers: 1): the operation closes
bob's sessions there synchronously (the worker's local kick hook) and
succeeds, instead of answering NO [INUSE] for ever. Also when bob is in
IDLE (a suspended command) and when the admin itself has one of bob's
mailboxes selected.
"""

import re
import sys

import darius_test as dt

R = dt.Report("admin_account_inuse")


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def got_bye(c):
    """Read until EOF; True when a "* BYE" came first."""
    bye = False
    try:
        while True:
            r = c.read()
            if r.text.startswith("* BYE"):
                bye = True
    except (EOFError, dt.TestFailure, OSError):
        pass
    return bye


def main():
    s = dt.Server(workers=1, config={"admins": "admin"})
    try:
        for u in ("admin", "bob", "carol", "dave"):
            s.add_user(u, "secret")

        # DELETE: bob has a selected session and an idling one
        bob1 = s.login("bob", "secret")
        bob1.ok("CREATE Work")
        bob1.ok("SELECT INBOX")
        bob2 = s.login("bob", "secret")
        bob2.ok("SELECT Work")
        bob2.send("i1 IDLE")
        bob2.expect(r"\+ .*")
        adm = s.login("admin", "secret")
        u, t = adm.command('DELETE "user/bob"')
        R.check(tagged_ok(t), "admin DELETE user/bob with bob logged in (same worker)", t.render())
        R.check(got_bye(bob1), "bob's selected session got BYE")
        R.check(got_bye(bob2), "bob's idling session got BYE")
        users = s.cli("user", "list").stdout
        R.check(re.search(r"^bob\b", users, re.M) is None, "bob's account is gone", users)
        c = s.client()
        c.greeting()
        u, t = c.command("LOGIN bob secret")
        R.check(not tagged_ok(t), "bob can no longer log in", t.render())
        c.close()
        lst = " ".join(x.render() for x in adm.ok('LIST "" "user/*"')[0])
        R.check("user/bob" not in lst, "user/bob no longer listed", lst)

        # RENAME: carol logged in; the account moves to user/carla
        car = s.login("carol", "secret")
        car.ok("SELECT INBOX")
        u, t = adm.command('RENAME "user/carol" "user/carla"')
        R.check(tagged_ok(t), "admin RENAME user/carol user/carla with carol logged in", t.render())
        R.check(got_bye(car), "carol's session got BYE")
        lst = " ".join(x.render() for x in adm.ok('LIST "" "user/*"')[0])
        R.check("user/carla" in lst and "user/carol" not in lst, "the account is user/carla now", lst)

        # the admin itself has one of dave's mailboxes selected
        d = s.login("dave", "secret")
        d.ok("SETACL INBOX admin lr")
        d.logout()
        adm.ok('SELECT "user/dave"')
        u, t = adm.command('DELETE "user/dave"')
        R.check(tagged_ok(t), "admin DELETE user/dave while having user/dave selected", t.render())
        R.check(any("[CLOSED]" in x.render() for x in u), "the admin is told its selection closed",
                " ".join(x.render() for x in u))
        u, t = adm.command("NOOP")
        R.check(tagged_ok(t), "the admin's session goes on", t.render())
        adm.logout()
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
