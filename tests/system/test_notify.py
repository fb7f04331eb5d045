#!/usr/bin/env python3
"""NOTIFY (RFC 5465) with two sessions: a NOTIFY session that issues no
command sees what a second session (or an LMTP delivery) does, as untagged
responses: EXISTS/FETCH/EXPUNGE for the selected mailbox (SELECTED, and
SELECTED-DELAYED holding EXPUNGE back until a command), STATUS for other
watched mailboxes, LIST for create/rename/delete and (un)subscribe,
METADATA for mailbox and server annotations; nothing for mailboxes it does
not watch, nothing after NOTIFY NONE; a mailbox of another user only with
the 'l' and 'r' rights. MessageNew with every kind of fetch-att (built
as a job), metadata events from another worker, the session's own
APPEND/COPY/MOVE into a watched mailbox. Lost datagrams: with every
worker's notify reads held (DARIUS_TEST_HOLD_DIR/notify-read) more than
100 deliveries still end in the right EXISTS/STATUS, and lost LIST events
in NOTIFICATIONOVERFLOW. And 200 NOTIFY sessions of one user, spread over
the workers, all get the STATUS of one delivery. Every wait is a read with
a socket timeout for the expected line, never a sleep."""

import os
import re
import socket
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("notify")
WAIT = 3.0  # seconds a NOTIFY session may wait for an update
# src/net/jobs.h: a job of kind K waits while the file K exists here (and
# creates K.started); only status_during_job creates one.
HOLD = tempfile.mkdtemp(prefix="darius-notify-hold-")
os.environ["DARIUS_TEST_HOLD_DIR"] = HOLD


def wait_file(path, what):
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.005)   # polling a condition (a file the server creates), with a deadline
    raise dt.TestFailure("%s: %s never appeared" % (what, path))


def read_until(c, regex, what, wait=WAIT):
    """Read responses until one matches regex (returned with those seen
    before it); a timeout is the failure."""
    c.settimeout(wait * dt.timeout_scale())
    seen = []
    try:
        while True:
            r = c.read()
            seen.append(r.render())
            if re.fullmatch(regex, r.render()):
                return r, seen
    except dt.TestFailure as e:
        raise dt.TestFailure("%s: no /%s/ within %.1fs (%s); got %r" % (what, regex, wait, e, seen))
    finally:
        c.settimeout(c.timeout)


def nothing_but(c, tag, forbidden, what):
    """Round-trip a NOOP on c and check that no response before its tagged
    reply matches forbidden (a marker command: no sleep)."""
    u, t = c.ok("NOOP")
    bad = [r.render() for r in u if re.fullmatch(forbidden, r.render())]
    if bad:
        raise dt.TestFailure("%s: unexpected %r" % (what, bad))
    return u


def deliver(s, rcpt, body):
    c = s.lmtp()
    code, _ = c.cmd("LHLO client.example")
    c.cmd("MAIL FROM:<sender@example.org>")
    code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
    if code != 250:
        raise dt.TestFailure("RCPT: %r" % lines)
    code, lines = c.cmd("DATA")
    if code != 354:
        raise dt.TestFailure("DATA: %r" % lines)
    c.send_raw(dt.lmtp_data(body))
    code, lines = c.reply()
    if code != 250:
        raise dt.TestFailure("delivery: %r" % lines)
    c.cmd("QUIT")
    c.close()


def msg(n):
    return dt.sample_message(n).encode() if isinstance(dt.sample_message(n), str) else dt.sample_message(n)


