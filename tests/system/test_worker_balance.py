#!/usr/bin/env python3
"""New connections are spread over the worker processes.

Every TCP listener is one SO_REUSEPORT socket per worker (daemon.h), and
the kernel hashes each connection to one of them; with one socket shared
by all workers (EPOLLEXCLUSIVE), a lightly loaded server woke the same
idle worker for nearly every connection, so one core served everything.

How a connection's worker is found: the test waits for the server's
greeting (so a worker has accepted it), then looks the connection's
server-side socket up in /proc/net/tcp (local port = the listener's,
remote port = the client's) and finds the worker process whose
/proc/PID/fd holds that socket inode. No timing, no log parsing.

The bound: with W workers and N connections, every worker must hold at
least a quarter of its fair share N/W. Were the hash a fair coin per
connection, the chance that some worker gets fewer is at most
W * P(Binomial(N, 1/W) < N/(4W)): 4.4e-13 for W=2, N=80 (at least 10
each) and 1.1e-12 for W=4, N=200 (at least 12 each), per listener. On the
old single-socket design one worker typically got all of them.

Also: a worker killed while connections arrive is restarted and takes
over its slot's sockets; the connections queued there meanwhile are all
served; a stopped (stuck) worker's, or one waiting for its restart after
repeated crashes, are served by the others; a second server cannot join
the sockets' group."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import darius_test as dt

R = dt.Report("worker-balance")
SCALE = dt.timeout_scale()
PREFIX = {"imap": "* OK", "imaps": "* OK", "pop3": "+OK", "pop3s": "+OK", "lmtp": "220"}


def server(workers):
    # Many unauthenticated connections from 127.0.0.1 at once.
    return dt.Server(config={"maxconnections_per_host_preauth": "0"}, workers=workers)


def port_of(s, kind):
    return {"imap": s.port, "imaps": s.tls_port, "pop3": s.pop3_port, "pop3s": s.pop3s_port,
            "lmtp": s.lmtp_port}[kind]


class Conn:
    """A raw connection that is greeted (or fails) later: connect now,
    read the greeting with greeted()."""

    def __init__(self, s, kind):
        self.kind = kind
        self.sock = socket.create_connection((s.host, port_of(s, kind)), timeout=10 * SCALE)
        self.cport = self.sock.getsockname()[1]
        self.sport = port_of(s, kind)
        self.buf = b""

    def greeted(self, timeout):
        """Read the greeting line (after the TLS handshake on implicit TLS)."""
        self.sock.settimeout(timeout)
        if self.kind in ("imaps", "pop3s") and not hasattr(self.sock, "version"):
            self.sock = dt.Client._wrap(self.sock)
        while b"\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise dt.TestFailure("%s connection closed before its greeting" % self.kind)
            self.buf += d
        line = self.buf.split(b"\n", 1)[0].decode("utf-8", "replace")
        if not line.startswith(PREFIX[self.kind]):
            raise dt.TestFailure("%s greeting: %r" % (self.kind, line))
        return line

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def owners(s, conns):
    """The process holding the server side of each connection (or None)."""
    want = {(c.sport, c.cport): i for i, c in enumerate(conns)}
    inode = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    key = (int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16))
                    if key in want and p[9] != "0":
                        inode[p[9]] = want[key]
        except (OSError, StopIteration):
            continue
    out = [None] * len(conns)
    for pid in s.worker_pids() + [s.pid()]:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:[") and t[8:-1] in inode:
                out[inode[t[8:-1]]] = pid
    return out


def wait_workers(s, n, exclude=()):
    """n workers running, none of them in exclude. Polls /proc with a deadline."""
    deadline = time.monotonic() + 10 * SCALE
    while True:
        w = [p for p in s.worker_pids() if p not in exclude]
        if len(w) == n and len(s.worker_pids()) == n:
            return w
        if time.monotonic() > deadline:
            raise dt.TestFailure("expected %d workers (not %r), found %r" % (n, exclude, s.worker_pids()))
        time.sleep(0.01)   # polling /proc with a deadline


def wait_log(s, pattern, count=1, what=None):
    """Until the server's log has count lines matching pattern."""
    deadline = time.monotonic() + 15 * SCALE
    while len(re.findall(pattern, s.stderr_text())) < count:
        if time.monotonic() > deadline:
            raise dt.TestFailure("no log line %r (%s)" % (pattern, what or ""))
        time.sleep(0.02)   # polling the log file with a deadline


