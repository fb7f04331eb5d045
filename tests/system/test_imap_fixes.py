#!/usr/bin/env python3
"""IMAP fixes, end to end:
- own changes: after a big STORE the session's own changes are not
  echoed back by the next sync (one own-modseq entry per transaction, no
  per-message cap), while another session's change still is, and the sync
  after a STORE on many messages stays fast;
- NUL octets: a non-binary literal spilled to a temporary file (big
  APPEND) is refused with BAD like an in-memory one; literal8 is accepted;
  FETCH BODY[] never sends NUL (0x80 instead, same length), BINARY[] sends
  the exact bytes in a literal8;
- SENTON/SENTBEFORE/SENTSINCE fall back to the INTERNALDATE when there is
  no usable Date: header;
- SEARCH MODSEQ with an entry name (RFC 7162 3.1.5);
- FETCH of messages expunged by another session: until the session is
  told, FETCH and UID FETCH return them as they were (RFC 2180 4.1.1) and
  say OK, and the EXPUNGEs follow at the next allowed point; only data
  that is really gone (RENAME INBOX moved it) answers "NO [EXPUNGEISSUED]"
  (more in test_expunge_retained.py);
- partial FETCH with offsets/counts at and beyond 2^32-1;
- STORE.SILENT on a message another session changed reports that change
  (the view is synced before the store: no lost update);
- \\Recent claimed per session for messages arriving while selected
  (RFC 3501 2.3.2), over several arrivals;
- the selected mailbox deleted by another session: BYE [NONEXISTENT] in
  IDLE and for the next command (with a tagged NO); the session's own
  DELETE of its selected mailbox deselects it with OK [CLOSED];
- a too-big LITERAL+ before login: BAD [TOOBIG], BYE, connection closed
  without reading the literal;
- "*" in QRESYNC known-uids is a BAD (RFC 7162 section 7)."""

import os
import re
import sys
import time

import darius_test as dt

R = dt.Report("imap_fixes")

TINY = "Subject: x\r\n\r\nx\r\n"


def bulk_append(c, mbox, n, per_cmd=1000):
    """Append n tiny messages with MULTIAPPEND and LITERAL+."""
    lit = TINY.encode()
    done = 0
    while done < n:
        k = min(per_cmd, n - done)
        tag = c.next_tag()
        data = (tag + " APPEND " + mbox).encode()
        data += (b" {%d+}\r\n" % len(lit) + lit) * k + b"\r\n"
        c.send_raw(data)
        _, t = c.collect(tag)
        if not t.text.startswith(tag + " OK"):
            raise dt.TestFailure("bulk APPEND: %s" % t.render())
        done += k


def fetches(u):
    return [r.render() for r in u if re.match(r"\* \d+ FETCH", r.render())]


def own_changes(s, n):
    a = s.login()
    b = s.login()
    # The socket timeout only detects a hung server; the bulk APPEND of
    # thousands of fsynced messages takes far longer than 5 s on a loaded
    # 2-core machine, so it gets the long timeout too.
    for x in (a, b):
        x.settimeout(60 * dt.timeout_scale())
    a.ok("CREATE Many")
    bulk_append(a, "Many", n)
    a.ok("SELECT Many")
    b.ok("SELECT Many")
    t0 = time.monotonic()
    u, _ = a.ok("STORE 1:* +FLAGS.SILENT (\\Flagged)")
    t_store = time.monotonic() - t0
    if fetches(u):
        raise dt.TestFailure("own silent STORE echoed %d FETCH (first %s)" % (len(fetches(u)), fetches(u)[0]))
    t0 = time.monotonic()
    u, _ = a.ok("NOOP")
    t_noop = time.monotonic() - t0
    if fetches(u):
        raise dt.TestFailure("NOOP after own STORE sent %d FETCH" % len(fetches(u)))
    # another session's change is reported (its modseq is not ours)
    t0 = time.monotonic()
    ub, _ = b.ok("STORE 5 +FLAGS.SILENT (\\Seen)")
    t_other = time.monotonic() - t0
    u, _ = a.ok("NOOP")
    f = fetches(u)
    if len(f) != 1 or not re.fullmatch(r"\* 5 FETCH \(UID 5 FLAGS \(\\Seen \\Flagged( \\Recent)?\)\)", f[0]):
        raise dt.TestFailure("other session's STORE: %r" % f[:3])
    # b saw all of a's changes in the reply to its STORE: STORE syncs
    # first, so a's change to message 5 is reported before b's own
    # (otherwise b's newer modseq would hide it - a lost update)
    u, _ = b.ok("NOOP")
    if len(fetches(ub)) != n or fetches(u):
        raise dt.TestFailure("other session saw %d + %d of %d changes" % (len(fetches(ub)), len(fetches(u)), n - 1))
    a.logout()
    b.logout()
    return "%d messages: STORE %.0f ms, NOOP %.0f ms, other session's sync %.0f ms" % (
        n, t_store * 1000, t_noop * 1000, t_other * 1000)


