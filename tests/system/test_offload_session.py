#!/usr/bin/env python3
"""Sessions parked on the worker's pool (issue 10): SELECT runs as a job,
a job outlives a client that went away, and a shutdown waits for a job
that is running.

Proved by behaviour with DARIUS_TEST_HOLD_DIR (a job of kind K waits
while the file K exists there and creates K.started when it starts to
wait) and one worker, never by timing:
  - SELECT held: another user's NOOP is answered meanwhile, A gets no
    reply until the hold goes, then the full SELECT response.
  - SIGTERM while a STORE job is held: the STORE's tagged OK reaches the
    client before "* BYE", the server exits once the job is released,
    and the change is there after a restart (nothing a client was told
    is lost).
  - A client that disconnects while its SELECT is held: the server keeps
    serving, and (under --sanitizer) nothing leaks.
  - Reads of one store run in parallel with its other jobs: a held
    SEARCH does not hold up a FETCH or a STORE of the same store.
On a server that runs SELECT or STORE on the event loop nothing is held,
K.started never appears and the tests fail.
"""

import base64
import os
import select
import shutil
import signal
import tempfile
import time

import darius_test as dt

R = dt.Report("offload_session")
HOLD = None


def tagged_ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def hold(kind):
    started = os.path.join(HOLD, kind + ".started")
    if os.path.exists(started):
        os.unlink(started)
    open(os.path.join(HOLD, kind), "w").close()


def release(kind):
    if os.path.exists(os.path.join(HOLD, kind)):
        os.unlink(os.path.join(HOLD, kind))


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout * dt.timeout_scale()
    while not cond():
        if time.monotonic() > deadline:
            raise dt.TestFailure("timed out waiting for " + what)
        time.sleep(0.01)  # polling a condition with a deadline


def wait_started(kind):
    wait_for(lambda: os.path.exists(os.path.join(HOLD, kind + ".started")),
             "a held %s job (the command did not run as a job)" % kind)


def nothing_pending(c):
    if c.buf:
        return False
    r, _, _ = select.select([c.sock], [], [], 0)
    return not r


def test_select_held(s):
    a = s.login("alice", "secret")
    b = s.login("bob", "secret")
    hold("select")
    try:
        tag = a.next_tag()
        a.send("%s SELECT INBOX" % tag)
        wait_started("select")
        _, t = b.command("NOOP")
        if not tagged_ok(t):
            raise dt.TestFailure("B's NOOP: %s" % t.render())
        if not nothing_pending(a):
            raise dt.TestFailure("A got an answer while its SELECT was held")
    finally:
        release("select")
    u, t = a.collect(tag)
    if not tagged_ok(t) or "READ-WRITE" not in t.render():
        raise dt.TestFailure("SELECT: %s" % t.render())
    lines = [x.render() for x in u]
    if not any(x.startswith("* 3 EXISTS") for x in lines):
        raise dt.TestFailure("no 3 EXISTS: %s" % lines)
    if not any("UIDVALIDITY" in x for x in lines):
        raise dt.TestFailure("no UIDVALIDITY: %s" % lines)
    # the selection works: FETCH and a second SELECT (closes the first)
    u, _ = a.ok("FETCH 1:3 (FLAGS)")
    if len([x for x in u if "FETCH" in x.render()]) != 3:
        raise dt.TestFailure("FETCH after SELECT: %s" % [x.render() for x in u])
    u, t = a.ok("EXAMINE INBOX")
    if "READ-ONLY" not in t.render() or not any("[CLOSED]" in x.render() for x in u):
        raise dt.TestFailure("EXAMINE: %s %s" % ([x.render() for x in u], t.render()))
    a.logout()
    b.logout()


def test_reads_of_one_store_in_parallel(s):
    """Read jobs of one store take no turn (reader connections, no key):
    while a SEARCH BODY of alice's INBOX is held on the pool, another
    session of alice gets a body FETCH (a read job) and a STORE (a write
    job on the store's key) answered; then the SEARCH completes. When
    searches were keyed on the store both waited behind the held one."""
    a = s.login("alice", "secret")
    a.ok("EXAMINE INBOX")
    b = s.login("alice", "secret")
    b.ok("SELECT INBOX")
    hold("search")
    try:
        tag = a.next_tag()
        a.send("%s SEARCH BODY body" % tag)
        wait_started("search")
        u, t = b.command("FETCH 1 (BODY.PEEK[])")
        if not tagged_ok(t) or not any("FETCH" in x.render() for x in u):
            raise dt.TestFailure("alice's other session's FETCH: %s" % t.render())
        _, t = b.command("STORE 1 +FLAGS (\\Flagged)")
        if not tagged_ok(t):
            raise dt.TestFailure("alice's other session's STORE: %s" % t.render())
        if not nothing_pending(a):
            raise dt.TestFailure("the held SEARCH answered early")
    finally:
        release("search")
    u, t = a.collect(tag)
    if not tagged_ok(t) or not any(x.render().startswith("* SEARCH") for x in u):
        raise dt.TestFailure("SEARCH: %s %s" % ([x.render() for x in u], t.render()))
    a.logout()
    b.logout()


def test_select_client_gone(s):
    a = s.login("alice", "secret")
    hold("select")
    try:
        a.send("%s SELECT INBOX" % a.next_tag())
        wait_started("select")
        a.sock.close()
    finally:
        release("select")
    b = s.login("bob", "secret")
    b.ok("SELECT INBOX")
    b.logout()


