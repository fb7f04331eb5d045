#!/usr/bin/env python3
"""\\Seen on a mailbox shared by its owner alice with bob and carol.

Per reader (the default, the Cyrus bulletin-board case): each reader's
\\Seen is their own. What bob reads or marks (FETCH BODY[], STORE \\Seen,
APPEND or COPY with \\Seen) is \\Seen for bob only - not for carol and not
for the owner - and the owner's \\Seen is not bob's. FETCH FLAGS, SEARCH
SEEN/UNSEEN, STATUS UNSEEN, SELECT's [UNSEEN n], the FETCH answering a
STORE and the untagged FETCH another session's change causes all show
the reader's own \\Seen, while the other flags (\\Flagged) are shared.

Shared \\Seen (`darius mailbox sharedseen user/alice/Board2 yes`): every
reader sees and changes the one \\Seen of the message.

A reader idling in the owner's mailbox gets the owner's changes at once."""

import re
import sys

import darius_test as dt

R = dt.Report("shared_seen")
BOARD = "Other Users/alice/Board"
BOARD2 = "Other Users/alice/Board2"


def q(s):
    return dt.quote(s)


def flags(untagged):
    out = {}
    for r in untagged:
        m = re.match(r"\* (\d+) FETCH \(.*FLAGS \(([^)]*)\)", r.render())
        if m:
            out[int(m.group(1))] = set(m.group(2).split())
    return out


def seen_set(c, seq="1:*"):
    u, t = c.ok("FETCH %s (FLAGS)" % seq)
    return {n for n, f in flags(u).items() if "\\Seen" in f}


def search(c, key):
    u, t = c.ok("SEARCH " + key)
    for r in u:
        if r.render().startswith("* SEARCH"):
            return [int(x) for x in r.render().split()[2:]]
    return []


def status_unseen(c, name):
    u, t = c.ok("STATUS %s (UNSEEN)" % q(name))
    m = re.search(r"UNSEEN (\d+)", u[0].render())
    return int(m.group(1))


def want(cond, what):
    if not cond:
        raise dt.TestFailure(what)


def setup(s, name, rights):
    alice = s.login("alice", "secret")
    alice.ok("CREATE %s" % name)
    for i in range(3):
        alice.ok("APPEND %s %%L" % name, [dt.sample_message(i + 1)])
    for who in ("bob", "carol"):
        alice.ok("SETACL %s %s %s" % (name, who, rights))
    return alice


def per_reader(s):
    alice = setup(s, "Board", "lrs")
    bob = s.login("bob", "secret")
    carol = s.login("carol", "secret")

    u, t = bob.ok("SELECT %s" % q(BOARD))
    want("[READ-WRITE]" in t.text, "bob's SELECT with lrs: %s" % t.render())
    want(any("[UNSEEN 1]" in r.render() for r in u), "bob's SELECT: no [UNSEEN 1]")
    pf = [r.render() for r in u if "PERMANENTFLAGS" in r.render()]
    want(pf and re.search(r"\[PERMANENTFLAGS \(\\Seen\)\]", pf[0]), "bob's PERMANENTFLAGS: %s" % pf)
    # implicit \Seen by FETCH BODY[], explicit by STORE: the FETCH shows it
    u, t = bob.ok("FETCH 1 (BODY[])")
    want("\\Seen" in flags(u).get(1, set()), "FETCH BODY[] did not report \\Seen: %r" % [r.render() for r in u])
    u, t = bob.ok("STORE 2 +FLAGS (\\Seen)")
    want(flags(u).get(2) == {"\\Seen"}, "STORE answer: %r" % [r.render() for r in u])
    want(seen_set(bob) == {1, 2}, "bob's seen after reading 1 and 2")

    # carol has her own state: nothing seen
    want(status_unseen(carol, BOARD) == 3, "carol's STATUS UNSEEN")
    u, t = carol.ok("SELECT %s" % q(BOARD))
    want(any("[UNSEEN 1]" in r.render() for r in u), "carol's SELECT: no [UNSEEN 1]")
    want(seen_set(carol) == set(), "carol sees bob's \\Seen")
    want(search(carol, "UNSEEN") == [1, 2, 3], "carol's SEARCH UNSEEN")
    carol.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
    want(search(carol, "SEEN") == [3], "carol's SEARCH SEEN")

    # the owner's state is separate from both readers
    alice.ok("SELECT Board")
    want(seen_set(alice) == set(), "alice sees the readers' \\Seen")
    alice.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    alice.ok("STORE 3 +FLAGS.SILENT (\\Seen)")

    # bob's untagged updates: \Flagged from alice, with bob's own \Seen;
    # carol's and alice's \Seen of message 3 never show up as bob's
    u, t = bob.ok("NOOP")
    f = flags(u)
    want(f.get(1) == {"\\Seen", "\\Flagged"}, "bob's update for 1: %r" % [r.render() for r in u])
    want("\\Seen" not in f.get(3, set()), "bob's update for 3 shows another's \\Seen: %r" % f)
    want(search(bob, "SEEN") == [1, 2] and search(bob, "UNSEEN") == [3], "bob's SEARCH after others' changes")
    want(search(bob, "FLAGGED") == [1], "bob's SEARCH FLAGGED (shared flag)")

    # unmarking is private too
    bob.ok("STORE 1 -FLAGS.SILENT (\\Seen)")
    want(seen_set(bob) == {2}, "bob after -\\Seen")
    want(seen_set(alice) == {3}, "alice after bob's -\\Seen")
    want(seen_set(carol) == {3}, "carol after bob's -\\Seen")
    bob.ok("UNSELECT")
    want(status_unseen(bob, BOARD) == 2, "bob's STATUS UNSEEN")

    # APPEND and COPY with \Seen: \Seen for the one who added the message
    alice.ok("SETACL Board bob lrsi")
    bob.ok("APPEND %s (\\Seen) %%L" % q(BOARD), [dt.sample_message(4)])
    bob.ok("APPEND INBOX (\\Seen) %L", [dt.sample_message(5)])
    bob.ok("SELECT INBOX")
    u, t = bob.ok("COPY 1 %s" % q(BOARD))
    want("[COPYUID " in t.text, "COPY: %s" % t.render())
    bob.ok("EXAMINE %s" % q(BOARD))
    want(seen_set(bob) == {2, 4, 5}, "bob's seen after APPEND/COPY with \\Seen: %s" % seen_set(bob))
    want(seen_set(alice) == {3}, "alice's seen after bob's APPEND/COPY: %s" % seen_set(alice))
    want(seen_set(carol) == {3}, "carol's seen after bob's APPEND/COPY: %s" % seen_set(carol))
    for c in (alice, bob, carol):
        c.logout()