def no_adoption_active(s):
    """Wait until every adoption logged has been given back (a worker
    that was slow to start may have been helped out by the others)."""
    deadline = time.monotonic() + 15 * SCALE
    while True:
        t = s.stderr_text()
        if len(re.findall(r"accepting its connections here too", t)) <= \
                len(re.findall(r"accepts its connections again", t)):
            return
        if time.monotonic() > deadline:
            raise dt.TestFailure("a worker still serves another's sockets")
        time.sleep(0.02)   # polling the log file with a deadline


def sequential(s, kind, n):
    """n connections, each opened after the previous one was greeted."""
    conns = []
    try:
        for _ in range(n):
            c = Conn(s, kind)
            conns.append(c)
            c.greeted(10 * SCALE)
        return conns, owners(s, conns)
    except BaseException:
        for c in conns:
            c.close()
        raise


def check_spread(s, kind, n, workers):
    conns, own = sequential(s, kind, n)
    for c in conns:
        c.close()
    if None in own or s.pid() in own:
        raise dt.TestFailure("%s: a connection not held by a worker: %r" % (kind, own))
    counts = {w: own.count(w) for w in workers}
    extra = set(own) - set(workers)
    if extra:
        raise dt.TestFailure("%s: connections in unexpected processes %r" % (kind, extra))
    least = n // len(workers) // 4
    spread = "/".join(str(counts[w]) for w in workers)
    if min(counts.values()) < least:
        raise dt.TestFailure("%s: %d connections spread %s over %d workers (each needs >= %d)"
                             % (kind, n, spread, len(workers), least))
    return spread


def spread_every_listener():
    s = server(2)
    try:
        workers = wait_workers(s, 2)
        out = []
        for kind in ("imap", "imaps", "pop3", "pop3s", "lmtp"):
            out.append("%s %s" % (kind, check_spread(s, kind, 80, workers)))
        # the LMTP unix socket stays one socket shared by the workers
        m = dt.Lmtp(path=s.lmtp_socket)
        m.expect(220, "LMTP unix greeting")
        m.close()
        if s.worker_pids() != workers:
            raise dt.TestFailure("workers changed: %r -> %r" % (workers, s.worker_pids()))
        s.stop()
        return "; ".join(out)
    finally:
        s.cleanup()


def spread_four_workers():
    s = server(4)
    try:
        workers = wait_workers(s, 4)
        r = check_spread(s, "imap", 200, workers)
        s.stop()
        return "imap " + r
    finally:
        s.cleanup()


def one_worker():
    s = server(1)
    try:
        workers = wait_workers(s, 1)
        conns, own = sequential(s, "imap", 10)
        for c in conns:
            c.close()
        if set(own) != set(workers):
            raise dt.TestFailure("owners %r, worker %r" % (own, workers))
        s.stop()
    finally:
        s.cleanup()


def second_server_refused():
    """A second server on the same address fails to start: the sockets'
    SO_REUSEPORT group admits no stranger."""
    a = server(2)
    b = None
    try:
        wait_workers(a, 2)
        b = dt.Server(config={"listen_imap": "%s:%d" % (a.host, a.port)}, workers=2, start=False)
        p = subprocess.run([b.dariusd, "-C", b.conf_path], capture_output=True, text=True,
                           timeout=20 * SCALE)
        err = p.stdout + p.stderr
        if p.returncode == 0 or "Address already in use" not in err:
            raise dt.TestFailure("second server: exit %d, %r" % (p.returncode, err[-500:]))
        # the first one still serves every connection
        conns, own = sequential(a, "imap", 20)
        for c in conns:
            c.close()
        if None in own:
            raise dt.TestFailure("a connection went elsewhere: %r" % own)
        a.stop()
        return "exit %d" % p.returncode
    finally:
        if b:
            b.cleanup()
        a.cleanup()


