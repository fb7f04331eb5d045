#!/usr/bin/env python3
"""Process behaviour: SIGTERM (BYE to clients, exit 0 within 5 s), SIGHUP
(existing connections keep working), a SIGKILLed worker is replaced and
other clients are unaffected, a bad config key is a start-up error naming
file:line:key."""

import os
import re
import signal
import subprocess
import sys
import time

import darius_test as dt

R = dt.Report("process")


def sigterm_bye():
    s = dt.server_with_user()
    try:
        a = s.login()
        a.ok("SELECT INBOX")
        b = s.client()
        b.greeting()
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        for c, name in ((a, "logged-in"), (b, "not-authenticated")):
            r = c.read()
            if not r.text.startswith("* BYE"):
                raise dt.TestFailure("%s client got %s instead of * BYE" % (name, r.render()))
            if not c.at_eof(5.0):
                raise dt.TestFailure("%s client not closed after BYE" % name)
        rc = s.proc.wait(timeout=5 * dt.timeout_scale())
        el = time.monotonic() - t0
        s.proc = None
        if rc != 0:
            raise dt.TestFailure("exit status %d" % rc)
        if el > 5:
            raise dt.TestFailure("took %.1fs" % el)
        return "exit 0 after %.2fs" % el
    finally:
        s.cleanup()


def sighup_keeps_connections():
    s = dt.server_with_user()
    try:
        a = s.login()
        a.ok("SELECT INBOX")
        pid = s.pid()
        s.signal(signal.SIGHUP)
        # the reload is observable through new connections being served;
        # poll with a deadline (readiness check)
        deadline = time.monotonic() + 5 * dt.timeout_scale()
        while True:
            try:
                b = s.login()
                break
            except (dt.TestFailure, OSError, EOFError):
                if time.monotonic() > deadline:
                    raise
        a.ok("NOOP")
        a.ok("APPEND INBOX %L", [dt.sample_message(1)])
        a.ok("FETCH 1 UID")
        b.ok("STATUS INBOX (MESSAGES)")
        if s.proc.poll() is not None or s.pid() != pid:
            raise dt.TestFailure("master exited on SIGHUP")
        a.logout()
        b.logout()
        s.stop()
    finally:
        s.cleanup()


def killed_worker_restarted():
    s = dt.server_with_user()
    try:
        deadline = time.monotonic() + 5 * dt.timeout_scale()
        workers = s.worker_pids()
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = s.worker_pids()
        if len(workers) < 2:
            raise dt.TestFailure("expected 2 worker processes, found %r" % workers)
        clients = [s.login() for _ in range(8)]
        owners = [dt.socket_owner_pid(s, c) for c in clients]
        if None in owners:
            raise dt.TestFailure("could not find the worker of a connection: %r" % owners)
        used = sorted(set(owners))
        # kill a worker that serves clients when the clients are spread over
        # both; when the server put them all on one worker, kill the other
        # one (then every client must survive)
        victim = used[0] if len(used) > 1 else next(w for w in workers if w not in used)
        survivors = [c for c, o in zip(clients, owners) if o is not None and o != victim]
        doomed = [c for c, o in zip(clients, owners) if o == victim]
        for c in clients:
            c.ok("SELECT INBOX")
        os.kill(victim, signal.SIGKILL)
        # a replacement worker appears (poll /proc with a deadline)
        deadline = time.monotonic() + 5 * dt.timeout_scale()
        while True:
            now = s.worker_pids()
            if len(now) >= len(workers) and victim not in now:
                break
            if time.monotonic() > deadline:
                raise dt.TestFailure("worker not replaced: before %r, now %r" % (workers, now))
        for c in survivors:
            c.ok("NOOP")
            c.ok("APPEND INBOX %L", [dt.sample_message(1)])
        for c in doomed:
            if not c.at_eof(2.0):
                raise dt.TestFailure("client of the killed worker still connected")
        # new connections are served
        for _ in range(4):
            c = s.login()
            c.ok("STATUS INBOX (MESSAGES)")
            c.logout()
        for c in survivors:
            c.logout()
        s.stop()
        return "%d clients survived on the other worker, %d dropped" % (len(survivors), len(doomed))
    finally:
        s.cleanup()


def bad_config_key():
    s = dt.Server(start=False)
    try:
        s.write_config(extra_lines=["# a comment", "bogus_option_xyz: 1"])
        with open(s.conf_path) as f:
            lineno = len(f.read().splitlines())
        p = subprocess.run([s.dariusd, "-C", s.conf_path], capture_output=True, text=True,
                           timeout=5 * dt.timeout_scale())
        err = p.stdout + p.stderr
        if p.returncode == 0:
            raise dt.TestFailure("dariusd exited 0 with a bad key")
        want = "%s:%d" % (s.conf_path, lineno)
        if want not in err or "bogus_option_xyz" not in err:
            raise dt.TestFailure("message does not name %s and the key: %r" % (want, err[:500]))
        # a bad value too
        s.conf["workers"] = "many"
        s.write_config()
        p = subprocess.run([s.dariusd, "-C", s.conf_path], capture_output=True, text=True,
                           timeout=5 * dt.timeout_scale())
        if p.returncode == 0 or "workers" not in p.stdout + p.stderr:
            raise dt.TestFailure("bad value accepted or not named: %r" % (p.stdout + p.stderr)[:300])
        return "exit %d: %s" % (p.returncode, err.strip().splitlines()[0][:120] if err.strip() else "")
    finally:
        s.cleanup()


def main():
    R.run("SIGTERM sends * BYE and exits 0 within 5 s", sigterm_bye)
    R.run("SIGHUP keeps existing connections working", sighup_keeps_connections)
    R.run("SIGKILLed worker is replaced, other clients unaffected", killed_worker_restarted)
    R.run("bad config key is a start-up error naming file:line:key", bad_config_key)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
