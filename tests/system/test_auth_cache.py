#!/usr/bin/env python3
"""The authentication service and its credential cache (issue 10, item 2).

Every password check runs off the event loop, as a job of kind "auth" on
the worker's pool; the servers here run with DARIUS_TEST_HOLD_DIR, so a
file "auth" there holds every password hash until it is removed (jobs.h)
and "auth.started" appears when one starts to wait. That proves by
behaviour, never by timing:

- warm cache: with hashes held, a login whose (user, password) was
  verified before is answered at once, while a cold one is held;
- isolation: while a login's hash is held (IMAP LOGIN, AUTHENTICATE PLAIN
  with and without SASL-IR, AUTHENTICATE LOGIN, POP3 USER/PASS and AUTH
  PLAIN, LMTP AUTH PLAIN), another session's NOOP is answered and the
  held login has not completed; it completes once the hold goes;
- a client that disconnects while its check is held or queued: the
  server keeps serving and (under --sanitizer) leaks nothing;
- negative entries answer failures with the same reply and the same
  failed-login delay;
- SIGHUP keeps the cached entries and applies a new auth_cache_ttl;
- `darius user passwd`, `del`, `lock`/`unlock` and `rename`, and an admin's
  IMAP DELETE of user/NAME, reach the cache of EVERY worker: each worker's cache is warmed on a connection steered
  to it (the other workers are SIGSTOPped while it connects, so only it
  can accept; the owner is read from /proc), each logs that it dropped
  the user's entries, and on each the old password fails and the new one
  works.

On the code before the service the hold never applied to a login (no
"auth.started" ever appears), so these tests fail there.
"""

import base64
import os
import re
import select
import signal
import sys
import time

import darius_test as dt

R = dt.Report("auth_cache")


def deadline(seconds=10.0):
    return time.monotonic() + seconds * dt.timeout_scale()


# ---- the hold hook ----------------------------------------------------------

class Hold:
    def __init__(self, server):
        self.dir = os.path.join(server.tmp, "hold")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, "auth")
        self.started = self.path + ".started"

    def on(self):
        if os.path.exists(self.started):
            os.unlink(self.started)
        open(self.path, "w").close()

    def off(self):
        if os.path.exists(self.path):
            os.unlink(self.path)

    def wait_started(self, what):
        """A password hash is waiting at the hold (polled, with a deadline)."""
        end = deadline()
        while not os.path.exists(self.started):
            if time.monotonic() > end:
                raise dt.TestFailure("%s: no password check reached the hold (it did not run as an 'auth' job)"
                                     % what)
            time.sleep(0.005)  # polling a file with a deadline, not a synchronisation by sleep
        os.unlink(self.started)


def server(hold_env=True, **kw):
    """A Server (not started) whose workers see its own hold directory."""
    s = dt.Server(start=False, **kw)
    h = Hold(s)
    if hold_env:
        os.environ["DARIUS_TEST_HOLD_DIR"] = h.dir
    return s, h


def start(s, users):
    for u, p in users.items():
        s.add_user(u, p)
    s.start()


def answered(c):
    """Has the server sent anything on c that the client has not read?"""
    if c.buf:
        return True
    r, _, _ = select.select([c.sock], [], [], 0)
    return bool(r)


def tagged_status(t):
    parts = t.render().split(" ", 2)
    return parts[1] if len(parts) > 1 else ""


def imap_login_ok(s, user, password):
    c = s.client()
    c.greeting()
    u, t = c.command("LOGIN %s %s" % (dt.quote(user), dt.quote(password)))
    c.close()
    return tagged_status(t) == "OK"


def noop_answered(c, what):
    u, t = c.command("NOOP")
    if tagged_status(t) != "OK":
        raise dt.TestFailure("%s: NOOP got %s" % (what, t.render()))


