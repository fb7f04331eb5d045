#!/usr/bin/env python3
"""Rights revoked while a mailbox is selected (issue 9 item 10, RFC 4314
section 4).

The session re-evaluates its rights on the selected mailbox before every
command, and at once while in IDLE (an ACL change is announced to every
process with the mailbox's id). The old server took the rights at SELECT
and kept them: after DELETEACL the reader still fetched new mail and
expunged.

owner owns "Shared" (a few messages) and grants alice rights on it; alice
selects "Other Users/owner/Shared". Then owner (an IMAP session, or the
CLI "darius acl ...") changes alice's rights:

  r lost, IMAP4rev2   alice's next command gets "* OK [CLOSED]" first;
                      FETCH/STORE/EXPUNGE are then BAD (no mailbox
                      selected, RFC 9051 state (6)); NOOP works; nothing
                      of the mailbox (EXISTS, FETCH) is sent any more
  r lost, IMAP4rev1   "* BYE [NOPERM]", the command NO [NOPERM], the
                      connection closes (IMAP4rev1 has no unsolicited way
                      out of the selected state)
  r lost, in IDLE     the CLOSED / BYE arrives during IDLE, unprompted
  CLI                 "darius acl delete" and "darius acl set" work the same
  e lost              EXPUNGE (and UID EXPUNGE) NO [NOPERM], the message
                      stays; FETCH and STORE still work; e granted again:
                      EXPUNGE works
  s lost              STORE \\Seen NO [NOPERM], FETCH BODY[] leaves \\Seen
                      unset, a new PERMANENTFLAGS without \\Seen is sent;
                      s regained: \\Seen can be stored
  all write rights    "* OK [READ-ONLY]", PERMANENTFLAGS (); regained:
                      "* OK [READ-WRITE]" and STORE works
  i lost              COPY and APPEND into the mailbox refused
  group               rights through group:readers; alice removed from the
                      group file: her next command closes the selection

Synchronisation is by the server's answers only: the owner's command has
completed (tagged OK, or the CLI exited) before alice sends hers; IDLE
waits for the untagged response with the socket timeout as the failure
condition. The group file gets an explicit later mtime (os.utime)."""

import os
import re
import sys
import time

import darius_test as dt

R = dt.Report("acl_revoke")

BOX = "Other Users/owner/Shared"
QBOX = dt.quote(BOX)


def word(t):
    p = t.render().split(" ")
    return p[1] if len(p) > 1 else ""


def renders(u):
    return [r.render() for r in u]


def owner_session(s):
    return s.login("owner", "secret")


def reset(s, rights="lrswipkxte", n=3):
    """Fresh Shared with n messages and alice holding rights."""
    o = owner_session(s)
    o.command("DELETE Shared")
    o.ok("CREATE Shared")
    for i in range(n):
        o.ok("APPEND Shared %L", [dt.sample_message(i + 1, subject="shared %d" % (i + 1))])
    if rights:
        o.ok("SETACL Shared alice %s" % rights)
    return o


def alice(s, rev2=False):
    c = s.login("alice", "secret")
    if rev2:
        c.ok("ENABLE IMAP4rev2")
    u, t = c.ok("SELECT %s" % QBOX)
    return c, u, t


def expect_closed_rev2(c, cmd):
    """cmd after losing r: "* OK [CLOSED]" then BAD (no mailbox selected)."""
    u, t = c.command(cmd)
    if not any(re.match(r"\* OK \[CLOSED\]", r) for r in renders(u)):
        raise dt.TestFailure("%s: no OK [CLOSED]: %r %s" % (cmd, renders(u), t.render()))
    if word(t) != "BAD":
        raise dt.TestFailure("%s after CLOSED: %s" % (cmd, t.render()))
    if any(re.match(r"\* \d+ (FETCH|EXISTS|EXPUNGE)", r) for r in renders(u)):
        raise dt.TestFailure("%s: mailbox data after the revocation: %r" % (cmd, renders(u)))


