#!/usr/bin/env python3
"""Review of the pre-auth limits (issue 9 items 2 and 4): holes found after
the first fixes.

- Anonymous IMAP sessions (allowanonymouslogin) keep their pre-auth place:
  nobody authenticated, so they count for maxconnections_per_host_preauth
  and are evicted when the server is full - before, a client could fill
  every slot with anonymous sessions that nothing ever freed. Nor does an
  anonymous login clear the address's failed logins (it proves nothing):
  before, a client could reset its own throttling between guesses.
- A connection chosen for eviction that logs in before its worker closes
  it stays, and the next oldest unauthenticated connection goes in its
  place: before, the connection admitted for it left the server over
  maxconnections for good, and a client timing LOGIN against new
  connections could grow the total without bound.
- A connection chosen for eviction that is already closing (its pre-auth
  deadline passed, but its client does not read the BYE) is cut at once:
  before, the eviction just freed its place and the connection lingered
  up to the 30 s close timeout, the new one over maxconnections meanwhile.
- LMTP AUTH from an address at auth_failures_per_host waits its turn
  before the credentials are checked, as IMAP and POP3 logins do: before,
  an administrator's right password was answered 235 at once, so a client
  could try passwords as fast as it opened connections.
"""

import base64
import os
import signal
import socket
import sys
import time

import darius_test as dt
from preauth_util import imap_greeted, plain, retry, settle, stop_owner, wait_workers

R = dt.Report("preauth_review")
SCALE = dt.timeout_scale()


def server_rx_queue(s, client):
    """Bytes the server has not read yet on client's connection (the
    rx_queue of the server's socket in /proc/net/tcp)."""
    cport = client.sock.getsockname()[1]
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(fn) as f:
            next(f)
            for line in f:
                p = line.split()
                if int(p[2].rsplit(":", 1)[1], 16) == cport and int(p[1].rsplit(":", 1)[1], 16) == s.port:
                    return int(p[4].split(":")[1], 16)
    return 0


def expect_evicted(c, what):
    r = c.read()
    if not r.text.startswith("* BYE [UNAVAILABLE] Server full"):
        raise dt.TestFailure("%s: expected the eviction BYE, got %s" % (what, r.render()))
    if not c.at_eof():
        raise dt.TestFailure("%s: evicted connection left open" % what)


# ---- anonymous sessions ---------------------------------------------------------

def anonymous_evictable():
    s = dt.Server(start=False, workers=1,
                  config={"allowanonymouslogin": "yes", "maxconnections": "3",
                          "maxconnections_per_host_preauth": "0"})
    held = []
    try:
        s.add_user("alice", "secret")
        s.start()
        settle(s)
        deadline = time.monotonic() + 10 * SCALE
        x1 = retry("anonymous 1", deadline, lambda: imap_greeted(s))
        held.append(x1)
        x1.ok("LOGIN anonymous trace@example.org")
        x2 = retry("anonymous 2", deadline, lambda: imap_greeted(s))
        held.append(x2)
        x2.ok("LOGIN anonymous trace@example.org")
        u = retry("alice", deadline, lambda: imap_greeted(s))
        held.append(u)
        u.ok("LOGIN alice secret")
        # full (3): a new connection takes the oldest anonymous one's place
        n1 = s.client()
        held.append(n1)
        r = n1.read()
        if not r.text.startswith("* OK"):
            raise dt.TestFailure("new connection refused although anonymous sessions fill the server: %s"
                                 % r.render())
        expect_evicted(x1, "oldest anonymous session")
        # then the other anonymous one (older than the new pre-auth one)
        n2 = s.client()
        held.append(n2)
        if not n2.read().text.startswith("* OK"):
            raise dt.TestFailure("second new connection refused")
        expect_evicted(x2, "second anonymous session")
        u.ok("NOOP")        # the logged-in user is never dropped
        for c in held:
            c.close()
        held = []
        if "anonymous connection evicted (server full)" not in s.stderr_text():
            raise dt.TestFailure("the eviction of an anonymous session is not logged")
        s.stop()
    finally:
        for c in held:
            c.close()
        s.cleanup()