def nul_literals(s):
    c = s.login()
    c.ok("CREATE Nul")
    msg = bytearray(b"Subject: big nul\r\n\r\n" + b"0123456789" * 7 + b"\r\n")
    msg = bytes(msg) * 1 + (b"y" * 76 + b"\r\n") * 2000   # ~156 KB: spilled to a file
    bad = msg[:100000] + b"\0" + msg[100001:]
    # non-binary synchronising literal with NUL: BAD, connection usable
    tag = c.next_tag()
    c.send_raw(("%s APPEND Nul {%d}\r\n" % (tag, len(bad))).encode())
    c.expect(r"\+ .*")
    c.send_raw(bad + b"\r\n")
    u, t = c.collect(tag)
    if not t.text.startswith(tag + " BAD"):
        raise dt.TestFailure("spilled literal with NUL: %s" % t.render())
    c.ok("NOOP")
    # the same with a non-synchronising literal, MULTIAPPEND: all skipped
    tag = c.next_tag()
    c.send_raw(("%s APPEND Nul {%d+}\r\n" % (tag, len(bad))).encode() + bad +
               (" {%d+}\r\n" % len(msg)).encode() + msg + b"\r\n")
    u, t = c.collect(tag)
    if not t.text.startswith(tag + " BAD"):
        raise dt.TestFailure("LITERAL+ with NUL: %s" % t.render())
    c.ok("NOOP")
    # small in-memory one: same answer
    tag = c.next_tag()
    c.send_raw(("%s APPEND Nul {21+}\r\n" % tag).encode() + b"Subject: b\r\n\r\nab\0cd\r\n\r\n")
    u, t = c.collect(tag)
    if not t.text.startswith(tag + " BAD"):
        raise dt.TestFailure("small literal with NUL: %s" % t.render())
    u, t = c.ok("STATUS Nul (MESSAGES)")
    if not any("MESSAGES 0" in r.render() for r in u):
        raise dt.TestFailure("refused APPENDs stored something: %r" % [r.render() for r in u])
    # literal8: accepted, small and big
    tag = c.next_tag()
    c.send_raw(("%s APPEND Nul ~{21}\r\n" % tag).encode())
    c.expect(r"\+ .*")
    c.send_raw(b"Subject: b\r\n\r\nab\0cd\r\n\r\n")
    u, t = c.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("literal8: %s" % t.render())
    tag = c.next_tag()
    c.send_raw(("%s APPEND Nul ~{%d+}\r\n" % (tag, len(bad))).encode() + bad + b"\r\n")
    u, t = c.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("big literal8: %s" % t.render())
    c.ok("SELECT Nul")
    u, _ = c.ok("FETCH 1:2 (BODY.PEEK[] BINARY.PEEK[] RFC822.SIZE)")
    for r, want in zip(u, (b"Subject: b\r\n\r\nab\0cd\r\n", bad)):
        body, binary = r.literals[0], r.literals[1]
        if b"\0" in body or len(body) != len(want) or body != want.replace(b"\0", b"\x80"):
            raise dt.TestFailure("BODY[] of a message with NUL: %r" % body[:60])
        if binary != want:
            raise dt.TestFailure("BINARY[] not exact")
        if b"BINARY[] ~{%d}\r\n" % len(want) not in r.raw:
            raise dt.TestFailure("BINARY[] with NUL not a literal8")
        if b"BODY[] {%d}\r\n" % len(want) not in r.raw or b"RFC822.SIZE %d" % len(want) not in r.raw:
            raise dt.TestFailure("BODY[] framing/size: %r" % r.raw[:80])
    u, _ = c.ok("FETCH 2 (BODY.PEEK[TEXT]<99970.40>)")
    lit = u[0].literals[0]
    if len(lit) != 40 or b"\0" in lit or b"\x80" not in lit:
        raise dt.TestFailure("partial BODY[TEXT] around the NUL: %r" % lit)
    c.logout()