def killed_worker_slot():
    """SIGKILL a worker, keep connecting: nothing refused, everything
    served (the connections queued on the dead worker's sockets by the
    replacement, which takes them over), and the replacement gets its
    share afterwards."""
    s = server(2)
    try:
        workers = wait_workers(s, 2)
        victim = workers[0]
        before, _ = sequential(s, "imap", 10)
        os.kill(victim, signal.SIGKILL)
        # Connect at once, without waiting for greetings: about half of
        # them queue on the dead worker's socket until it is replaced.
        conns = []
        try:
            for _ in range(40):
                try:
                    conns.append(Conn(s, "imap"))
                except ConnectionRefusedError:
                    raise dt.TestFailure("a connection was refused after the kill")
            for c in conns:
                c.greeted(15 * SCALE)
            now = wait_workers(s, 2, exclude=(victim,))
            own = owners(s, conns)
            if None in own or set(own) - set(now):
                raise dt.TestFailure("owners %r, workers %r" % (own, now))
            new = [w for w in now if w not in workers]
            served_by_new = sum(1 for o in own if o in new)
        finally:
            for c in conns + before:
                c.close()
        no_adoption_active(s)
        spread = check_spread(s, "imap", 80, now)
        s.stop()
        return "40 connected after the kill, all greeted (%d by the replacement); then %s" % (
            served_by_new, spread)
    finally:
        s.cleanup()


def stopped_worker_adopted():
    """SIGSTOP a worker (its loop stuck): the connections the kernel
    hashes to its socket are served by the other worker once the stuck
    one has not turned its loop for WORKER_STUCK_MS."""
    s = server(2)
    stopped = None
    try:
        workers = wait_workers(s, 2)
        stopped, live = workers
        os.kill(stopped, signal.SIGSTOP)
        conns = []
        try:
            for _ in range(40):
                conns.append(Conn(s, "imap"))
            for c in conns:
                c.greeted(15 * SCALE)
            own = owners(s, conns)
        finally:
            for c in conns:
                c.close()
        if any(o != live for o in own):
            raise dt.TestFailure("owners %r, live worker %d" % (own, live))
        wait_log(s, r"has not turned its event loop", 1, "adoption of the stopped worker's sockets")
        os.kill(stopped, signal.SIGCONT)
        stopped = None
        wait_log(s, r"accepts its connections again", 1, "the worker back")
        spread = check_spread(s, "imap", 80, workers)
        s.stop()
        return "40 greeted by the other worker; after SIGCONT %s" % spread
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        s.cleanup()


def backoff_slot_adopted():
    """A worker that keeps crashing is restarted only after a back-off
    (10 s): meanwhile the other worker serves its sockets."""
    s = server(2)
    try:
        workers = wait_workers(s, 2)
        live = workers[1]
        victim = workers[0]
        kills = 0
        deadline = time.monotonic() + 30 * SCALE
        while "workers are crashing repeatedly" not in s.stderr_text():
            if time.monotonic() > deadline or kills > 60:
                raise dt.TestFailure("no restart back-off after %d kills" % kills)
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
            kills += 1
            # the replacement (or the back-off)
            while True:
                w = [p for p in s.worker_pids() if p not in (live, victim)]
                if w:
                    victim = w[0]
                    break
                if "workers are crashing repeatedly" in s.stderr_text():
                    break
                if time.monotonic() > deadline:
                    raise dt.TestFailure("worker not replaced after kill %d" % kills)
                time.sleep(0.005)   # polling /proc with a deadline
        if s.worker_pids() != [live]:
            # the kill that triggered the back-off may still be reaped
            wait_workers(s, 1, exclude=(victim,))
        conns = []
        try:
            for _ in range(40):
                conns.append(Conn(s, "imap"))
            for c in conns:
                c.greeted(8)
            own = owners(s, conns)
            during = s.worker_pids()
        finally:
            for c in conns:
                c.close()
        if during != [live]:
            raise dt.TestFailure("the back-off was over before the connections were served: %r" % during)
        if any(o != live for o in own):
            raise dt.TestFailure("owners %r, live worker %d" % (own, live))
        s.stop()
        return "%d kills; 40 connections served by the remaining worker during the back-off" % kills
    finally:
        s.cleanup()


def main():
    R.run("workers 2: connections to IMAP, IMAPS, POP3, POP3S and LMTP spread over both", spread_every_listener)
    R.run("workers 4: 200 IMAP connections spread over all four", spread_four_workers)
    R.run("workers 1: one socket, everything served", one_worker)
    R.run("a second server cannot bind (or join) the address", second_server_refused)
    R.run("SIGKILLed worker: queued connections served, the replacement takes its slot", killed_worker_slot)
    R.run("SIGSTOPped worker: its connections are served by the other", stopped_worker_adopted)
    R.run("crash back-off: the dead worker's connections are served by the other", backoff_slot_adopted)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