def anonymous_per_host():
    s = dt.Server(start=False, workers=1,
                  config={"allowanonymouslogin": "yes", "maxconnections_per_host_preauth": "2"})
    held = []
    try:
        s.add_user("alice", "secret")
        s.start()
        settle(s)
        deadline = time.monotonic() + 10 * SCALE
        for _ in range(2):
            c = retry("anonymous", deadline, lambda: imap_greeted(s))
            held.append(c)
            c.ok("AUTHENTICATE ANONYMOUS " + base64.b64encode(b"trace").decode())
        c = s.client()
        try:
            r = c.read()
            if not r.text.startswith("* BYE [UNAVAILABLE] Too many unauthenticated connections"):
                raise dt.TestFailure("third connection beside two anonymous sessions: %s" % r.render())
        finally:
            c.close()
        # a real login frees its place (the anonymous ones do not)
        held[0].close()
        held.pop(0)
        a = retry("after an anonymous session closed", time.monotonic() + 10 * SCALE, lambda: imap_greeted(s))
        held.append(a)
        a.ok("LOGIN alice secret")
        b = retry("after a login", time.monotonic() + 10 * SCALE, lambda: imap_greeted(s))
        held.append(b)
        for c in held:
            c.close()
        held = []
        s.stop()
    finally:
        for c in held:
            c.close()
        s.cleanup()


def anonymous_keeps_failures():
    step = 1.0
    s = dt.Server(start=False, workers=1,
                  config={"allowanonymouslogin": "yes", "auth_failure_delay": "1", "auth_failures_per_host": "1"})
    held = []
    try:
        s.add_user("alice", "secret")
        s.start()
        c = s.client()
        held.append(c)
        c.greeting()
        c.send("f1 LOGIN alice wrong")
        r = c.read()
        if not r.text.startswith("f1 NO [AUTHENTICATIONFAILED]"):
            raise dt.TestFailure("wrong password: %s" % r.render())
        # an anonymous login does not wipe the address's failures ...
        x = s.client()
        held.append(x)
        x.greeting()
        x.ok("LOGIN anonymous trace@example.org")
        # ... so the next attempt from the address still waits its turn
        t0 = time.monotonic()
        c.ok("LOGIN alice secret")
        took = time.monotonic() - t0
        if took < step - 0.05:
            raise dt.TestFailure("login from an address at auth_failures_per_host answered after %.2f s: "
                                 "the anonymous login cleared its failures" % took)
        for x in held:
            x.close()
        held = []
        s.stop()
        return "right password answered after %.2f s" % took
    finally:
        for x in held:
            x.close()
        s.cleanup()


# ---- a login racing its eviction ---------------------------------------------------

def login_races_eviction():
    s = dt.Server(start=False, workers=2,
                  config={"maxconnections": "3", "maxconnections_per_host_preauth": "0"})
    held = []
    stopped = None
    try:
        s.add_user("alice", "secret")
        s.start()
        wait_workers(s, 2)
        settle(s)
        deadline = time.monotonic() + 10 * SCALE
        p1 = retry("p1", deadline, lambda: imap_greeted(s))
        held.append(p1)
        p2 = retry("p2", deadline, lambda: imap_greeted(s))
        held.append(p2)
        p3 = retry("p3", deadline, lambda: imap_greeted(s))
        held.append(p3)
        # Stop p1's worker and queue p1's LOGIN in its socket; then a new
        # connection (accepted by the other worker) chooses p1, the oldest
        # unauthenticated connection. When the worker runs again it reads
        # the LOGIN before the wake-up (the socket became readable first):
        # p1 logs in before it can be closed.
        owner = stop_owner(s, p1, "p1")
        stopped = owner
        p1.send("t1 LOGIN alice secret")
        deadline = time.monotonic() + 10 * SCALE
        while server_rx_queue(s, p1) == 0:
            if time.monotonic() > deadline:
                raise dt.TestFailure("p1's LOGIN never reached the server's socket")
            time.sleep(0.01)   # polling /proc with a deadline
        n1 = s.client()
        held.append(n1)
        r = n1.read()
        if not r.text.startswith("* OK"):
            raise dt.TestFailure("new connection not admitted when full: %s" % r.render())
        os.kill(owner, signal.SIGCONT)
        stopped = None
        r = p1.read()
        if not r.text.startswith("t1 OK"):
            raise dt.TestFailure("p1's LOGIN: %s" % r.render())
        # the place p1 was to free: the next oldest unauthenticated one
        expect_evicted(p2, "the next oldest unauthenticated connection")
        p1.ok("NOOP")
        p3.ok("NOOP")
        if "logged in first: evicting the next oldest" not in s.stderr_text():
            raise dt.TestFailure("passing the eviction on is not logged")
        for c in held:
            c.close()
        held = []
        s.stop()
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        for c in held:
            c.close()
        s.cleanup()