def sent_fallback(s):
    c = s.login()
    c.ok("CREATE D")
    c.ok('APPEND D "07-Feb-1994 22:00:00 -0800" %L', ["Subject: no date\r\n\r\nx\r\n"])
    c.ok('APPEND D "10-Mar-2001 10:00:00 +0000" %L', ["Date: not a date at all\r\nSubject: bad\r\n\r\nx\r\n"])
    c.ok('APPEND D "10-Mar-2001 10:00:00 +0000" %L', [dt.sample_message(3)])   # Date: 7 Feb 1994
    c.ok("SELECT D")
    for q, want in (("SENTON 7-Feb-1994", "1 3"), ("SENTON 10-Mar-2001", "2"),
                    ("SENTBEFORE 1-Jan-2000", "1 3"), ("SENTSINCE 1-Jan-2000", "2"),
                    ("OR SENTBEFORE 1-Mar-2001 SENTSINCE 1-Mar-2001", "1 2 3")):
        u, _ = c.ok("SEARCH " + q)
        got = [r.render() for r in u if r.render().startswith("* SEARCH")]
        if got != ["* SEARCH " + want]:
            raise dt.TestFailure("SEARCH %s: %r, want %s" % (q, got, want))
    c.logout()


def search_modseq(s):
    c = s.login()
    for i in range(3):
        c.ok("APPEND INBOX %L", [dt.sample_message(i)])
    c.ok("SELECT INBOX")
    c.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    u, _ = c.ok("FETCH 2 (MODSEQ)")
    # the first CONDSTORE-enabling command also sends "* OK [HIGHESTMODSEQ"
    # (RFC 7162 3.1)
    if not any(r.render().startswith("* OK [HIGHESTMODSEQ ") for r in u):
        raise dt.TestFailure("no HIGHESTMODSEQ for the first FETCH MODSEQ: %r" % [r.render() for r in u])
    ms = int(re.search(r"MODSEQ \((\d+)\)", fetches(u)[0]).group(1))
    for entry in ('"/flags/\\\\seen" all', '"/flags/\\\\Answered" priv', '"/flags/$Junk" shared', ""):
        q = "SEARCH MODSEQ %s %d" % (entry, ms) if entry else "SEARCH MODSEQ %d" % ms
        u, _ = c.ok(q)
        got = [r.render() for r in u if r.render().startswith("* SEARCH")]
        if got != ["* SEARCH 2 (MODSEQ %d)" % ms]:
            raise dt.TestFailure("%s: %r" % (q, got))
    for bad in ('MODSEQ "/flags/" all 1', 'MODSEQ "/flags/\\\\seen" any 1', 'MODSEQ "/x/y" all 1',
                'MODSEQ "/flags/\\\\seen" all', 'MODSEQ "/flags/a b" all 1'):
        u, t = c.command("SEARCH " + bad)
        if " BAD " not in t.render():
            raise dt.TestFailure("SEARCH %s: %s" % (bad, t.render()))
    c.logout()


