#!/usr/bin/env python3
"""The IMAP storage writes other than APPEND run as jobs on the worker's
pool (issue 10, "nothing slow runs on the loop"): STORE, EXPUNGE, CLOSE,
COPY, MOVE (also into another user's store), CREATE, RENAME, DELETE,
SUBSCRIBE, SETACL, DELETEACL, SETQUOTA and an admin's DELETE of a whole
account.

Proved by behaviour, not by timing: the server runs with one worker and
DARIUS_TEST_HOLD_DIR, so a job of kind K waits while the file K exists
there (and creates K.started when it starts to wait). For each command,
client A's command is held (K.started appears, no tagged reply), client B
(another user on the same worker) gets its NOOP answered meanwhile, and
once the file is removed A's command completes with the right result and
untagged responses. On a server that runs these writes on the event loop
nothing is ever held, K.started never appears and the tests fail.

Also: a client that disconnects while its job is held (the operation is
done completely or not at all, nothing leaks - run with --sanitizer - and
the server keeps serving), pipelined STORE + FETCH answered in order, the
session's own changes not reported back to it after a held STORE
(CONDSTORE own-modseq bookkeeping), and a concurrent load on one worker -
several users storing, copying into a shared mailbox, creating, renaming,
sharing and deleting mailboxes while the owner expunges, lists (shares.db
on the loop) and idles - for ThreadSanitizer (tools/test-tsan.sh runs
every test_offload* file).
"""

import os
import re
import select
import shutil
import sys
import tempfile
import threading
import time

import darius_test as dt

R = dt.Report("offload_write_mbox")
HOLD = None   # the servers' DARIUS_TEST_HOLD_DIR (main)


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def hold(kind):
    started = os.path.join(HOLD, kind + ".started")
    if os.path.exists(started):
        os.unlink(started)
    open(os.path.join(HOLD, kind), "w").close()


def release(kind):
    os.unlink(os.path.join(HOLD, kind))


def wait_started(kind):
    """The job of this kind is waiting on the hold file."""
    path = os.path.join(HOLD, kind + ".started")
    deadline = time.monotonic() + 10 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.01)  # polling a condition with a deadline
    raise dt.TestFailure("no %s job was held: the command did not run as a job" % kind)


def nothing_pending(c):
    """No byte from the server waiting on c (its command has no reply yet)."""
    if c.buf:
        return False
    r, _, _ = select.select([c.sock], [], [], 0)
    return not r


def held_command(a, b, kind, command):
    """Send A's command with the hold set, prove it is held while B is
    served, release it; return A's (untagged, tagged) responses."""
    hold(kind)
    tag = a.next_tag()
    try:
        a.send("%s %s" % (tag, command))
        wait_started(kind)
        u, t = b.command("NOOP")
        if not tagged_ok(t):
            raise dt.TestFailure("B's NOOP: %s" % t.render())
        if not nothing_pending(a):
            raise dt.TestFailure("A got an answer while its %s job was held" % kind)
    finally:
        release(kind)
    return a.collect(tag)


def texts(u):
    return [x.render().rstrip("\r\n") for x in u]


def test_store(a, b):
    u, t = held_command(a, b, "store", "STORE 1:3 +FLAGS (\\Flagged)")
    if not tagged_ok(t):
        return "STORE: %s" % t.render()
    f = [x for x in texts(u) if re.match(r"\* [123] FETCH \(.*\\Flagged", x)]
    if len(f) != 3:
        raise dt.TestFailure("expected 3 FETCH with \\Flagged, got %s" % texts(u))


def test_store_own_modseq(a, b):
    # CONDSTORE: the untagged FETCH of the STORE carries MODSEQ; a NOOP
    # afterwards must not report the session's own change again.
    a.ok("ENABLE CONDSTORE")
    u, t = held_command(a, b, "store", "STORE 2 +FLAGS (\\Answered)")
    if not tagged_ok(t):
        raise dt.TestFailure("STORE: %s" % t.render())
    if not any(re.match(r"\* 2 FETCH \(UID \d+ FLAGS \(.*\\Answered.*\) MODSEQ \(\d+\)\)", x) for x in texts(u)):
        raise dt.TestFailure("no FETCH with MODSEQ: %s" % texts(u))
    u, t = a.ok("NOOP")
    if any("FETCH" in x for x in texts(u)):
        raise dt.TestFailure("own change reported again: %s" % texts(u))


