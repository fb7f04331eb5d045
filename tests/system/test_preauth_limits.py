#!/usr/bin/env python3
"""Unauthenticated connections cannot hold the server (issue 9, item 2),
and failed logins are answered one per delay step (item 4):

- preauth_timeout is a deadline from connect, not from the last byte: IMAP,
  POP3 and LMTP clients trickling a byte every half second, and TLS
  handshakes that never complete, are all closed at the deadline; logged-in
  sessions (and an LMTP session past its first MAIL) are not;
- maxconnections_per_host_preauth caps unauthenticated connections per
  client address over all protocols; login (LMTP: MAIL) frees the place;
  the LMTP unix socket is not counted;
- when maxconnections is reached, a new connection evicts the oldest
  unauthenticated one, also in another worker (one worker is stopped so
  the other must accept, and the stopped owner is woken after SIGCONT);
  logged-in sessions are never evicted, and with nothing to evict the new
  connection is refused as before;
- N failed logins sent at once from one address are answered one per
  auth_failure_delay step, not together (IMAP, POP3 and LMTP AUTH, where a
  non-admin's correct password is delayed like a wrong one); LMTP ends a
  connection after three failed AUTHs.
"""

import os
import select
import signal
import socket
import sys
import time

import darius_test as dt
from preauth_util import (imap_greeted, lmtp_greeted, plain, pop3_greeted, retry, settle,
                           stop_owner, wait_workers)

R = dt.Report("preauth_limits")
SCALE = dt.timeout_scale()


# ---- helpers ------------------------------------------------------------------

def imap_refused(s, text):
    c = s.client()
    try:
        r = c.read()
        if not r.text.startswith("* BYE [UNAVAILABLE] " + text):
            raise dt.TestFailure("IMAP connection over the limit got %s" % r.render())
        if not c.at_eof():
            raise dt.TestFailure("refused IMAP connection left open")
    finally:
        c.close()


def pop3_refused(s, text):
    p = dt.Pop3(s.host, s.pop3_port)
    try:
        r = p.line()
        if not r.startswith("-ERR [SYS/TEMP] " + text):
            raise dt.TestFailure("POP3 connection over the limit got %r" % r)
        if not p.at_eof():
            raise dt.TestFailure("refused POP3 connection left open")
    finally:
        p.close()


def lmtp_refused(s, text):
    c = dt.Lmtp(s.host, s.lmtp_port)
    try:
        code, lines = c.reply()
        if code != 421 or not lines[0].startswith("421 4.3.2 " + text):
            raise dt.TestFailure("LMTP connection over the limit got %r" % lines)
        if not c.at_eof(2.0 * SCALE):
            raise dt.TestFailure("refused LMTP connection left open")
    finally:
        c.close()


# ---- the pre-auth deadline -----------------------------------------------------

PREAUTH = 5   # seconds: the smallest preauth_timeout


