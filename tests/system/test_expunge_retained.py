#!/usr/bin/env python3
"""Expunged messages stay readable until the session is told (RFC 2180
4.1.1; issue 10 item 5).

One session expunges while another still has the messages in its view:
- the other session's FETCH (FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE,
  BODYSTRUCTURE, BODY[]) returns the data as it was, and says OK; its
  STORE leaves them alone, its SEARCH still finds them as they were; no
  EXPUNGE is sent during FETCH, STORE or SEARCH (RFC 9051 7.5.1); the
  next NOOP brings the EXPUNGEs - with the sessions in two worker
  processes and in one;
- the message files stay until that session has been told, or unselects,
  logs out, disconnects, or hears the EXPUNGE in IDLE; quota and the
  mailbox counters drop at once;
- COPY and MOVE of such messages copy them (RFC 2180 4.4.2), and the
  pending EXPUNGEs come with the COPY;
- SIGKILL of the whole server while messages are kept: after the restart
  the next open of the store removes their files, and the counters, quota
  (`darius quota recalc --dry-run`) and the blob reference counts agree.
"""

import os
import re
import signal
import sqlite3
import sys
import time

import darius_test as dt

R = dt.Report("expunge_retained")
USER = "alice"


def msg_files(s, user=USER):
    d = os.path.join(s.datadir, "user", user[0], user, "msg")
    return sorted(f for _, _, fs in os.walk(d) for f in fs)


def poll(cond, what, timeout=10.0):
    """Wait for cond() with a deadline (the condition is the
    synchronisation; a timeout is the failure)."""
    deadline = time.monotonic() + timeout * dt.timeout_scale()
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise dt.TestFailure("timed out waiting for %s" % what)
        time.sleep(0.01)


def nfiles_is(s, n):
    return lambda: len(msg_files(s)) == n


def two_sessions(s, cross):
    """Two logged-in sessions; cross: in two different worker processes.
    While a's worker is stopped, the connection goes to the other one:
    either the kernel hashes it to the other's listening socket, or to
    the stopped one's, which the other adopts once the stopped worker has
    not turned its loop for 2 s (WORKER_STUCK_MS, daemon.h)."""
    a = s.login()
    if not cross:
        return a, s.login()
    pa = dt.socket_owner_pid(s, a)
    if not pa or pa == s.pid():
        raise dt.TestFailure("no worker found for the first session")
    os.kill(pa, signal.SIGSTOP)
    try:
        b = s.client()
        b.greeting()
    finally:
        os.kill(pa, signal.SIGCONT)
    pb = dt.socket_owner_pid(s, b)
    if pb in (None, pa):
        raise dt.TestFailure("second session in worker %r, the first in %r" % (pb, pa))
    b.ok("LOGIN %s secret" % USER)
    return a, b


def renders(u):
    return [r.render() for r in u]


def no_expunge(u, what):
    got = renders(u)
    if any(re.match(r"\* \d+ EXPUNGE|\* VANISHED", g) for g in got):
        raise dt.TestFailure("EXPUNGE during %s: %r" % (what, got))


def fill(a, box, n):
    a.ok("CREATE %s" % box)
    for i in range(1, n + 1):
        a.ok("APPEND %s %%L" % box, [dt.sample_message(i, size=1500 * i)])


def strip_flags(r):
    return re.sub(r"FLAGS \([^)]*\) ?", "", r)


ITEMS = "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])"