def test_pipelined(a, b):
    hold("store")
    try:
        a.send_raw(b"p1 STORE 3 +FLAGS (\\Draft)\r\np2 FETCH 3 FLAGS\r\n")
        wait_started("store")
        u, t = b.command("NOOP")
        if not tagged_ok(t) or not nothing_pending(a):
            raise dt.TestFailure("B not served, or A answered while held")
    finally:
        release("store")
    order = []
    while True:
        r = a.read().render().rstrip("\r\n")
        order.append(r)
        if r.startswith("p2 "):
            break
    tags = [x.split(" ", 1)[0] for x in order if x.startswith("p")]
    if tags != ["p1", "p2"]:
        raise dt.TestFailure("tagged replies out of order: %s" % order)
    i1 = next(i for i, x in enumerate(order) if x.startswith("p1 "))
    before = order[:i1]
    after = order[i1 + 1:]
    if not any("\\Draft" in x and "FETCH" in x for x in before):
        raise dt.TestFailure("STORE's FETCH missing before its OK: %s" % order)
    if not any("\\Draft" in x and "FETCH" in x for x in after) or not order[-1].startswith("p2 OK"):
        raise dt.TestFailure("FETCH FLAGS after STORE does not show the flag: %s" % order)


def test_expunge(a, b):
    a.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    u, t = held_command(a, b, "expunge", "EXPUNGE")
    if not tagged_ok(t) or "* 3 EXPUNGE" not in texts(u):
        raise dt.TestFailure("EXPUNGE: %s %s" % (texts(u), t.render()))
    u, t = a.ok("STATUS INBOX (MESSAGES)")
    if not any("MESSAGES 3" in x for x in texts(u)):
        raise dt.TestFailure("STATUS after EXPUNGE: %s" % texts(u))


def test_copy(a, b):
    u, t = held_command(a, b, "copy", "COPY 1:2 Archive")
    if not tagged_ok(t) or "[COPYUID " not in t.render():
        raise dt.TestFailure("COPY: %s" % t.render())
    u, t = a.ok("STATUS Archive (MESSAGES)")
    if not any("MESSAGES 2" in x for x in texts(u)):
        raise dt.TestFailure("STATUS Archive: %s" % texts(u))


def test_move(a, b):
    u, t = held_command(a, b, "move", "MOVE 1 Archive")
    tx = texts(u)
    if not tagged_ok(t):
        raise dt.TestFailure("MOVE: %s" % t.render())
    # RFC 6851 3.3: COPYUID in an untagged OK before the EXPUNGE
    iok = next((i for i, x in enumerate(tx) if x.startswith("* OK [COPYUID ")), None)
    iex = next((i for i, x in enumerate(tx) if x == "* 1 EXPUNGE"), None)
    if iok is None or iex is None or iok > iex:
        raise dt.TestFailure("MOVE responses: %s" % tx)


def test_move_cross_user(a, b, s):
    bob = s.login("bob", "secret")
    bob.ok("CREATE Drop")
    bob.ok("SETACL Drop alice lrswi")
    u, t = held_command(a, b, "move", 'MOVE 1 "Other Users/bob/Drop"')
    tx = texts(u)
    if not tagged_ok(t) or "* 1 EXPUNGE" not in tx:
        raise dt.TestFailure("cross-user MOVE: %s %s" % (tx, t.render()))
    u, t = bob.ok("STATUS Drop (MESSAGES)")
    bob.logout()
    if not any("MESSAGES 1" in x for x in texts(u)):
        raise dt.TestFailure("bob's Drop after the MOVE: %s" % texts(u))


