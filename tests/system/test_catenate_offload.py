#!/usr/bin/env python3
"""CATENATE (RFC 4469) and URLFETCH (RFC 4467) read their source messages
off the event loop: while one session's `catenate` job (building the
message from URL parts) or `urlfetch` job is held on the pool, another
user's session of the same worker is served, and the held command is
answered only after release, with the right data.

Holding uses the test hook of src/net/jobs.h (DARIUS_TEST_HOLD_DIR: a job
of kind K waits while the file K exists and creates K.started). One
worker, so both sessions share one event loop; synchronised on the
server's answers and those files, never on sleeps. A client that goes
away while its catenate job is held leaks nothing (--sanitizer), and its
message is stored whole or not at all."""

import os
import re
import select
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("catenate-offload")
HOST = "mail.example.org"


def wait_file(path, what):
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.005)   # polling a condition (a file the server creates), with a deadline
    raise dt.TestFailure("%s: %s never appeared" % (what, path))


def nothing_readable(sock):
    r, _, _ = select.select([sock], [], [], 0)
    return not r


def release(hold, kind):
    for f in (kind, kind + ".started"):
        try:
            os.unlink(os.path.join(hold, f))
        except FileNotFoundError:
            pass


def bob_is_served(b):
    b.ok("NOOP")
    u, _ = b.ok("SELECT INBOX")
    if not dt.untagged_match(u, r"\* 1 EXISTS"):
        raise dt.TestFailure("bob's SELECT: %r" % [r.render() for r in u])


def count(c, mailbox):
    u, _ = c.ok("STATUS %s (MESSAGES)" % mailbox)
    return int(dt.untagged_match(u, r"\* STATUS \S+ \(MESSAGES (\d+)\)")[0].group(1))


def catenate_held(s, hold, src):
    try:
        b = s.login("bob", "bobpw")
        a = s.login("alice", "alicepw")
        open(os.path.join(hold, "catenate"), "w").close()
        tag = a.next_tag()
        a.send_raw(b'%s APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER" TEXT {6+}\r\nhello! '
                   b'URL "/INBOX/;UID=1/;SECTION=TEXT")\r\n' % tag.encode())
        wait_file(os.path.join(hold, "catenate.started"), "alice's catenate job")
        bob_is_served(b)
        if a.buf or not nothing_readable(a.sock):
            raise dt.TestFailure("alice got an answer while her CATENATE was held")
        release(hold, "catenate")
        _, t = a.collect(tag)
        if not re.match(r"%s OK \[APPENDUID \d+ 2\]" % tag, t.render()):
            raise dt.TestFailure("CATENATE after release: %s" % t.render())
        a.ok("SELECT INBOX")
        u, _ = a.ok("FETCH 2 BODY.PEEK[]")
        hdr_end = src.index(b"\r\n\r\n") + 4
        want = src[:hdr_end] + b"hello!" + src[hdr_end:]
        if not any(r.literals and r.literals[-1] == want for r in u):
            raise dt.TestFailure("the catenated message: %r" % [r.render() for r in u])
        a.logout()
        b.logout()
    finally:
        release(hold, "catenate")
    return "bob served while alice's CATENATE was held; OK after release, message as built"


def urlfetch_held(s, hold, src):
    try:
        b = s.login("bob", "bobpw")
        a = s.login("alice", "alicepw")
        u, _ = a.ok('GENURLAUTH "imap://alice@%s/INBOX/;uid=1;urlauth=user+bob" INTERNAL' % HOST)
        m = dt.untagged_match(u, r'\* GENURLAUTH "([^"]+)"')
        if not m:
            raise dt.TestFailure("GENURLAUTH: %r" % [r.render() for r in u])
        url = m[0].group(1)
        a.logout()
        c = s.login("carol", "carolpw")
        open(os.path.join(hold, "urlfetch"), "w").close()
        tag = b.next_tag()
        b.send_raw(b'%s URLFETCH "%s"\r\n' % (tag.encode(), url.encode()))
        wait_file(os.path.join(hold, "urlfetch.started"), "bob's urlfetch job")
        c.ok("NOOP")
        c.ok("SELECT INBOX")
        if b.buf or not nothing_readable(b.sock):
            raise dt.TestFailure("bob got an answer while his URLFETCH was held")
        release(hold, "urlfetch")
        u, t = b.collect(tag)
        if not t.render().startswith(tag + " OK"):
            raise dt.TestFailure("URLFETCH after release: %s" % t.render())
        if not any(r.literals and r.literals[-1] == src for r in u):
            raise dt.TestFailure("URLFETCH data: %r" % [r.render() for r in u])
        b.logout()
        c.logout()
    finally:
        release(hold, "urlfetch")
    return "carol served while bob's URLFETCH was held; the message after release"


def catenate_disconnect(s, hold, src):
    try:
        b = s.login("bob", "bobpw")
        a = s.login("alice", "alicepw")
        open(os.path.join(hold, "catenate"), "w").close()
        a.send_raw(b'x1 APPEND INBOX CATENATE (URL "/INBOX/;UID=1" TEXT {3+}\r\nbye)\r\n')
        wait_file(os.path.join(hold, "catenate.started"), "the catenate job")
        a.close()
        bob_is_served(b)
        release(hold, "catenate")
        # Whether the gone client's message is stored depends on when the
        # worker sees the hangup (as for a plain APPEND: "as if the OK was
        # lost"); either way it is all there or not at all, and the server
        # keeps serving, also alice.
        c = s.login("alice", "alicepw")
        c.ok('APPEND INBOX CATENATE (URL "/INBOX/;UID=1")')
        c.ok("SELECT INBOX")
        u, _ = c.ok("UID FETCH 3:* BODY.PEEK[]")   # after catenate_held's two
        bodies = [r.literals[-1] for r in u if r.literals]
        if any(m not in (src, src + b"bye") for m in bodies) or bodies.count(src + b"bye") > 1:
            raise dt.TestFailure("a message that is neither the source nor the whole catenated one")
        if bodies.count(src) != 1:
            raise dt.TestFailure("alice's own CATENATE after the gone client's is missing")
        c.logout()
        b.logout()
    finally:
        release(hold, "catenate")
    return "the gone client's message all there or not at all, server serving"


def main():
    hold = tempfile.mkdtemp(prefix="darius-hold-")
    old = os.environ.get("DARIUS_TEST_HOLD_DIR")
    os.environ["DARIUS_TEST_HOLD_DIR"] = hold
    try:
        s = dt.Server(config={"servername": HOST}, start=False, workers=1)
        for u in ("alice", "bob", "carol"):
            s.add_user(u, u + "pw")
        s.start()
    finally:
        if old is None:
            del os.environ["DARIUS_TEST_HOLD_DIR"]
        else:
            os.environ["DARIUS_TEST_HOLD_DIR"] = old
    try:
        src = dt.sample_message(1, size=30000, subject="source").encode()
        for u in ("alice", "bob", "carol"):
            c = s.login(u, u + "pw")
            c.ok("APPEND INBOX %L", [src])
            c.logout()
        R.run("catenate job held: another user's session served, OK only after release", catenate_held, s, hold, src)
        R.run("urlfetch job held: another user's session served, data only after release", urlfetch_held, s, hold,
              src)
        R.run("client gone while its catenate job is held: all or nothing, no leak", catenate_disconnect, s, hold,
              src)
        s.stop()
    finally:
        s.cleanup()
        for f in os.listdir(hold):
            os.unlink(os.path.join(hold, f))
        os.rmdir(hold)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