def expunged_elsewhere(s):
    a = s.login()
    b = s.login()
    a.ok("CREATE E")
    for i in range(1, 6):
        a.ok("APPEND E %L", [dt.sample_message(i)])
    a.ok("SELECT E")
    b.ok("SELECT E")
    b.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # RFC 2180 4.1.1: a was not told yet, so 2 and 4 are still readable
    u, t = a.command("FETCH 1:5 (UID BODY.PEEK[HEADER.FIELDS (Subject)])")
    got = [r.render() for r in u]
    uids = [int(m.group(1)) for m in (re.search(r"UID (\d+)", g) for g in got) if m]
    if uids != [1, 2, 3, 4, 5]:
        raise dt.TestFailure("FETCH with expunged messages returned UIDs %r: %r" % (uids, got))
    if any("EXPUNGE" in g for g in got):
        raise dt.TestFailure("EXPUNGE during FETCH: %r" % got)
    if not re.match(r"t\d+ OK", t.render()):
        raise dt.TestFailure("tagged: %s" % t.render())
    for n, g in zip(range(1, 6), got):
        if not g.startswith("* %d FETCH" % n) or ("Subject: test %d" % n) not in g:
            raise dt.TestFailure("MSNs or data changed before EXPUNGE was sent: %r" % got)
    # a second non-UID FETCH: still no EXPUNGE, MSNs unchanged
    u, t = a.command("FETCH 5 (UID)")
    if [r.render() for r in u] != ["* 5 FETCH (UID 5)"] or "OK" not in t.render():
        raise dt.TestFailure("FETCH 5 before EXPUNGE: %r %s" % ([r.render() for r in u], t.render()))
    # UID FETCH: the kept messages as last known (with the \Deleted they
    # were expunged with), OK; EXPUNGE may now be sent, after the FETCH
    # responses (which still use the old MSNs)
    u, t = a.ok("UID FETCH 1:5 (FLAGS)")
    got = [r.render() for r in u]
    want = [r"\* 1 FETCH \(UID 1 FLAGS .*\)", r"\* 2 FETCH \(UID 2 FLAGS \(\\Deleted.*\)\)",
            r"\* 3 FETCH \(UID 3 FLAGS .*\)", r"\* 4 FETCH \(UID 4 FLAGS \(\\Deleted.*\)\)",
            r"\* 5 FETCH \(UID 5 FLAGS .*\)", r"\* 2 EXPUNGE", r"\* 3 EXPUNGE"]
    if len(got) != len(want) or not all(re.fullmatch(w, g) for w, g in zip(want, got)):
        raise dt.TestFailure("UID FETCH: %r" % got)
    u, _ = a.ok("NOOP")
    if u:
        raise dt.TestFailure("NOOP after: %r" % [r.render() for r in u])
    u, _ = a.ok("FETCH 1:* (UID)")
    if [r.render() for r in u] != ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)"]:
        raise dt.TestFailure("view after EXPUNGE: %r" % [r.render() for r in u])
    # Data that is really gone: RENAME INBOX moves INBOX's messages away
    # (they are expunged from INBOX, not kept): the remaining messages are
    # returned before "NO [EXPUNGEISSUED]".
    a.ok("APPEND INBOX %L", [dt.sample_message(9)])
    a.ok("SELECT INBOX")
    b.ok("RENAME INBOX Moved")
    u, t = a.command("FETCH 1:* (UID)")
    got = [r.render() for r in u]
    if not re.match(r"t\d+ NO \[EXPUNGEISSUED\]", t.render()) or any("EXPUNGE" in g for g in got):
        raise dt.TestFailure("FETCH after RENAME INBOX: %r %s" % (got, t.render()))
    a.logout()
    b.logout()


