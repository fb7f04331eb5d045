#!/usr/bin/env python3
"""INPROGRESS (RFC 9585): while a long command's job runs on the pool the
event loop sends untagged "* OK [INPROGRESS ("tag" count goal)]" responses
from a timer (imap_inprogress_interval_ms, 50 ms here); the job only
publishes its count (imap_progress_add).

Deterministic by behaviour, not timing: the test hook DARIUS_TEST_HOLD_DIR
holds a job - before it starts (file K for a job of kind K: count 0), or
once it is half done (file "progress", imap.h): the client waits for the
expected INPROGRESS line while the job is held, then releases it and gets
the command's normal result and tagged OK (never carrying INPROGRESS).
Without the feature no INPROGRESS line ever comes and the waits fail."""

import os
import re
import shutil
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("inprogress")
HOLD = tempfile.mkdtemp(prefix="darius-hold-")
os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD
WAIT = 15.0 * dt.timeout_scale()
USER, PW = "alice", "secret-a"
N = 40
ZEBRA = (3, 17, 29)


def msg(n):
    m = dt.sample_message(n, size=2000, subject="note %d" % n)
    if n in ZEBRA:
        m = m.replace("Message number %d." % n, "Message number %d about a zebra." % n)
    return m


def hold(kind):
    try:
        os.unlink(os.path.join(HOLD, kind) + ".started")
    except FileNotFoundError:
        pass
    open(os.path.join(HOLD, kind), "w").close()


def release(kind):
    try:
        os.unlink(os.path.join(HOLD, kind))
    except FileNotFoundError:
        pass


def wait_line(c, tag, regex):
    """Read responses until one matches regex (the tagged reply must not
    come first); returns the match."""
    c.settimeout(WAIT)
    while True:
        r = c.read()
        txt = r.render()
        m = re.fullmatch(regex, txt)
        if m:
            return m
        if txt.startswith(tag + " "):
            raise dt.TestFailure("tagged reply before /%s/: %s" % (regex, txt))


def finish(c, tag):
    u, t = c.collect(tag)
    if not t.text.startswith(tag + " OK") or "INPROGRESS" in t.text:
        raise dt.TestFailure("tagged reply: %s" % t.render())
    return [r.render() for r in u if "INPROGRESS" not in r.render()]


def setup(s):
    s.add_user(USER, PW)
    a = s.login(USER, PW)
    lits = [msg(n) for n in range(1, N + 1)]
    a.ok("APPEND INBOX" + " %L" * len(lits), lits)
    a.ok("CREATE Dest")
    a.logout()


def capability(s):
    a = s.login(USER, PW)
    u, _ = a.ok("CAPABILITY")
    caps = u[0].render().split()
    a.logout()
    if "INPROGRESS" not in caps:
        raise dt.TestFailure("INPROGRESS not advertised: %r" % caps)


def search_held_at_start(s):
    a = s.login(USER, PW)
    a.ok("SELECT INBOX")
    hold("search")
    try:
        tag = a.next_tag()
        a.send(tag + " SEARCH BODY zebra")
        wait_line(a, tag, r'\* OK \[INPROGRESS \("%s" 0 %d\)\] .*' % (tag, N))
    finally:
        release("search")
    rest = finish(a, tag)
    if rest != ["* SEARCH 3 17 29"]:
        raise dt.TestFailure("SEARCH result %r" % rest)
    a.logout()


def search_half_done(s):
    a = s.login(USER, PW)
    a.ok("SELECT INBOX")
    hold("progress")
    try:
        tag = a.next_tag()
        a.send(tag + " UID SEARCH TEXT zebra")
        m = wait_line(a, tag, r'\* OK \[INPROGRESS \("%s" (\d+) %d\)\] .*' % (tag, N))
        done = int(m.group(1))
        if not 0 < done < N:
            raise dt.TestFailure("progress %d of %d" % (done, N))
    finally:
        release("progress")
    rest = finish(a, tag)
    if rest != ["* SEARCH 3 17 29"]:
        raise dt.TestFailure("UID SEARCH result %r" % rest)
    a.logout()
    return "progress %d/%d" % (done, N)


def sort_and_thread(s):
    a = s.login(USER, PW)
    a.ok("SELECT INBOX")
    for cmd, kind, want in (("SORT (SUBJECT) UTF-8 BODY zebra", "sort", "* SORT 17 29 3"),
                            ("THREAD ORDEREDSUBJECT UTF-8 BODY zebra", "thread", "* THREAD (3)(17)(29)")):
        hold(kind)
        try:
            tag = a.next_tag()
            a.send(tag + " " + cmd)
            wait_line(a, tag, r'\* OK \[INPROGRESS \("%s" 0 %d\)\] .*' % (tag, N))
        finally:
            release(kind)
        rest = finish(a, tag)
        if rest != [want]:
            raise dt.TestFailure("%s: %r" % (cmd, rest))
    a.logout()