def test_shutdown_waits_for_job(s):
    a = s.login("alice", "secret")
    a.ok("SELECT INBOX")
    hold("store")
    try:
        tag = a.next_tag()
        a.send("%s STORE 2 +FLAGS (\\Flagged)" % tag)
        wait_started("store")
        s.signal(signal.SIGTERM)
        # The worker waits for the job: the server is still there and A
        # has been told nothing yet (not even BYE).
        if s.proc.poll() is not None:
            raise dt.TestFailure("the server exited with a job running")
        if not nothing_pending(a):
            raise dt.TestFailure("A got something before its job was released: %r" % a.buf)
    finally:
        release("store")
    # The reply first, then BYE, then the close.
    lines = []
    try:
        while True:
            line = a._readline()
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line.startswith(b"* BYE"):
                break
    except EOFError:
        pass
    ok_i = [i for i, x in enumerate(lines) if x.startswith(tag + " OK")]
    bye_i = [i for i, x in enumerate(lines) if x.startswith("* BYE")]
    if not ok_i or not bye_i or ok_i[0] > bye_i[0]:
        raise dt.TestFailure("expected the STORE's OK before BYE: %s" % lines)
    wait_for(lambda: s.proc.poll() is not None, "the server to exit after SIGTERM")
    s.proc = None
    s.start()
    c = s.login("alice", "secret")
    c.ok("SELECT INBOX")
    u, _ = c.ok("FETCH 2 (FLAGS)")
    if not any("\\Flagged" in x.render() for x in u):
        raise dt.TestFailure("the acknowledged STORE is lost: %s" % [x.render() for x in u])
    c.logout()


def test_first_login_held(s):
    """A user's first login provisions the store (creating it, its
    autocreate folders and their subscriptions) as a job: while that is
    held on the pool, bob's logged-in IMAP session is served, and the new
    user's client gets nothing until it is released. The same for IMAP,
    POP3 and ManageSieve logins (three users who never logged in)."""
    b = s.login("bob", "secret")
    # IMAP
    hold("provision")
    try:
        a = s.client()
        a.greeting()
        tag = a.next_tag()
        a.send('%s LOGIN carol secret' % tag)
        wait_started("provision")
        _, t = b.command("NOOP")
        if not tagged_ok(t):
            raise dt.TestFailure("bob's NOOP: %s" % t.render())
        if not nothing_pending(a):
            raise dt.TestFailure("carol got an answer while her first login was held")
    finally:
        release("provision")
    _, t = a.collect(tag)
    if not tagged_ok(t):
        raise dt.TestFailure("carol's LOGIN: %s" % t.render())
    u, _ = a.ok('LIST "" "*"')
    if not any("Sent" in x.render() for x in u):
        raise dt.TestFailure("carol's autocreate folders: %s" % [x.render() for x in u])
    a.ok("SELECT INBOX")
    a.logout()
    # POP3
    hold("provision")
    try:
        p = s.pop3()
        p.ok("USER dave")
        p.send("PASS secret")
        wait_started("provision")
        _, t = b.command("NOOP")
        if not tagged_ok(t):
            raise dt.TestFailure("bob's NOOP during the POP3 login: %s" % t.render())
        if not nothing_pending(p):
            raise dt.TestFailure("dave got an answer while his first login was held")
    finally:
        release("provision")
    line = p.readline_raw()
    if not line.startswith(b"+OK"):
        raise dt.TestFailure("dave's PASS: %r" % line)
    p.send("QUIT")
    p.close()
    # ManageSieve
    hold("provision")
    try:
        m = s.sieve()
        ir = base64.b64encode(b"\0erin\0secret").decode()
        m.send('AUTHENTICATE "PLAIN" "%s"' % ir)
        wait_started("provision")
        _, t = b.command("NOOP")
        if not tagged_ok(t):
            raise dt.TestFailure("bob's NOOP during the ManageSieve login: %s" % t.render())
        if not nothing_pending(m):
            raise dt.TestFailure("erin got an answer while her first login was held")
    finally:
        release("provision")
    _, st = m.response()
    if not st.startswith("OK"):
        raise dt.TestFailure("erin's AUTHENTICATE: %r" % st)
    m.ok("LISTSCRIPTS")
    m.close()
    b.logout()


def main():
    global HOLD
    HOLD = tempfile.mkdtemp(prefix="darius-hold-")
    os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD
    s = dt.Server(workers=1, start=False, config={"autocreate_inbox_folders": "Sent|Trash"})
    try:
        for u in ("alice", "bob", "carol", "dave", "erin"):
            s.add_user(u, "secret")
        s.start()
        a = s.login("alice", "secret")
        for i in range(1, 4):
            a.ok("APPEND INBOX %L", [dt.sample_message(i)])
        a.logout()
        R.run("SELECT held on the pool while another user is served", test_select_held, s)
        R.run("client gone while its SELECT is held; server serves on", test_select_client_gone, s)
        R.run("reads of one store run in parallel: FETCH and STORE while a SEARCH of it is held",
              test_reads_of_one_store_in_parallel, s)
        R.run("first logins (IMAP, POP3, ManageSieve) provision the store on the pool", test_first_login_held, s)
        R.run("SIGTERM during a held STORE: OK, then BYE; the change survives", test_shutdown_waits_for_job, s)
    except Exception as e:  # noqa: BLE001
        R.fail("setup", "%s: %s" % (type(e).__name__, e))
    finally:
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001
            R.fail("server stop", str(e))
        R.check_sanitizer(s)
        s.cleanup()
        shutil.rmtree(HOLD, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    raise SystemExit(main())