def readable_until_told(s, cross):
    a, b = two_sessions(s, cross)
    fill(a, "E", 5)
    a.ok("SELECT E")
    b.ok("SELECT E")
    before, _ = a.ok("FETCH 1:5 " + ITEMS)
    before = renders(before)
    if len(before) != 5 or len(msg_files(s)) != 5:
        raise dt.TestFailure("setup: %d FETCHes, %d files" % (len(before), len(msg_files(s))))
    b.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    u, _ = b.ok("EXPUNGE")
    if renders(u) != ["* 2 EXPUNGE", "* 3 EXPUNGE"]:
        raise dt.TestFailure("b's EXPUNGE: %r" % renders(u))
    # gone for quota and counters at once
    u, _ = b.ok("STATUS E (MESSAGES SIZE)")
    want_size = sum(len(dt.sample_message(i, size=1500 * i)) for i in (1, 3, 5))
    if not any(re.search(r"MESSAGES 3 SIZE %d\)" % want_size, g) for g in renders(u)):
        raise dt.TestFailure("STATUS after expunge: %r (size %d)" % (renders(u), want_size))
    u, _ = b.ok("GETQUOTAROOT E")
    if not any(re.search(r"MESSAGE 3 ", g) for g in renders(u)):
        raise dt.TestFailure("quota still counts the expunged messages: %r" % renders(u))
    if len(msg_files(s)) != 5:
        raise dt.TestFailure("files removed before the other session was told")

    # FETCH: the data as it was, \Deleted as they were expunged with
    u, t = a.command("FETCH 1:5 " + ITEMS)
    after = renders(u)
    no_expunge(u, "FETCH")
    if not t.render().split(" ")[1] == "OK":
        raise dt.TestFailure("FETCH: %s" % t.render())
    if [strip_flags(x) for x in after] != [strip_flags(x) for x in before]:
        raise dt.TestFailure("FETCH data differs from before the expunge:\n%r\n%r"
                             % ([x[:120] for x in after], [x[:120] for x in before]))
    for n in (2, 4):
        if not re.search(r"FLAGS \([^)]*\\Deleted", after[n - 1]):
            raise dt.TestFailure("message %d without its last flags: %s" % (n, after[n - 1][:80]))

    # STORE: the kept messages are left alone, OK (RFC 2180 4.2.1)
    u, t = a.ok("STORE 1:5 +FLAGS (\\Flagged)")
    no_expunge(u, "STORE")
    msns = sorted(int(m.group(1)) for m in (re.match(r"\* (\d+) FETCH .*\\Flagged", g) for g in renders(u)) if m)
    if msns != [1, 3, 5]:
        raise dt.TestFailure("STORE answered for %r: %r" % (msns, renders(u)))

    # SEARCH: as they were
    for key, want in (("ALL", "1 2 3 4 5"), ("DELETED", "2 4"), ("FLAGGED", "1 3 5"),
                      ('BODY "number 4"', "4"), ("SUBJECT \"test 2\"", "2")):
        u, _ = a.ok("SEARCH " + key)
        no_expunge(u, "SEARCH")
        if [g for g in renders(u) if g.startswith("* SEARCH")] != ["* SEARCH " + want]:
            raise dt.TestFailure("SEARCH %s: %r, want %s" % (key, renders(u), want))
    if len(msg_files(s)) != 5:
        raise dt.TestFailure("files removed before the other session was told")

    # told at the next command that allows it
    u, _ = a.ok("NOOP")
    if renders(u) != ["* 2 EXPUNGE", "* 3 EXPUNGE"]:
        raise dt.TestFailure("NOOP: %r" % renders(u))
    poll(nfiles_is(s, 3), "the two files to go after the session was told")
    u, _ = a.ok("FETCH 1:* (UID)")
    if renders(u) != ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)"]:
        raise dt.TestFailure("view after EXPUNGE: %r" % renders(u))
    u, t = a.command("FETCH 4 (UID)")
    if " BAD " not in t.render():
        raise dt.TestFailure("FETCH 4 after EXPUNGE: %s" % t.render())
    a.logout()
    b.logout()
    return "sessions in %s" % ("two workers" if cross else "one worker")


