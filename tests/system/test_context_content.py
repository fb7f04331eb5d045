#!/usr/bin/env python3
"""CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267 4.3) for programs the message
records cannot answer: SUBJECT, BODY and FROM keys, SORT by SUBJECT, DATE
and FROM (the stored sort keys). Session A keeps seven contexts and IDLEs;
session B appends matching and non-matching messages, expunges, and
changes flags. Every ADDTO / REMOVEFROM (with the SORT positions) is
checked against hand-computed expectations, after the EXISTS (4.3.3) and
before the EXPUNGE (4.3.4). Also the bound: more than
UPDATE_CTX_MAX_PENDING (512) new messages waiting for one context's
evaluation end it with NO [NOUPDATE], while a record-only context goes
on."""

import os
import re
import select
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("context-content")
WAIT = 5.0
# src/net/jobs.h: a job of kind K waits while the file HOLD/K exists
HOLD = tempfile.mkdtemp(prefix="darius-hold-")
os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD


def msg(subject, frm, date, body):
    return ("From: %s\r\nTo: someone@example.org\r\nSubject: %s\r\nDate: %s\r\n"
            "Message-ID: <%s@example.org>\r\n\r\n%s\r\n"
            % (frm, subject, date, abs(hash((subject, frm, date))), body))


M1 = msg("foo one", "Alice <alice@a.example>", "Mon, 1 Jan 2024 10:00:00 +0000", "hello")
M2 = msg("other", "Bob <bob@b.example>", "Thu, 1 Jun 2023 10:00:00 +0000", "bar baz")
M3 = msg("foo two", "Carol <carol@c.example>", "Sat, 1 Jan 2022 10:00:00 +0000", "nothing")
M4 = msg("Re: foo three", "Dave <dave@d.example>", "Fri, 1 Jan 2021 10:00:00 +0000", "bar here")
M5 = msg("unrelated", "Bob <bob@b.example>", "Wed, 1 Jan 2025 10:00:00 +0000", "nothing either")

CONTEXTS = [
    ("s1", "SEARCH RETURN (UPDATE ALL) SUBJECT foo", '* ESEARCH (TAG "s1") ALL 1,3'),
    ("s2", "UID SEARCH RETURN (UPDATE ALL) BODY bar", '* ESEARCH (TAG "s2") UID ALL 2'),
    ("s3", "SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL", '* ESEARCH (TAG "s3") ALL 1,3,2'),
    ("s4", "SORT RETURN (UPDATE ALL) (DATE) UTF-8 ALL", '* ESEARCH (TAG "s4") ALL 3,2,1'),
    ("s5", "UID SEARCH RETURN (UPDATE ALL) FROM bob", '* ESEARCH (TAG "s5") UID ALL 2'),
    ("s6", "SORT RETURN (UPDATE ALL) (REVERSE FROM) UTF-8 UNSEEN", '* ESEARCH (TAG "s6") ALL 3,2,1'),
    ("s7", "SEARCH RETURN (UPDATE ALL) OR FLAGGED BODY bar", '* ESEARCH (TAG "s7") ALL 2'),
]


def expand(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1) if int(b or a) >= int(a) else range(int(a), int(b) - 1, -1))
    return out


def wait_lines(a, want, what, before=None, after=None):
    """Read A's responses until every line of want came; any other ESEARCH
    is an error. before: a line that must come after all of want (EXPUNGE);
    after: one that must come before any of want (EXISTS)."""
    a.settimeout(WAIT * dt.timeout_scale())
    left = list(want)
    seen = []
    try:
        while left or (before and before not in seen):
            line = a.read().render()
            seen.append(line)
            if line.startswith("* ESEARCH"):
                if line not in left:
                    raise dt.TestFailure("%s: unexpected %r (waiting for %r); seen %r" % (what, line, left, seen))
                left.remove(line)
                if after and after not in seen:
                    raise dt.TestFailure("%s: %r before %r" % (what, line, after))
            elif before and line == before and left:
                raise dt.TestFailure("%s: %r before %r" % (what, line, left))
    except dt.TestFailure as e:
        if "timeout" in str(e):
            raise dt.TestFailure("%s: still waiting for %r; seen %r" % (what, left, seen))
        raise
    finally:
        a.settimeout(a.timeout)
    return seen


