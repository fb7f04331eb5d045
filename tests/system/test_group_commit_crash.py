#!/usr/bin/env python3
"""SIGKILL during group-committed APPENDs and deliveries (issue 10, item
3): after a restart every message a client was told about (a tagged OK, a
250) is there exactly once and intact, no message is half visible (a
MULTIAPPEND is all there or not at all, every visible message has its
whole file), and the store needs no repair but the removal of files a
batch had written when it was killed (`darius user check`), quota usage
included (`darius quota recalc --dry-run`).

1. A batch frozen between its files and its commit (the storage test hook
   DARIUS_TEST_HOLD_DIR/append-commit: every file written, fsync'd and
   linked, no row yet), with four requests in it, then SIGKILL of master
   and workers: nothing of the batch is visible, its files are orphans
   that `user check` reports and removes.
2. Several rounds of streams - three IMAP APPEND clients, one MULTIAPPEND
   client and two LMTP connections delivering to two recipients, all into
   the same stores so that their commits coincide - killed at a point
   that differs per round (after a growing number of acknowledgements)."""

import os
import re
import sys
import tempfile
import threading
import time

import darius_test as dt

R = dt.Report("group-commit-crash")
COND = threading.Condition()


def wait_for(cond, what):
    deadline = time.monotonic() + 30 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.005)   # polling a condition (a file or a log line), with a deadline
    raise dt.TestFailure("timed out waiting for %s" % what)


def make_server(hold):
    old = os.environ.get("DARIUS_TEST_HOLD_DIR")
    os.environ["DARIUS_TEST_HOLD_DIR"] = hold
    try:
        s = dt.Server(start=False, workers=1, config={"debug": "yes"})
        s.add_user("alice", "alicepw")
        s.add_user("bob", "bobpw")
        r = s.cli("quota", "set", "user/bob", "storage=400")   # bob fills up during the streams
        if r.returncode:
            raise dt.TestFailure("quota set: %s" % r.stderr)
        s.start()
    finally:
        if old is None:
            del os.environ["DARIUS_TEST_HOLD_DIR"]
        else:
            os.environ["DARIUS_TEST_HOLD_DIR"] = old
    return s


def restart(s, hold):
    old = os.environ.get("DARIUS_TEST_HOLD_DIR")
    os.environ["DARIUS_TEST_HOLD_DIR"] = hold
    try:
        s.start()
    finally:
        if old is None:
            del os.environ["DARIUS_TEST_HOLD_DIR"]
        else:
            os.environ["DARIUS_TEST_HOLD_DIR"] = old


def key_of(body):
    m = re.search(rb"Message-ID: <(\d+)\.test@", body)
    return m.group(1).decode() if m else None


def mailbox_contents(s, user):
    """{key: body} of user's INBOX, checking sizes and duplicates."""
    c = s.login(user, s.users[user])
    u, _ = c.ok("SELECT INBOX")
    n = [int(m.group(1)) for m in dt.untagged_match(u, r"\* (\d+) EXISTS")][-1]
    got = {}
    total = 0
    if n:
        u, _ = c.ok("FETCH 1:* (RFC822.SIZE BODY.PEEK[])")
        for r in u:
            if not r.literals:
                continue
            body = r.literals[-1]
            size = int(re.search(r"RFC822\.SIZE (\d+)", r.text).group(1))
            if size != len(body):
                raise dt.TestFailure("%s: RFC822.SIZE %d but %d bytes (half a message?)" % (user, size, len(body)))
            k = key_of(body)
            if k is None:
                raise dt.TestFailure("%s: a message without a test Message-ID" % user)
            if k in got:
                raise dt.TestFailure("%s: message %s twice" % (user, k))
            got[k] = body
            total += size
    if len(got) != n:
        raise dt.TestFailure("%s: EXISTS %d, FETCH gave %d" % (user, n, len(got)))
    u, _ = c.ok("STATUS INBOX (MESSAGES SIZE)")
    if not dt.untagged_match(u, r'\* STATUS "?INBOX"? \(MESSAGES %d SIZE %d\)' % (n, total)):
        raise dt.TestFailure("%s: STATUS %r, counted %d messages, %d bytes" % (user, [x.render() for x in u], n,
                                                                               total))
    c.logout()
    return got


def msg_files(s, user):
    top = os.path.join(s.datadir, "user", user[0], user, "msg")
    return [os.path.join(top, d, f) for d in os.listdir(top) for f in os.listdir(os.path.join(top, d))]