def released_when_gone(s):
    """Files go when the session that could still see the messages
    unselects, logs out, disconnects, or is told in IDLE."""
    a, b = two_sessions(s, True)
    fill(a, "G", 6)
    b.ok("SELECT G")
    n = 6

    def expunge_one():
        nonlocal n
        b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        n -= 1
        if len(msg_files(s)) != n + 1:
            raise dt.TestFailure("file of the expunged message not kept (%d files, want %d)"
                                 % (len(msg_files(s)), n + 1))

    a.ok("SELECT G")
    expunge_one()
    a.ok("UNSELECT")
    poll(nfiles_is(s, n), "file to go after UNSELECT")

    a.ok("SELECT G")
    expunge_one()
    a.logout()
    poll(nfiles_is(s, n), "file to go after LOGOUT")

    c = s.login()
    c.ok("EXAMINE G")
    expunge_one()
    c.close()   # no LOGOUT: the server notices the disconnection
    poll(nfiles_is(s, n), "file to go after a disconnection")

    d = s.login()
    d.ok("SELECT G")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    d.ok("NOOP")   # the flag change, so that IDLE below gets only the EXPUNGE
    d.send("i1 IDLE")
    d.expect(r"\+ .*")
    b.ok("EXPUNGE")
    d.settimeout(5 * dt.timeout_scale())
    d.expect(r"\* 1 EXPUNGE")
    n -= 1
    poll(nfiles_is(s, n), "file to go once the IDLE session heard the EXPUNGE")
    d.send("DONE")
    d.expect(r"i1 OK.*")
    d.logout()
    b.logout()