def deadline_from_connect():
    s = dt.server_with_user(config={"preauth_timeout": str(PREAUTH)})
    socks = {}
    try:
        # sessions past their pre-auth phase are not subject to it
        imap_in = s.login()
        pop_in = s.pop3_login()
        lmtp_in = s.lmtp()
        if lmtp_in.cmd("LHLO client.test")[0] != 250:
            raise dt.TestFailure("LHLO refused")
        if lmtp_in.cmd("MAIL FROM:<sender@example.org>")[0] != 250:
            raise dt.TestFailure("MAIL FROM refused")

        t0 = time.monotonic()
        # Tricklers: one byte of a command line every half second (the
        # attack: each byte used to restart the timer).
        for name, port in (("imap", s.port), ("pop3", s.pop3_port), ("lmtp", s.lmtp_port),
                           ("imaps", s.tls_port), ("pop3s", s.pop3s_port)):
            socks[name] = socket.create_connection((s.host, port), timeout=5 * SCALE)
        line = b"a1 LOGIN alice " + b"x" * 200
        # TLS: a handshake record announced as 512 bytes, trickled: it
        # never completes
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200
        feed = {"imap": line, "pop3": b"USER " + b"x" * 200, "lmtp": b"LHLO " + b"x" * 200,
                "imaps": hello, "pop3s": hello}
        got = {k: b"" for k in socks}
        closed_at = {}
        sent = 0
        interval = 0.5
        next_send = time.monotonic()
        limit = PREAUTH + 10 * SCALE
        while len(closed_at) < len(socks) and time.monotonic() - t0 < limit:
            if time.monotonic() >= next_send:
                for k, sk in socks.items():
                    if k not in closed_at:
                        try:
                            sk.send(feed[k][sent:sent + 1])
                        except OSError:
                            pass
                sent += 1
                next_send += interval
            # wait for the server (an answer or the close) until the next byte is due
            live = [sk for k, sk in socks.items() if k not in closed_at]
            ready, _, _ = select.select(live, [], [], max(0.0, next_send - time.monotonic()))
            for sk in ready:
                k = next(n for n, x in socks.items() if x is sk)
                try:
                    d = sk.recv(4096)
                except OSError:
                    d = b""
                if d:
                    got[k] += d
                else:
                    closed_at[k] = time.monotonic() - t0
        if len(closed_at) < len(socks):
            open_ = sorted(set(socks) - set(closed_at))
            raise dt.TestFailure("still open %.0f s after connect although the deadline is %d s: %s "
                                 "(%d bytes trickled)" % (limit, PREAUTH, ", ".join(open_), sent))
        early = {k: t for k, t in closed_at.items() if t < PREAUTH - 0.2}
        if early:
            raise dt.TestFailure("closed before the deadline: %r" % early)
        expect = {"imap": b"* BYE [UNAVAILABLE] Autologout; pre-authentication time limit",
                  "pop3": b"-ERR [SYS/TEMP] Autologout; pre-authentication time limit",
                  "lmtp": b"421 4.4.2 Pre-authentication time limit"}
        for k, want in expect.items():
            if want not in got[k]:
                raise dt.TestFailure("%s: no %r before the close; got %r" % (k, want, got[k][-200:]))
        if sent < PREAUTH * 2 - 2:
            raise dt.TestFailure("only %d bytes trickled" % sent)
        # the logged-in sessions are still there
        imap_in.ok("NOOP")
        pop_in.ok("NOOP")
        if lmtp_in.cmd("RSET")[0] != 250:
            raise dt.TestFailure("LMTP session past MAIL was closed")
        imap_in.logout()
        pop_in.ok("QUIT")
        lmtp_in.close()
        s.stop()
        return ", ".join("%s %.1fs" % (k, closed_at[k]) for k in sorted(closed_at))
    finally:
        for sk in socks.values():
            sk.close()
        s.cleanup()


# ---- per-host cap ------------------------------------------------------------------

