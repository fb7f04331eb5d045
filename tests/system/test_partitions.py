#!/usr/bin/env python3
"""Partitions end to end: `darius user add --partition`, `darius user
move-partition` while the user is logged in (the session is disconnected,
nothing is lost, mail delivered afterwards lands on the new partition),
`darius user rename` and `darius user del` of a logged-in user, and an
interrupted move (stale busy mark in stores.db) repaired on the next
login."""

import os
import sqlite3
import sys
import time

import darius_test as dt

R = dt.Report("partitions")


def store_dir(root, name):
    return os.path.join(root, "user", name[0], name)


def has_store(root, name):
    return os.path.exists(os.path.join(store_dir(root, name), "mail.db"))


def cli_ok(s, *args, input_text=None):
    r = s.cli(*args, input_text=input_text)
    if r.returncode != 0:
        raise dt.TestFailure("darius %s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def bodies(c, n):
    """BODY[] of messages 1..n of the selected mailbox."""
    u, t = c.ok("FETCH 1:%d (BODY.PEEK[])" % n)
    out = [r.literals[0].decode() if r.literals else None for r in u if " FETCH " in r.text]
    return out


def kicked(c, what):
    """The session was disconnected: BYE and/or EOF, no more service."""
    if not c.at_eof(timeout=5.0):
        raise dt.TestFailure("%s: session still open after the operation" % what)


def t_move_while_logged_in(s, p2):
    msgs = [dt.sample_message(i) for i in range(1, 4)]
    a = s.login("alice", "secret")
    for m in msgs:
        a.ok("APPEND INBOX %L", [m])
    a.ok("SELECT INBOX")
    if not has_store(s.datadir, "alice"):
        raise dt.TestFailure("alice's store not on the default partition before the move")
    t0 = time.monotonic()
    cli_ok(s, "user", "move-partition", "alice", "p2")
    took = time.monotonic() - t0
    kicked(a, "move-partition")
    if not has_store(p2, "alice") or os.path.exists(store_dir(s.datadir, "alice")):
        raise dt.TestFailure("store not moved: p2=%s default=%s"
                             % (has_store(p2, "alice"), os.path.exists(store_dir(s.datadir, "alice"))))
    b = s.login("alice", "secret")
    u, t = b.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 3 EXISTS"):
        raise dt.TestFailure("after move: %r" % [r.render() for r in u])
    got = bodies(b, 3)
    if got != msgs:
        raise dt.TestFailure("message contents changed by the move")
    b.logout()
    # delivery after the move goes to the new partition
    lm = s.lmtp()
    for line, code in (("LHLO test", 250), ("MAIL FROM:<x@example.org>", 250), ("RCPT TO:<alice>", 250),
                       ("DATA", 354)):
        lm.send(line)
        lm.expect(code, line)
    lm.send_raw(dt.lmtp_data(dt.sample_message(9)))
    lm.expect(250, "delivery after the move")
    lm.cmd("QUIT")
    lm.close()
    c = s.login("alice", "secret")
    u, t = c.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 4 EXISTS"):
        raise dt.TestFailure("delivery after move: %r" % [r.render() for r in u])
    c.logout()
    return "moved in %.1fs with a session open" % took


def t_add_on_partition(s, p2):
    cli_ok(s, "user", "add", "bob", "--partition", "p2", input_text="secret\n")
    if not has_store(p2, "bob"):
        raise dt.TestFailure("bob's store is not on p2")
    b = s.login("bob", "secret")
    b.ok("APPEND INBOX %L", [dt.sample_message(1)])
    b.logout()
    r = cli_ok(s, "user", "info", "bob")
    if "p2" not in r.stdout:
        raise dt.TestFailure("user info does not show p2: %s" % r.stdout)


def t_rename_logged_in(s, p2):
    b = s.login("bob", "secret")
    b.ok("SELECT INBOX")
    cli_ok(s, "user", "rename", "bob", "carol")
    kicked(b, "user rename")
    if not has_store(p2, "carol") or os.path.exists(store_dir(p2, "bob")):
        raise dt.TestFailure("store not renamed on p2")
    c = s.login("carol", "secret")
    u, t = c.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 1 EXISTS"):
        raise dt.TestFailure("after rename: %r" % [r.render() for r in u])
    c.logout()


def t_delete_logged_in(s, p2):
    c = s.login("carol", "secret")
    c.ok("SELECT INBOX")
    cli_ok(s, "user", "del", "carol")
    kicked(c, "user del")
    if os.path.exists(store_dir(p2, "carol")):
        raise dt.TestFailure("store still there after user del")


def kick_all(s, user):
    """NOTIFY_KICK_USER to every process's notify socket, as a store
    operation sends it (src/storage/notify.c: "user\0-1")."""
    import socket
    d = os.path.join(s.datadir, "run", "notify")
    msg = user.encode() + b"\0" + b"-1"
    for name in os.listdir(d):
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sk.sendto(msg, os.path.join(d, name))
        except OSError:
            pass
        finally:
            sk.close()


def login_when_free(s, user, password, timeout=15.0):
    """Log in, retrying while the store is reported busy (a worker that
    has not yet read the kick still holds it): a condition polled with a
    deadline."""
    deadline = time.monotonic() + timeout * dt.timeout_scale()
    while True:
        c = s.client()
        c.greeting()
        _, t = c.command("LOGIN %s %s" % (dt.quote(user), dt.quote(password)))
        if t.render().split(" ", 2)[1:2] == ["OK"]:
            return c
        c.close()
        if "UNAVAILABLE" not in t.render() or time.monotonic() > deadline:
            raise dt.TestFailure("login of %s: %s" % (user, t.render()))
        time.sleep(0.01)


def t_stale_mark_repaired(s, p2):
    cli_ok(s, "user", "add", "dave", input_text="secret\n")
    d = s.login("dave", "secret")
    d.ok("APPEND INBOX %L", [dt.sample_message(1)])
    d.logout()
    # a move that died half way: partial copy on p2, mark of a dead process
    junk = os.path.join(store_dir(p2, "dave"), "msg", "aa")
    os.makedirs(junk)
    with open(os.path.join(junk, "partial"), "w") as f:
        f.write("x")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    db = sqlite3.connect(os.path.join(s.datadir, "stores.db"))
    db.execute("INSERT OR REPLACE INTO store(name,partition,state,target,pid,since) "
               "VALUES('dave','default','moving','p2',?,0)", (pid,))
    db.commit()
    db.close()
    # A mover kicks every process right after marking the store (workers
    # then let go of it, also of a handle kept open after dave's logout);
    # this one died after that: send its kick.
    kick_all(s, "dave")
    d = login_when_free(s, "dave", "secret")
    u, t = d.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 1 EXISTS"):
        raise dt.TestFailure("after recovery: %r" % [r.render() for r in u])
    d.logout()
    if os.path.exists(store_dir(p2, "dave")):
        raise dt.TestFailure("half-made copy on p2 not discarded")


def main():
    s = dt.Server(start=False)
    p2 = os.path.join(s.tmp, "p2")
    s.write_config(["partition-p2: " + p2])
    try:
        s.add_user("alice", "secret")
        s.start()
        R.run("move-partition while logged in: session closed, mail intact, delivery after", t_move_while_logged_in,
              s, p2)
        R.run("user add --partition creates the store there", t_add_on_partition, s, p2)
        R.run("user rename of a logged-in user", t_rename_logged_in, s, p2)
        R.run("user del of a logged-in user", t_delete_logged_in, s, p2)
        R.run("interrupted move repaired at next login", t_stale_mark_repaired, s, p2)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
