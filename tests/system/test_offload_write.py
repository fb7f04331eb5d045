#!/usr/bin/env python3
"""The APPEND and delivery write paths run off the event loop (issue 10,
item 1): while one session's APPEND (or one LMTP delivery) is held in its
job on the pool, another user's session of the same worker is served, and
the held command is answered only after its commit, when released.

Holding uses the test hook of src/net/jobs.h: with DARIUS_TEST_HOLD_DIR
set, a job of kind K waits while the file K exists there and creates
K.started when it starts to wait. Everything is synchronised on the
server's answers and on those files (polled with a deadline), never on
sleeps. One worker (workers: 1), so both sessions share one event loop.

Also: a client that disconnects while its APPEND or delivery is held
leaks nothing (--sanitizer), its message is either fully there or not at
all (here: there, since its commit had started), and the server keeps
serving."""

import os
import re
import select
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("offload-write")


def wait_file(path, what):
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.005)   # polling a condition (a file the server creates), with a deadline
    raise dt.TestFailure("%s: %s never appeared" % (what, path))


def nothing_readable(sock):
    """True when the server has sent nothing (yet) on sock."""
    r, _, _ = select.select([sock], [], [], 0)
    return not r


def start_server(hold):
    old = os.environ.get("DARIUS_TEST_HOLD_DIR")
    os.environ["DARIUS_TEST_HOLD_DIR"] = hold
    try:
        s = dt.Server(start=False, workers=1)
        s.add_user("alice", "alicepw")
        s.add_user("bob", "bobpw")
        s.add_user("carol", "carolpw")
        s.start()
    finally:
        if old is None:
            del os.environ["DARIUS_TEST_HOLD_DIR"]
        else:
            os.environ["DARIUS_TEST_HOLD_DIR"] = old
    return s


def bob_session(s):
    """bob (one message in INBOX, appended by main), selected."""
    b = s.login("bob", "bobpw")
    b.ok("SELECT INBOX")
    return b


def release(hold, kind):
    for f in (kind, kind + ".started"):
        try:
            os.unlink(os.path.join(hold, f))
        except FileNotFoundError:
            pass


def held(fn):
    """Run a test with its hold files removed afterwards, whatever happens."""
    def run(s, hold):
        try:
            return fn(s, hold)
        finally:
            release(hold, "append")
            release(hold, "deliver")
    return run


def bob_is_served(b):
    """NOOP, SELECT and a body FETCH answered (while another job is held)."""
    b.ok("NOOP")
    u, _ = b.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 1 EXISTS"):
        raise dt.TestFailure("bob's SELECT: %r" % [r.render() for r in u])
    u, _ = b.ok("FETCH 1 (BODY.PEEK[])")
    if not any(r.literals and b"bob's own" in r.literals[-1] for r in u):
        raise dt.TestFailure("bob's FETCH: %r" % [r.render() for r in u])


def alice_messages(s):
    c = s.login("alice", "alicepw")
    u, _ = c.ok("SELECT INBOX")
    n = [int(m.group(1)) for m in dt.untagged_match(u, r"\* (\d+) EXISTS")][-1]
    bodies = []
    if n:
        u, _ = c.ok("FETCH 1:* (RFC822.SIZE BODY.PEEK[])")
        for r in u:
            if r.literals:
                size = int(re.search(r"RFC822\.SIZE (\d+)", r.text).group(1))
                if size != len(r.literals[-1]):
                    raise dt.TestFailure("RFC822.SIZE %d but %d bytes" % (size, len(r.literals[-1])))
                bodies.append(r.literals[-1])
    c.logout()
    return bodies


@held
def append_held(s, hold):
    b = bob_session(s)
    a = s.login("alice", "alicepw")
    msg = dt.sample_message(1, size=20000, subject="held append").encode()
    open(os.path.join(hold, "append"), "w").close()
    tag = a.next_tag()
    a.send_raw(b"%s APPEND INBOX {%d+}\r\n" % (tag.encode(), len(msg)) + msg + b"\r\n")
    wait_file(os.path.join(hold, "append.started"), "alice's APPEND job")
    bob_is_served(b)
    if a.buf or not nothing_readable(a.sock):
        raise dt.TestFailure("alice got an answer while her APPEND was held")
    release(hold, "append")
    _, t = a.collect(tag)
    if not re.match(r"%s OK \[APPENDUID \d+ 1\]" % tag, t.render()):
        raise dt.TestFailure("APPEND after release: %s" % t.render())
    if alice_messages(s) != [msg]:
        raise dt.TestFailure("the appended message is not there intact")
    a.logout()
    b.logout()
    return "bob served while alice's APPEND was held; OK after release, message intact"