def copy_kept(s):
    a, b = two_sessions(s, True)
    fill(a, "C", 4)
    a.ok("CREATE Dest")
    a.ok("SELECT C")
    b.ok("SELECT C")
    b.ok("STORE 2,3 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # RFC 2180 4.4.2: the messages as they were at the start of the COPY
    # are copied; the pending EXPUNGEs are returned to the COPY (4.4)
    u, t = a.ok("COPY 2:3 Dest")
    if not re.search(r"\[COPYUID \d+ 2:3 1:2\]", t.render()):
        raise dt.TestFailure("COPY: %s" % t.render())
    if renders(u) != ["* 2 EXPUNGE", "* 2 EXPUNGE"]:
        raise dt.TestFailure("pending EXPUNGEs with the COPY: %r" % renders(u))
    # MOVE of a kept message: copied, and its EXPUNGE comes with the MOVE
    a.ok("SELECT C")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    u, _ = a.ok("MOVE 2 Dest")
    got = renders(u)
    if not (len(got) == 2 and re.match(r"\* OK \[COPYUID \d+ 4 3\]", got[0]) and got[1] == "* 2 EXPUNGE"):
        raise dt.TestFailure("MOVE: %r" % got)
    b.ok("SELECT Dest")
    u, _ = b.ok("FETCH 1:* (BODY.PEEK[])")
    bodies = [r.literals[0] for r in u if r.literals]
    want = [dt.sample_message(i, size=1500 * i).encode() for i in (2, 3, 4)]
    if bodies != want:
        raise dt.TestFailure("copies in Dest: %r" % [x[:60] for x in bodies])
    a.logout()
    b.logout()
    poll(nfiles_is(s, 4), "only C's message 1 and the three copies left")


def qresync_kept(s):
    """With QRESYNC: UID FETCH returns a kept message, then "* VANISHED";
    with the VANISHED modifier (RFC 7162 3.2.6) the message is reported in
    VANISHED (EARLIER) only, never also as a FETCH."""
    a, b = two_sessions(s, True)
    fill(a, "Q", 4)
    a.ok("ENABLE QRESYNC")
    u, _ = a.ok("SELECT Q")
    ms = int([m.group(1) for m in (re.search(r"HIGHESTMODSEQ (\d+)", g) for g in renders(u)) if m][0])
    b.ok("SELECT Q")
    b.ok("STORE 2,3 +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 2")
    u, _ = a.ok("UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
    got = renders(u)
    if "* VANISHED (EARLIER) 2" not in got or any(re.search(r"FETCH \(UID 2 ", g) for g in got):
        raise dt.TestFailure("UID FETCH VANISHED: %r" % got)
    # (2 was announced as VANISHED after that UID FETCH; 3 is message 2)
    b.ok("UID EXPUNGE 3")
    u, _ = a.ok("UID FETCH 3 (UID BODY.PEEK[TEXT])")
    got = [g[:60] for g in renders(u)]
    if len(got) != 2 or not re.match(r"\* 2 FETCH \(UID 3 BODY\[TEXT\] \{\d+\}", got[0]) \
            or got[1] != "* VANISHED 3":
        raise dt.TestFailure("UID FETCH of a kept message with QRESYNC: %r" % got)
    poll(nfiles_is(s, 2), "files to go once VANISHED was sent")
    a.logout()
    b.logout()


def db_counts(s, user=USER):
    """(retained rows, viewer rows, blobs whose refcount differs from their
    references): what mail_user_check looks at."""
    path = os.path.join(s.datadir, "user", user[0], user, "mail.db")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        ret = db.execute("SELECT count(*) FROM retained").fetchone()[0]
        vw = db.execute("SELECT count(*) FROM viewer").fetchone()[0]
        bad = db.execute("SELECT count(*) FROM blob b LEFT JOIN (SELECT guid,count(*) AS n FROM "
                         "(SELECT guid FROM message UNION ALL SELECT guid FROM retained) GROUP BY guid) c "
                         "ON c.guid=b.guid WHERE coalesce(c.n,0)!=b.refcount").fetchone()[0]
        return ret, vw, bad
    finally:
        db.close()


def crash_then_restart(s):
    a, b = two_sessions(s, True)
    fill(a, "K", 5)
    a.ok("SELECT K")
    b.ok("SELECT K")
    b.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    u, _ = a.ok("FETCH 2:3 (BODY.PEEK[TEXT])")
    if len([r for r in u if r.literals]) != 2:
        raise dt.TestFailure("kept messages not readable: %r" % renders(u))
    if len(msg_files(s)) != 5 or db_counts(s)[0] != 2:
        raise dt.TestFailure("before the crash: %d files, %r" % (len(msg_files(s)), db_counts(s)))
    s.kill_group()
    s.start()
    c = s.login()   # opens the store: what the dead sessions held goes
    poll(nfiles_is(s, 3), "files of the kept messages to go after the restart")
    ret, vw, bad = db_counts(s)
    if ret or bad:
        raise dt.TestFailure("after the restart: %d retained rows, %d bad refcounts" % (ret, bad))
    u, _ = c.ok("STATUS K (MESSAGES SIZE)")
    want_size = sum(len(dt.sample_message(i, size=1500 * i)) for i in (1, 4, 5))
    if not any(re.search(r"MESSAGES 3 SIZE %d\)" % want_size, g) for g in renders(u)):
        raise dt.TestFailure("STATUS after the restart: %r" % renders(u))
    u, _ = c.ok("GETQUOTAROOT K")
    if not any(re.search(r"MESSAGE 3 ", g) for g in renders(u)):
        raise dt.TestFailure("quota after the restart: %r" % renders(u))
    r = s.cli("quota", "recalc", "--dry-run", USER)
    if r.returncode != 0 or "ok" not in r.stdout:
        raise dt.TestFailure("quota recalc --dry-run: %d %s %s" % (r.returncode, r.stdout, r.stderr))
    c.ok("SELECT K")
    u, _ = c.ok("FETCH 1:* (UID)")
    if renders(u) != ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 4)", "* 3 FETCH (UID 5)"]:
        raise dt.TestFailure("after the restart: %r" % renders(u))
    c.logout()


def server(workers):
    s = dt.Server(start=False, workers=workers)
    try:
        s.add_user(USER, "secret")
        r = s.cli("quota", "set", "user/" + USER, "storage=100000", "message=1000")
        if r.returncode != 0:
            raise dt.TestFailure("quota set: %s %s" % (r.stdout, r.stderr))
        s.start()
    except Exception:
        s.cleanup()
        raise
    return s


def main():
    for name, workers, fn in (
            ("FETCH/STORE/SEARCH see expunged messages until told (two workers)", 2,
             lambda s: readable_until_told(s, True)),
            ("the same within one worker", 1, lambda s: readable_until_told(s, False)),
            ("files go on UNSELECT, LOGOUT, disconnection, EXPUNGE heard in IDLE", 2, released_when_gone),
            ("COPY/MOVE of expunged messages not yet told copy them", 2, copy_kept),
            ("QRESYNC: UID FETCH returns them, then VANISHED; never with VANISHED (EARLIER)", 2, qresync_kept),
            ("SIGKILL with kept messages: the restart cleans up, counters and quota agree", 2,
             crash_then_restart)):
        def run(fn=fn, workers=workers):
            with server(workers) as s:
                return fn(s)
        R.run(name, run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