def expect_bye_rev1(c, cmd):
    u, t = c.command(cmd)
    if not any(re.match(r"\* BYE \[NOPERM\]", r) for r in renders(u)):
        raise dt.TestFailure("%s: no BYE [NOPERM]: %r %s" % (cmd, renders(u), t.render()))
    if word(t) != "NO" or "[NOPERM]" not in t.render():
        raise dt.TestFailure("%s: tagged %s" % (cmd, t.render()))
    if any(re.match(r"\* \d+ (FETCH|EXISTS|EXPUNGE)", r) for r in renders(u)):
        raise dt.TestFailure("%s: mailbox data after the revocation: %r" % (cmd, renders(u)))
    if not c.at_eof():
        raise dt.TestFailure("connection still open after BYE")


def messages(s):
    o = owner_session(s)
    u, t = o.ok("STATUS Shared (MESSAGES)")
    o.logout()
    m = re.search(r"MESSAGES (\d+)", " ".join(renders(u)))
    return int(m.group(1)) if m else -1


# ---- r lost ---------------------------------------------------------------

def t_deleteacl_rev2(s):
    o = reset(s)
    c, _, t = alice(s, rev2=True)
    if "[READ-WRITE]" not in t.render():
        raise dt.TestFailure("SELECT: %s" % t.render())
    c.ok("FETCH 1 (FLAGS)")
    o.ok("DELETEACL Shared alice")
    # new mail after the revocation must never reach alice
    o.ok("APPEND Shared %L", [dt.sample_message(9, subject="after revoke")])
    expect_closed_rev2(c, "FETCH 1:* (FLAGS BODY.PEEK[HEADER])")
    for cmd in ("UID EXPUNGE 1:*", "STORE 1 +FLAGS (\\Deleted)", "EXPUNGE", "UID FETCH 1:* (UID)"):
        u, t = c.command(cmd)
        if word(t) != "BAD":
            raise dt.TestFailure("%s with no mailbox selected: %s" % (cmd, t.render()))
    c.ok("NOOP")
    u, t = c.command("SELECT %s" % QBOX)
    if word(t) != "NO":
        raise dt.TestFailure("SELECT after DELETEACL: %s" % t.render())
    c.logout()
    o.logout()
    if messages(s) != 4:
        raise dt.TestFailure("messages in Shared: %d, want 4" % messages(s))


def t_deleteacl_rev1(s):
    o = reset(s)
    c, _, _ = alice(s)
    o.ok("DELETEACL Shared alice")
    o.ok("APPEND Shared %L", [dt.sample_message(9, subject="after revoke")])
    expect_bye_rev1(c, "UID EXPUNGE 1:*")
    o.logout()
    if messages(s) != 4:
        raise dt.TestFailure("UID EXPUNGE after DELETEACL removed messages: %d left" % messages(s))
    # the same through SETACL taking only r away (l stays)
    o = reset(s)
    c, _, _ = alice(s)
    o.ok("SETACL Shared alice -r")
    expect_bye_rev1(c, "FETCH 1 BODY[]")
    o.logout()


def t_idle(s):
    for rev2 in (True, False):
        o = reset(s)
        c, _, _ = alice(s, rev2=rev2)
        c.send("i1 IDLE")
        r = c.read()
        if not r.render().startswith("+"):
            raise dt.TestFailure("IDLE: %s" % r.render())
        o.ok("DELETEACL Shared alice")
        # unprompted: alice sends nothing until the response arrives
        while True:
            r = c.read().render()
            if rev2 and r.startswith("* OK [CLOSED]"):
                break
            if not rev2 and r.startswith("* BYE [NOPERM]"):
                break
            if re.match(r"\* \d+ (FETCH|EXISTS|EXPUNGE)", r) or r.startswith("i1 "):
                raise dt.TestFailure("IDLE (rev2=%s): %s before the revocation notice" % (rev2, r))
        if rev2:
            c.send("DONE")
            u, t = c.collect("i1")
            if word(t) != "OK":
                raise dt.TestFailure("IDLE DONE after CLOSED: %s" % t.render())
            u, t = c.command("FETCH 1 (FLAGS)")
            if word(t) != "BAD":
                raise dt.TestFailure("FETCH after CLOSED in IDLE: %s" % t.render())
            c.logout()
        elif not c.at_eof():
            raise dt.TestFailure("IDLE rev1: connection open after BYE")
        o.logout()