def selected_events(s):
    a = s.login()
    b = s.login()
    b.ok("APPEND INBOX %L", [dt.sample_message(1)])
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew (uid flags rfc822.size) MessageExpunge FlagChange))")
    # a new message: EXISTS and then the FETCH of the asked attributes
    b.ok("APPEND INBOX %L", [dt.sample_message(2)])
    read_until(a, r"\* 2 EXISTS", "EXISTS after APPEND")
    read_until(a, r"\* 2 FETCH \(UID 2 FLAGS \([^)]*\) RFC822\.SIZE \d+\)", "MessageNew FETCH")
    # a flag change
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    read_until(a, r"\* 1 FETCH \(UID 1 FLAGS \([^)]*\\Flagged[^)]*\)\)", "FlagChange FETCH")
    # an expunge, at once (SELECTED)
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    read_until(a, r"\* 1 EXPUNGE", "EXPUNGE")
    # a delivery by LMTP
    deliver(s, "alice", dt.sample_message(3))
    read_until(a, r"\* 2 EXISTS", "EXISTS after LMTP delivery")
    read_until(a, r"\* 2 FETCH \(UID 3 .*\)", "FETCH after LMTP delivery")
    # the view is consistent
    u, t = a.ok("UID FETCH 1:* (UID)")
    got = [r.render() for r in u]
    if got != ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]:
        raise dt.TestFailure("view: %r" % got)
    a.logout()
    b.logout()


def fetch_atts(s):
    """RFC 5465 5.2: MessageNew with any fetch-att. Each kind - record
    items, cached ones (ENVELOPE, BODY, BODYSTRUCTURE), sections
    (BODY.PEEK[HEADER.FIELDS], BODY[] and a partial one, BINARY), PREVIEW,
    EMAILID/THREADID, MODSEQ - comes in the unsolicited FETCH after the
    EXISTS, built as a job from the message itself; BODY[] there sets no
    \\Seen; the FETCH answers what the client's own FETCH answers."""
    a = s.login()
    b = login_elsewhere(s, a)
    a.ok("SELECT INBOX")
    m = dt.sample_message(7, size=3000, subject="notify atts")
    groups = (
        ("UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ", None),
        ("UID ENVELOPE", r"ENVELOPE \(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"notify atts\" .*"),
        ("UID BODYSTRUCTURE", r"BODYSTRUCTURE \(\"TEXT\" \"PLAIN\" .*"),
        ("UID BODY", r"BODY \(\"TEXT\" \"PLAIN\" .*"),
        ("UID BODY.PEEK[HEADER.FIELDS (Subject From)]", r"(?i)BODY\[HEADER\.FIELDS \(\"?SUBJECT\"? \"?FROM\"?\)\] \{\d+\}\\r\\nFrom: .*Subject: notify atts"),
        ("UID BODY[]", r"BODY\[\] .*"),
        ("UID BODY.PEEK[TEXT]<0.10>", r"BODY\[TEXT\]<0> .*"),
        ("UID BINARY.PEEK[1] BINARY.SIZE[1]", r"BINARY\[1\] .*"),
        ("UID PREVIEW", r"PREVIEW .*"),
        ("UID EMAILID THREADID", r"EMAILID \(.*"),
        ("UID FLAGS ENVELOPE BODY.PEEK[HEADER] RFC822.SIZE", r"FLAGS .*ENVELOPE .*"),
    )
    for i, (atts, rx) in enumerate(groups):
        a.ok("NOTIFY SET (selected (MessageNew (%s) MessageExpunge))" % atts)
        b.ok("APPEND INBOX %L", [m])
        n = i + 1
        read_until(a, r"\* %d EXISTS" % n, "EXISTS (%s)" % atts)
        r, seen = read_until(a, r"\* %d FETCH \(.*" % n, "MessageNew FETCH (%s)" % atts)
        got = r.render()
        if rx and not re.search(rx, got):
            raise dt.TestFailure("MessageNew (%s): %r" % (atts, got))
        # the same as the client's own FETCH of those items
        items = atts.replace("BODY[]", "BODY.PEEK[]")
        u, t = a.ok("UID FETCH %d (%s)" % (n, items))
        own = [x.render() for x in u if x.render().startswith("* %d FETCH" % n)]
        if len(own) != 1:
            raise dt.TestFailure("own FETCH (%s): %r" % (atts, own))
        if "UID %d" % n not in got:
            raise dt.TestFailure("no UID in the MessageNew FETCH: %r" % got)
        if got != own[0]:
            raise dt.TestFailure("MessageNew FETCH %r differs from FETCH %r" % (got, own[0]))
    # BODY[] in the MessageNew FETCH set no \Seen
    u, t = a.ok("FETCH 6 (FLAGS)")
    if any("\\Seen" in x.render() for x in u):
        raise dt.TestFailure("BODY[] of MessageNew set \\Seen: %r" % [x.render() for x in u])
    a.logout()
    b.logout()


