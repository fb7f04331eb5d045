#!/usr/bin/env python3
"""Slow reads run off the event loop (issue 10): SEARCH over message bodies,
FETCH of message bodies and sections (and of many records), the POP3
maildrop load at login, POP3 sizes, RETR/TOP and the UPDATE state are jobs
on the worker's thread pool while their session waits parked.

Isolation is shown by behaviour, not timing: with the test hook
DARIUS_TEST_HOLD_DIR (src/net/jobs.h) a job of kind K waits while the file
K exists there, and writes K.started when it starts to wait. While one
user's job is held, another user's session on the same worker (workers: 1)
gets its NOOP, SELECT and FETCH answered, and the held client has no reply
yet; once the file is removed the held command completes with the right
result. On a build where these steps run on the loop nothing is ever held
(no K.started appears) and every check here fails.

Also: clients that disconnect while their job is held (no crash, no leak
under --sanitizer, others still served, the IN-USE lock is released), and
SEARCH/FETCH/BINARY results checked against what Python computes."""

import base64
import os
import re
import select
import shutil
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("offload_read")
HOLD = tempfile.mkdtemp(prefix="darius-hold-")
os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD
WAIT = 15.0 * dt.timeout_scale()

ALICE, APW = "alice", "secret-a"
BOB, BPW = "bob", "secret-b"
N = 40                   # alice's messages
ZEBRA = (3, 17, 29)      # bodies that contain the word
BIG = 17                 # 200 KB: sent as a literal straight from the file
HUGE = 40                # 6 MB: more than one resident window (4 MB)


def body_msg(n):
    size = 200 * 1024 if n == BIG else 6 * 1024 * 1024 if n == HUGE else 3000
    msg = dt.sample_message(n, size=size, subject="note %d" % n)
    if n in ZEBRA:
        msg = msg.replace("Message number %d." % n, "Message number %d about a zebra." % n)
    return msg


ATTACH = bytes(range(256)) * 400    # 100 KB of binary data


def mime_msg():
    b64 = base64.encodebytes(ATTACH).decode().replace("\n", "\r\n")
    return ("From: Alice <alice@example.org>\r\n"
            "Subject: with attachment\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
            "\r\n"
            "--b1\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "See the attached file.\r\n"
            "--b1\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n" + b64 + "--b1--\r\n")


# a body in ISO-8859-1 and quoted-printable: SEARCH decodes it with iconv
# on a pool thread (whose descriptor cache is closed when the thread ends:
# a leak under --sanitizer otherwise)
LATIN1 = ("From: c@example.org\r\nSubject: latin\r\nMIME-Version: 1.0\r\n"
          "Content-Type: text/plain; charset=iso-8859-1\r\n"
          "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
          "Un caf=E9 cr=E8me, s'il vous pla=EEt.\r\n").encode()


def hold_path(kind):
    return os.path.join(HOLD, kind)


def hold(kind):
    try:
        os.unlink(hold_path(kind) + ".started")
    except FileNotFoundError:
        pass
    open(hold_path(kind), "w").close()


def release(kind):
    try:
        os.unlink(hold_path(kind))
    except FileNotFoundError:
        pass


def wait_started(kind):
    """Poll (with a deadline) until a job of this kind waits on the hold."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if os.path.exists(hold_path(kind) + ".started"):
            return
        time.sleep(0.005)   # poll interval, not synchronisation
    raise dt.TestFailure("no %r job was held within %.0fs: the step did not run on the pool" % (kind, WAIT))


def quiet(c):
    """Nothing from the server is waiting for client c (buffered or on the
    socket): its command has not been answered."""
    if c.buf:
        return False
    r, _, _ = select.select([c.sock], [], [], 0)
    return not r


def bob_served(b, fetch_body=True):
    """Bob (another user, same worker) is served while alice's job is held."""
    b.ok("NOOP")
    b.ok("SELECT INBOX")
    u, _ = b.ok("FETCH 1:2 (FLAGS UID)")
    if len(u) != 2:
        raise dt.TestFailure("bob's FETCH FLAGS: %r" % [r.render() for r in u])
    if fetch_body:
        u, _ = b.ok("FETCH 1 (BODY.PEEK[])")
        if not u or u[0].literals != [dt.sample_message(1001).encode()]:
            raise dt.TestFailure("bob's FETCH BODY[]: %r" % [r.render()[:80] for r in u])