def two_sessions(s):
    a = s.login()
    b = s.login()
    for m in (M1, M2, M3):
        b.ok("APPEND INBOX %L", [m])
    b.ok("SELECT INBOX")
    a.ok("SELECT INBOX")
    for tag, cmd, first in CONTEXTS:
        a.send("%s %s" % (tag, cmd))
        u, t = a.collect(tag)
        got = [r.render() for r in u]
        if not t.text.startswith(tag + " OK") or got != [first]:
            raise dt.TestFailure("%s: want [%r] and OK, got %r %s" % (cmd, first, got, t.render()))
    a.send("i1 IDLE")
    a.expect(r"\+.*")

    # a message matching everything but FROM bob
    b.ok("APPEND INBOX %L", [M4])
    wait_lines(a, ['* ESEARCH (TAG "s1") ADDTO (0 4)',
                   '* ESEARCH (TAG "s2") UID ADDTO (0 4)',
                   '* ESEARCH (TAG "s3") ADDTO (2 4)',       # "foo three" between "foo one" and "foo two"
                   '* ESEARCH (TAG "s4") ADDTO (1 4)',       # 2021: the oldest
                   '* ESEARCH (TAG "s6") ADDTO (1 4)',       # dave before carol (REVERSE)
                   '* ESEARCH (TAG "s7") ADDTO (0 4)'],
               "append 4", after="* 4 EXISTS")
    # a message matching only FROM bob and the ALL sorts
    b.ok("APPEND INBOX %L", [M5])
    wait_lines(a, ['* ESEARCH (TAG "s3") ADDTO (5 5)',       # "unrelated" last
                   '* ESEARCH (TAG "s4") ADDTO (5 5)',       # 2025: the newest
                   '* ESEARCH (TAG "s5") UID ADDTO (0 5)',
                   '* ESEARCH (TAG "s6") ADDTO (4 5)'],      # bob = bob: message order
               "append 5", after="* 5 EXISTS")
    # expunge message 1 (uid 1): REMOVEFROM with the old numbers, first
    b.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    wait_lines(a, ['* ESEARCH (TAG "s1") REMOVEFROM (0 1)',
                   '* ESEARCH (TAG "s3") REMOVEFROM (1 1)',
                   '* ESEARCH (TAG "s4") REMOVEFROM (4 1)',
                   '* ESEARCH (TAG "s6") REMOVEFROM (5 1)'],
               "expunge 1", before="* 1 EXPUNGE")
    # now uid 2..5 are messages 1..4; s6 (REVERSE FROM, UNSEEN) is 4,3,2,5
    b.ok("UID STORE 2 +FLAGS.SILENT (\\Seen)")
    wait_lines(a, ['* ESEARCH (TAG "s6") REMOVEFROM (3 1)'], "\\Seen on uid 2")
    b.ok("UID STORE 2 -FLAGS.SILENT (\\Seen)")
    wait_lines(a, ['* ESEARCH (TAG "s6") ADDTO (3 1)'], "\\Seen off uid 2 (its stored keys)")
    # OR FLAGGED BODY bar: \Flagged decides on the record ...
    b.ok("UID STORE 3 +FLAGS.SILENT (\\Flagged)")
    wait_lines(a, ['* ESEARCH (TAG "s7") ADDTO (0 2)'], "\\Flagged on uid 3")
    # ... its removal needs the body (a job)
    b.ok("UID STORE 3 -FLAGS.SILENT (\\Flagged)")
    wait_lines(a, ['* ESEARCH (TAG "s7") REMOVEFROM (0 2)'], "\\Flagged off uid 3")
    # a flag change cannot change SUBJECT/BODY/FROM-only results: nothing
    b.ok("UID STORE 4 +FLAGS.SILENT (\\Answered)")
    a.send("DONE")
    u, t = a.collect("i1")
    extra = [r.render() for r in u if "ESEARCH" in r.render()]
    if extra or not t.text.startswith("i1 OK"):
        raise dt.TestFailure("after IDLE: %r %s" % (extra, t.render()))
    # every context equals a fresh search/sort now
    want = {"s1": "2,3", "s2": "2,4", "s3": "3,2,1,4", "s4": "3,2,1,4", "s5": "2,5", "s6": "3,2,1,4", "s7": "1,3"}
    for tag, cmd, _ in CONTEXTS:
        u, _ = a.ok(cmd.replace("(UPDATE ALL)", "(ALL)"))
        got = [r.render() for r in u if "ESEARCH" in r.render()]
        if not got or expand(got[0].rsplit(" ", 1)[1]) != expand(want[tag]):
            raise dt.TestFailure("%s: fresh result %r, model %s" % (cmd, got, want[tag]))
    a.logout()
    b.logout()


