#!/usr/bin/env python3
"""URLAUTH (RFC 4467) must not tell which users, mailboxes and messages
exist: a URLFETCH (or a CATENATE URL part) whose user or mailbox does not
exist goes through the same pool job as one that does, and every failure
gets the same answer.

Before the fix the event loop looked the URL's user and mailbox up and
answered NIL at once when they did not exist, while an existing one went
through a job: a difference in path and time an attacker can measure.

Here each URL is fetched while the `urlfetch` job kind is held (the test
hook of src/net/jobs.h: DARIUS_TEST_HOLD_DIR, a job of kind K waits while
the file K exists and creates K.started): a URL of a user that does not
exist must be held too (its job started, no answer yet, other sessions
served), and after release every failure - no such user, mailbox, UID, a
wrong token - must be the same bytes once the URL itself is taken out.
The same for CATENATE with a URLAUTH URL (`catenate` job, NO [BADURL]).
And nothing of it is logged above debug level. Synchronised on the
server's answers and the hook's files, never on sleeps."""

import os
import re
import select
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("urlauth-oracle")
HOST = "mail.example.org"
TOKEN = "01" + "0123456789abcdef" * 2 + "01234567"


def wait_file(path, what):
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.005)   # polling a condition (a file the server creates), with a deadline
    raise dt.TestFailure("%s: %s never appeared (not run as a job?)" % (what, path))


def nothing_readable(c):
    if c.buf:
        return False
    r, _, _ = select.select([c.sock], [], [], 0)
    return not r


def release(hold, kind):
    for f in (kind, kind + ".started"):
        try:
            os.unlink(os.path.join(hold, f))
        except FileNotFoundError:
            pass


def held_command(hold, kind, c, other, line):
    """Send line on c while jobs of kind are held: the job must start and
    hold the answer (other is served meanwhile); returns (untagged, tagged)
    after release, as bytes with c's tag replaced by TAG."""
    try:
        open(os.path.join(hold, kind), "w").close()
        tag = c.next_tag()
        c.send_raw(("%s %s\r\n" % (tag, line)).encode())
        wait_file(os.path.join(hold, kind + ".started"), "the %s job of %r" % (kind, line))
        other.ok("NOOP")
        if not nothing_readable(c):
            raise dt.TestFailure("answered while its %s job was held: %r" % (kind, line))
        release(hold, kind)
        u, t = c.collect(tag)
    finally:
        release(hold, kind)
    return [r.raw for r in u], t.raw.replace(tag.encode(), b"TAG", 1)


def genurlauth(c, url):
    u, _ = c.ok('GENURLAUTH "%s" INTERNAL' % url)
    m = dt.untagged_match(u, r'\* GENURLAUTH "([^"]+)"')
    if not m:
        raise dt.TestFailure("GENURLAUTH: %r" % [r.render() for r in u])
    return m[0].group(1)


def failures(s):
    """The URLs that must all fail alike, the one that must work."""
    a = s.login("alice", "alicepw")
    good = genurlauth(a, "imap://alice@%s/INBOX/;uid=1;urlauth=anonymous" % HOST)
    nouid = genurlauth(a, "imap://alice@%s/INBOX/;uid=99;urlauth=anonymous" % HOST)
    a.logout()
    bad = {
        "no such user": "imap://ghost@%s/INBOX/;uid=1;urlauth=anonymous:internal:%s" % (HOST, TOKEN),
        "no such user, the real token": good.replace("imap://alice@", "imap://ghost@"),
        "no such mailbox": "imap://alice@%s/Nosuch/;uid=1;urlauth=anonymous:internal:%s" % (HOST, TOKEN),
        "no such UID (a token that verifies)": nouid,
        "a wrong token": good[:-40] + "0" * 40,
    }
    return good, bad


def urlfetch_all_held(s, hold, src):
    good, bad = failures(s)
    b = s.login("bob", "bobpw")
    c = s.login("carol", "carolpw")
    u, t = held_command(hold, "urlfetch", b, c, 'URLFETCH "%s"' % good)
    if len(u) != 1 or not u[0].endswith(b"{%d}\r\n" % len(src) + src + b"\r\n"):
        raise dt.TestFailure("the valid URL: %r" % u)
    answers = {}
    for why, url in bad.items():
        u, t = held_command(hold, "urlfetch", b, c, 'URLFETCH "%s"' % url)
        answers[why] = (b"".join(u).replace(url.encode(), b"URL"), t)
    first = next(iter(answers.values()))
    if first[0] != b'* URLFETCH "URL" NIL\r\n' or not first[1].startswith(b"TAG OK "):
        raise dt.TestFailure("a failing URL: %r" % (first,))
    for why, a in answers.items():
        if a != first:
            raise dt.TestFailure("%s answers %r, not %r as the others" % (why, a, first))
    b.logout()
    c.logout()
    return "%d failures each held in the urlfetch job, then the same bytes: %r" % (len(bad), first[0])


def catenate_all_held(s, hold, src):
    good, bad = failures(s)
    b = s.login("bob", "bobpw")
    c = s.login("carol", "carolpw")
    u, t = held_command(hold, "catenate", b, c, 'APPEND INBOX CATENATE (URL "%s")' % good)
    if not re.match(rb"TAG OK \[APPENDUID \d+ 2\]", t):
        raise dt.TestFailure("CATENATE of the valid URL: %r" % t)
    answers = {}
    for why, url in bad.items():
        u, t = held_command(hold, "catenate", b, c, 'APPEND INBOX CATENATE (URL "%s")' % url)
        answers[why] = (u, t.replace(url.encode(), b"URL"))
    first = next(iter(answers.values()))
    if first != ([], b"TAG NO [BADURL URL] CATENATE: the URL names no readable message or part\r\n"):
        raise dt.TestFailure("a failing URL: %r" % (first,))
    for why, a in answers.items():
        if a != first:
            raise dt.TestFailure("%s answers %r, not %r as the others" % (why, a, first))
    u, _ = b.ok("STATUS INBOX (MESSAGES)")
    if not dt.untagged_match(u, r"\* STATUS \S+ \(MESSAGES 2\)"):
        raise dt.TestFailure("bob's INBOX: %r" % [r.render() for r in u])
    b.logout()
    c.logout()
    return "%d failures each held in the catenate job, then the same NO [BADURL]" % len(bad)


def nothing_logged(s):
    lines = [x for x in s.stderr_text().splitlines() if re.search(r"URLAUTH|URLFETCH|ghost|Nosuch", x)]
    if lines:
        raise dt.TestFailure("logged above debug level: %r" % lines[:5])
    return "no line about the failures (their reasons are debug-level only)"


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
        src = dt.sample_message(1, size=2000, subject="source").encode()
        for u in ("alice", "bob"):
            c = s.login(u, u + "pw")
            c.ok("APPEND INBOX %L", [src])
            c.logout()
        R.run("URLFETCH: no such user, mailbox, UID or a wrong token: held in the job, one answer",
              urlfetch_all_held, s, hold, src)
        R.run("CATENATE URLAUTH URL: no such user, mailbox, UID or a wrong token: held in the job, one answer",
              catenate_all_held, s, hold, src)
        R.run("the failures are not logged above debug level", nothing_logged, s)
        s.stop()
    finally:
        s.cleanup()
        for f in os.listdir(hold):
            os.unlink(os.path.join(hold, f))
        os.rmdir(hold)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