@held
def delivery_held(s, hold):
    b = bob_session(s)
    before = len(alice_messages(s))
    msg = dt.sample_message(2, size=5000, subject="held delivery").encode()
    open(os.path.join(hold, "deliver"), "w").close()
    l = s.lmtp()
    code, _ = l.cmd("LHLO test")
    if code != 250:
        raise dt.TestFailure("LHLO %d" % code)
    for line in ("MAIL FROM:<sender@example.org>", "RCPT TO:<alice>"):
        code, lines = l.cmd(line)
        if code != 250:
            raise dt.TestFailure("%s: %r" % (line, lines))
    code, _ = l.cmd("DATA")
    if code != 354:
        raise dt.TestFailure("DATA %d" % code)
    l.send_raw(dt.lmtp_data(msg))
    wait_file(os.path.join(hold, "deliver.started"), "the delivery job")
    bob_is_served(b)
    if l.buf or not nothing_readable(l.sock):
        raise dt.TestFailure("the LMTP client got a reply while the delivery was held")
    release(hold, "deliver")
    code, lines = l.reply()
    if code != 250:
        raise dt.TestFailure("delivery after release: %r" % lines)
    # the session reads again: the next transaction works at once
    code, _ = l.cmd("NOOP")
    if code != 250:
        raise dt.TestFailure("NOOP after the delivery: %d" % code)
    l.cmd("QUIT")
    l.close()
    got = alice_messages(s)
    if len(got) != before + 1 or not got[-1].endswith(msg):
        raise dt.TestFailure("the delivered message is not there intact")
    b.logout()
    return "bob served while the delivery was held; 250 after release, message intact"


@held
def append_disconnect(s, hold):
    before = len(alice_messages(s))
    b = bob_session(s)
    a = s.login("alice", "alicepw")
    msg = dt.sample_message(3, size=70000, subject="gone client").encode()
    open(os.path.join(hold, "append"), "w").close()
    a.send_raw(b"x1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    wait_file(os.path.join(hold, "append.started"), "the APPEND job")
    a.close()                       # the client goes away while its job is held
    bob_is_served(b)
    release(hold, "append")
    # its commit had started: the message is there once the job is done
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while True:
        _, t = b.ok("NOOP")
        got = alice_messages(s)
        if len(got) == before + 1:
            break
        if len(got) != before or time.monotonic() > deadline:
            raise dt.TestFailure("%d messages, expected %d" % (len(got), before + 1))
        time.sleep(0.01)   # polling a condition with a deadline
    if got[-1] != msg:
        raise dt.TestFailure("the message of the gone client is not intact")
    # the server keeps serving, also alice
    c = s.login("alice", "alicepw")
    c.ok("APPEND INBOX %L", [dt.sample_message(4)])
    c.logout()
    b.logout()
    return "message fully there, server serving"


@held
def delivery_disconnect(s, hold):
    before = len(alice_messages(s))
    b = bob_session(s)
    msg = dt.sample_message(5, size=3000, subject="gone mta").encode()
    open(os.path.join(hold, "deliver"), "w").close()
    l = s.lmtp()
    # Two recipients, neither of them bob: a store's jobs run one at a
    # time (jobs.h keys), so bob's SELECT would rightly wait for a held
    # commit into bob's own store; other users never wait.
    for line, want in (("LHLO test", 250), ("MAIL FROM:<>", 250), ("RCPT TO:<alice>", 250),
                       ("RCPT TO:<carol>", 250), ("DATA", 354)):
        code, lines = l.cmd(line)
        if code != want:
            raise dt.TestFailure("%s: %r" % (line, lines))
    l.send_raw(dt.lmtp_data(msg))
    wait_file(os.path.join(hold, "deliver.started"), "the delivery job")
    l.close()
    bob_is_served(b)
    release(hold, "deliver")
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while True:
        b.ok("NOOP")
        got = alice_messages(s)
        if len(got) == before + 1:
            break
        if len(got) != before or time.monotonic() > deadline:
            raise dt.TestFailure("%d messages, expected %d" % (len(got), before + 1))
        time.sleep(0.01)   # polling a condition with a deadline
    b.logout()
    l2 = s.lmtp()
    for line, want in (("LHLO test", 250), ("MAIL FROM:<>", 250), ("RCPT TO:<alice>", 250), ("DATA", 354)):
        code, lines = l2.cmd(line)
        if code != want:
            raise dt.TestFailure("%s: %r" % (line, lines))
    l2.send_raw(dt.lmtp_data(dt.sample_message(6)))
    code, lines = l2.reply()
    if code != 250:
        raise dt.TestFailure("next delivery: %r" % lines)
    l2.close()
    return "message fully there, server serving"


def main():
    hold = tempfile.mkdtemp(prefix="darius-hold-")
    s = start_server(hold)
    try:
        b = s.login("bob", "bobpw")
        b.ok("APPEND INBOX %L", [dt.sample_message(7, subject="bob's own")])
        b.logout()
        R.run("APPEND held on the pool: another user's NOOP/SELECT/FETCH answered, OK only after release",
              append_held, s, hold)
        R.run("LMTP delivery held on the pool: another user's IMAP session served, 250 only after release",
              delivery_held, s, hold)
        R.run("client gone while its APPEND is held: no leak, message all there, server serving",
              append_disconnect, s, hold)
        R.run("LMTP client gone while its delivery is held: no leak, message all there, server serving",
              delivery_disconnect, s, hold)
        s.stop()   # SIGTERM, exit 0; with --sanitizer: no report (leaks included)
    finally:
        s.cleanup()
        for f in os.listdir(hold):
            os.unlink(os.path.join(hold, f))
        os.rmdir(hold)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
