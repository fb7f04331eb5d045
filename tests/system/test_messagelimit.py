#!/usr/bin/env python3
"""MESSAGELIMIT (RFC 9738) at the RFC's smallest advised limit (1000) over
1200 messages, where FETCH, SEARCH, STORE, MOVE and UID EXPUNGE run as
jobs on the pool (the transcript 73-messagelimit.t covers the small,
inline cases): each processes the 1000 highest UIDs of its set and
answers OK [MESSAGELIMIT 1000 lowest-uid]; a client resuming below that
UID gets the rest; COPY of more is NO with nothing copied; MULTIAPPEND of
more than the limit is NO with nothing appended (73-messagelimit.t: at
1000 the 1000-literal bound of one command comes first). Also MULTISEARCH
(ESEARCH IN (personal)) over the big mailbox, with INPROGRESS
notifications while its job is held half done (DARIUS_TEST_HOLD_DIR)."""

import os
import re
import shutil
import sys
import tempfile

import darius_test as dt

R = dt.Report("messagelimit")
HOLD = tempfile.mkdtemp(prefix="darius-hold-")
os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD
WAIT = 30.0 * dt.timeout_scale()
USER, PW = "alice", "secret-a"
N = 1200
LIM = 1000
LOW = N - LIM + 1       # 201: the lowest UID of the highest 1000


def msg(n):
    body = "zebra" if n % 2 == 0 else "plain"
    return dt.sample_message(n, size=600, subject="m %d" % n).replace(
        "Message number %d." % n, "Message number %d %s." % (n, body))


def setup(s):
    s.add_user(USER, PW)
    a = s.login(USER, PW)
    for lo in range(1, N + 1, 600):
        lits = [msg(n) for n in range(lo, lo + 600)]
        a.ok("APPEND INBOX" + " %L" * len(lits), lits)
    a.ok("CREATE Dest")
    a.logout()


