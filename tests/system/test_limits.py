#!/usr/bin/env python3
"""Limits and latency: maxconnections, maxlogins_per_host, a 56 KB APPEND
sent as literal + CRLF in two writes (Nagle on) completes quickly."""

import socket
import sys
import time

import darius_test as dt

R = dt.Report("limits")


def greeted(s, deadline):
    """A greeted connection; retried until the deadline because the slots of
    connections closed just before (e.g. the readiness probes) are released
    asynchronously."""
    while True:
        c = s.client()
        try:
            r = c.read()
            if r.text.startswith("* OK"):
                return c
        except (EOFError, ConnectionResetError):
            pass
        c.close()
        if time.monotonic() > deadline:
            raise dt.TestFailure("connection within the limit refused")


def maxconnections():
    s = dt.server_with_user(config={"maxconnections": "3"})
    try:
        deadline = time.monotonic() + 5 * dt.timeout_scale()
        # Each logged in before the next connects: when the server is full
        # a new connection evicts the oldest unauthenticated one instead of
        # being refused (test_preauth_limits.py); the readiness probes of
        # start() may still be counted for a moment.
        cs = []
        for _ in range(3):
            c = greeted(s, deadline)
            c.ok("LOGIN alice secret")
            cs.append(c)
        extra = s.client()
        try:
            r = extra.read()
            if r.text.startswith("* OK"):
                raise dt.TestFailure("4th connection greeted: %s" % r.render())
            if not r.text.startswith("* BYE"):
                raise dt.TestFailure("4th connection got %s" % r.render())
        except (EOFError, ConnectionResetError):
            pass
        extra.close()
        cs[0].logout()
        # a slot is free again (the server notices the close asynchronously)
        greeted(s, time.monotonic() + 5 * dt.timeout_scale()).logout()
        for c in cs[1:]:
            c.logout()
        s.stop()
    finally:
        s.cleanup()


def maxlogins_per_host():
    s = dt.server_with_user(config={"maxlogins_per_host": "2"})
    try:
        deadline = time.monotonic() + 5 * dt.timeout_scale()
        a = greeted(s, deadline)
        a.ok("LOGIN alice secret")
        b = greeted(s, deadline)
        b.ok("LOGIN alice secret")
        c = greeted(s, deadline)
        # Cyrus semantics: the connection is accepted, the third LOGIN from
        # the address is refused with NO [LIMIT].
        u, t = c.command("LOGIN alice secret")
        if t.text.split(" ", 2)[1] != "NO" or "[LIMIT]" not in t.text:
            raise dt.TestFailure("third login from one host not refused with NO [LIMIT]: " + t.render())
        res = t.render()
        # after one logs out, a login is possible again (poll, deadline)
        a.logout()
        deadline = time.monotonic() + 5 * dt.timeout_scale()
        while True:
            try:
                d = s.login()
                d.logout()
                break
            except (dt.TestFailure, EOFError, OSError):
                if time.monotonic() > deadline:
                    raise dt.TestFailure("no login possible after a logout")
        c.close()
        b.logout()
        s.stop()
        return res
    finally:
        s.cleanup()


def append_56k_nagle():
    s = dt.server_with_user()
    try:
        c = s.login()
        msg = dt.sample_message(1, size=56 * 1024).encode()
        # Nagle stays on (the default): no TCP_NODELAY
        nodelay = c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        if nodelay:
            raise dt.TestFailure("TCP_NODELAY unexpectedly set")
        times = []
        for i in range(5):
            tag = "n%d" % i
            t0 = time.monotonic()
            c.send_raw(("%s APPEND INBOX {%d+}\r\n" % (tag, len(msg))).encode() + msg)
            c.send_raw(b"\r\n")
            _, t = c.collect(tag)
            times.append((time.monotonic() - t0) * 1000)
            if not t.text.startswith(tag + " OK"):
                raise dt.TestFailure("APPEND: %s" % t.render())
        best = min(times)
        med = sorted(times)[len(times) // 2]
        limit = 40.0 * (2.5 if dt.sanitizer() else 1.0)
        c.logout()
        s.stop()
        detail = "min %.1f ms, median %.1f ms, limit %.0f ms" % (best, med, limit)
        # a Nagle/delayed-ACK stall hits every attempt, so the best of five
        # is compared (robust against scheduling noise on a loaded machine)
        if best >= limit:
            raise dt.TestFailure(detail)
        return detail
    finally:
        s.cleanup()


def main():
    R.run("maxconnections refuses the connection over the limit", maxconnections)
    R.run("maxlogins_per_host refuses the third login", maxlogins_per_host)
    R.run("56 KB APPEND, literal + CRLF in two writes, Nagle on", append_56k_nagle)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