def setup(s):
    s.add_user(ALICE, APW)
    s.add_user(BOB, BPW)
    a = s.login(ALICE, APW)
    lits = [body_msg(n) for n in range(1, N)]
    a.ok("APPEND INBOX" + " %L" * len(lits), lits)       # MULTIAPPEND: one commit
    a.ok("APPEND INBOX %L", [body_msg(HUGE)])
    a.ok("APPEND INBOX %L", [mime_msg()])                # message N + 1
    a.ok("CREATE Many")
    many = [dt.sample_message(2000 + i) for i in range(300)]
    a.ok("APPEND Many" + " %L" * len(many), many)
    a.logout()
    b = s.login(BOB, BPW)
    b.ok("APPEND INBOX %L %L %L", [dt.sample_message(1000 + i) for i in (1, 2, 3)])
    b.send_raw(b"x APPEND INBOX {%d+}\r\n" % len(LATIN1) + LATIN1 + b"\r\n")
    b.collect("x")
    b.logout()


def search_ids(u, kind="SEARCH"):
    for r in u:
        m = re.fullmatch(r"\* %s ?(.*)" % kind, r.render())
        if m:
            return m.group(1)
    raise dt.TestFailure("no %s response in %r" % (kind, [r.render() for r in u]))


def search_held(s):
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    b = s.login(BOB, BPW)
    hold("search")
    try:
        tag = a.next_tag()
        a.send(tag + " SEARCH BODY zebra")
        wait_started("search")
        bob_served(b)
        if not quiet(a):
            raise dt.TestFailure("SEARCH answered while its job was held")
    finally:
        release("search")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("SEARCH: %s" % t.render())
    got = search_ids(u)
    want = " ".join(str(n) for n in ZEBRA)
    if got != want:
        raise dt.TestFailure("SEARCH BODY zebra = %r, want %r" % (got, want))
    a.logout()
    b.logout()


def search_results(s):
    """Results of searches run as jobs, against what the messages hold."""
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    z = " ".join(str(n) for n in ZEBRA)
    notz = " ".join(str(n) for n in range(1, N + 2) if n not in ZEBRA)
    checks = [
        ("SEARCH BODY zebra", z),
        ("SEARCH TEXT zebra", z),
        ("SEARCH NOT BODY zebra", notz),
        ("SEARCH OR BODY zebra SUBJECT \"note 5\"", "3 5 17 29"),
        ("SEARCH 10:20 BODY zebra", "17"),
        ("SEARCH BODY attached", str(N + 1)),
        ("SEARCH ALL", " ".join(str(n) for n in range(1, N + 2))),   # records only, on the loop
        ("SEARCH SUBJECT \"note 1\"", "1 10 11 12 13 14 15 16 17 18 19"),
    ]
    for cmd, want in checks:
        u, _ = a.ok(cmd)
        got = search_ids(u)
        if got != want:
            raise dt.TestFailure("%s = %r, want %r" % (cmd, got, want))
    # UIDs are 1..N+1 here too (one mailbox, nothing expunged)
    u, _ = a.ok("UID SEARCH BODY zebra")
    if search_ids(u) != z:
        raise dt.TestFailure("UID SEARCH: %r" % search_ids(u))
    tag = "e1"
    u, t = a.command("SEARCH RETURN (MIN MAX COUNT) BODY zebra")
    txt = " ".join(r.render() for r in u)
    if not re.search(r"\* ESEARCH \(TAG \"\w+\"\) MIN 3 MAX 29 COUNT 3", txt):
        raise dt.TestFailure("ESEARCH: %r" % txt)
    # SEARCHRES: $ saved by a job, used by FETCH and by a job again
    a.ok("SEARCH RETURN (SAVE) BODY zebra")
    u, _ = a.ok("FETCH $ (UID)")
    if [r.render() for r in u] != ["* %d FETCH (UID %d)" % (n, n) for n in ZEBRA]:
        raise dt.TestFailure("FETCH $: %r" % [r.render() for r in u])
    u, _ = a.ok("SEARCH $ BODY number")
    if search_ids(u) != z:
        raise dt.TestFailure("SEARCH $ BODY: %r" % search_ids(u))
    # charset decoding on the pool
    b = s.login(BOB, BPW)
    b.ok("SELECT INBOX")
    u, _ = b.ok("SEARCH CHARSET UTF-8 BODY %L", ["crème".encode()])
    if search_ids(u) != "4":
        raise dt.TestFailure("SEARCH BODY crème (ISO-8859-1 body): %r" % search_ids(u))
    b.logout()
    # MODSEQ item (RFC 7162 3.1.5) from a job
    u, _ = a.ok("SEARCH MODSEQ 1 BODY zebra")
    if not re.fullmatch(r"\* SEARCH 3 17 29 \(MODSEQ \d+\)", u[-1].render()):
        raise dt.TestFailure("SEARCH MODSEQ: %r" % [r.render() for r in u])
    a.logout()
    return "%d searches" % (len(checks) + 6)


