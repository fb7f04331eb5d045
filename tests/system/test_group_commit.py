#!/usr/bin/env python3
"""Group commit (issue 10, item 3): APPENDs and LMTP deliveries into one
store that coincide are committed together - one write transaction, one
directory fsync - and each still succeeds or fails on its own.

Deterministic: the first APPEND's job is held on the pool (the test hook
of src/net/jobs.h, DARIUS_TEST_HOLD_DIR/append); the others are sent one
by one, each time waiting (by reading the server's debug log, polled with
a deadline) until its job queues behind the held one; then the hold is
released and the held job takes all of them as one batch, which the
storage logs ("group commit of N requests"). Quota: one message of the
batch would take the store over its limit counting the ones before it;
it alone fails, the ones after it still commit, and the usage is right
(`darius quota recalc --dry-run`, `darius user check --dry-run`)."""

import os
import re
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("group-commit")


def wait_for(cond, what):
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.005)   # polling a condition (a file or a log line), with a deadline
    raise dt.TestFailure("timed out waiting for %s" % what)


def start_server(hold):
    old = os.environ.get("DARIUS_TEST_HOLD_DIR")
    os.environ["DARIUS_TEST_HOLD_DIR"] = hold
    try:
        s = dt.Server(start=False, workers=1, config={"debug": "yes"})
        s.add_user("alice", "alicepw")
        s.start()
    finally:
        if old is None:
            del os.environ["DARIUS_TEST_HOLD_DIR"]
        else:
            os.environ["DARIUS_TEST_HOLD_DIR"] = old
    return s


def waits(s, kind):
    return s.stderr_text().count("jobs: %s job waits for its key" % kind)


def message(n, size, subject):
    return dt.sample_message(n, size=size, subject=subject).encode()