def pending_bound(s):
    a = s.login()
    b = s.login()
    b.ok("APPEND INBOX %L", [M1])
    a.ok("SELECT INBOX")
    a.send("x1 SEARCH RETURN (UPDATE COUNT) BODY bar")
    u, t = a.collect("x1")
    if any("NOUPDATE" in r.render() for r in u):
        raise dt.TestFailure("x1 refused: %r" % [r.render() for r in u])
    a.send("x2 UID SEARCH RETURN (UPDATE COUNT) ALL")
    a.collect("x2")
    n = 513     # UPDATE_CTX_MAX_PENDING + 1, seen by one sync
    b.ok("APPEND INBOX" + " %L" * n, [msg("bulk %d" % i, "x@example.org", "Mon, 1 Jan 2024 10:00:00 +0000",
                                          "bar") for i in range(n)])
    u, t = a.ok("NOOP")
    lines = [r.render() for r in u]
    if not any(re.fullmatch(r'\* NO \[NOUPDATE "x1"\] .*', x) for x in lines):
        raise dt.TestFailure("no NOUPDATE for x1 after %d new messages: %r" % (n, lines[-5:]))
    if '* ESEARCH (TAG "x2") UID ADDTO (0 2:%d)' % (n + 1) not in lines:
        raise dt.TestFailure("x2 not updated: %r" % lines[-5:])
    # the tag is free again; a later change reports nothing for x1
    b.ok("APPEND INBOX %L", [M2])
    a.ok("NOOP")
    u, t = a.ok("NOOP")
    if any('TAG "x1"' in r.render() for r in u):
        raise dt.TestFailure("x1 updated after NOUPDATE: %r" % [r.render() for r in u])
    a.ok("CANCELUPDATE \"x1\"")
    a.logout()
    b.logout()


def hold(kind):
    try:
        os.unlink(os.path.join(HOLD, kind + ".started"))
    except FileNotFoundError:
        pass
    open(os.path.join(HOLD, kind), "w").close()


def release(kind):
    try:
        os.unlink(os.path.join(HOLD, kind))
    except FileNotFoundError:
        pass


def wait_started(kind):
    deadline = time.monotonic() + WAIT * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(HOLD, kind + ".started")):
            return
        time.sleep(0.005)   # poll interval, not synchronisation
    raise dt.TestFailure("no %r job was held: the evaluation did not run on the pool" % kind)


def no_esearch(u, what):
    bad = [r.render() for r in u if "ESEARCH" in r.render() or "NOUPDATE" in r.render()]
    if bad:
        raise dt.TestFailure("%s: %r" % (what, bad))


def noop_then(a, want, what):
    """NOOP, then want: in its answer or (a job's) after it."""
    u, _ = a.ok("NOOP")
    left = list(want)
    for r in u:
        line = r.render()
        if line.startswith("* ESEARCH"):
            if line not in left:
                raise dt.TestFailure("%s: unexpected %r" % (what, line))
            left.remove(line)
    if left:
        wait_lines(a, left, what)


def key_arena(s):
    """SORT (SUBJECT) positions stay right after most of the stored keys
    were dropped (long subjects appended and expunged: the context's key
    arena is compacted)."""
    a = s.login()
    b = s.login()
    for m in (M3, M2):
        b.ok("APPEND INBOX %L", [m])
    b.ok("SELECT INBOX")
    a.ok("SELECT INBOX")
    a.send("k1 UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL")
    u, _ = a.collect("k1")
    if [r.render() for r in u] != ['* ESEARCH (TAG "k1") UID ALL 1:2']:
        raise dt.TestFailure("k1: %r" % [r.render() for r in u])
    n = 100
    long = "m" + "x" * 1000     # "foo two" < long < "other"; ties: UID order
    b.ok("APPEND INBOX" + " %L" * n, [msg(long, "x@example.org", "Mon, 1 Jan 2024 10:00:00 +0000", str(i))
                                      for i in range(n)])
    noop_then(a, ['* ESEARCH (TAG "k1") UID ADDTO (%s)' % " ".join("%d %d" % (i + 2, i + 3) for i in range(n))],
              "%d long subjects" % n)
    b.ok("UID STORE 3:%d +FLAGS.SILENT (\\Deleted)" % (n + 2))
    b.ok("EXPUNGE")
    noop_then(a, ['* ESEARCH (TAG "k1") UID REMOVEFROM (%s)' % " ".join("%d %d" % (i + 2, i + 3)
                                                                        for i in reversed(range(n)))],
              "their expunge")
    b.ok("APPEND INBOX %L", [msg("g", "x@example.org", "Mon, 1 Jan 2024 10:00:00 +0000", "1")])
    noop_then(a, ['* ESEARCH (TAG "k1") UID ADDTO (2 %d)' % (n + 3)], "after compaction")
    b.ok("APPEND INBOX %L", [msg("zz", "x@example.org", "Mon, 1 Jan 2024 10:00:00 +0000", "1")])
    noop_then(a, ['* ESEARCH (TAG "k1") UID ADDTO (4 %d)' % (n + 4)], "after compaction, last")
    a.logout()
    b.logout()