# ---- a victim already closing ------------------------------------------------------------

def server_side_open(s, client_port):
    """Does the server still hold its end of the connection from
    client_port? (A socket the server closed with data still queued in
    the kernel lingers as an orphan, inode 0: not held.)"""
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(fn) as f:
            next(f)
            for line in f:
                p = line.split()
                if (int(p[1].rsplit(":", 1)[1], 16) == s.port and int(p[2].rsplit(":", 1)[1], 16) == client_port
                        and p[9] != "0"):
                    return True
    return False


def closing_victim_aborted():
    s = dt.Server(start=False, workers=1,
                  config={"maxconnections": "2", "maxconnections_per_host_preauth": "0",
                          "preauth_timeout": str(int(5 * SCALE))})
    held = []
    lsock = None
    try:
        s.add_user("alice", "secret")
        s.start()
        settle(s)
        # L never reads: its answers fill the server's output until the
        # server stops reading it; at its pre-auth deadline the BYE cannot
        # be flushed, so the close waits (up to 30 s) for a reader
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lsock.settimeout(5 * SCALE)
        lsock.connect((s.host, s.port))
        lport = lsock.getsockname()[1]
        # ~7 MB of answers to 1.4 MB of commands: more than the server
        # queues (256 KiB) plus what the kernel buffers (4 MiB), answered
        # well within the deadline (an ASan build takes some 7 s)
        sent = 100000
        lsock.sendall(b"a CAPABILITY\r\n" * sent)
        a = retry("alice", time.monotonic() + 10 * SCALE, lambda: imap_greeted(s))
        held.append(a)
        a.ok("LOGIN alice secret")
        # L's deadline passes: it is closing, its BYE stuck behind the rest
        deadline = time.monotonic() + 20 * SCALE
        while "pre-authentication time limit reached" not in s.stderr_text():
            if time.monotonic() > deadline:
                raise dt.TestFailure("L's pre-auth deadline not reached")
            time.sleep(0.05)   # polling the log with a deadline
        if not server_side_open(s, lport):
            raise dt.TestFailure("L's connection gone although nobody read its output (%d commands)" % sent)
        # full (L and alice): a new connection takes L's place - and L
        # must really go now, not when its close times out
        n = s.client()
        held.append(n)
        r = n.read()
        if not r.text.startswith("* OK"):
            raise dt.TestFailure("new connection not admitted: %s" % r.render())
        t0 = time.monotonic()
        deadline = t0 + min(10 * SCALE, 20)
        while server_side_open(s, lport):
            if time.monotonic() > deadline:
                raise dt.TestFailure("the evicted connection, already closing, still open %.0f s later"
                                     % (time.monotonic() - t0))
            time.sleep(0.02)   # polling /proc with a deadline
        a.ok("NOOP")
        for c in held:
            c.close()
        held = []
        s.stop()
        return "aborted %.2f s after the eviction" % (time.monotonic() - t0)
    finally:
        if lsock:
            lsock.close()
        for c in held:
            c.close()
        s.cleanup()


# ---- LMTP AUTH predelay --------------------------------------------------------------