def fetch_held(s):
    a = s.login(ALICE, APW)
    a.ok("EXAMINE INBOX")
    b = s.login(BOB, BPW)
    hold("fetch")
    try:
        tag = a.next_tag()
        a.send(tag + " FETCH %d BODY[]" % BIG)
        wait_started("fetch")
        bob_served(b, fetch_body=False)    # FETCH FLAGS: on the loop
        if not quiet(a):
            raise dt.TestFailure("FETCH answered while its job was held")
    finally:
        release("fetch")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("FETCH: %s" % t.render())
    if len(u) != 1 or u[0].literals != [body_msg(BIG).encode()]:
        raise dt.TestFailure("FETCH BODY[] data differs: %r" % [r.render()[:100] for r in u])
    # many records, metadata only: also a job (more than the loop's bound)
    a.ok("EXAMINE Many")
    hold("fetch")
    try:
        tag = a.next_tag()
        a.send(tag + " FETCH 1:* (FLAGS UID)")
        wait_started("fetch")
        b.ok("NOOP")
        if not quiet(a):
            raise dt.TestFailure("FETCH 1:* answered while its job was held")
    finally:
        release("fetch")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK") or len(u) != 300:
        raise dt.TestFailure("FETCH 1:* FLAGS: %s, %d responses" % (t.render(), len(u)))
    a.logout()
    b.logout()


def fetch_results(s):
    """Sections, BINARY and big literals built by jobs, byte for byte."""
    a = s.login(ALICE, APW)
    a.ok("SELECT INBOX")
    m = N + 1
    raw = mime_msg().encode()
    u, _ = a.ok("FETCH %d (BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2.MIME] RFC822.SIZE)" % m)
    r = u[0]
    if r.literals[0] != b"See the attached file.":
        raise dt.TestFailure("BODY[1]: %r" % r.literals[0][:80])
    if r.literals[1] != ATTACH:
        raise dt.TestFailure("BINARY[2]: %d bytes, differs" % len(r.literals[1]))
    if "BINARY.SIZE[2] %d" % len(ATTACH) not in r.text:
        raise dt.TestFailure("BINARY.SIZE: %s" % r.render()[:300])
    if not r.literals[2].startswith(b"Content-Type: application/octet-stream"):
        raise dt.TestFailure("BODY[2.MIME]: %r" % r.literals[2])
    if "RFC822.SIZE %d" % len(raw) not in r.text:
        raise dt.TestFailure("RFC822.SIZE: %s" % r.render()[:300])
    # the 6 MB message: several resident windows, sent from the file
    u, _ = a.ok("FETCH %d (BODY.PEEK[] BODY.PEEK[TEXT]<100.50>)" % HUGE)
    want = body_msg(HUGE).encode()
    if u[0].literals[0] != want:
        raise dt.TestFailure("FETCH of 6 MB: %d bytes, differs" % len(u[0].literals[0]))
    text = want[want.index(b"\r\n\r\n") + 4:]
    if u[0].literals[1] != text[100:150]:
        raise dt.TestFailure("BODY[TEXT]<100.50>: %r" % u[0].literals[1])
    # every body in one FETCH (chunks of several messages), and \Seen set
    u, _ = a.ok("FETCH 1:%d (BODY[])" % N)
    if len(u) != N or any(u[i].literals[0] != body_msg(i + 1).encode() for i in range(N)):
        raise dt.TestFailure("FETCH 1:%d BODY[]: %d responses or data differs" % (N, len(u)))
    if not all("\\Seen" in r.text for r in u):
        raise dt.TestFailure("FETCH BODY[] did not report \\Seen: %r" % [r.render()[:60] for r in u][:3])
    u, _ = a.ok("FETCH 1:%d (FLAGS)" % N)
    if not all("\\Seen" in r.text for r in u):
        raise dt.TestFailure("\\Seen not stored")
    a.logout()