def check_store(s, expect_orphans=None):
    """user check --dry-run: only orphan files (a killed batch's); then
    repaired, and clean; quota usage without drift."""
    r = s.cli("user", "check", "--dry-run", "alice", "bob")
    problems = [l for l in r.stdout.splitlines() if not re.match(r"^\w+: (ok|\d+ problem\(s\).*)$", l)]
    other = [p for p in problems if "orphan message file" not in p]
    if other or r.returncode not in (0, 1):
        raise dt.TestFailure("user check: %s%s" % (r.stdout, r.stderr))
    if expect_orphans is not None and len(problems) != expect_orphans:
        raise dt.TestFailure("expected %d orphan files, user check says:\n%s%s" % (expect_orphans, r.stdout, r.stderr))
    r = s.cli("user", "check", "alice", "bob")
    if r.returncode:
        raise dt.TestFailure("user check (repair): %s%s" % (r.stdout, r.stderr))
    r = s.cli("user", "check", "--dry-run", "alice", "bob")
    if r.returncode or r.stdout.count(": ok") != 2:
        raise dt.TestFailure("user check after repair: %s%s" % (r.stdout, r.stderr))
    r = s.cli("quota", "recalc", "--dry-run", "alice", "bob")
    if r.returncode or "drift" in r.stdout:
        raise dt.TestFailure("quota recalc: %s%s" % (r.stdout, r.stderr))
    return len(problems)


def clear(hold):
    for f in os.listdir(hold):
        os.unlink(os.path.join(hold, f))


def frozen_batch(s, hold):
    try:
        return frozen_batch_1(s, hold)
    finally:
        clear(hold)


def frozen_batch_1(s, hold):
    """(workers: 1 - every session on one loop and one pool)"""
    ca = [s.login("alice", "alicepw") for _ in range(3)]
    # acknowledged before the freeze: must survive
    acked = {}
    for i, c in enumerate(ca):
        m = dt.sample_message(100 + i, size=2000).encode()
        c.ok("APPEND INBOX %L", [m])
        acked[str(100 + i)] = m
    for f in ("append", "append-commit"):
        open(os.path.join(hold, f), "w").close()
    n0 = s.stderr_text().count("jobs: append job waits for its key")
    m0 = dt.sample_message(201, 3000).encode()
    ca[0].send_raw(b"a1 APPEND INBOX {%d+}\r\n" % len(m0) + m0 + b"\r\n")
    wait_for(lambda: os.path.exists(os.path.join(hold, "append.started")), "the first job held")
    m1, m2 = dt.sample_message(202, 1500).encode(), dt.sample_message(203, 1500).encode()
    ca[1].send_raw(b"a2 APPEND INBOX {%d+}\r\n" % len(m1) + m1 + b" {%d+}\r\n" % len(m2) + m2 + b"\r\n")
    m3 = dt.sample_message(204, 1000).encode()
    ca[2].send_raw(b"a3 APPEND INBOX {%d+}\r\n" % len(m3) + m3 + b"\r\n")
    wait_for(lambda: s.stderr_text().count("jobs: append job waits for its key") >= n0 + 2, "two jobs queued")
    lm = s.lmtp()
    for line, want in (("LHLO t", 250), ("MAIL FROM:<>", 250), ("RCPT TO:<alice>", 250), ("DATA", 354)):
        code, lines = lm.cmd(line)
        if code != want:
            raise dt.TestFailure("%s: %r" % (line, lines))
    nd = s.stderr_text().count("jobs: deliver job waits for its key")
    lm.send_raw(dt.lmtp_data(dt.sample_message(205, 800)))
    wait_for(lambda: s.stderr_text().count("jobs: deliver job waits for its key") > nd, "the delivery queued")
    # release the first job: it takes the other three and freezes before
    # the commit, every file of the batch written, fsync'd and linked
    os.unlink(os.path.join(hold, "append"))
    wait_for(lambda: os.path.exists(os.path.join(hold, "append-commit.started")), "the batch frozen before commit")
    s.kill_group()
    clear(hold)
    for c in ca:
        c.close()   # none of them got an answer: the server died first
    lm.close()
    restart(s, hold)
    got = mailbox_contents(s, "alice")
    if set(got) != set(acked) or any(got[k] != v for k, v in acked.items()):
        raise dt.TestFailure("after the kill: %r, expected exactly %r" % (sorted(got), sorted(acked)))
    # the batch's five files are on disk, durable, without rows
    files = msg_files(s, "alice")
    if len(files) != len(acked) + 5:
        raise dt.TestFailure("%d message files for %d messages" % (len(files), len(acked)))
    # user check leaves files younger than an hour alone (an append of
    # another process may be about to commit them): age them
    old = time.time() - 7200
    for f in files:
        os.utime(f, (old, old))
    orphans = check_store(s, expect_orphans=5)
    if len(msg_files(s, "alice")) != len(acked):
        raise dt.TestFailure("orphan files left after user check")
    return "batch of 4 requests (5 messages) killed before its commit: none visible, %d orphan files removed" % orphans