def fetch_atts_burst(s):
    """A burst of LMTP deliveries with ENVELOPE asked for: every new
    message gets its FETCH, with the right MSN, in order of arrival."""
    a = s.login()
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew (UID ENVELOPE) MessageExpunge))")
    for i in range(20):
        deliver(s, "alice", dt.sample_message(i, subject="burst %d" % i))
    want = {i + 1 for i in range(20)}
    while want:
        r, seen = read_until(a, r"\* \d+ FETCH \(UID \d+ ENVELOPE .*", "FETCH of the burst")
        mm = re.match(r"\* (\d+) FETCH \(UID (\d+) ENVELOPE .*\"burst (\d+)\"", r.render())
        if not mm or int(mm.group(1)) != int(mm.group(2)) or int(mm.group(3)) != int(mm.group(1)) - 1:
            raise dt.TestFailure("burst FETCH: %r" % r.render())
        want.discard(int(mm.group(1)))
    a.logout()


def fetch_job_held(s):
    """The MessageNew FETCH job held on the pool (DARIUS_TEST_HOLD_DIR
    "notify-fetch"): an EXPUNGE sent meanwhile changes the new message's
    MSN, and the FETCH then carries the new one (rebuilt); a session that
    drops NOTIFY or goes away while its job is held is no problem (the
    sanitizer run checks the memory)."""
    a = s.login()
    b = s.login()
    c = s.login()
    b.ok("APPEND INBOX %L", [dt.sample_message(1)])
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew (UID ENVELOPE) MessageExpunge))")
    c.ok("SELECT INBOX")
    c.ok("NOTIFY SET (selected (MessageNew (UID BODY[]) MessageExpunge))")
    hold = os.path.join(HOLD, "notify-fetch")
    open(hold, "w").close()
    try:
        b.ok("APPEND INBOX %L", [dt.sample_message(2, subject="held")])
        wait_file(hold + ".started", "the MessageNew FETCH job")
        read_until(a, r"\* 2 EXISTS", "EXISTS while the job is held")
        # c: NOTIFY NONE, then away, with its job still held
        c.ok("NOTIFY NONE")
        c.close()
        b.ok("SELECT INBOX")
        b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        read_until(a, r"\* 1 EXPUNGE", "EXPUNGE while the job is held")
    finally:
        for f in (hold, hold + ".started"):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
    r, seen = read_until(a, r"\* \d+ FETCH \(UID 2 ENVELOPE .*", "FETCH after the held job")
    if not r.render().startswith("* 1 FETCH (UID 2 ENVELOPE") or '"held"' not in r.render():
        raise dt.TestFailure("FETCH with a stale MSN: %r" % r.render())
    u, t = a.ok("NOOP")
    a.logout()
    b.logout()


def selected_delayed(s):
    a = s.login()
    b = s.login()
    for i in (1, 2):
        b.ok("APPEND INBOX %L", [dt.sample_message(i)])
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # the expunge is held back; a new message is announced at once
    b.ok("APPEND INBOX %L", [dt.sample_message(3)])
    r, seen = read_until(a, r"\* 3 EXISTS", "EXISTS with SELECTED-DELAYED")
    if any("EXPUNGE" in x for x in seen):
        raise dt.TestFailure("EXPUNGE sent unsolicited with SELECTED-DELAYED: %r" % seen)
    # ... and comes with the next command that allows it
    u, t = a.ok("NOOP")
    if "* 1 EXPUNGE" not in [x.render() for x in u]:
        raise dt.TestFailure("NOOP after SELECTED-DELAYED: %r" % [x.render() for x in u])
    a.logout()
    b.logout()