def pop3_held(s):
    b = s.login(BOB, BPW)
    hold("maildrop")
    try:
        p = s.pop3()
        p.ok("USER " + ALICE)
        p.send("PASS " + APW)
        wait_started("maildrop")
        bob_served(b)
        if not quiet(p):
            raise dt.TestFailure("PASS answered while the maildrop load was held")
    finally:
        release("maildrop")
    r = p.line()
    if not r.startswith("+OK") or "(%d messages)" % (N + 1) not in r:
        raise dt.TestFailure("PASS: %r" % r)
    for kind, cmd in (("retr", "RETR %d" % BIG), ("retr", "TOP %d 2" % BIG), ("sizes", "STAT")):
        hold(kind)
        try:
            p.send(cmd)
            wait_started(kind)
            b.ok("NOOP")
            if not quiet(p):
                raise dt.TestFailure("%s answered while its job was held" % cmd)
        finally:
            release(kind)
        r = p.line()
        if not r.startswith("+OK"):
            raise dt.TestFailure("%s: %r" % (cmd, r))
        if cmd.startswith("RETR"):
            data = p.multiline_raw()
            if data != body_msg(BIG).encode() or r != "+OK %d octets" % len(data):
                raise dt.TestFailure("RETR: %r, %d bytes" % (r, len(data)))
        elif cmd.startswith("TOP"):
            data = p.multiline_raw()
            want = body_msg(BIG).encode()
            hdr = want[:want.index(b"\r\n\r\n") + 4]
            if not data.startswith(hdr) or data.count(b"\r\n") != hdr.count(b"\r\n") + 2:
                raise dt.TestFailure("TOP: %r" % data[-200:])
        else:
            total = sum(len(body_msg(n).encode()) for n in range(1, N + 1)) + len(mime_msg().encode())
            if r != "+OK %d %d" % (N + 1, total):
                raise dt.TestFailure("STAT: %r, want %d octets" % (r, total))
    # the 6 MB message over POP3: resident windows, byte for byte
    r = p.ok("RETR %d" % HUGE)
    if p.multiline_raw() != body_msg(HUGE).encode():
        raise dt.TestFailure("RETR of 6 MB differs")
    p.ok("DELE %d" % (N + 1))
    hold("update")
    try:
        p.send("QUIT")
        wait_started("update")
        b.ok("NOOP")
        if not quiet(p):
            raise dt.TestFailure("QUIT answered while the UPDATE was held")
    finally:
        release("update")
    r = p.line()
    if not r.startswith("+OK") or "(%d messages left)" % N not in r:
        raise dt.TestFailure("QUIT: %r" % r)
    u, _ = b.ok("NOOP")
    b.logout()
    a = s.login(ALICE, APW)
    u, _ = a.ok("EXAMINE INBOX")
    if not any(x.render() == "* %d EXISTS" % N for x in u):
        raise dt.TestFailure("after QUIT: %r" % [x.render() for x in u])
    a.logout()


def pop3_login_retry(s, user, pw):
    """A session that just ended may still hold the IN-USE lock for a
    moment (its end runs on the loop after its job): retry on [IN-USE]."""
    deadline = time.monotonic() + WAIT
    while True:
        p = s.pop3()
        p.ok("USER " + user)
        r = p.cmd("PASS " + pw)
        if r.startswith("+OK"):
            return p
        p.close()
        if not r.startswith("-ERR [IN-USE]") or time.monotonic() > deadline:
            raise dt.TestFailure("POP3 login: %r" % r)


def disconnects(s):
    """Clients that go away while their job is held: the job finishes, its
    result is dropped, nothing leaks, the others are served."""
    b = s.login(BOB, BPW)
    for kind, cmd in (("search", "SEARCH TEXT zebra"), ("fetch", "FETCH 1:10 BODY[]")):
        a = s.login(ALICE, APW)
        a.ok("SELECT INBOX")
        hold(kind)
        try:
            a.send("x " + cmd)
            wait_started(kind)
            a.close()
            b.ok("NOOP")
        finally:
            release(kind)
        # the same store's next job runs after the abandoned one
        a = s.login(ALICE, APW)
        a.ok("SELECT INBOX")
        u, _ = a.ok(cmd)
        if not u:
            raise dt.TestFailure("%s after a disconnect: nothing" % cmd)
        a.logout()
    # (bob's POP3 sizes were never needed: STAT computes them in a job)
    for kind, first, user, pw in (("maildrop", None, ALICE, APW), ("retr", "RETR 1", ALICE, APW),
                                  ("sizes", "STAT", BOB, BPW)):
        hold(kind)
        try:
            if first is None:
                p = s.pop3()
                p.ok("USER " + user)
                p.send("PASS " + pw)
            else:
                p = pop3_login_retry(s, user, pw)
                p.send(first)
            wait_started(kind)
            p.close()
            b.ok("NOOP")
        finally:
            release(kind)
        # the IN-USE lock goes with the abandoned session
        p = pop3_login_retry(s, user, pw)
        p.ok("STAT")
        p.ok("QUIT")
    b.ok("NOOP")
    b.logout()


def main():
    try:
        with dt.Server(config={"workers": "1"}, workers=1) as s:
            setup(s)
            R.run("SEARCH BODY held on the pool, another user served meanwhile", search_held, s)
            R.run("SEARCH results from jobs (BODY, TEXT, ESEARCH, SEARCHRES, MODSEQ)", search_results, s)
            R.run("FETCH BODY[] and a big FETCH FLAGS held on the pool, another user served", fetch_held, s)
            R.run("FETCH sections, BINARY, a 6 MB literal and 40 bodies from jobs", fetch_results, s)
            R.run("POP3 login, RETR, TOP, STAT and QUIT held on the pool, IMAP served", pop3_held, s)
            R.run("clients gone while their SEARCH/FETCH/POP3 job is held", disconnects, s)
            R.check_sanitizer(s)
    finally:
        shutil.rmtree(HOLD, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