def imap_streamer(s, idx, multi, acked, stop):
    try:
        c = s.login("alice", "alicepw")
    except Exception:  # noqa: BLE001 - the kill may come first
        return
    n = 0
    try:
        while not stop.is_set():
            n += 1
            k = idx * 100000 + n
            m1 = dt.sample_message(k, size=(n % 5) * 2000).encode()
            if multi:
                m2 = dt.sample_message(k + 50000, size=1000).encode()
                _, t = c.command("APPEND INBOX {%d+}\r\n" % len(m1) + m1.decode() + " {%d+}\r\n" % len(m2) +
                                 m2.decode())
                msgs = [("alice", m1), ("alice", m2)]
            else:
                _, t = c.command("APPEND INBOX {%d+}\r\n" % len(m1) + m1.decode())
                msgs = [("alice", m1)]
            if t.text.split(" ", 2)[1] == "OK":
                with COND:
                    acked.extend(msgs)
                    COND.notify_all()
    except (EOFError, OSError, dt.TestFailure):
        pass
    finally:
        c.close()


def lmtp_streamer(s, idx, acked, stop):
    try:
        lm = s.lmtp()
        lm.cmd("LHLO t")
    except Exception:  # noqa: BLE001
        return
    n = 0
    try:
        while not stop.is_set():
            n += 1
            m = dt.sample_message(idx * 100000 + n, size=(n % 3) * 1500).encode()
            lm.send_raw(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\n")
            codes = [lm.reply()[0] for _ in range(4)]
            # bob is refused at RCPT once over quota (452)
            rcpts = [u for u, c in zip(("alice", "bob"), codes[1:3]) if c == 250]
            if codes[0] != 250 or codes[3] != 354:
                return
            lm.send_raw(dt.lmtp_data(m))
            for u in rcpts:
                code, _ = lm.reply()
                if code == 250:
                    with COND:
                        acked.append((u, m))
                        COND.notify_all()
    except (EOFError, OSError, dt.TestFailure):
        pass
    finally:
        lm.close()


def streams(s, hold, rounds):
    # two workers now: batches form within each, and the two processes
    # write the same stores at the same time
    s.kill_group()
    s.conf["workers"] = "2"
    s.write_config()
    restart(s, hold)
    total = 0
    for rnd in range(rounds):
        acked = []
        stop = threading.Event()
        th = [threading.Thread(target=imap_streamer, args=(s, rnd * 10 + i, i == 3, acked, stop)) for i in range(4)]
        th += [threading.Thread(target=lmtp_streamer, args=(s, rnd * 10 + 5 + i, acked, stop)) for i in range(2)]
        for t in th:
            t.start()
        want = 20 + 25 * rnd    # a different kill point each round
        with COND:
            COND.wait_for(lambda: len(acked) >= want, timeout=60 * dt.timeout_scale())
        s.kill_group()
        stop.set()
        for t in th:
            t.join(30)
        with COND:
            acked = list(acked)
        if len(acked) < 10:
            raise dt.TestFailure("round %d: only %d acknowledged before the kill" % (rnd, len(acked)))
        restart(s, hold)
        boxes = {u: mailbox_contents(s, u) for u in ("alice", "bob")}
        for u, m in acked:
            k = key_of(m)
            body = boxes[u].get(k)
            if body is None or not body.endswith(m):
                raise dt.TestFailure("round %d: acknowledged message %s of %s %s" %
                                     (rnd, k, u, "missing" if body is None else "differs"))
        # MULTIAPPEND pairs (keys k and k+50000): both or neither
        for k in boxes["alice"]:
            ki = int(k)
            if (ki // 100000) % 10 == 3 and ki % 100000 < 50000:
                if str(ki + 50000) not in boxes["alice"]:
                    raise dt.TestFailure("round %d: half a MULTIAPPEND visible (%s)" % (rnd, k))
            if (ki // 100000) % 10 == 3 and ki % 100000 >= 50000 and str(ki - 50000) not in boxes["alice"]:
                raise dt.TestFailure("round %d: half a MULTIAPPEND visible (%s)" % (rnd, k))
        check_store(s)
        total += len(acked)
    text = s.stderr_text()
    batches = len([1 for m in re.finditer(r"group commit of (\d+) requests", text) if int(m.group(1)) > 1])
    return "%d rounds, %d acknowledged messages all present and intact; %d group commits of 2+" % (rounds, total,
                                                                                                     batches)


def main():
    hold = tempfile.mkdtemp(prefix="darius-hold-")
    s = make_server(hold)
    try:
        R.run("a batch of 4 requests frozen between its files and its commit, SIGKILL: nothing visible, "
              "orphans repaired", frozen_batch, s, hold)
        R.run("SIGKILL during streams of APPEND, MULTIAPPEND and LMTP into the same stores, 3 kill points",
              streams, s, hold, 3)
        s.stop()
    finally:
        s.cleanup()
        clear(hold)
        os.rmdir(hold)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