def t_cli(s):
    o = reset(s)
    o.logout()
    c, _, _ = alice(s, rev2=True)
    r = s.cli("acl", "delete", "user/owner/Shared", "alice")
    if r.returncode != 0:
        raise dt.TestFailure("darius acl delete: %d %s%s" % (r.returncode, r.stdout, r.stderr))
    expect_closed_rev2(c, "STORE 1 +FLAGS (\\Flagged)")
    c.logout()
    # "acl set" taking e away: alice reads but no longer expunges
    o = reset(s)
    o.logout()
    c, _, _ = alice(s)
    c.ok("STORE 1 +FLAGS (\\Deleted)")
    r = s.cli("acl", "set", "user/owner/Shared", "alice", "lrswit")
    if r.returncode != 0:
        raise dt.TestFailure("darius acl set: %d %s%s" % (r.returncode, r.stdout, r.stderr))
    u, t = c.command("EXPUNGE")
    if word(t) != "NO" or "[NOPERM]" not in t.render():
        raise dt.TestFailure("EXPUNGE after 'darius acl set ... lrswit': %s" % t.render())
    r = s.cli("acl", "set", "user/owner/Shared", "alice", "l")
    if r.returncode != 0:
        raise dt.TestFailure("darius acl set ... l: %d %s%s" % (r.returncode, r.stdout, r.stderr))
    expect_bye_rev1(c, "NOOP")
    if messages(s) != 3:
        raise dt.TestFailure("messages: %d, want 3" % messages(s))


# ---- some rights lost, r kept -------------------------------------------------

def t_lose_e(s):
    o = reset(s)
    c, _, _ = alice(s)
    c.ok("STORE 1 +FLAGS (\\Deleted)")
    o.ok("SETACL Shared alice -e")
    for cmd in ("EXPUNGE", "UID EXPUNGE 1:*"):
        u, t = c.command(cmd)
        if word(t) != "NO" or "[NOPERM]" not in t.render():
            raise dt.TestFailure("%s without e: %s" % (cmd, t.render()))
    if messages(s) != 3:
        raise dt.TestFailure("expunged without e")
    # still reads and stores flags
    u, _ = c.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    if "shared 2" not in " ".join(renders(u)):
        raise dt.TestFailure("FETCH without e: %r" % renders(u))
    c.ok("STORE 2 +FLAGS (\\Flagged)")
    # e again
    o.ok("SETACL Shared alice +e")
    u, t = c.ok("EXPUNGE")
    if not any(re.match(r"\* 1 EXPUNGE", r) for r in renders(u)):
        raise dt.TestFailure("EXPUNGE with e again: %r" % renders(u))
    if messages(s) != 2:
        raise dt.TestFailure("messages after EXPUNGE: %d" % messages(s))
    c.logout()
    o.logout()


def perm_flags(u):
    for r in renders(u):
        m = re.match(r"\* OK \[PERMANENTFLAGS \(([^)]*)\)\]", r)
        if m:
            return m.group(1).split()
    return None


def t_lose_s(s):
    o = reset(s)
    c, u, _ = alice(s)
    if "\\Seen" not in (perm_flags(u) or []):
        raise dt.TestFailure("SELECT PERMANENTFLAGS: %r" % perm_flags(u))
    o.ok("SETACL Shared alice -s")
    u, t = c.command("STORE 1 +FLAGS (\\Seen)")
    if word(t) != "NO" or "[NOPERM]" not in t.render():
        raise dt.TestFailure("STORE \\Seen without s: %s" % t.render())
    pf = perm_flags(u)
    if pf is None or "\\Seen" in pf or "\\Deleted" not in pf:
        raise dt.TestFailure("PERMANENTFLAGS after losing s: %r" % renders(u))
    u, _ = c.ok("FETCH 2 (BODY[])")
    u, _ = c.ok("FETCH 2 (FLAGS)")
    if "\\Seen" in " ".join(renders(u)):
        raise dt.TestFailure("FETCH BODY[] set \\Seen without s: %r" % renders(u))
    c.ok("STORE 1 +FLAGS (\\Flagged)")   # w kept
    o.ok("SETACL Shared alice +s")
    u, _ = c.ok("STORE 1 +FLAGS (\\Seen)")
    if "\\Seen" not in " ".join(renders(u)) or "\\Seen" not in (perm_flags(u) or []):
        raise dt.TestFailure("STORE \\Seen with s again: %r" % renders(u))
    c.logout()
    o.logout()