def per_host_cap():
    s = dt.server_with_user(config={"maxconnections_per_host_preauth": "3"})
    held = []
    try:
        settle(s)
        deadline = time.monotonic() + 10 * SCALE
        imap1 = retry("imap", deadline, lambda: imap_greeted(s))
        held.append(imap1)
        pop1 = retry("pop3", deadline, lambda: pop3_greeted(s))
        held.append(pop1)
        lmtp1 = retry("lmtp", deadline, lambda: lmtp_greeted(s))
        held.append(lmtp1)
        # three unauthenticated connections from 127.0.0.1 over all
        # protocols: a fourth is refused, whatever the protocol
        what = "Too many unauthenticated connections from your address"
        imap_refused(s, what)
        pop3_refused(s, what)
        lmtp_refused(s, what)
        # the local MTA on the unix socket is not counted
        u = s.lmtp(unix=True)
        held.append(u)
        if u.cmd("NOOP")[0] != 250:
            raise dt.TestFailure("unix-socket LMTP not served")
        # logging in frees the place ...
        imap1.ok("LOGIN alice secret")
        deadline = time.monotonic() + 10 * SCALE
        pop2 = retry("pop3 after an IMAP login", deadline, lambda: pop3_greeted(s))
        held.append(pop2)
        pop3_refused(s, what)
        # ... so does an LMTP client's first accepted MAIL (it is an MTA at work)
        if lmtp1.cmd("LHLO client.test")[0] != 250:
            raise dt.TestFailure("LHLO refused")
        if lmtp1.cmd("MAIL FROM:<sender@example.org>")[0] != 250:
            raise dt.TestFailure("MAIL FROM refused")
        imap2 = retry("imap after an LMTP MAIL", time.monotonic() + 10 * SCALE, lambda: imap_greeted(s))
        held.append(imap2)
        imap_refused(s, what)
        # ... and so does closing (released asynchronously: retried)
        pop1.close()
        held.remove(pop1)
        l2 = retry("lmtp after a close", time.monotonic() + 10 * SCALE, lambda: lmtp_greeted(s))
        held.append(l2)
        lmtp_refused(s, what)
        imap1.ok("NOOP")
        for c in held:
            c.close()
        held = []
        s.stop()
    finally:
        for c in held:
            c.close()
        s.cleanup()


# ---- eviction when full ------------------------------------------------------------

def eviction():
    s = dt.Server(start=False, workers=2,
                  config={"maxconnections": "5", "maxconnections_per_host_preauth": "0"})
    held = []
    stopped = None
    try:
        s.add_user("alice", "secret")
        s.add_user("bob", "secret2")
        s.start()
        wait_workers(s, 2)
        settle(s)
        deadline = time.monotonic() + 10 * SCALE
        # two logged-in sessions, older than every unauthenticated one
        a = retry("imap login", deadline, lambda: imap_greeted(s))
        held.append(a)
        a.ok("LOGIN alice secret")
        b = retry("pop3 login", deadline, lambda: pop3_greeted(s))
        held.append(b)
        b.ok("USER alice")
        b.ok("PASS secret")
        # three unauthenticated ones fill the server (5)
        p1 = retry("p1", deadline, lambda: imap_greeted(s))
        held.append(p1)
        p2 = retry("p2", deadline, lambda: pop3_greeted(s))
        held.append(p2)
        p3 = retry("p3", deadline, lambda: lmtp_greeted(s))
        held.append(p3)

        # Stop the worker holding p1, the oldest unauthenticated
        # connection: the new connection is accepted by the other worker,
        # which must evict p1 across processes and wake its owner.
        owner = stop_owner(s, p1, "p1")
        stopped = owner
        n1 = s.client()
        held.append(n1)
        r = n1.read()
        if not r.text.startswith("* OK"):
            raise dt.TestFailure("new connection not admitted when full: %s" % r.render())
        n1_owner = dt.socket_owner_pid(s, n1)
        if n1_owner == owner:
            raise dt.TestFailure("the stopped worker accepted the new connection")
        os.kill(owner, signal.SIGCONT)
        stopped = None
        r = p1.read()
        if not r.text.startswith("* BYE [UNAVAILABLE] Server full"):
            raise dt.TestFailure("evicted IMAP connection got %s" % r.render())
        if not p1.at_eof():
            raise dt.TestFailure("evicted IMAP connection left open")
        # next oldest: the POP3 one, then the LMTP one
        n2 = pop3_greeted(s)
        if n2 is None:
            raise dt.TestFailure("second new connection refused")
        held.append(n2)
        r = p2.line()
        if not r.startswith("-ERR [SYS/TEMP] Server full"):
            raise dt.TestFailure("evicted POP3 connection got %r" % r)
        if not p2.at_eof():
            raise dt.TestFailure("evicted POP3 connection left open")
        n3 = lmtp_greeted(s)
        if n3 is None:
            raise dt.TestFailure("third new connection refused")
        held.append(n3)
        code, lines = p3.reply()
        if code != 421 or not lines[0].startswith("421 4.3.2 Server full"):
            raise dt.TestFailure("evicted LMTP connection got %r" % lines)
        if not p3.at_eof(2.0 * SCALE):
            raise dt.TestFailure("evicted LMTP connection left open")

        # Everybody logs in (LMTP: MAIL): nothing left to evict, so a new
        # connection is refused as before, and nobody logged in is dropped.
        n1.ok("LOGIN alice secret")
        n2.ok("USER bob")
        n2.ok("PASS secret2")
        if n3.cmd("LHLO client.test")[0] != 250:
            raise dt.TestFailure("LHLO refused")
        if n3.cmd("MAIL FROM:<sender@example.org>")[0] != 250:
            raise dt.TestFailure("MAIL FROM refused")
        c = s.client()
        try:
            r = c.read()
            if not r.text.startswith("* BYE [UNAVAILABLE] Too many connections"):
                raise dt.TestFailure("connection with nothing to evict got %s" % r.render())
        finally:
            c.close()
        a.ok("NOOP")
        b.ok("NOOP")
        n1.ok("NOOP")
        n2.ok("NOOP")
        if n3.cmd("RSET")[0] != 250:
            raise dt.TestFailure("LMTP session past MAIL was dropped")
        log = s.stderr_text()
        if log.count("evicting the oldest unauthenticated connection") < 3:
            raise dt.TestFailure("evictions not logged by the acceptor")
        if "unauthenticated connection evicted (server full)" not in log:
            raise dt.TestFailure("evictions not logged by the owner")
        for x in held:
            x.close()
        held = []
        s.stop()
        return "evicted across workers (%d -> %d)" % (owner, n1_owner)
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        for x in held:
            x.close()
        s.cleanup()