def test_mailbox_ops(a, b):
    for cmd, want in (("CREATE Projects", None), ("RENAME Projects Plans", None),
                      ("SUBSCRIBE Plans", None), ("DELETE Plans", None)):
        kind = "subscribe" if cmd.startswith("SUBSCRIBE") else "mailbox"
        u, t = held_command(a, b, kind, cmd)
        if not tagged_ok(t):
            raise dt.TestFailure("%s: %s" % (cmd, t.render()))
        if cmd.startswith("CREATE") and "[MAILBOXID (" not in t.render():
            raise dt.TestFailure("CREATE without MAILBOXID: %s" % t.render())
    lst = " ".join(texts(a.ok('LIST "" "*"')[0]))
    if "Projects" in lst or "Plans" in lst:
        raise dt.TestFailure("LIST after CREATE/RENAME/DELETE: %s" % lst)
    # a refusal comes back the same way
    u, t = held_command(a, b, "mailbox", "DELETE NoSuchBox")
    if tagged_ok(t) or "[NONEXISTENT]" not in t.render():
        raise dt.TestFailure("DELETE of a missing mailbox: %s" % t.render())


def test_acl(a, b):
    u, t = held_command(a, b, "acl", "SETACL Archive carol lr")
    if not tagged_ok(t):
        raise dt.TestFailure("SETACL: %s" % t.render())
    u, t = a.ok("GETACL Archive")
    if not any(re.search(r"\bcarol lr\b", x) for x in texts(u)):
        raise dt.TestFailure("GETACL after SETACL: %s" % texts(u))
    u, t = held_command(a, b, "acl", "DELETEACL Archive carol")
    if not tagged_ok(t):
        raise dt.TestFailure("DELETEACL: %s" % t.render())
    u, t = a.ok("GETACL Archive")
    if any("carol" in x for x in texts(u)):
        raise dt.TestFailure("GETACL after DELETEACL: %s" % texts(u))


def test_quota(adm, b):
    u, t = held_command(adm, b, "quota", 'SETQUOTA "user/alice" (STORAGE 1000)')
    if not tagged_ok(t) or not any("STORAGE" in x and "1000" in x for x in texts(u)):
        raise dt.TestFailure("SETQUOTA: %s %s" % (texts(u), t.render()))


def got_bye(c):
    bye = False
    try:
        while True:
            if c.read().text.startswith("* BYE"):
                bye = True
    except (EOFError, dt.TestFailure, OSError):
        pass
    return bye


def test_account_delete(adm, b, s):
    # The account operation waits for this very worker to close dave's
    # session: only possible because its loop is free meanwhile.
    dave = s.login("dave", "secret")
    dave.ok("SELECT INBOX")
    u, t = held_command(adm, b, "account", 'DELETE "user/dave"')
    if not tagged_ok(t):
        raise dt.TestFailure("DELETE user/dave: %s" % t.render())
    if not got_bye(dave):
        raise dt.TestFailure("dave's session got no BYE")
    c = s.client()
    c.greeting()
    u, t = c.command("LOGIN dave secret")
    c.close()
    if tagged_ok(t):
        raise dt.TestFailure("dave can still log in")
    # the same for an account rename, erin logged in on this worker
    erin = s.login("erin", "secret")
    erin.ok("SELECT INBOX")
    u, t = held_command(adm, b, "account", 'RENAME "user/erin" "user/erika"')
    if not tagged_ok(t):
        raise dt.TestFailure("RENAME user/erin user/erika: %s" % t.render())
    if not got_bye(erin):
        raise dt.TestFailure("erin's session got no BYE")
    erika = s.login("erika", "secret")
    erika.logout()


def disconnect_while_held(s, b, kind, setup, command, check):
    a = s.login("alice", "secret")
    setup(a)
    hold(kind)
    try:
        a.send("d1 " + command)
        wait_started(kind)
        a.close()
        # the loop has seen the close (B is served after it) while the job waits
        u, t = b.command("NOOP")
        if not tagged_ok(t):
            raise dt.TestFailure("B's NOOP: %s" % t.render())
    finally:
        release(kind)
    # the job runs to its end after the release; poll for its effect
    c = s.login("alice", "secret")
    deadline = time.monotonic() + 10 * dt.timeout_scale()
    while True:
        res = check(c)
        if res == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.02)  # polling a condition with a deadline
    c.logout()
    if res not in ("done", "not done"):
        raise dt.TestFailure("not atomic: %s" % res)
    return res