def other_mailboxes(s):
    a = s.login()
    b = s.login()
    b.ok("CREATE Lists")
    b.ok("CREATE Lists/Lemonade")
    b.ok("CREATE Other")
    u, t = a.ok("NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge FlagChange))")
    got = sorted(r.render() for r in u)
    if len(got) != 2 or not all(re.fullmatch(r"\* STATUS (\"?Lists\"?|\"?Lists/Lemonade\"?) \(MESSAGES 0 UIDNEXT 1 "
                                             r"UIDVALIDITY \d+ UNSEEN 0\)", x) for x in got):
        raise dt.TestFailure("STATUS at NOTIFY SET: %r" % got)
    # not watched: no STATUS (checked with the next watched event)
    b.ok("APPEND Other %L", [dt.sample_message(1)])
    b.ok("APPEND Lists/Lemonade %L", [dt.sample_message(2)])
    r, seen = read_until(a, r"\* STATUS \"?Lists/Lemonade\"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)",
                         "STATUS after APPEND")
    if any("Other" in x for x in seen):
        raise dt.TestFailure("STATUS of an unwatched mailbox: %r" % seen)
    b.ok("SELECT Lists/Lemonade")
    b.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    read_until(a, r"\* STATUS \"?Lists/Lemonade\"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0\)",
               "STATUS after flag change")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    read_until(a, r"\* STATUS \"?Lists/Lemonade\"? \(MESSAGES 0 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0\)",
               "STATUS after expunge")
    # CONDSTORE adds HIGHESTMODSEQ
    a.ok("ENABLE CONDSTORE")
    b.ok("APPEND Lists %L", [dt.sample_message(3)])
    read_until(a, r"\* STATUS \"?Lists\"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ \d+\)",
               "STATUS with CONDSTORE")
    # NOTIFY NONE: nothing more
    a.ok("NOTIFY NONE")
    b.ok("APPEND Lists %L", [dt.sample_message(4)])
    b.ok("NOOP")
    # the change is committed before b's OK; a's marker round trip after
    # the hint could have arrived shows nothing
    nothing_but(a, None, r"\* STATUS .*", "after NOTIFY NONE")
    a.logout()
    b.logout()


def mailbox_events(s):
    a = s.login()
    b = s.login()
    a.ok("NOTIFY SET (personal (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))")
    # the session's own changes are not reported back to it (RFC 5465 5)
    u, t = a.ok("CREATE Mine")
    u2, t = a.ok("SUBSCRIBE Mine")
    b.ok("CREATE Projects")
    r, seen = read_until(a, r"\* LIST \(\) \"/\" \"?Projects\"?", "LIST after CREATE")
    if any("Mine" in x for x in seen + [r.render() for r in u + u2]):
        raise dt.TestFailure("own CREATE/SUBSCRIBE reported: %r" % seen)
    b.ok("RENAME Projects Archive")
    read_until(a, r"\* LIST \(\) \"/\" \"?Archive\"? \(\"OLDNAME\" \(\"?Projects\"?\)\)", "LIST after RENAME")
    b.ok("SUBSCRIBE Archive")
    read_until(a, r"\* LIST \(\\Subscribed\) \"/\" \"?Archive\"?", "LIST after SUBSCRIBE")
    b.ok("UNSUBSCRIBE Archive")
    read_until(a, r"\* LIST \(\) \"/\" \"?Archive\"?", "LIST after UNSUBSCRIBE")
    b.ok("SETMETADATA Archive (/private/comment \"hello\")")
    read_until(a, r"\* METADATA \"?Archive\"? \"?/private/comment\"?", "METADATA after SETMETADATA")
    b.ok("SETMETADATA \"\" (/private/comment \"1\")")
    read_until(a, r"\* METADATA \"\" \"?/private/comment\"?", "server METADATA")
    b.ok("DELETE Archive")
    read_until(a, r"\* LIST \(\\NonExistent\) \"/\" \"?Archive\"?", "LIST after DELETE")
    a.logout()
    b.logout()


