#!/usr/bin/env python3
"""Multi-client behaviour: IDLE sees another client's APPEND / STORE /
EXPUNGE; QRESYNC resync after changes including expunge of the highest UID;
a large FETCH on one connection does not stall a NOOP on another."""

import re
import socket
import sys
import time

import darius_test as dt

R = dt.Report("multiclient")
WAIT = 2.0  # seconds an IDLE client may wait for an update (socket timeout)


def read_until(c, regex, what):
    """Read responses with a WAIT s socket timeout until one matches; a
    timeout is the failure."""
    c.settimeout(WAIT * dt.timeout_scale())
    seen = []
    try:
        while True:
            r = c.read()
            seen.append(r.render())
            if re.fullmatch(regex, r.render()):
                return r
    except dt.TestFailure as e:
        raise dt.TestFailure("%s: no /%s/ within %.1fs (%s); got %r" % (what, regex, WAIT, e, seen))
    finally:
        c.settimeout(c.timeout)


def idle_updates(s):
    a = s.login()
    b = s.login()
    a.ok("APPEND INBOX %L", [dt.sample_message(1)])
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    tag = a.next_tag()
    a.send(tag + " IDLE")
    a.expect(r"\+.*")
    t0 = time.monotonic()
    b.ok("APPEND INBOX %L", [dt.sample_message(2)])
    read_until(a, r"\* 2 EXISTS", "EXISTS after APPEND")
    t_exists = time.monotonic() - t0
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    read_until(a, r"\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged[^)]*\).*\)", "FETCH FLAGS after STORE")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    read_until(a, r"\* 1 EXPUNGE", "EXPUNGE")
    a.send("DONE")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("IDLE ended with %s" % t.render())
    # after IDLE the session is consistent: one message, UID 2
    u, t = a.ok("FETCH 1:* (UID)")
    if [r.render() for r in u] != ["* 1 FETCH (UID 2)"]:
        raise dt.TestFailure("view after IDLE: %r" % [r.render() for r in u])
    a.logout()
    b.logout()
    return "EXISTS after %.0f ms" % (t_exists * 1000)


def qresync(s):
    a = s.login()
    for i in range(1, 6):
        a.ok("APPEND INBOX %L", [dt.sample_message(i)])
    a.ok("ENABLE QRESYNC")
    u, t = a.ok("SELECT INBOX")
    txt = "\n".join(r.render() for r in u)
    uv = re.search(r"UIDVALIDITY (\d+)", txt).group(1)
    hm = re.search(r"HIGHESTMODSEQ (\d+)", txt)
    if not hm:
        raise dt.TestFailure("no HIGHESTMODSEQ in SELECT: %s" % txt)
    hm = hm.group(1)
    a.ok("UNSELECT")
    b = s.login()
    b.ok("SELECT INBOX")
    b.ok("UID STORE 2 +FLAGS.SILENT (\\Answered)")
    b.ok("UID STORE 1,5 +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 1,5")      # 5 is the highest UID
    b.logout()
    u, t = a.ok("SELECT INBOX (QRESYNC (%s %s))" % (uv, hm))
    lines = [r.render() for r in u]
    if "* VANISHED (EARLIER) 1,5" not in lines:
        raise dt.TestFailure("no '* VANISHED (EARLIER) 1,5' in %r" % lines)
    if not any(re.fullmatch(r"\* 2 FETCH \(.*UID 2.*\\Answered.*\)|\* 1 FETCH \(.*UID 2.*\\Answered.*\)", x)
               for x in lines):
        raise dt.TestFailure("no FETCH for the changed UID 2 in %r" % lines)
    if "* 3 EXISTS" not in lines:
        raise dt.TestFailure("EXISTS wrong: %r" % lines)
    hm2 = re.search(r"HIGHESTMODSEQ (\d+)", "\n".join(lines)).group(1)
    if int(hm2) <= int(hm):
        raise dt.TestFailure("HIGHESTMODSEQ did not grow: %s -> %s" % (hm, hm2))
    # UID 5 is never reused after expunge of the highest UID
    _, t = a.ok("APPEND INBOX %L", [dt.sample_message(6)])
    m = re.search(r"APPENDUID \d+ (\d+)", t.text)
    if not m or int(m.group(1)) <= 5:
        raise dt.TestFailure("UID reused after expunge of highest: %s" % t.render())
    # a second resync from the new state reports nothing vanished
    a.ok("UNSELECT")
    u, t = a.ok("SELECT INBOX (QRESYNC (%s %s 1:6))" % (uv, hm2))
    lines = [r.render() for r in u]
    if any(x.startswith("* VANISHED") for x in lines):
        raise dt.TestFailure("unexpected VANISHED after no expunge: %r" % lines)
    a.logout()


def big_fetch_no_stall(s):
    a = s.login()
    big = dt.sample_message(1, size=6 * 1024 * 1024)
    for _ in range(4):
        a.ok("APPEND INBOX %L", [big])
    a.ok("SELECT INBOX")
    # a does not read its 24 MB answer (more than the socket buffers hold):
    # the server must not block its worker writing to a
    a.send("big FETCH 1:* BODY.PEEK[]")
    b = s.login()
    t0 = time.monotonic()
    for _ in range(5):
        b.settimeout(WAIT * dt.timeout_scale())
        b.ok("NOOP")
    dt_ms = (time.monotonic() - t0) * 1000
    b.ok("SELECT INBOX")
    b.logout()
    # a still gets its data completely
    a.settimeout(30 * dt.timeout_scale())
    u, t = a.collect("big")
    if not t.text.startswith("big OK") or len(u) < 4:
        raise dt.TestFailure("big FETCH: %s, %d responses" % (t.render(), len(u)))
    if any(len(r.literals[0]) != len(big) for r in u if r.literals):
        raise dt.TestFailure("big FETCH returned wrong sizes")
    a.logout()
    return "5 NOOPs in %.0f ms during a 24 MB FETCH" % dt_ms


def main():
    for name, fn in (("IDLE sees APPEND/STORE/EXPUNGE of another client", idle_updates),
                     ("QRESYNC resync incl. expunge of highest UID", qresync),
                     ("large FETCH does not stall NOOP on another connection", big_fetch_no_stall)):
        def run(fn=fn):
            with dt.server_with_user() as s:
                return fn(s)
        R.run(name, run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
