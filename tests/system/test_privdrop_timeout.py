#!/usr/bin/env python3
"""Privilege drop and autologout.

- `user: nobody` when started as root: after binding, the master and every
  worker run as that account, and mail can still be written (the datadir
  was handed over).
- `timeout: 1` (minutes): an authenticated session idle for a minute gets
  "* BYE" and is closed; a not-yet-authenticated one is closed sooner; a
  session in IDLE is kept (RFC 9051 5.4, RFC 2177) and still answers DONE.
"""

import os
import pwd
import sys
import time

import darius_test as dt

R = dt.Report("privdrop-timeout")


def proc_uids(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise dt.TestFailure("no Uid line for pid %d" % pid)


def privdrop():
    nobody = pwd.getpwnam("nobody").pw_uid
    s = dt.Server(start=False, config={"user": "nobody"})
    try:
        # The test's temporary directory is 0700 root; the server's own
        # datadir below it is what dariusd hands over, the path to it must
        # be traversable like any real installation's /var/lib.
        os.chmod(s.tmp, 0o755)
        s.add_user("alice", "secret")
        # A symlink planted in the datadir (as a compromised service account
        # could) must be handed over itself, never its target.
        victim = os.path.join(s.tmp, "root-owned")
        with open(victim, "w") as f:
            f.write("x")
        os.symlink(victim, os.path.join(s.datadir, "planted"))
        s.start()
        deadline = time.monotonic() + 10 * dt.timeout_scale()
        while len(s.worker_pids()) < 2:
            if time.monotonic() > deadline:
                raise dt.TestFailure("workers did not start")
            time.sleep(0.05)  # polling with a deadline, not synchronisation
        for pid in [s.pid()] + s.worker_pids():
            uids = proc_uids(pid)
            if any(u != nobody for u in uids):
                raise dt.TestFailure("pid %d runs with uids %s, want %d" % (pid, uids, nobody))
        c = s.login("alice", "secret")
        c.ok("CREATE Dropped")
        c.ok("APPEND Dropped %L", literals=[b"Subject: x\r\n\r\nbody\r\n"])
        c.ok("SELECT Dropped")
        u, t = c.command("FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]")
        if "Subject: x" not in "".join(r.render() for r in u):
            raise dt.TestFailure("message not readable after privilege drop")
        c.logout()
        if os.stat(victim).st_uid != 0:
            raise dt.TestFailure("the target of a symlink in the datadir was chowned")
        # darius run as root against the running server works as "user":
        # what it creates stays writable by the server.
        s.add_user("bob", "secret2")
        for path in (os.path.join(s.datadir, "users.db"), os.path.join(s.datadir, "user", "b", "bob")):
            if os.path.exists(path) and os.stat(path).st_uid != nobody:
                raise dt.TestFailure("%s owned by uid %d after darius user add" % (path, os.stat(path).st_uid))
        b = s.login("bob", "secret2")
        b.ok("APPEND INBOX %L", literals=[b"Subject: y\r\n\r\nbody\r\n"])
        b.logout()
        if s.stop() != 0:
            raise dt.TestFailure("non-zero exit after privilege drop")
        return "master and workers ran as nobody"
    finally:
        s.cleanup()


def autologout():
    s = dt.server_with_user(config={"timeout": "1"})
    try:
        t0 = time.monotonic()
        quiet = s.login()
        quiet.ok("SELECT INBOX")
        preauth = s.client()
        preauth.greeting()
        idler = s.login()
        idler.ok("SELECT INBOX")
        idler.send("i1 IDLE")
        r = idler.read()
        if not r.text.startswith("+"):
            raise dt.TestFailure("IDLE not accepted: " + r.render())

        limit = 90 * dt.timeout_scale()
        for c, name in ((preauth, "not authenticated"), (quiet, "authenticated")):
            c.settimeout(limit)
            r = c.read()
            if not r.text.startswith("* BYE"):
                raise dt.TestFailure("%s session got %s instead of * BYE" % (name, r.render()))
            if not c.at_eof(5.0):
                raise dt.TestFailure("%s session not closed after BYE" % name)
        elapsed = time.monotonic() - t0
        if elapsed < 55:
            raise dt.TestFailure("authenticated session logged out after %.0f s, before timeout" % elapsed)

        # The IDLE session outlived the timeout and still works.
        idler.settimeout(10 * dt.timeout_scale())
        idler.send("DONE")
        while True:
            r = idler.read()
            if r.text.startswith("i1 "):
                break
            if r.text.startswith("* BYE"):
                raise dt.TestFailure("IDLE session was logged out")
        if not r.text.startswith("i1 OK"):
            raise dt.TestFailure("DONE answered " + r.render())
        idler.logout()
        return "BYE after %.0f s; IDLE kept" % elapsed
    finally:
        s.cleanup()


def main():
    what = "user: nobody drops master and workers, mail still writable"
    if os.geteuid() == 0:
        R.run(what, privdrop)
    elif os.environ.get("CI"):
        R.fail(what, "CI must run as root")
    else:
        R.skip(what, "not root")
    R.run("timeout 1: idle sessions get * BYE, IDLE sessions are kept", autologout)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