def test_disconnect(s, b):
    def flagged_state(c):
        u, t = c.ok("EXAMINE INBOX")
        u, t = c.ok("FETCH 1:* FLAGS")
        f = ["\\Seen" in x for x in texts(u) if "FETCH" in x]
        return "done" if f and all(f) else "not done" if not any(f) else "partial: %s" % texts(u)

    r1 = disconnect_while_held(s, b, "store", lambda a: a.ok("SELECT INBOX"), "STORE 1:* +FLAGS (\\Seen)",
                               flagged_state)

    def archive_count(c):
        u, t = c.ok("STATUS Archive (MESSAGES)")
        m = re.search(r"MESSAGES (\d+)", " ".join(texts(u)))
        return int(m.group(1)) if m else -1

    c = s.login("alice", "secret")
    base = archive_count(c)
    c.logout()

    def copied_state(c):
        n = archive_count(c)
        return "done" if n == base + 1 else "not done" if n == base else "partial: %d" % n

    r2 = disconnect_while_held(s, b, "copy", lambda a: a.ok("SELECT INBOX"), "COPY 1 Archive", copied_state)

    def created_state(c):
        lst = " ".join(texts(c.ok('LIST "" "Gone*"')[0]))
        return "done" if "GoneAway" in lst else "not done"

    r3 = disconnect_while_held(s, b, "mailbox", lambda a: None, "CREATE GoneAway", created_state)
    # the server still serves
    c = s.login("bob", "secret")
    c.ok("NOOP")
    c.logout()
    return "store %s, copy %s, create %s" % (r1, r2, r3)


def concurrent_load():
    """Three users write as jobs on one worker while the owner of a shared
    mailbox expunges in it, lists and idles on it."""
    s = dt.Server(workers=1, start=False)
    errors = []
    try:
        users = ["u1", "u2", "u3"]
        for u in ["alice"] + users:
            s.add_user(u, "secret")
        s.start()
        al = s.login("alice", "secret")
        al.ok("CREATE Shared")
        al.ok("SETACL Shared anyone lrsi")
        clients = {}
        for u in users:
            c = s.login(u, "secret")
            for i in range(1, 4):
                c.ok("APPEND INBOX %L", [dt.sample_message(i)])
            c.ok("SELECT INBOX")
            clients[u] = c
        idler = s.login("alice", "secret")
        idler.ok("SELECT Shared")
        idler.send("i1 IDLE")
        idler.expect(r"\+ .*")
        al.ok("SELECT Shared")

        def writer(u, c):
            try:
                for k in range(12):
                    for cmd in ("STORE 1:* +FLAGS (\\Flagged)", "STORE 1:* -FLAGS.SILENT (\\Flagged)",
                                'COPY 1:2 "Other Users/alice/Shared"', "CREATE B%s_%d" % (u, k),
                                "RENAME B%s_%d T%s_%d" % (u, k, u, k), "SETACL T%s_%d anyone lr" % (u, k),
                                "SUBSCRIBE T%s_%d" % (u, k), "DELETE T%s_%d" % (u, k)):
                        uu, t = c.command(cmd)
                        if not tagged_ok(t):
                            errors.append("%s %s: %s" % (u, cmd, t.render()))
            except Exception as e:  # noqa: BLE001
                errors.append("%s: %s: %s" % (u, type(e).__name__, e))

        def owner():
            try:
                for k in range(12):
                    for cmd in ("UID STORE 1:* +FLAGS.SILENT (\\Deleted)", "EXPUNGE", 'LIST "" "*"', "NOOP"):
                        uu, t = al.command(cmd)
                        if not tagged_ok(t):
                            errors.append("alice %s: %s" % (cmd, t.render()))
            except Exception as e:  # noqa: BLE001
                errors.append("alice: %s: %s" % (type(e).__name__, e))

        th = [threading.Thread(target=writer, args=(u, c)) for u, c in clients.items()]
        th.append(threading.Thread(target=owner))
        for t_ in th:
            t_.start()
        for t_ in th:
            t_.join()
        idler.send("DONE")
        idler.collect("i1")
        u, t = idler.ok("STATUS Shared (MESSAGES)")
        m = re.search(r"MESSAGES (\d+)", " ".join(texts(u)))
        uu, t = al.ok("SELECT Shared")
        ex = [int(x.group(1)) for x in (re.match(r"\* (\d+) EXISTS", y) for y in texts(uu)) if x]
        if not m or not ex or int(m.group(1)) != ex[0]:
            errors.append("STATUS and SELECT disagree: %s / %s" % (texts(u), texts(uu)))
        for c in list(clients.values()) + [al, idler]:
            c.logout()
        s.stop()
    finally:
        reports = s.sanitizer_reports()
        s.cleanup()
    if reports:
        errors.append("sanitizer reports: %s" % ", ".join(reports))
    if errors:
        raise dt.TestFailure("; ".join(errors[:5]))