def acl_rules(s):
    s.add_user("bob", "secret")
    a = s.login()                       # alice
    bob = s.login("bob", "secret")
    bob.ok("CREATE Shared")
    bob.ok("CREATE Hidden")
    bob.ok("CREATE Looky")
    bob.ok("SETACL Shared alice lr")
    bob.ok("SETACL Looky alice l")
    u, t = a.ok("NOTIFY SET STATUS (mailboxes (\"Other Users/bob/Shared\" \"Other Users/bob/Hidden\" "
                "\"Other Users/bob/Looky\") (MessageNew MessageExpunge))")
    got = [r.render() for r in u]
    if not any(re.fullmatch(r"\* STATUS \"?Other Users/bob/Shared\"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)", x)
               for x in got):
        raise dt.TestFailure("no STATUS for the shared mailbox: %r" % got)
    if not any(re.fullmatch(r"\* LIST \(\\NoAccess\) \"/\" \"?Other Users/bob/Looky\"?", x) for x in got):
        raise dt.TestFailure("no \\NoAccess for the l-only mailbox: %r" % got)
    if any("Hidden" in x for x in got):
        raise dt.TestFailure("a mailbox without rights shows: %r" % got)
    bob.ok("APPEND Hidden %L", [dt.sample_message(1)])
    bob.ok("APPEND Looky %L", [dt.sample_message(1)])
    bob.ok("APPEND Shared %L", [dt.sample_message(2)])
    r, seen = read_until(a, r"\* STATUS \"?Other Users/bob/Shared\"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)",
                         "STATUS of a shared mailbox")
    if any("Hidden" in x or "Looky" in x for x in seen):
        raise dt.TestFailure("events of mailboxes without 'l'+'r': %r" % seen)
    # the right is revoked: no more events
    bob.ok("DELETEACL Shared alice")
    bob.ok("APPEND Shared %L", [dt.sample_message(3)])
    bob.ok("SETACL Looky alice lr")
    bob.ok("APPEND Looky %L", [dt.sample_message(4)])
    r, seen = read_until(a, r"\* STATUS \"?Other Users/bob/Looky\"? \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+\)",
                         "STATUS once 'r' is granted")
    if any("Shared" in x for x in seen):
        raise dt.TestFailure("events after the rights were revoked: %r" % seen)
    a.logout()
    bob.logout()


def overflow(s):
    """RFC 5465 5.8: while a command is being read (an APPEND waiting for
    its literal) events are held; past the bound (256 KiB) the session gets
    "* OK [NOTIFICATIONOVERFLOW]" (before the command's tagged reply) and
    is as after NOTIFY NONE."""
    a = s.login()
    b = s.login()
    a.ok("NOTIFY SET (personal (MailboxMetadataChange))")
    m = dt.sample_message(1)
    m = m.encode() if isinstance(m, str) else m
    tag = a.next_tag()
    a.send(tag + " APPEND INBOX {%d}" % len(m))
    a.expect(r"\+.*")
    entries = " ".join('/shared/e%03d%s "v"' % (i, "x" * 240) for i in range(100))
    for k in range(20):     # about 26 KB of METADATA responses each
        b.ok("SETMETADATA INBOX (%s)" % entries)
    a.send_raw(m + b"\r\n")
    u, t = a.collect(tag)
    if not t.text.startswith(tag + " OK"):
        raise dt.TestFailure("APPEND: %s" % t.render())
    got = [r.render() for r in u]
    ov = [x for x in got if re.fullmatch(r"\* OK \[NOTIFICATIONOVERFLOW\].*", x)]
    if len(ov) != 1:
        raise dt.TestFailure("no NOTIFICATIONOVERFLOW: %d responses, %r" % (len(got), got[-3:]))
    if any(x.startswith("* METADATA") for x in got):
        raise dt.TestFailure("METADATA responses sent with the overflow")
    # NOTIFY is off now
    b.ok("SETMETADATA INBOX (/shared/comment \"after\")")
    nothing_but(a, None, r"\* METADATA .*", "after overflow")
    a.logout()
    b.logout()


def status_during_job(s):
    """A change to another watched mailbox while the NOTIFY session runs a
    command as a job (its SEARCH held on the pool) is reported once the
    command is done: the hint that arrives meanwhile is neither dropped
    nor taken for the selected mailbox's."""
    a = s.login()
    b = s.login()
    b.ok("CREATE other")
    b.ok("APPEND INBOX %L", [dt.sample_message(1)])
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge))")
    hold = os.path.join(HOLD, "search")
    open(hold, "w").close()
    try:
        tag = a.next_tag()
        a.send(tag + " SEARCH TEXT nowhere")
        wait_file(hold + ".started", "the SEARCH job")
        b.ok("APPEND other %L", [dt.sample_message(2)])
    finally:
        for f in (hold, hold + ".started"):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
    u, t = a.collect(tag)
    if not t.render().startswith(tag + " OK"):
        raise dt.TestFailure("SEARCH: %s" % t.render())
    got = [r.render() for r in u]
    if not any(re.fullmatch(r"\* STATUS \"?other\"? \(MESSAGES 1 UIDNEXT 2.*", x) for x in got):
        read_until(a, r"\* STATUS \"?other\"? \(MESSAGES 1 UIDNEXT 2.*", "STATUS of other after the job")
    a.logout()
    b.logout()


