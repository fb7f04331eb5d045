"""Helpers shared by the pre-auth limit tests (test_preauth_limits.py,
test_preauth_review.py): connecting within the per-host and total
limits, waiting for the server to settle, and stopping a worker."""

import base64
import os
import signal
import time

import darius_test as dt

SCALE = dt.timeout_scale()

SERVER_STATE_CLOSE_WAIT = "08"


def retry(what, deadline, fn):
    """fn() until it returns a value; a refusal (the readiness probes of a
    server just started, or a slot released a moment ago, may still be
    counted) is retried until the deadline."""
    last = None
    while True:
        try:
            r = fn()
            if r is not None:
                return r
        except (EOFError, OSError, dt.TestFailure) as e:
            last = e
        if time.monotonic() > deadline:
            raise dt.TestFailure("%s: no connection within the limits (%s)" % (what, last))
        time.sleep(0.02)   # retrying a refused connect, with a deadline


def imap_greeted(s):
    """An IMAP client greeted with * OK, or None when refused."""
    c = s.client()
    r = c.read()
    if r.text.startswith("* OK"):
        return c
    c.close()
    return None


def pop3_greeted(s):
    """A POP3 client greeted with +OK, or None when refused."""
    p = dt.Pop3(s.host, s.pop3_port)
    if p.line().startswith("+OK"):
        return p
    p.close()
    return None


def lmtp_greeted(s):
    """An LMTP client greeted with 220, or None when refused."""
    c = dt.Lmtp(s.host, s.lmtp_port)
    code, _ = c.reply()
    if code == 220:
        return c
    c.close()
    return None


def settle(s):
    """Wait until the server has closed every connection whose client went
    away (the readiness probes of start()): none of its sockets is in
    CLOSE_WAIT. Polls /proc with a deadline."""
    ports = {s.port, s.tls_port, s.pop3_port, s.pop3s_port, s.lmtp_port}
    deadline = time.monotonic() + 10 * SCALE
    while True:
        waiting = 0
        for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(fn) as f:
                    next(f)
                    for line in f:
                        p = line.split()
                        if int(p[1].rsplit(":", 1)[1], 16) in ports and p[3] == SERVER_STATE_CLOSE_WAIT:
                            waiting += 1
            except OSError:
                pass
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise dt.TestFailure("server still has %d half-closed connections" % waiting)
        time.sleep(0.02)   # polling /proc with a deadline


def proc_state(pid):
    """The state letter of /proc/PID/stat ("T" when stopped), "?" if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def wait_workers(s, n):
    """Wait until n workers run. Polls /proc with a deadline."""
    deadline = time.monotonic() + 10 * SCALE
    while len(s.worker_pids()) < n:
        if time.monotonic() > deadline:
            raise dt.TestFailure("%d workers not running" % n)
        time.sleep(0.02)   # polling /proc for the workers, with a deadline


def stop_owner(s, client, name):
    """SIGSTOP the worker holding client's connection and wait until it is
    stopped (the signal is asynchronous: until then it could still take
    the next connection). Returns the worker's pid; the caller sends
    SIGCONT."""
    owner = dt.socket_owner_pid(s, client)
    if owner is None or owner not in s.worker_pids():
        raise dt.TestFailure("cannot tell which worker holds %s" % name)
    os.kill(owner, signal.SIGSTOP)
    deadline = time.monotonic() + 10 * SCALE
    while proc_state(owner) != "T":
        if time.monotonic() > deadline:
            os.kill(owner, signal.SIGCONT)
            raise dt.TestFailure("worker %d not stopped" % owner)
        time.sleep(0.01)   # polling /proc with a deadline
    return owner


def plain(user, pw):
    """The SASL PLAIN initial response for user and pw (RFC 4616)."""
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