def main():
    global HOLD
    HOLD = tempfile.mkdtemp(prefix="darius-hold-")
    os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD
    R.run("concurrent writes as jobs on one worker: all answered, consistent, no race", concurrent_load)
    s = dt.Server(workers=1, start=False, config={"admins": "admin"})
    try:
        for u in ("alice", "bob", "carol", "dave", "erin", "admin"):
            s.add_user(u, "secret")
        s.start()
        a = s.login("alice", "secret")
        for i in range(1, 5):
            a.ok("APPEND INBOX %L", [dt.sample_message(i)])
        a.ok("CREATE Archive")
        a.ok("SELECT INBOX")
        b = s.login("carol", "secret")
        adm = s.login("admin", "secret")
        R.run("STORE held on the pool while another user is served; FETCH responses after release",
              test_store, a, b)
        R.run("STORE with CONDSTORE: MODSEQ reported, own change not reported again", test_store_own_modseq, a, b)
        R.run("pipelined STORE and FETCH FLAGS answered in order", test_pipelined, a, b)
        R.run("EXPUNGE held; EXPUNGE response after release", test_expunge, a, b)
        R.run("COPY held; COPYUID after release", test_copy, a, b)
        R.run("MOVE held; COPYUID then EXPUNGE after release", test_move, a, b)
        R.run("MOVE into another user's store held", test_move_cross_user, a, b, s)
        R.run("CREATE, RENAME, SUBSCRIBE, DELETE held", test_mailbox_ops, a, b)
        R.run("SETACL and DELETEACL held", test_acl, a, b)
        R.run("SETQUOTA held", test_quota, adm, b)
        R.run("admin DELETE and RENAME of a logged-in account held; the kick reaches the same worker",
              test_account_delete,
              adm, b, s)
        R.run("CLOSE's expunge held", test_close, a, b)
        a.logout()
        R.run("client gone while its job is held: all or nothing, server serves on", test_disconnect, s, b)
        b.logout()
        adm.logout()
    except Exception as e:  # noqa: BLE001
        R.fail("setup", "%s: %s" % (type(e).__name__, e))
    finally:
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001
            R.fail("server stop", str(e))
        R.check_sanitizer(s)
        s.cleanup()
        shutil.rmtree(HOLD, ignore_errors=True)
    return R.done()


def test_close(a, b):
    a.ok("SELECT Archive")
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    u, t = held_command(a, b, "expunge", "CLOSE")
    if not tagged_ok(t) or any("EXPUNGE" in x for x in texts(u)):
        raise dt.TestFailure("CLOSE: %s %s" % (texts(u), t.render()))
    u, t = a.ok("STATUS Archive (MESSAGES)")
    if not any("MESSAGES 2" in x for x in texts(u)):
        raise dt.TestFailure("CLOSE did not expunge: %s" % texts(u))
    a.ok("SELECT INBOX")


if __name__ == "__main__":
    sys.exit(main())