def fetch_half_done(s):
    a = s.login(USER, PW)
    a.ok("EXAMINE INBOX")
    hold("progress")
    try:
        tag = a.next_tag()
        a.send(tag + " FETCH 1:* (UID BODY.PEEK[TEXT])")
        m = wait_line(a, tag, r'\* OK \[INPROGRESS \("%s" (\d+) %d\)\] .*' % (tag, N))
        done = int(m.group(1))
        if not 0 < done < N:
            raise dt.TestFailure("progress %d of %d" % (done, N))
    finally:
        release("progress")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("FETCH: %s" % t.render())
    fetches = [r for r in u if " FETCH " in r.render()]
    # every FETCH response whole (no notification inside one)
    if len(fetches) != N or any(len(r.literals) != 1 for r in fetches):
        raise dt.TestFailure("FETCH responses: %d" % len(fetches))
    a.logout()
    return "progress %d/%d" % (done, N)


def copy_keepalive(s):
    """COPY counts nothing: keepalives with NIL NIL; a tag holding "]" is
    sent as NIL (RFC 9585 4)."""
    a = s.login(USER, PW)
    a.ok("SELECT INBOX")
    hold("copy")
    try:
        tag = "c]1"
        a.send(tag + " COPY 1:* Dest")
        wait_line(a, tag, r'\* OK \[INPROGRESS \(NIL NIL NIL\)\] .*')
    finally:
        release("copy")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("COPY: %s" % t.render())
    hold("copy")
    try:
        tag = a.next_tag()
        a.send(tag + " COPY 1:2 Dest")
        wait_line(a, tag, r'\* OK \[INPROGRESS \("%s" NIL NIL\)\] .*' % tag)
    finally:
        release("copy")
    finish(a, tag)
    u, _ = a.ok("STATUS Dest (MESSAGES)")
    if "MESSAGES %d" % (N + 2) not in u[0].render():
        raise dt.TestFailure("STATUS Dest: %s" % u[0].render())
    a.logout()


def quick_commands_silent(s):
    """A command that ends before the first interval sends nothing."""
    a = s.login(USER, PW)
    a.ok("SELECT INBOX")
    for _ in range(5):
        u, _ = a.ok("SEARCH BODY zebra")
        if any("INPROGRESS" in r.render() for r in u):
            # the interval is 50 ms: a loaded machine may take that long;
            # only a notification *after* the tagged reply would be a bug
            pass
    u, _ = a.ok("NOOP")
    if any("INPROGRESS" in r.render() for r in u):
        raise dt.TestFailure("INPROGRESS after the command completed: %r" % [r.render() for r in u])
    a.logout()


def main():
    try:
        with dt.Server(config={"workers": "1", "imap_inprogress_interval_ms": "50"}, workers=1) as s:
            setup(s)
            R.run("INPROGRESS advertised", capability, s)
            R.run("SEARCH held before it starts: (tag 0 goal)", search_held_at_start, s)
            R.run("UID SEARCH held half done: 0 < count < goal", search_half_done, s)
            R.run("SORT and THREAD held: notifications, then results", sort_and_thread, s)
            R.run("FETCH of bodies held half done: count, whole responses", fetch_half_done, s)
            R.run("COPY keepalives with NIL NIL, tag with ] as NIL", copy_keepalive, s)
            R.run("no notification after the tagged reply", quick_commands_silent, s)
            R.check_sanitizer(s)
        # interval 0: never
        with dt.Server(config={"workers": "1", "imap_inprogress_interval_ms": "0"}, workers=1) as s:
            s.add_user(USER, PW)
            a = s.login(USER, PW)
            a.ok("APPEND INBOX %L", [msg(3)])
            a.ok("SELECT INBOX")
            hold("search")
            try:
                tag = a.next_tag()
                a.send(tag + " SEARCH BODY zebra")
                deadline = time.monotonic() + WAIT
                while not os.path.exists(os.path.join(HOLD, "search.started")):
                    if time.monotonic() > deadline:
                        raise dt.TestFailure("search job never held")
                    time.sleep(0.005)   # poll interval, not synchronisation
            finally:
                release("search")
            u, t = a.collect(tag)
            R.check(t.text.startswith(tag + " OK") and not any("INPROGRESS" in r.render() for r in u),
                    "imap_inprogress_interval_ms 0: no notifications", repr([r.render() for r in u]))
            a.logout()
    finally:
        shutil.rmtree(HOLD, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