def login_elsewhere(s, other):
    """A session on another worker than other's (the kernel spreads the
    connections over the workers: a few tries; /proc tells the owner)."""
    mine = dt.socket_owner_pid(s, other)
    for _ in range(64):
        c = s.login()
        if dt.socket_owner_pid(s, c) != mine:
            return c
        c.logout()
    raise dt.TestFailure("every connection went to worker %s" % mine)


def metadata_across_workers(s):
    """Mailbox/ServerMetadataChange made by a session on another worker
    (an event datagram across processes)."""
    a = s.login()
    b = login_elsewhere(s, a)
    b.ok("CREATE Meta")
    a.ok("NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))")
    b.ok("SETMETADATA Meta (/shared/comment \"from the other worker\")")
    read_until(a, r"\* METADATA \"?Meta\"? \"?/shared/comment\"?", "MailboxMetadataChange across workers")
    b.ok("SETMETADATA INBOX (/private/comment \"x\" /shared/vendor/x/y \"z\")")
    # the /private and the /shared entry in one METADATA or one each
    want = {"/private/comment", "/shared/vendor/x/y"}
    while want:
        r, seen = read_until(a, r"\* METADATA \"?INBOX\"? .*", "MailboxMetadataChange of two entries")
        want -= set(re.findall(r"/(?:private|shared)/[\w/]+", r.render()))
    b.ok("SETMETADATA \"\" (/private/comment \"server\")")
    read_until(a, r"\* METADATA \"\" \"?/private/comment\"?", "ServerMetadataChange across workers")
    # removing an entry is a change too
    b.ok("SETMETADATA Meta (/shared/comment NIL)")
    read_until(a, r"\* METADATA \"?Meta\"? \"?/shared/comment\"?", "metadata removal across workers")
    a.logout()
    b.logout()


def own_changes(s):
    """RFC 5465 5.2/5.3: the session's own APPEND, COPY and MOVE into a
    watched mailbox that is not selected give it the STATUS too (only a
    new message in the selected mailbox is not echoed as a FETCH)."""
    a = s.login()
    a.ok("CREATE Watched")
    a.ok("CREATE Src")
    a.ok("APPEND Src %L", [dt.sample_message(1)])
    a.ok("APPEND Src %L", [dt.sample_message(2)])
    a.ok("SELECT Src")
    a.ok("NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge))")
    steps = (("APPEND Watched %L", [dt.sample_message(3)], 1),
             ("COPY 1 Watched", [], 2),
             ("MOVE 2 Watched", [], 3))
    for cmd, lits, n in steps:
        u, t = a.ok(cmd, lits)
        rx = r"\* STATUS \"?Watched\"? \(MESSAGES %d UIDNEXT %d UIDVALIDITY \d+\)" % (n, n + 1)
        if not any(re.fullmatch(rx, r.render()) for r in u):
            read_until(a, rx, "STATUS after the session's own %s" % cmd.split()[0])
    a.logout()


def hold_notify_reads():
    """Every worker stops reading its notify socket (worker.c's test hook)
    until the returned function is called: its queue fills up as behind a
    busy loop, and the datagrams after the max_dgram_qlen-th are refused."""
    hold = os.path.join(HOLD, "notify-read")
    open(hold, "w").close()

    def release():
        try:
            os.unlink(hold)
        except FileNotFoundError:
            pass
    return release