def plain(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


# ---- warm cache --------------------------------------------------------------

def warm_cache_answers_while_held():
    s, h = server(workers=1)
    try:
        start(s, {"alice": "alice-pw", "bob": "bob-pw"})
        if not imap_login_ok(s, "alice", "alice-pw"):
            raise dt.TestFailure("first login of alice failed")
        h.on()
        cold = s.client()
        cold.greeting()
        tag = cold.next_tag()
        cold.send("%s LOGIN bob bob-pw" % tag)
        h.wait_started("cold LOGIN of bob")
        # alice's (user, password) was verified a moment ago: answered from
        # the cache while every hash is held
        if not imap_login_ok(s, "alice", "alice-pw"):
            raise dt.TestFailure("warm LOGIN of alice not answered OK while hashes are held")
        if answered(cold):
            raise dt.TestFailure("the cold LOGIN of bob completed while its hash was held")
        h.off()
        u, t = cold.collect(tag)
        if tagged_status(t) != "OK":
            raise dt.TestFailure("cold LOGIN after the hold: %s" % t.render())
        cold.close()
        # a wrong password for alice is not answered from her positive entry
        h.on()
        wrong = s.client()
        wrong.greeting()
        tag = wrong.next_tag()
        wrong.send("%s LOGIN alice not-her-password" % tag)
        h.wait_started("LOGIN of alice with a wrong password")
        h.off()
        u, t = wrong.collect(tag)
        if "[AUTHENTICATIONFAILED]" not in t.render():
            raise dt.TestFailure("wrong password: %s" % t.render())
        wrong.close()
        s.stop()
        return R.check_sanitizer(s)
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()


# ---- isolation: every password path is held off the loop --------------------

def imap_start_login(s, user, pw):
    c = s.client()
    c.greeting()
    tag = c.next_tag()
    c.send("%s LOGIN %s %s" % (tag, user, pw))

    def finish():
        u, t = c.collect(tag)
        c.close()
        return tagged_status(t) == "OK", t.render()
    return c, finish


def imap_start_plain_ir(s, user, pw):
    c = s.client()
    c.greeting()
    tag = c.next_tag()
    c.send("%s AUTHENTICATE PLAIN %s" % (tag, plain(user, pw)))

    def finish():
        u, t = c.collect(tag)
        c.close()
        return tagged_status(t) == "OK", t.render()
    return c, finish


def imap_start_plain(s, user, pw):
    c = s.client()
    c.greeting()
    tag = c.next_tag()
    c.send("%s AUTHENTICATE PLAIN" % tag)
    r = c.read()
    if not r.text.startswith("+"):
        raise dt.TestFailure("no continuation: %s" % r.render())
    c.send(plain(user, pw))

    def finish():
        u, t = c.collect(tag)
        c.close()
        return tagged_status(t) == "OK", t.render()
    return c, finish


def imap_start_login_mech(s, user, pw):
    c = s.client()
    c.greeting()
    tag = c.next_tag()
    c.send("%s AUTHENTICATE LOGIN" % tag)
    for v in (user, pw):
        r = c.read()
        if not r.text.startswith("+"):
            raise dt.TestFailure("no continuation: %s" % r.render())
        c.send(base64.b64encode(v.encode()).decode())

    def finish():
        u, t = c.collect(tag)
        c.close()
        return tagged_status(t) == "OK", t.render()
    return c, finish


def pop3_start_pass(s, user, pw):
    p = s.pop3()
    p.ok("USER " + user)
    p.send("PASS " + pw)

    def finish():
        line = p.line()
        p.close()
        return line.startswith("+OK"), line
    return p, finish


def pop3_start_auth_plain(s, user, pw):
    p = s.pop3()
    p.send("AUTH PLAIN " + plain(user, pw))

    def finish():
        line = p.line()
        p.close()
        return line.startswith("+OK"), line
    return p, finish


def lmtp_start_auth_plain(s, user, pw):
    l = s.lmtp()
    l.send("LHLO test.example")
    l.reply()
    l.send("AUTH PLAIN " + plain(user, pw))

    def finish():
        code, lines = l.reply()
        l.close()
        return code == 235, " ".join(lines)
    return l, finish


PATHS = [
    ("IMAP LOGIN", imap_start_login),
    ("IMAP AUTHENTICATE PLAIN (SASL-IR)", imap_start_plain_ir),
    ("IMAP AUTHENTICATE PLAIN", imap_start_plain),
    ("IMAP AUTHENTICATE LOGIN", imap_start_login_mech),
    ("POP3 USER/PASS", pop3_start_pass),
    ("POP3 AUTH PLAIN", pop3_start_auth_plain),
    ("LMTP AUTH PLAIN", lmtp_start_auth_plain),
]


def isolation_during_held_logins():
    # one worker: the NOOP session and the held login share its event loop
    users = {"watcher": "watch-pw", "ladmin": "ladmin-pw"}
    for i in range(len(PATHS)):
        users["cold%d" % i] = "cold-pw-%d" % i
    s, h = server(workers=1, config={"admins": "ladmin"})
    try:
        start(s, users)
        watcher = s.login("watcher", "watch-pw")
        for i, (name, starter) in enumerate(PATHS):
            # LMTP AUTH is for admins only
            user, pw = ("ladmin", "ladmin-pw") if name.startswith("LMTP") else ("cold%d" % i, "cold-pw-%d" % i)
            h.on()
            try:
                c, finish = starter(s, user, pw)
                h.wait_started(name)
                noop_answered(watcher, name)
                if answered(c):
                    raise dt.TestFailure("%s completed while its hash was held" % name)
            finally:
                h.off()
            ok, text = finish()
            R.check(ok, "%s: held off the loop (another session's NOOP answered meanwhile), then OK" % name,
                    text)
        watcher.logout()
        s.stop()
        return R.check_sanitizer(s)
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()


# ---- disconnects while a check is held or queued ----------------------------

def wait_eof(sock, what, seconds=20.0):
    """Read (and drop) until the server closes sock."""
    sock.settimeout(seconds * dt.timeout_scale())
    try:
        while True:
            if not sock.recv(65536):
                return
    except (ConnectionResetError, BrokenPipeError):
        return
    except OSError as e:
        raise dt.TestFailure("%s: not closed by the server (%s)" % (what, e))


def disconnect_while_held():
    """Clients whose check is held or queued go away: closed by the server
    at their pre-authentication deadline (the session is torn down while
    its request is still out: the answer must be dropped, nothing leaked),
    or by the client itself. The queue then drains in order and the
    server keeps serving."""
    users = {"watcher": "watch-pw", "ladmin": "ladmin-pw", "gone1": "pw1", "gone2": "pw2", "gone3": "pw3",
             "after": "after-pw"}
    s, h = server(workers=1, config={"admins": "ladmin", "preauth_timeout": "5"})
    try:
        start(s, users)
        watcher = s.login("watcher", "watch-pw")
        h.on()
        # held: the first; queued behind it (auth_hash_concurrency 1): the others
        c1, _ = imap_start_login(s, "gone1", "pw1")
        h.wait_started("IMAP LOGIN of a client about to be dropped")
        c2, _ = imap_start_plain_ir(s, "gone2", "pw2")
        p, _ = pop3_start_pass(s, "gone3", "pw3")
        l, _ = lmtp_start_auth_plain(s, "ladmin", "ladmin-pw")
        c3, _ = imap_start_login(s, "gone2", "pw2")
        noop_answered(watcher, "with five checks held or queued")
        # the server ends the four at their pre-authentication deadline,
        # with their requests still out; the fifth client leaves by itself
        # (the server, reading nothing from a session whose request is
        # out, closes it at its deadline too)
        for c, what in ((c1, "held IMAP LOGIN"), (c2, "queued AUTHENTICATE"), (p, "queued POP3 PASS"),
                        (l, "queued LMTP AUTH")):
            wait_eof(c.sock, what)
            c.close()
        c3.close()
        noop_answered(watcher, "after the disconnects")
        end = deadline()
        while s.stderr_text().count("pre-authentication time limit reached") < 5:
            if time.monotonic() > end:
                raise dt.TestFailure("%d sessions ended at their deadline, want 5"
                                     % s.stderr_text().count("pre-authentication time limit reached"))
            time.sleep(0.01)  # polling the log with a deadline
        h.off()
        # the queue is FIFO: this cold login completes only after every
        # request before it has finished (for nobody)
        if not imap_login_ok(s, "after", "after-pw"):
            raise dt.TestFailure("login after the abandoned ones failed")
        noop_answered(watcher, "after the abandoned checks finished")
        if not imap_login_ok(s, "gone1", "pw1"):
            raise dt.TestFailure("gone1 cannot log in afterwards")
        watcher.logout()
        s.stop()
        return R.check_sanitizer(s)
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()


# ---- eviction of a connection whose login is being checked -------------------

def expect_server_full(c, what):
    """c gets "* BYE [UNAVAILABLE] Server full ..." and is closed."""
    seen = []
    while True:
        try:
            r = c.read()
        except (EOFError, dt.TestFailure):
            break
        seen.append(r.render())
    if not any("BYE [UNAVAILABLE] Server full" in x for x in seen):
        raise dt.TestFailure("%s: not evicted: %r" % (what, seen))


def eviction_waits_for_the_check():
    """When the server is full, the oldest unauthenticated connection is
    evicted - unless it logs in first (docs/architecture.md). With the
    password check off the loop, a connection whose check is in flight is
    decided when the answer comes: a right password logs in and the
    eviction passes to the next oldest; a wrong one is evicted then."""
    for right in (True, False):
        s, h = server(workers=1, config={"maxconnections": "3", "maxconnections_per_host_preauth": "0"})
        try:
            start(s, {"ivan": "ivan-pw"})
            h.on()
            p1 = s.client()
            p1.greeting()
            tag = p1.next_tag()
            p1.send("%s LOGIN ivan %s" % (tag, "ivan-pw" if right else "wrong"))
            h.wait_started("the login of the oldest connection")
            p2 = s.client()
            p2.greeting()
            p3 = s.client()
            p3.greeting()
            n1 = s.client()       # over maxconnections: p1 is chosen
            r = n1.read()
            if not r.text.startswith("* OK"):
                raise dt.TestFailure("new connection not admitted when full: %s" % r.render())
            noop_answered(p3, "while p1's check is held")  # p1 is not closed yet, nor anyone else
            if answered(p1):
                raise dt.TestFailure("p1 evicted or answered while its check was held")
            h.off()
            if right:
                u, t = p1.collect(tag)
                if tagged_status(t) != "OK":
                    raise dt.TestFailure("p1's LOGIN: %s" % t.render())
                expect_server_full(p2, "p2, the next oldest unauthenticated connection")
                noop_answered(p1, "p1 logged in")
                what = "a right password: logged in, the next oldest evicted instead"
            else:
                expect_server_full(p1, "p1, whose password was wrong")
                noop_answered(p2, "p2")
                what = "a wrong password: evicted once refused"
            noop_answered(p3, "p3")
            noop_answered(n1, "the new connection")
            for c in (p1, p2, p3, n1):
                c.close()
            s.stop()
            R.check_sanitizer(s)
            R.ok("eviction during a held login check, " + what)
        finally:
            os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
            s.cleanup()


# ---- negative entries keep the failed-login delay ---------------------------

def negative_cache_keeps_delay():
    # auth_failure_delay 1 s; auth_failures_per_host 0: no pre-delay, so
    # the delay after each failure is the only wait
    s, h = server(workers=1, config={"auth_failure_delay": "1", "auth_failures_per_host": "0"})
    try:
        start(s, {"dora": "dora-pw"})
        c = s.client()
        c.greeting()
        times = []
        for attempt in range(2):
            if attempt == 1:
                h.on()  # the second, identical attempt must not need a hash
            t0 = time.monotonic()
            u, t = c.command("LOGIN dora wrong-guess")
            times.append(time.monotonic() - t0)
            if "[AUTHENTICATIONFAILED]" not in t.render():
                raise dt.TestFailure("attempt %d: %s" % (attempt + 1, t.render()))
        if os.path.exists(h.started):
            raise dt.TestFailure("the repeated wrong password was hashed again (not a negative cache hit)")
        # a lower bound only: the delay timer never fires early
        if min(times) < 0.9:
            raise dt.TestFailure("a failure was answered before auth_failure_delay: %r" % times)
        # a different wrong password is not answered from the entry: held
        tag = c.next_tag()
        c.send("%s LOGIN dora another-guess" % tag)
        h.wait_started("a new wrong password")
        h.off()
        u, t = c.collect(tag)
        if "[AUTHENTICATIONFAILED]" not in t.render():
            raise dt.TestFailure("third attempt: %s" % t.render())
        # the third failure on a connection still ends it, cached or not
        if not c.at_eof(5.0):
            raise dt.TestFailure("connection not closed after three failures")
        # the right password still works (the negative entry is for the guess)
        if not imap_login_ok(s, "dora", "dora-pw"):
            raise dt.TestFailure("right password refused")
        s.stop()
        R.check_sanitizer(s)
        return "failure replies after %.2f s and %.2f s, the second from the negative cache" % tuple(times)
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()


# ---- SIGHUP: the cache stays, new TTLs apply -----------------------------------

def wait_reloaded(s, mark):
    """Every worker logged that it reloaded (debug: yes) after offset mark."""
    workers = s.worker_pids()
    end = deadline()
    while True:
        text = s.stderr_text()[mark:]
        if all(re.search(r"\[%d\] debug: configuration reloaded" % w, text) for w in workers):
            return
        if time.monotonic() > end:
            raise dt.TestFailure("workers %r did not reload" % workers)
        time.sleep(0.01)  # polling the log with a deadline


def reload_keeps_cache_applies_ttl():
    s, h = server(workers=1, config={"debug": "yes"})
    try:
        start(s, {"hank": "hank-pw"})
        if not imap_login_ok(s, "hank", "hank-pw"):
            raise dt.TestFailure("first login failed")
        # a reload with the same settings keeps the entries
        mark = len(s.stderr_text())
        s.signal(signal.SIGHUP)
        wait_reloaded(s, mark)
        h.on()
        try:
            if not imap_login_ok(s, "hank", "hank-pw"):
                raise dt.TestFailure("warm login after a reload not answered while hashes are held")
        finally:
            h.off()
        # auth_cache_ttl 0: the entry cached an instant ago no longer answers
        s.conf["auth_cache_ttl"] = "0"
        s.write_config()
        mark = len(s.stderr_text())
        s.signal(signal.SIGHUP)
        wait_reloaded(s, mark)
        h.on()
        try:
            c, finish = imap_start_login(s, "hank", "hank-pw")
            h.wait_started("login after a reload with auth_cache_ttl 0")
        finally:
            h.off()
        ok, text = finish()
        if not ok:
            raise dt.TestFailure("login after the hold: %s" % text)
        s.stop()
        return R.check_sanitizer(s)
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()


# ---- account changes reach every worker ---------------------------------------

def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def client_on(s, worker, pop3=False):
    """A connection accepted by worker: the other workers are stopped while
    it connects (only a worker waiting in epoll_wait can accept), the owner
    is read from /proc, then they continue."""
    others = [p for p in s.worker_pids() if p != worker]
    for p in others:
        os.kill(p, signal.SIGSTOP)
    try:
        end = deadline()
        while any(proc_state(p) not in ("T", "t") for p in others):
            if time.monotonic() > end:
                raise dt.TestFailure("workers %r did not stop" % others)
            time.sleep(0.002)  # polling /proc with a deadline
        if pop3:
            c = dt.Pop3(s.host, s.pop3_port)
        else:
            c = dt.Client(s.host, s.port)
        owner = None
        end = deadline()
        while owner is None:
            owner = dt.socket_owner_pid(s, c)
            if owner is None and time.monotonic() > end:
                raise dt.TestFailure("no worker accepted the connection")
    finally:
        for p in others:
            os.kill(p, signal.SIGCONT)
    if owner != worker:
        raise dt.TestFailure("connection went to %s, not worker %d" % (owner, worker))
    if pop3:
        c.greeting()
    else:
        c.greeting()
    return c


def login_on(s, worker, user, pw):
    c = client_on(s, worker)
    u, t = c.command("LOGIN %s %s" % (dt.quote(user), dt.quote(pw)))
    c.close()
    return tagged_status(t) == "OK", t.render()


def pop3_login_on(s, worker, user, pw):
    p = client_on(s, worker, pop3=True)
    p.ok("USER " + user)
    line = p.cmd("PASS " + pw)
    p.close()
    return line.startswith("+OK"), line


def wait_flushed(s, workers, user, mark):
    """Every worker logged that it dropped user's cached entries (after
    the stderr offset mark)."""
    pat = re.compile(r"\[(\d+)\] info: auth: dropped \d+ cached verification\(s\) of user=%s$" % re.escape(user))
    end = deadline()
    while True:
        seen = set()
        for line in s.stderr_text()[mark:].splitlines():
            m = pat.search(line)
            if m:
                seen.add(int(m.group(1)))
        if set(workers) <= seen:
            return
        if time.monotonic() > end:
            raise dt.TestFailure("workers %r never dropped the cache entries of %s (seen: %r)"
                                 % (workers, user, sorted(seen)))
        time.sleep(0.01)  # polling the log with a deadline


def warm_everywhere(s, h, workers, user, pw):
    """Log in on every worker, then prove each one's cache is warm: with
    hashes held, each still answers at once."""
    for w in workers:
        ok, text = login_on(s, w, user, pw)
        if not ok:
            raise dt.TestFailure("login of %s on worker %d: %s" % (user, w, text))
    h.on()
    try:
        for w in workers:
            ok, text = login_on(s, w, user, pw)
            if not ok:
                raise dt.TestFailure("warm login of %s on worker %d: %s" % (user, w, text))
    finally:
        h.off()


def cli(s, *args, input_text=None):
    r = s.cli(*args, input_text=input_text)
    if r.returncode != 0:
        raise dt.TestFailure("darius %s: %d %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))


def changes_reach_every_worker():
    users = {"carol": "old-pw", "dave": "dave-pw", "erin": "erin-pw", "frank": "frank-pw", "gina": "gina-pw",
             "boss": "boss-pw"}
    s, h = server(workers=2, config={"admins": "boss"})
    try:
        start(s, users)
        end = deadline()
        workers = s.worker_pids()
        while len(workers) < 2 and time.monotonic() < end:
            workers = s.worker_pids()
        if len(workers) != 2:
            raise dt.TestFailure("expected 2 workers, found %r" % workers)

        # user passwd
        warm_everywhere(s, h, workers, "carol", "old-pw")
        mark = len(s.stderr_text())
        cli(s, "user", "passwd", "carol", input_text="new-pw\n")
        wait_flushed(s, workers, "carol", mark)
        for w in workers:
            ok, text = login_on(s, w, "carol", "old-pw")
            if ok:
                raise dt.TestFailure("old password still works on worker %d after user passwd" % w)
            ok, text = login_on(s, w, "carol", "new-pw")
            if not ok:
                raise dt.TestFailure("new password refused on worker %d: %s" % (w, text))
            ok, text = pop3_login_on(s, w, "carol", "old-pw")
            if ok:
                raise dt.TestFailure("old password still works over POP3 on worker %d" % w)
        R.ok("user passwd: every worker dropped its entries; the old password fails and the new one works "
             "on each (workers %s)" % workers)

        # user lock / unlock
        warm_everywhere(s, h, workers, "erin", "erin-pw")
        mark = len(s.stderr_text())
        cli(s, "user", "lock", "erin")
        wait_flushed(s, workers, "erin", mark)
        for w in workers:
            ok, text = login_on(s, w, "erin", "erin-pw")
            if ok or "[AUTHENTICATIONFAILED]" not in text:
                raise dt.TestFailure("locked erin on worker %d: %s" % (w, text))
        cli(s, "user", "unlock", "erin")
        for w in workers:
            ok, text = login_on(s, w, "erin", "erin-pw")
            if not ok:
                raise dt.TestFailure("unlocked erin refused on worker %d: %s" % (w, text))
        R.ok("user lock: refused on every worker, also from a warm cache; user unlock: accepted again")

        # user rename
        warm_everywhere(s, h, workers, "frank", "frank-pw")
        mark = len(s.stderr_text())
        cli(s, "user", "rename", "frank", "frank2")
        wait_flushed(s, workers, "frank", mark)
        for w in workers:
            if login_on(s, w, "frank", "frank-pw")[0]:
                raise dt.TestFailure("old name still logs in on worker %d after user rename" % w)
            ok, text = login_on(s, w, "frank2", "frank-pw")
            if not ok:
                raise dt.TestFailure("new name refused on worker %d: %s" % (w, text))
        R.ok("user rename: the old name fails, the new one works, on every worker")

        # user del
        warm_everywhere(s, h, workers, "dave", "dave-pw")
        mark = len(s.stderr_text())
        cli(s, "user", "del", "dave")
        wait_flushed(s, workers, "dave", mark)
        for w in workers:
            ok, text = login_on(s, w, "dave", "dave-pw")
            if ok:
                raise dt.TestFailure("deleted dave still logs in on worker %d" % w)
        R.ok("user del: refused on every worker")

        # an admin's IMAP DELETE of user/NAME (in whichever worker serves
        # the admin) reaches every worker too
        warm_everywhere(s, h, workers, "gina", "gina-pw")
        mark = len(s.stderr_text())
        boss = s.login("boss", "boss-pw")
        u, t = boss.command("DELETE user/gina")
        if tagged_status(t) != "OK":
            raise dt.TestFailure("DELETE user/gina: %s" % t.render())
        boss.logout()
        wait_flushed(s, workers, "gina", mark)
        for w in workers:
            if login_on(s, w, "gina", "gina-pw")[0]:
                raise dt.TestFailure("gina still logs in on worker %d after an admin's DELETE" % w)
        R.ok("an admin's IMAP DELETE user/NAME: refused on every worker")
        s.stop()
        return R.check_sanitizer(s)
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()


def main():
    R.run("warm cache: a verified login is answered while hashes are held, a cold one waits",
          warm_cache_answers_while_held)
    R.run("isolation: held password checks of every protocol path", isolation_during_held_logins)
    R.run("clients that disconnect while their check is held or queued", disconnect_while_held)
    R.run("server full: a connection whose login is being checked is decided by the answer",
          eviction_waits_for_the_check)
    R.run("negative cache: same reply, same failed-login delay", negative_cache_keeps_delay)
    R.run("SIGHUP keeps the cache and applies new TTLs", reload_keeps_cache_applies_ttl)
    R.run("account changes reach the cache of every worker", changes_reach_every_worker)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
