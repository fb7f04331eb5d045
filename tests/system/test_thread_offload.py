#!/usr/bin/env python3
"""THREAD runs off the event loop (RFC 5256; docs/architecture.md,
"Threading"): the search and the threading are a `thread` job on the
worker's pool while the session waits parked.

Shown by behaviour, not timing, with the test hook DARIUS_TEST_HOLD_DIR
(src/net/jobs.h): while alice's THREAD job is held, bob (same worker,
workers: 1) gets NOOP, SELECT and FETCH answered and alice has no reply;
once released her THREAD completes with the right tree. Also: a client
that disconnects while its THREAD is held (no crash, no leak under
--sanitizer), and the three algorithms over a 500-message reply chain
(References longer than the 64 kept) with 20 unrelated messages dated in
between, checked against trees computed here."""

import email.utils
import os
import select
import shutil
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("thread_offload")
HOLD = tempfile.mkdtemp(prefix="darius-hold-")
os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD
WAIT = 15.0 * dt.timeout_scale()

ALICE, APW = "alice", "secret-a"
BOB, BPW = "bob", "secret-b"
CHAIN = 500             # messages 1..CHAIN: each replies to the one before
SOLO = 20               # then these, each on its own subject
T0 = 1704067200         # 2024-01-01T00:00:00Z


def chain_msg(i):
    refs = ["<m%d@t.example>" % k for k in range(max(1, i - 80), i)]
    hdr = ("From: a@example.org\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <m%d@t.example>\r\n"
           % ("chain" if i == 1 else "Re: chain", email.utils.formatdate(T0 + i * 60, usegmt=True), i))
    if refs:
        hdr += "References: " + "\r\n ".join(refs) + "\r\n"
    return hdr + "\r\nchain %d\r\n" % i


def solo_msg(k):
    return ("From: b@example.org\r\nSubject: solo %d\r\nDate: %s\r\nMessage-ID: <s%d@t.example>\r\n"
            "\r\nsolo\r\n" % (k, email.utils.formatdate(T0 + k * 600 + 30, usegmt=True), k))


SOLOS = ["(%d)" % (CHAIN + k) for k in range(1, SOLO + 1)]
CHAIN_REFS = "(" + " ".join(str(i) for i in range(1, CHAIN + 1)) + ")"
WANT = {
    # threads by their root's date: the chain starts first
    "REFERENCES": CHAIN_REFS + "".join(SOLOS),
    # threads by their newest message: the chain ends last
    "REFS": "".join(SOLOS) + CHAIN_REFS,
    # one subject for the chain: its first message is everyone's parent
    "ORDEREDSUBJECT": "(1 " + "".join("(%d)" % i for i in range(2, CHAIN + 1)) + ")" + "".join(SOLOS),
}


def hold_path(kind):
    return os.path.join(HOLD, kind)


def hold(kind):
    try:
        os.unlink(hold_path(kind) + ".started")
    except FileNotFoundError:
        pass
    open(hold_path(kind), "w").close()


def release(kind):
    try:
        os.unlink(hold_path(kind))
    except FileNotFoundError:
        pass


def wait_started(kind):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if os.path.exists(hold_path(kind) + ".started"):
            return
        time.sleep(0.005)   # poll interval, not synchronisation
    raise dt.TestFailure("no %r job was held within %.0fs: THREAD did not run on the pool" % (kind, WAIT))


def quiet(c):
    if c.buf:
        return False
    r, _, _ = select.select([c.sock], [], [], 0)
    return not r


def thread_of(u):
    for r in u:
        line = r.render()
        if line == "* THREAD":
            return ""
        if line.startswith("* THREAD "):
            return line[len("* THREAD "):]
    raise dt.TestFailure("no THREAD response in %r" % [r.render()[:80] for r in u])


def setup(s):
    s.add_user(ALICE, APW)
    s.add_user(BOB, BPW)
    a = s.login(ALICE, APW)
    msgs = [chain_msg(i) for i in range(1, CHAIN + 1)] + [solo_msg(k) for k in range(1, SOLO + 1)]
    for i in range(0, len(msgs), 100):
        part = msgs[i:i + 100]
        a.ok("APPEND INBOX" + " %L" * len(part), part)
    a.logout()
    b = s.login(BOB, BPW)
    b.ok("APPEND INBOX %L %L", [dt.sample_message(1), dt.sample_message(2)])
    b.logout()


def held(s):
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    b = s.login(BOB, BPW)
    hold("thread")
    try:
        tag = a.next_tag()
        a.send(tag + " THREAD REFERENCES UTF-8 ALL")
        wait_started("thread")
        b.ok("NOOP")
        b.ok("SELECT INBOX")
        u, _ = b.ok("FETCH 1:2 (FLAGS UID)")
        if len(u) != 2:
            raise dt.TestFailure("bob's FETCH: %r" % [r.render() for r in u])
        if not quiet(a):
            raise dt.TestFailure("THREAD answered while its job was held")
    finally:
        release("thread")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("THREAD: %s" % t.render())
    if thread_of(u) != WANT["REFERENCES"]:
        raise dt.TestFailure("THREAD REFERENCES: %r..." % thread_of(u)[:120])
    a.logout()
    b.logout()


def results(s):
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    for alg, want in WANT.items():
        for cmd in ("THREAD", "UID THREAD"):
            u, _ = a.ok("%s %s UTF-8 ALL" % (cmd, alg))
            got = thread_of(u)
            if got != want:
                raise dt.TestFailure("%s %s: %r..., want %r..." % (cmd, alg, got[:120], want[:120]))
    # criteria narrow the set: the chain's second half hangs from a
    # missing (unsearched) parent, so it is one thread from CHAIN/2 + 1
    u, _ = a.ok("THREAD REFERENCES UTF-8 %d:%d" % (CHAIN // 2 + 1, CHAIN))
    want = "(" + " ".join(str(i) for i in range(CHAIN // 2 + 1, CHAIN + 1)) + ")"
    if thread_of(u) != want:
        raise dt.TestFailure("THREAD on a range: %r..." % thread_of(u)[:120])
    a.logout()


def disconnect(s):
    b = s.login(BOB, BPW)
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    hold("thread")
    try:
        a.send(a.next_tag() + " UID THREAD REFS UTF-8 ALL")
        wait_started("thread")
        a.close()
        b.ok("NOOP")
    finally:
        release("thread")
    b.ok("NOOP")
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    u, _ = a.ok("THREAD REFS UTF-8 ALL")
    if thread_of(u) != WANT["REFS"]:
        raise dt.TestFailure("THREAD REFS after a disconnect: %r..." % thread_of(u)[:120])
    a.logout()
    b.logout()


def main():
    try:
        with dt.Server(config={"workers": "1"}, workers=1) as s:
            setup(s)
            R.run("THREAD held on the pool, another user served meanwhile", held, s)
            R.run("ORDEREDSUBJECT, REFERENCES, REFS over a 500-message chain", results, s)
            R.run("client gone while its THREAD job is held", disconnect, s)
            R.check_sanitizer(s)
    finally:
        shutil.rmtree(HOLD, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