def held_expunges_then_own_expunge(s):
    """Expunges held back during FETCH, then the session's own EXPUNGE of
    one of them and of another message: every message is reported once,
    with MSNs valid at the time of each response."""
    a = s.login()
    b = s.login()
    a.ok("CREATE H")
    for i in range(1, 7):
        a.ok("APPEND H %L", [dt.sample_message(i)])
    a.ok("SELECT H")
    b.ok("SELECT H")
    b.ok("UID STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 2")
    u, t = a.command("FETCH 1:6 (UID)")     # 2 is held back, still readable
    uids = [int(m.group(1)) for m in (re.search(r"\((?:UID (\d+))", r.render()) for r in u) if m]
    if " OK " not in t.render() or any("EXPUNGE" in r.render() for r in u) or uids[:6] != [1, 2, 3, 4, 5, 6]:
        raise dt.TestFailure("FETCH: %r %s" % ([r.render() for r in u], t.render()))
    a.ok("STORE 6 +FLAGS.SILENT (\\Deleted)")
    u, _ = a.ok("EXPUNGE")                  # a expunges 4 and 6 itself
    got = [r.render() for r in u]
    # 2 (held back) and a's own 4, 6: in any valid order, each once
    view = [1, 2, 3, 4, 5, 6]
    for g in got:
        m = re.fullmatch(r"\* (\d+) EXPUNGE", g)
        if not m or int(m.group(1)) > len(view):
            raise dt.TestFailure("EXPUNGE: %r" % got)
        del view[int(m.group(1)) - 1]
    if view != [1, 3, 5]:
        raise dt.TestFailure("after EXPUNGEs %r the view would be %r" % (got, view))
    u, _ = a.ok("FETCH 1:* (UID)")
    if [r.render() for r in u] != ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)"]:
        raise dt.TestFailure("view: %r" % [r.render() for r in u])
    a.logout()
    b.logout()


def partial_limits(s):
    c = s.login()
    m = dt.sample_message(1)
    c.ok("APPEND INBOX %L", [m])
    c.ok("SELECT INBOX")
    for rng, want in (("4294967295.4294967295", b""), ("0.4294967295", m.encode()),
                      ("4294967294.2", b""), ("10.4294967295", m.encode()[10:]),
                      ("18446744073709.9223372036854775807", b""),
                      ("3.9223372036854775807", m.encode()[3:])):
        u, _ = c.ok("FETCH 1 (BODY.PEEK[]<%s>)" % rng)
        r = u[0]
        origin = rng.split(".")[0]
        data = r.literals[0] if r.literals else (b"" if ('BODY[]<%s> ""' % origin) in r.render() else None)
        if data != want or ("BODY[]<%s>" % origin) not in r.render():
            raise dt.TestFailure("<%s>: %r" % (rng, r.render()[:100]))
    for bad in ("<1.0>", "<18446744073709551616.1>", "<1.9223372036854775808>"):
        u, t = c.command("FETCH 1 (BODY.PEEK[]%s)" % bad)
        if " BAD " not in t.render():
            raise dt.TestFailure("partial %s: %s" % (bad, t.render()))
    c.logout()


def store_silent_no_lost_update(s):
    a = s.login()
    b = s.login()
    a.ok("CREATE L")
    for i in range(1, 3):
        a.ok("APPEND L %L", [dt.sample_message(i)])
    a.ok("SELECT L")
    b.ok("SELECT L")
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    u, _ = a.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    f = fetches(u)
    if len(f) != 1 or not re.fullmatch(r"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged( \\Recent)?\)\)", f[0]):
        raise dt.TestFailure("other session's change before own STORE.SILENT: %r" % f)
    u, _ = a.ok("NOOP")
    if fetches(u):
        raise dt.TestFailure("NOOP after own STORE: %r" % fetches(u))
    u, _ = a.ok("FETCH 1 (FLAGS)")
    if not re.fullmatch(r"\* 1 FETCH \(FLAGS \(\\Seen \\Flagged( \\Recent)?\)\)", "".join(fetches(u))):
        raise dt.TestFailure("final flags: %r" % fetches(u))
    # UID STORE syncs with expunges allowed
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    u, _ = a.ok("UID STORE 1:2 +FLAGS.SILENT (\\Answered)")
    got = [r.render() for r in u]
    if got != ["* 2 EXPUNGE"]:
        raise dt.TestFailure("UID STORE after other session's EXPUNGE: %r" % got)
    a.logout()
    b.logout()