# ---- failed logins: one answer per delay step ----------------------------------------

N_PARALLEL = 4
STEP = 1.0   # auth_failure_delay


def answers_spaced(conns, request, is_answer, proto):
    """Send request on every connection at once; return the times (from
    just before the first send) at which each got its answer, sorted."""
    t0 = time.monotonic()
    for c in conns:
        c.send_raw(request)
    pending = {c.sock: c for c in conns}
    bufs = {c.sock: b"" for c in conns}
    times = []
    limit = N_PARALLEL * STEP + 10 * SCALE
    while pending and time.monotonic() - t0 < limit:
        ready, _, _ = select.select(list(pending), [], [], max(0.0, limit - (time.monotonic() - t0)))
        for sk in ready:
            d = sk.recv(4096)
            if not d:
                raise dt.TestFailure("%s: connection closed before its answer" % proto)
            bufs[sk] += d
            if b"\r\n" in bufs[sk]:
                line = bufs[sk].split(b"\r\n", 1)[0].decode("utf-8", "replace")
                if not is_answer(line):
                    raise dt.TestFailure("%s: unexpected answer %r" % (proto, line))
                times.append(time.monotonic() - t0)
                del pending[sk]
    if pending:
        raise dt.TestFailure("%s: %d answers missing after %.0f s" % (proto, len(pending), limit))
    times.sort()
    # Timers never fire early, so these lower bounds hold however loaded
    # the machine is: the k-th answer cannot come before k steps.
    for k, t in enumerate(times):
        if t < (k + 1) * STEP - 0.05:
            raise dt.TestFailure("%s: answers at %s s: the %d. came before %d delay steps (released in a burst)"
                                 % (proto, ", ".join("%.2f" % x for x in times), k + 1, k + 1))
    return times