def t_read_only(s):
    o = reset(s)
    c, _, _ = alice(s)
    o.ok("SETACL Shared alice lr")
    u, t = c.ok("NOOP")
    if not any(r.startswith("* OK [READ-ONLY]") for r in renders(u)) or perm_flags(u) != []:
        raise dt.TestFailure("after SETACL lr: %r" % renders(u))
    u, t = c.command("STORE 1 +FLAGS (\\Flagged)")
    if word(t) != "NO":
        raise dt.TestFailure("STORE read-only: %s" % t.render())
    c.ok("FETCH 1 (FLAGS)")
    o.ok("SETACL Shared alice lrw")
    u, t = c.ok("STORE 1 +FLAGS (\\Flagged)")
    if not any(r.startswith("* OK [READ-WRITE]") for r in renders(u)):
        raise dt.TestFailure("after SETACL lrw: %r" % renders(u))
    if "\\Flagged" not in " ".join(renders(u)):
        raise dt.TestFailure("STORE after regaining w: %r" % renders(u))
    c.logout()
    o.logout()


def t_lose_i(s):
    o = reset(s)
    c, _, _ = alice(s)
    c.ok("APPEND %s %%L" % QBOX, [dt.sample_message(20)])
    o.ok("SETACL Shared alice -i")
    u, t = c.command("APPEND %s %%L" % QBOX, [dt.sample_message(21)])
    if word(t) != "NO":
        raise dt.TestFailure("APPEND without i: %s" % t.render())
    c.ok("SELECT INBOX")
    c.ok("APPEND INBOX %L", [dt.sample_message(22)])
    u, t = c.command("COPY 1 %s" % QBOX)
    if word(t) != "NO":
        raise dt.TestFailure("COPY without i: %s" % t.render())
    c.logout()
    o.logout()
    if messages(s) != 4:
        raise dt.TestFailure("messages: %d, want 4" % messages(s))


def t_group(s, gpath):
    o = reset(s, rights="")
    o.ok('SETACL Shared "group:readers" lrs')
    c, _, _ = alice(s, rev2=True)
    c.ok("FETCH 1 (FLAGS)")
    with open(gpath, "w") as f:
        f.write("readers:x:200:bob\n")
    t = time.time() + 30   # a distinct, later mtime: the server re-reads it
    os.utime(gpath, (t, t))
    expect_closed_rev2(c, "FETCH 1 (FLAGS)")
    c.logout()
    o.logout()


def main():
    s = dt.Server(start=False)
    gpath = os.path.join(s.tmp, "group")
    with open(gpath, "w") as f:
        f.write("readers:x:200:alice,bob\n")
    s.conf.update({"groupfile": gpath})
    s.write_config()
    try:
        for u in ("owner", "alice", "bob"):
            s.add_user(u, "secret")
        s.start()
        R.run("DELETEACL: IMAP4rev2 reader gets OK [CLOSED], nothing more of the mailbox", t_deleteacl_rev2, s)
        R.run("DELETEACL / SETACL -r: IMAP4rev1 reader gets BYE [NOPERM], no expunge", t_deleteacl_rev1, s)
        R.run("r lost during IDLE: CLOSED (rev2) or BYE (rev1) at once", t_idle, s)
        R.run("darius acl delete / set affect selected sessions", t_cli, s)
        R.run("e lost: EXPUNGE refused, reading and STORE go on; e regained works", t_lose_e, s)
        R.run("s lost: \\Seen neither stored nor set by FETCH, PERMANENTFLAGS updated; regained", t_lose_s, s)
        R.run("all write rights lost: READ-ONLY, regained: READ-WRITE", t_read_only, s)
        R.run("i lost: APPEND and COPY into the mailbox refused", t_lose_i, s)
        R.run("removed from a group: the selection closes", t_group, s, gpath)
        R.check_sanitizer(s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