def recent_claims(s):
    a = s.login()
    b = s.login()
    ext = s.login()
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    ext.ok("APPEND INBOX %L", [dt.sample_message(1)])
    ub, _ = b.ok("NOOP")
    ua, _ = a.ok("NOOP")
    rb = [r.render() for r in ub]
    ra = [r.render() for r in ua]
    if "* 1 RECENT" not in rb or "* 0 RECENT" not in ra:
        raise dt.TestFailure("first arrival: b %r, a %r" % (rb, ra))
    ext.ok("APPEND INBOX %L", [dt.sample_message(2)])
    ext.ok("APPEND INBOX %L", [dt.sample_message(3)])
    ua, _ = a.ok("NOOP")        # a is first now: 2 and 3 are a's
    ub, _ = b.ok("NOOP")
    ra = [r.render() for r in ua]
    rb = [r.render() for r in ub]
    if "* 2 RECENT" not in ra or "* 1 RECENT" not in rb:
        raise dt.TestFailure("second arrival: a %r, b %r" % (ra, rb))
    for c, want in ((a, "2 3"), (b, "1")):
        u, _ = c.ok("SEARCH RECENT")
        if [r.render() for r in u] != ["* SEARCH " + want]:
            raise dt.TestFailure("SEARCH RECENT: %r, want %s" % ([r.render() for r in u], want))
    u, _ = a.ok("FETCH 1:* (FLAGS)")
    got = [r.render() for r in u]
    if got != ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS (\\Recent))", "* 3 FETCH (FLAGS (\\Recent))"]:
        raise dt.TestFailure("a's FLAGS: %r" % got)
    # an expunge of a recent message lowers the count
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    u, _ = a.ok("SEARCH RECENT")
    if [r.render() for r in u] != ["* SEARCH 2"]:
        raise dt.TestFailure("SEARCH RECENT after EXPUNGE: %r" % [r.render() for r in u])
    # a new SELECT claims nothing: all were claimed already
    u, _ = b.ok("SELECT INBOX")
    if "* 0 RECENT" not in [r.render() for r in u]:
        raise dt.TestFailure("reselect: %r" % [r.render() for r in u])
    for c in (a, b, ext):
        c.logout()


def deleted_selected(s):
    a = s.login()
    b = s.login()
    c = s.login()
    a.ok("CREATE gone1")
    a.ok("CREATE gone2")
    a.ok("APPEND gone1 %L", [dt.sample_message(1)])
    a.ok("APPEND gone2 %L", [dt.sample_message(2)])
    # a: IDLE; deleted by b -> untagged BYE, connection closed
    a.ok("SELECT gone1")
    tag = a.next_tag()
    a.send(tag + " IDLE")
    r = a.read()
    if not r.text.startswith("+"):
        raise dt.TestFailure("IDLE: %s" % r.render())
    b.ok("DELETE gone1")
    r = a.read()
    if not r.text.startswith("* BYE [NONEXISTENT]"):
        raise dt.TestFailure("IDLE after DELETE: %s" % r.render())
    if not a.at_eof():
        raise dt.TestFailure("connection still open after BYE")
    # c: next command -> BYE, tagged NO, close; no data of another mailbox
    c.ok("SELECT gone2")
    b.ok("DELETE gone2")
    b.ok("CREATE other")
    b.ok("APPEND other %L", [dt.sample_message(3)])
    u, t = c.command("UID FETCH 1:* (UID FLAGS)")
    got = [r.render() for r in u]
    if len(got) != 1 or not got[0].startswith("* BYE [NONEXISTENT]") or " NO " not in t.render():
        raise dt.TestFailure("command after DELETE: %r %s" % (got, t.render()))
    if not c.at_eof():
        raise dt.TestFailure("connection still open after BYE")
    # b deletes its own selected mailbox: deselected, not disconnected
    b.ok("SELECT other")
    u, _ = b.ok("DELETE other")
    if not any(r.render().startswith("* OK [CLOSED]") for r in u):
        raise dt.TestFailure("own DELETE of selected: %r" % [r.render() for r in u])
    _, t = b.command("FETCH 1 (FLAGS)")
    if " BAD " not in t.render():
        raise dt.TestFailure("FETCH after own DELETE: %s" % t.render())
    b.ok("NOOP")
    b.logout()