def lmtp_auth_predelay():
    step = 1.0
    s = dt.Server(start=False, config={"auth_failure_delay": "1", "auth_failures_per_host": "2",
                                       "admins": "postmaster"})
    conns = []
    try:
        s.add_user("postmaster", "pmpass")
        s.start()

        c = s.lmtp()
        conns.append(c)
        if c.cmd("LHLO client.test")[0] != 250:
            raise dt.TestFailure("LHLO refused")
        for pw in ("wrong1", "wrong2"):
            code, lines = c.cmd("AUTH PLAIN " + plain("postmaster", pw))
            if code != 535:
                raise dt.TestFailure("failed AUTH answered %r" % lines)
        # the address is at auth_failures_per_host: the right password
        # waits its turn too (a step at least), and still gets in
        c2 = s.lmtp()
        conns.append(c2)
        if c2.cmd("LHLO client.test")[0] != 250:
            raise dt.TestFailure("LHLO refused")
        t0 = time.monotonic()
        code, lines = c2.cmd("AUTH PLAIN " + plain("postmaster", "pmpass"))
        took = time.monotonic() - t0
        if code != 235:
            raise dt.TestFailure("admin AUTH after the wait: %r" % lines)
        if took < step - 0.05:
            raise dt.TestFailure("admin AUTH from an address over auth_failures_per_host answered after "
                                 "%.2f s: credentials checked before the address's turn" % took)
        # pipelined input waits for the parked AUTH, then runs
        if c2.cmd("NOOP")[0] != 250:
            raise dt.TestFailure("NOOP after the parked AUTH")
        # a parked AUTH of a connection that goes away leaks nothing
        # (--sanitizer) and the success cleared the address's failures
        c3 = s.lmtp()
        conns.append(c3)
        c3.cmd("LHLO client.test")
        # (answered after its delay, not parked)
        code, lines = c3.cmd("AUTH PLAIN " + plain("postmaster", "wrong3"))
        if code != 535:
            raise dt.TestFailure("failed AUTH answered %r" % lines)
        for x in conns:
            x.close()
        conns = []
        s.stop()
        return "admin's AUTH answered after %.2f s" % took
    finally:
        for x in conns:
            x.close()
        s.cleanup()


def lmtp_parked_abandoned():
    s = dt.Server(start=False, config={"auth_failure_delay": "2", "auth_failures_per_host": "1",
                                       "admins": "postmaster"})
    try:
        s.add_user("postmaster", "pmpass")
        s.start()
        c = s.lmtp()
        c.cmd("LHLO client.test")
        pl = base64.b64encode(b"\0postmaster\0wrong").decode()
        if c.cmd("AUTH PLAIN " + pl)[0] != 535:
            raise dt.TestFailure("failed AUTH not refused")
        # parked (the address is over its limit), then the client leaves
        c.send("AUTH PLAIN " + base64.b64encode(b"\0postmaster\0pmpass").decode())
        c.close()
        # the server is still well and answers the next client
        c2 = s.lmtp()
        if c2.cmd("LHLO client.test")[0] != 250:
            raise dt.TestFailure("LHLO after an abandoned parked AUTH")
        c2.close()
        s.stop()
        if s.sanitizer_reports():
            raise dt.TestFailure("sanitizer: %s" % s.sanitizer_reports()[:2000])
    finally:
        s.cleanup()


def main():
    R.run("anonymous sessions are evicted when the server is full, logged-in users never", anonymous_evictable)
    R.run("anonymous sessions count for maxconnections_per_host_preauth", anonymous_per_host)
    R.run("an anonymous login does not clear the address's failed logins", anonymous_keeps_failures)
    R.run("a login racing its eviction stays, the next oldest unauthenticated connection goes",
          login_races_eviction)
    R.run("an evicted connection already closing (stuck flushing) goes at once", closing_victim_aborted)
    R.run("LMTP AUTH from an address over auth_failures_per_host waits before the check", lmtp_auth_predelay)
    R.run("LMTP: a parked AUTH abandoned by its client", lmtp_parked_abandoned)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