def throttle_serialised():
    s = dt.server_with_user(config={"auth_failure_delay": "1", "auth_failures_per_host": "1000"})
    conns = []
    try:
        settle(s)
        deadline = time.monotonic() + 10 * SCALE
        for _ in range(N_PARALLEL):
            conns.append(retry("imap", deadline, lambda: imap_greeted(s)))
        ti = answers_spaced(conns, b"t1 LOGIN alice wrong\r\n",
                            lambda l: l.startswith("t1 NO [AUTHENTICATIONFAILED]"), "IMAP")
        for c in conns:
            c.close()
        conns = []
        for _ in range(N_PARALLEL):
            p = retry("pop3", deadline + 10 * SCALE, lambda: pop3_greeted(s))
            conns.append(p)
            p.ok("USER alice")
        tp = answers_spaced(conns, b"PASS wrong\r\n", lambda l: l.startswith("-ERR [AUTH]"), "POP3")
        for c in conns:
            c.close()
        conns = []
        s.stop()
        return "IMAP %s s; POP3 %s s" % (", ".join("%.2f" % x for x in ti), ", ".join("%.2f" % x for x in tp))
    finally:
        for c in conns:
            c.close()
        s.cleanup()


def lmtp_auth_throttled():
    s = dt.Server(start=False, config={"auth_failure_delay": "1", "auth_failures_per_host": "1000",
                                       "admins": "postmaster"})
    conns = []
    try:
        s.add_user("alice", "secret")
        s.add_user("postmaster", "pmpass")
        s.start()
        settle(s)

        deadline = time.monotonic() + 10 * SCALE
        for _ in range(N_PARALLEL):
            c = retry("lmtp", deadline, lambda: lmtp_greeted(s))
            conns.append(c)
            if c.cmd("LHLO client.test")[0] != 250:
                raise dt.TestFailure("LHLO refused")
        # wrong passwords, and alice's right one (not an admin: refused,
        # and just as slowly, so the timing does not confirm the password)
        reqs = [plain("alice", "wrong"), plain("alice", "secret"), plain("postmaster", "nope"),
                plain("alice", "wrong2")]
        t0 = time.monotonic()
        for c, r in zip(conns, reqs):
            c.send("AUTH PLAIN " + r)
        times = []
        for c in conns:
            code, lines = c.reply()
            if code != 535:
                raise dt.TestFailure("failed AUTH answered %r" % lines)
            times.append(time.monotonic() - t0)
        times.sort()
        for k, t in enumerate(times):
            if t < (k + 1) * STEP - 0.05:
                raise dt.TestFailure("LMTP: 535s at %s s: released in a burst"
                                     % ", ".join("%.2f" % x for x in times))
        # three failures on one connection end it (pipelined: each waits
        # for the previous answer)
        c = conns[0]
        c.send_raw(("AUTH PLAIN %s\r\nAUTH PLAIN %s\r\n" % (plain("alice", "x"), plain("alice", "y"))).encode())
        for _ in range(2):
            code, lines = c.reply()
            if code != 535:
                raise dt.TestFailure("failed AUTH answered %r" % lines)
        code, lines = c.reply()
        if code != 421:
            raise dt.TestFailure("third failure not answered 421: %r" % lines)
        if not c.at_eof(2.0 * SCALE):
            raise dt.TestFailure("connection left open after three failed AUTHs")
        # an admin gets in at once (and that clears the address's failures)
        t1 = time.monotonic()
        code, lines = conns[1].cmd("AUTH PLAIN " + plain("postmaster", "pmpass"))
        if code != 235:
            raise dt.TestFailure("admin AUTH: %r" % lines)
        for c in conns:
            c.close()
        conns = []
        s.stop()
        return "535s at %s s; admin in %.2f s" % (", ".join("%.2f" % x for x in times), time.monotonic() - t1)
    finally:
        for c in conns:
            c.close()
        s.cleanup()


def main():
    R.run("pre-auth deadline from connect: tricklers and stalled TLS handshakes closed (IMAP, POP3, LMTP)",
          deadline_from_connect)
    R.run("maxconnections_per_host_preauth over all protocols; login/MAIL/close free a place; unix LMTP exempt",
          per_host_cap)
    R.run("full server evicts the oldest unauthenticated connection, across workers; logged-in never",
          eviction)
    R.run("parallel failed logins answered one per delay step (IMAP, POP3)", throttle_serialised)
    R.run("LMTP AUTH failures delayed and serialised like logins, three end the connection",
          lmtp_auth_throttled)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