def tagged_code(t):
    m = re.match(r"\S+ OK \[MESSAGELIMIT (\d+) (\d+)\] ", t.text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def uids_of(u):
    out = []
    for r in u:
        m = re.search(r"UID (\d+)", r.render())
        if m and " FETCH " in r.render():
            out.append(int(m.group(1)))
    return out


def search_ids(u):
    """The UIDs of the * SEARCH response (INPROGRESS lines may come first
    on a slow machine: the interval is 50 ms)."""
    for r in u:
        if r.render().startswith("* SEARCH"):
            return [int(x) for x in r.render().split()[2:]]
    raise dt.TestFailure("no SEARCH response: %r" % [r.render() for r in u])


def capability(s):
    a = s.login(USER, PW)
    u, _ = a.ok("CAPABILITY")
    caps = u[0].render().split()
    a.logout()
    if "MESSAGELIMIT=%d" % LIM not in caps:
        raise dt.TestFailure("capability: %r" % caps)


def fetch(s):
    a = s.login(USER, PW)
    a.ok("EXAMINE INBOX")
    u, t = a.ok("FETCH 1:* (UID FLAGS)")        # a chain of fetch jobs
    if tagged_code(t) != (LIM, LOW) or uids_of(u) != list(range(LOW, N + 1)):
        raise dt.TestFailure("FETCH 1:*: %s, %d responses" % (t.render(), len(u)))
    u, t = a.ok("UID FETCH 1:%d (UID BODY.PEEK[TEXT])" % (LOW - 1))   # resuming
    if tagged_code(t) or uids_of(u) != list(range(1, LOW)):
        raise dt.TestFailure("UID FETCH 1:%d: %s, %d responses" % (LOW - 1, t.render(), len(u)))
    a.logout()


def search(s):
    a = s.login(USER, PW)
    a.ok("EXAMINE INBOX")
    u, t = a.ok("UID SEARCH BODY zebra")        # a search job
    got = search_ids(u)
    if tagged_code(t) != (LIM, LOW) or got != [n for n in range(LOW, N + 1) if n % 2 == 0]:
        raise dt.TestFailure("UID SEARCH BODY: %s, %d matches" % (t.render(), len(got)))
    u, t = a.ok("UID SEARCH UIDBEFORE %d BODY zebra" % LOW)
    got = search_ids(u)
    if tagged_code(t) or got != [n for n in range(1, LOW) if n % 2 == 0]:
        raise dt.TestFailure("UID SEARCH UIDBEFORE: %s, %d matches" % (t.render(), len(got)))
    a.logout()


def multisearch_progress(s):
    """ESEARCH over every personal mailbox: one job, INPROGRESS while it
    is held half done, then one ESEARCH response (Dest is empty)."""
    a = s.login(USER, PW)
    open(os.path.join(HOLD, "progress"), "w").close()
    try:
        tag = a.next_tag()
        a.send(tag + " ESEARCH IN (personal) RETURN (COUNT) BODY zebra")
        a.settimeout(WAIT)
        while True:
            r = a.read()
            m = re.fullmatch(r'\* OK \[INPROGRESS \("%s" (\d+) NIL\)\] .*' % tag, r.render())
            if m:
                break
            if r.render().startswith(tag + " "):
                raise dt.TestFailure("no INPROGRESS before %s" % r.render())
    finally:
        os.unlink(os.path.join(HOLD, "progress"))
    u, t = a.collect(tag)
    es = [r.render() for r in u if r.render().startswith("* ESEARCH")]
    if not t.text.startswith(tag + " OK") or len(es) != 1 or \
            not re.fullmatch(r'\* ESEARCH \(TAG "%s" MAILBOX "?INBOX"? UIDVALIDITY \d+\) UID COUNT %d' % (tag, N // 2),
                             es[0]):
        raise dt.TestFailure("ESEARCH: %r %s" % (es, t.render()))
    a.logout()
    return "progress %s" % m.group(1)


def writes(s):
    a = s.login(USER, PW)
    a.ok("SELECT INBOX")
    _, t = a.command("COPY 1:* Dest")
    if not t.text.startswith(t.text.split()[0] + " NO [MESSAGELIMIT %d %d] " % (LIM, LOW)):
        raise dt.TestFailure("COPY 1:*: %s" % t.render())
    u, _ = a.ok("STATUS Dest (MESSAGES)")
    if "MESSAGES 0" not in u[0].render():
        raise dt.TestFailure("COPY copied something: %s" % u[0].render())
    u, t = a.ok("UID STORE 1:* +FLAGS.SILENT (\\Deleted)")
    if tagged_code(t) != (LIM, LOW):
        raise dt.TestFailure("UID STORE: %s" % t.render())
    _, t = a.ok("UID STORE 1:%d +FLAGS.SILENT (\\Deleted)" % (LOW - 1))
    if tagged_code(t):
        raise dt.TestFailure("UID STORE resumed: %s" % t.render())
    # MOVE of every message: the highest 1000 move
    u, t = a.ok("UID MOVE 1:* Dest")
    if tagged_code(t) != (LIM, LOW):
        raise dt.TestFailure("UID MOVE: %s" % t.render())
    if sum(1 for r in u if r.render().endswith(" EXPUNGE")) != LIM:
        raise dt.TestFailure("UID MOVE: %d EXPUNGE responses" % len(u))
    a.ok("SELECT Dest")
    # UID EXPUNGE: the moved messages are \Deleted; 1000 exactly: no limit
    u, t = a.ok("UID EXPUNGE 1:*")
    if tagged_code(t) or sum(1 for r in u if r.render().endswith(" EXPUNGE")) != LIM:
        raise dt.TestFailure("UID EXPUNGE in Dest: %s" % t.render())
    a.logout()


def main():
    try:
        with dt.Server(config={"workers": "1", "imap_messagelimit": str(LIM),
                               "imap_inprogress_interval_ms": "50"}, workers=1) as s:
            setup(s)
            R.run("MESSAGELIMIT=1000 advertised", capability, s)
            R.run("FETCH jobs: the highest 1000, then the rest", fetch, s)
            R.run("SEARCH job: 1000 messages searched, UIDBEFORE resumes", search, s)
            R.run("ESEARCH IN (personal) job with INPROGRESS", multisearch_progress, s)
            R.run("COPY refused, STORE/MOVE limited, UID EXPUNGE of exactly 1000", writes, s)
            R.check_sanitizer(s)
    finally:
        shutil.rmtree(HOLD, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