def held_job(s):
    """The evaluation is a pool job; its answer uses the message numbers
    of when it is sent (an expunge meanwhile renumbers); a cancelled
    context or a closed selection drops a running job's answer."""
    a = s.login()
    b = s.login()
    for m in (M2, M3):
        b.ok("APPEND INBOX %L", [m])
    b.ok("SELECT INBOX")
    a.ok("SELECT INBOX")
    a.send("c1 SEARCH RETURN (UPDATE ALL) SUBJECT foo")
    u, _ = a.collect("c1")
    if [r.render() for r in u] != ['* ESEARCH (TAG "c1") ALL 2']:
        raise dt.TestFailure("c1: %r" % [r.render() for r in u])
    b.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    try:
        hold("context")
        b.ok("APPEND INBOX %L", [M4])           # uid 3, message 3
        u, _ = a.ok("NOOP")
        if "* 3 EXISTS" not in [r.render() for r in u]:
            raise dt.TestFailure("no EXISTS: %r" % [r.render() for r in u])
        no_esearch(u, "ADDTO before the job ran")
        wait_started("context")
        # A's EXPUNGE (a job on the store's key) queues behind the held
        # evaluation; the answer, reported before or after the EXPUNGE,
        # must name uid 3 by the number the client knows then
        a.send("e1 EXPUNGE")
        release("context")
        u, t = a.collect("e1")
        got = [r.render() for r in u if "ESEARCH" in r.render() or "EXPUNGE" in r.render()]
        if got not in (['* ESEARCH (TAG "c1") ADDTO (0 3)', "* 1 EXPUNGE"],
                       ["* 1 EXPUNGE", '* ESEARCH (TAG "c1") ADDTO (0 2)']):
            if got != ["* 1 EXPUNGE"]:
                raise dt.TestFailure("EXPUNGE with the held job's answer: %r" % got)
            wait_lines(a, ['* ESEARCH (TAG "c1") ADDTO (0 2)'], "after e1")   # after the tagged reply

        # a job running while its context is cancelled and the mailbox closed
        a.send("c2 UID SORT RETURN (UPDATE ALL) (DATE) UTF-8 BODY bar")
        u, _ = a.collect("c2")
        if [r.render() for r in u] != ['* ESEARCH (TAG "c2") UID ALL 3']:
            raise dt.TestFailure("c2: %r" % [r.render() for r in u])
        hold("context")
        b.ok("APPEND INBOX %L", [M4])           # uid 4
        u, _ = a.ok("NOOP")
        no_esearch(u, "ADDTO before the job ran")
        wait_started("context")
        u, _ = a.ok('CANCELUPDATE "c1"')
        no_esearch(u, "CANCELUPDATE")
        u, _ = a.ok("UNSELECT")
        no_esearch(u, "UNSELECT")
    finally:
        release("context")
    u, _ = a.ok("SELECT INBOX")
    no_esearch(u, "SELECT")
    u, _ = a.ok("NOOP")
    no_esearch(u, "after UNSELECT")
    r, _, _ = select.select([a.sock], [], [], 0.2)
    if r or a.buf:
        raise dt.TestFailure("unexpected output: %r" % a.read().render())
    a.logout()
    b.logout()


def main():
    for name, fn in (("SUBJECT/BODY/FROM searches and SUBJECT/DATE/FROM sorts updated with exact positions",
                      two_sessions),
                     ("more than UPDATE_CTX_MAX_PENDING new messages: NOUPDATE", pending_bound),
                     ("SORT (SUBJECT) positions after the stored keys were compacted", key_arena),
                     ("held evaluation job: numbers when sent, cancelled context, closed selection", held_job)):
        def run(fn=fn):
            with dt.server_with_user() as s:
                return fn(s)
        R.run(name, run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