def batch(s, hold):
    r = s.cli("quota", "set", "user/alice", "storage=10")   # 10 KiB = 10240 bytes
    if r.returncode:
        raise dt.TestFailure("quota set: %s" % r.stderr)
    # The batch, in submission order, with the usage after each as if
    # committed alone after the ones before it:
    #   A  3000 bytes                         ->  3000
    #   B  two messages (MULTIAPPEND), 2x1000 ->  5000
    #   C  6000 bytes: 11000 > 10240          ->  fails alone (OVERQUOTA)
    #   D  1000 bytes                         ->  6000
    #   L  an LMTP delivery, ~1200 bytes      ->  ~7200
    # Each fits alone at the time it is sent (nothing is committed yet),
    # so no check before the literal (issue 9) refuses it.
    A = message(1, 3000, "A")
    B1, B2 = message(2, 1000, "B1"), message(3, 1000, "B2")
    C = message(4, 6000, "C")
    D = message(5, 1000, "D")
    L = message(6, 1000, "L")
    open(os.path.join(hold, "append"), "w").close()
    ca, cb, cc, cd = (s.login("alice", "alicepw") for _ in range(4))
    ta = ca.next_tag()
    ca.send_raw(b"%s APPEND INBOX {%d+}\r\n" % (ta.encode(), len(A)) + A + b"\r\n")
    wait_for(lambda: os.path.exists(os.path.join(hold, "append.started")), "the first APPEND's job to be held")
    n = waits(s, "append")
    tb = cb.next_tag()
    cb.send_raw(b"%s APPEND INBOX {%d+}\r\n" % (tb.encode(), len(B1)) + B1 + b" {%d+}\r\n" % len(B2) + B2 + b"\r\n")
    wait_for(lambda: waits(s, "append") == n + 1, "B's job to queue")
    tc = cc.next_tag()
    cc.send_raw(b"%s APPEND INBOX {%d+}\r\n" % (tc.encode(), len(C)) + C + b"\r\n")
    wait_for(lambda: waits(s, "append") == n + 2, "C's job to queue")
    td = cd.next_tag()
    cd.send_raw(b"%s APPEND INBOX {%d+}\r\n" % (td.encode(), len(D)) + D + b"\r\n")
    wait_for(lambda: waits(s, "append") == n + 3, "D's job to queue")
    nd = waits(s, "deliver")
    lm = s.lmtp()
    for line, want in (("LHLO test", 250), ("MAIL FROM:<sender@example.org>", 250), ("RCPT TO:<alice>", 250),
                       ("DATA", 354)):
        code, lines = lm.cmd(line)
        if code != want:
            raise dt.TestFailure("%s: %r" % (line, lines))
    lm.send_raw(dt.lmtp_data(L))
    wait_for(lambda: waits(s, "deliver") == nd + 1, "the delivery's job to queue")
    before = s.stderr_text().count("group commit of 5 requests (6 messages)")
    os.unlink(os.path.join(hold, "append"))
    _, t = ca.collect(ta)
    m = re.match(r"%s OK \[APPENDUID (\d+) (\d+)\]" % ta, t.render())
    if not m:
        raise dt.TestFailure("A: %s" % t.render())
    uidv, ua = m.group(1), int(m.group(2))
    _, t = cb.collect(tb)
    m = re.match(r"%s OK \[APPENDUID %s (\d+):(\d+)\]" % (tb, uidv), t.render())
    if not m:
        raise dt.TestFailure("B (MULTIAPPEND): %s" % t.render())
    ub = (int(m.group(1)), int(m.group(2)))
    _, t = cc.collect(tc)
    if not re.match(r"%s NO \[OVERQUOTA\]" % tc, t.render()):
        raise dt.TestFailure("C should be over quota alone: %s" % t.render())
    _, t = cd.collect(td)
    m = re.match(r"%s OK \[APPENDUID %s (\d+)\]" % (td, uidv), t.render())
    if not m:
        raise dt.TestFailure("D: %s" % t.render())
    ud = int(m.group(1))
    code, lines = lm.reply()
    if code != 250:
        raise dt.TestFailure("the delivery: %r" % lines)
    lm.cmd("QUIT")
    lm.close()
    # one batch of all five requests (six messages), in submission order
    if s.stderr_text().count("group commit of 5 requests (6 messages)") != before + 1:
        raise dt.TestFailure("no group commit of the 5 requests in the log:\n%s"
                             % "\n".join(l for l in s.stderr_text().splitlines() if "group commit" in l))
    if [ua, ub[0], ub[1], ud] != [1, 2, 3, 4]:
        raise dt.TestFailure("UIDs A=%d B=%r D=%d" % (ua, ub, ud))
    # everything that was acknowledged is there, intact, with distinct UIDs
    u, _ = ca.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 5 EXISTS"):
        raise dt.TestFailure("SELECT: %r" % [x.render() for x in u])
    u, _ = ca.ok("UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])")
    got = {}
    for x in u:
        if x.literals:
            uid = int(re.search(r"UID (\d+)", x.text).group(1))
            size = int(re.search(r"RFC822\.SIZE (\d+)", x.text).group(1))
            if size != len(x.literals[-1]):
                raise dt.TestFailure("UID %d: RFC822.SIZE %d, %d bytes" % (uid, size, len(x.literals[-1])))
            got[uid] = x.literals[-1]
    if sorted(got) != [1, 2, 3, 4, 5]:
        raise dt.TestFailure("UIDs present: %r" % sorted(got))
    if got[1] != A or got[2] != B1 or got[3] != B2 or got[4] != D or not got[5].endswith(L):
        raise dt.TestFailure("message contents differ")
    if any(b"Subject: C\r\n" in v for v in got.values()):
        raise dt.TestFailure("the over-quota message is visible")
    u, _ = ca.ok("STATUS INBOX (MESSAGES SIZE)")
    used = sum(len(v) for v in got.values())
    if not dt.untagged_match(u, r'\* STATUS "?INBOX"? \(MESSAGES 5 SIZE %d\)' % used):
        raise dt.TestFailure("STATUS %r, expected 5 messages, %d bytes" % ([x.render() for x in u], used))
    for c in (ca, cb, cc, cd):
        c.logout()
    # quota usage and counters right: nothing to repair
    r = s.cli("quota", "recalc", "--dry-run", "alice")
    if r.returncode or "drift" in r.stdout or ": ok" not in r.stdout:
        raise dt.TestFailure("quota recalc: %s%s" % (r.stdout, r.stderr))
    r = s.cli("user", "check", "--dry-run", "alice")
    if r.returncode or "alice: ok" not in r.stdout:
        raise dt.TestFailure("user check: %s%s" % (r.stdout, r.stderr))
    return "A, B (2 messages), D and the delivery committed in one batch with UIDs 1-5; C alone over quota"


def fsyncs_per_batch(s, hold):
    """The batch above used one directory for its files: every message
    file of alice's store is in one msg/<gg>/ directory."""
    store = os.path.join(s.datadir, "user", "a", "alice", "msg")
    files = {d: os.listdir(os.path.join(store, d)) for d in os.listdir(store)}
    dirs = [d for d in files if files[d]]
    nfiles = sum(len(v) for v in files.values())
    if nfiles != 5 or len(dirs) != 1:
        raise dt.TestFailure("%d message files in %d directories: %r" % (nfiles, len(dirs), dirs))
    return "5 files, 1 directory (%s)" % dirs[0]


def main():
    hold = tempfile.mkdtemp(prefix="darius-hold-")
    s = start_server(hold)
    try:
        R.run("concurrent APPENDs and a delivery into one store: one group commit, each its own result",
              batch, s, hold)
        R.run("the files of a batch share one msg/ directory (one directory fsync)", fsyncs_per_batch, s, hold)
        s.stop()
    finally:
        s.cleanup()
        for f in os.listdir(hold):
            os.unlink(os.path.join(hold, f))
        os.rmdir(hold)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