def lost_hints(s):
    """More than 100 deliveries (LMTP and APPENDs of several sessions,
    spread over the workers) while every worker's notify queue is full: the
    refused hints are followed by a resync marker, and the NOTIFY session
    (another worker for some of them) ends up with the right EXISTS for its
    selected mailbox and the right STATUS for the others."""
    a = s.login()
    bs = [login_elsewhere(s, a)] + [s.login() for _ in range(3)]
    bs[0].ok("CREATE Fill")
    bs[0].ok("CREATE Burst")
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge))")
    release = hold_notify_reads()
    try:
        # fills every queue (max_dgram_qlen is 10 by default) ...
        for i in range(12):
            bs[i % 4].ok("APPEND Fill %L", [dt.sample_message(i)])
        # ... so that none of these hints gets through
        for i in range(60):
            deliver(s, "alice", dt.sample_message(i))
        for i in range(50):
            bs[i % 4].ok("APPEND Burst %L", [dt.sample_message(i)])
    finally:
        release()
    got = []
    for rx, what in ((r"\* 60 EXISTS", "EXISTS of the selected INBOX"),
                     (r"\* STATUS \"?Burst\"? \(MESSAGES 50 UIDNEXT 51 UIDVALIDITY \d+\)", "STATUS of Burst"),
                     (r"\* STATUS \"?Fill\"? \(MESSAGES 12 UIDNEXT 13 UIDVALIDITY \d+\)", "STATUS of Fill")):
        if any(re.fullmatch(rx, x) for x in got):
            continue
        r, seen = read_until(a, rx, what)
        got += seen
    a.logout()
    for b in bs:
        b.logout()


def lost_events(s):
    """Lost LIST events cannot be re-read: a session that asked for
    MailboxName gets NOTIFICATIONOVERFLOW (RFC 5465 5.8) rather than
    silently missing some."""
    a = s.login()
    b = s.login()
    a.ok("NOTIFY SET (personal (MailboxName))")
    release = hold_notify_reads()
    try:
        for i in range(30):
            b.ok("CREATE box%02d" % i)
    finally:
        release()
    read_until(a, r"\* OK \[NOTIFICATIONOVERFLOW\].*", "NOTIFICATIONOVERFLOW after lost events")
    # NOTIFY is off now: nothing more
    b.ok("CREATE after")
    nothing_but(a, None, r"\* LIST .*", "after the overflow")
    a.logout()
    b.logout()


def many_sessions(s):
    n = 200
    cs = []
    for i in range(n):
        c = s.login()
        c.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge))")
        cs.append(c)
    deliver(s, "alice", dt.sample_message(1))
    t0 = time.monotonic()
    for i, c in enumerate(cs):
        read_until(c, r"\* STATUS \"?INBOX\"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)", "session %d" % i,
                   wait=10.0)
    took = time.monotonic() - t0
    for c in cs:
        c.close()
    return "%d sessions notified, last after %.0f ms" % (n, took * 1000)


def main():
    for name, fn, kw in (("SELECTED: EXISTS+FETCH, FlagChange, EXPUNGE, LMTP", selected_events, {}),
                         ("MessageNew with each kind of fetch-att", fetch_atts, {}),
                         ("MessageNew ENVELOPE for a burst of deliveries", fetch_atts_burst, {}),
                         ("MessageNew job held: MSN after an EXPUNGE, session gone", fetch_job_held, {}),
                         ("SELECTED-DELAYED holds EXPUNGE back", selected_delayed, {}),
                         ("STATUS for other mailboxes, NOTIFY NONE", other_mailboxes, {}),
                         ("MailboxName, SubscriptionChange, metadata", mailbox_events, {}),
                         ("ACL: 'l'+'r' needed, \\NoAccess, revocation", acl_rules, {}),
                         ("NOTIFICATIONOVERFLOW", overflow, {}),
                         ("STATUS of a change made while a job runs", status_during_job, {}),
                         ("metadata changes across workers", metadata_across_workers, {}),
                         ("the session's own APPEND/COPY/MOVE: STATUS", own_changes, {}),
                         ("110 deliveries while the notify queues are full", lost_hints, {}),
                         ("lost LIST events: NOTIFICATIONOVERFLOW", lost_events, {}),
                         ("200 NOTIFY sessions get one delivery", many_sessions,
                          {"config": {"maxlogins_per_host": "0", "maxlogins_per_user": "0"}})):
        def run(fn=fn, kw=kw):
            with dt.server_with_user(**kw) as s:
                return fn(s)
        R.run(name, run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