def preauth_literal_plus(s):
    c = s.client()
    c.greeting()
    c.send_raw(b"p1 LOGIN {5000+}\r\n")
    r = c.read()
    if not r.text.startswith("p1 BAD [TOOBIG]"):
        raise dt.TestFailure("LITERAL+ over 4096 before login: %s" % r.render())
    r = c.read()
    if not r.text.startswith("* BYE"):
        raise dt.TestFailure("after BAD: %s" % r.render())
    if not c.at_eof():
        raise dt.TestFailure("connection still open")
    # a small one still works
    c = s.client()
    c.greeting()
    u, t = c.command("LOGIN {5+}\r\nalice {6+}\r\nsecret")
    if " OK " not in t.render():
        raise dt.TestFailure("small LITERAL+ LOGIN: %s" % t.render())
    c.logout()


def qresync_star(s):
    c = s.login()
    c.ok("ENABLE QRESYNC")
    u, _ = c.ok("SELECT INBOX")
    uv = [m.group(1) for m in (re.search(r"UIDVALIDITY (\d+)", r.render()) for r in u) if m][0]
    for params in ("(QRESYNC (%s 1 1:*))" % uv, "(QRESYNC (%s 1 1:5 (1:* 1:5)))" % uv,
                   "(QRESYNC (%s 1 1:5 (1:2 *)))" % uv):
        _, t = c.command("SELECT INBOX " + params)
        if " BAD " not in t.render():
            raise dt.TestFailure("SELECT %s: %s" % (params, t.render()))
    c.ok("SELECT INBOX (QRESYNC (%s 1 1:5 (1:2 1:2)))" % uv)
    c.logout()


def main():
    n = int(os.environ.get("DARIUS_FIXES_BIG", "5000"))
    for name, fn in (("own STORE not echoed, other session's change is (%d msgs)" % n,
                      lambda s: own_changes(s, n)),
                     ("NUL in spilled/in-memory literals; BODY[] vs BINARY[] output", nul_literals),
                     ("SENT* fall back to INTERNALDATE", sent_fallback),
                     ("SEARCH MODSEQ with entry name", search_modseq),
                     ("FETCH of messages expunged elsewhere: data until told, then EXPUNGE", expunged_elsewhere),
                     ("held-back expunges, then own EXPUNGE", held_expunges_then_own_expunge),
                     ("partial FETCH at 2^32-1 and beyond", partial_limits),
                     ("STORE.SILENT after another session's change: no lost update",
                      store_silent_no_lost_update),
                     ("\\Recent claimed by the first session told (several arrivals)", recent_claims),
                     ("selected mailbox deleted: BYE in IDLE / at next command; own DELETE",
                      deleted_selected),
                     ("LITERAL+ over 4096 before login: BAD, BYE, closed", preauth_literal_plus),
                     ("'*' in QRESYNC known-uids / seq-match-data is BAD", qresync_star)):
        def run(fn=fn):
            with dt.server_with_user() as s:
                return fn(s)
        R.run(name, run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