def shared(s):
    alice = setup(s, "Board2", "lrs")
    r = s.cli("mailbox", "sharedseen", "user/alice/Board2", "yes")
    if r.returncode != 0:
        raise dt.TestFailure("darius mailbox sharedseen: %s%s" % (r.stdout, r.stderr))
    bob = s.login("bob", "secret")
    carol = s.login("carol", "secret")
    carol.ok("SELECT %s" % q(BOARD2))
    bob.ok("SELECT %s" % q(BOARD2))
    bob.ok("FETCH 1 (BODY[])")
    bob.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    u, t = carol.ok("NOOP")
    want({n for n, f in flags(u).items() if "\\Seen" in f} == {1, 2},
         "carol's updates for bob's shared \\Seen: %r" % [r.render() for r in u])
    want(seen_set(carol) == {1, 2}, "carol's seen")
    alice.ok("EXAMINE Board2")
    want(seen_set(alice) == {1, 2}, "alice's seen")
    carol.ok("STORE 1 -FLAGS.SILENT (\\Seen)")
    want(seen_set(bob) == {2}, "bob after carol's -\\Seen")
    want(status_unseen(alice, BOARD2.split("/", 2)[2]) == 2, "alice's STATUS UNSEEN")
    for c in (alice, bob, carol):
        c.logout()


def idle_shared(s):
    """A reader idling in the owner's mailbox learns of the owner's APPEND
    and flag changes at once (the change hint names the owner's store)."""
    alice = setup(s, "Board3", "lrs")
    bob = s.login("bob", "secret")
    bob.ok("SELECT %s" % q("Other Users/alice/Board3"))
    bob.send("i1 IDLE")
    bob.expect(r"\+ .*")
    alice.ok("APPEND Board3 %L", [dt.sample_message(9)])
    bob.settimeout(3 * dt.timeout_scale())
    r = bob.read()
    want(r.render() == "* 4 EXISTS", "IDLE update: %s" % r.render())
    bob.send("DONE")
    u, t = bob.collect("i1")
    want(t.text.startswith("i1 OK"), "IDLE end: %s" % t.render())
    for c in (alice, bob):
        c.logout()


def main():
    s = dt.Server(start=False)
    try:
        for u in ("alice", "bob", "carol"):
            s.add_user(u, "secret")
        s.start()
        R.run("per-reader \\Seen: two readers and the owner independent", per_reader, s)
        R.run("shared \\Seen (mailbox sharedseen yes)", shared, s)
        R.run("IDLE in another user's mailbox sees the owner's APPEND", idle_shared, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
