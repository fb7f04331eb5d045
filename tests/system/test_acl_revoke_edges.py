#!/usr/bin/env python3
"""Rights revoked while selected, edge cases (review of issue 9 item 10;
test_acl_revoke.py has the main cases).

- IMAP4rev1: the next command after losing "r" gets "* BYE [NOPERM]" and
  is refused - except LOGOUT, which must still be answered OK after the
  BYE (RFC 9051 6.1.3, RFC 3501 6.1.3: "BYE ... before the (tagged) OK").
- IMAP4rev2, pipelined commands: "* OK [CLOSED]" comes once, before the
  first answer; the selected-state commands after it are BAD (no mailbox
  selected), the others run, and nothing of the mailbox (EXISTS, FETCH,
  EXPUNGE) is sent any more.

Synchronisation by the server's answers only: the owner's DELETEACL is
answered before alice sends anything."""

import sys

import darius_test as dt

R = dt.Report("acl_revoke_edges")

BOX = '"Other Users/owner/Shared"'


def word(t):
    p = t.render().split(" ")
    return p[1] if len(p) > 1 else ""


def setup(s, o, rev2):
    o.command("DELETE Shared")
    o.ok("CREATE Shared")
    o.ok("APPEND Shared %L", [dt.sample_message(1)])
    o.ok("SETACL Shared alice lrswipkxte")
    a = s.login("alice", "secret")
    if rev2:
        a.ok("ENABLE IMAP4rev2")
    a.ok("SELECT " + BOX)
    o.ok("DELETEACL Shared alice")
    return a


def t_logout_rev1(s, o):
    a = setup(s, o, False)
    u, t = a.command("LOGOUT")
    got = [x.render() for x in u]
    if not got or not got[0].startswith("* BYE"):
        raise dt.TestFailure("no BYE first: %r" % got)
    if word(t) != "OK":
        raise dt.TestFailure("LOGOUT answered %s" % t.render())
    if not a.at_eof(5 * dt.timeout_scale()):
        raise dt.TestFailure("connection still open after LOGOUT")
    a.close()


def t_other_rev1(s, o):
    a = setup(s, o, False)
    u, t = a.command("NOOP")
    got = [x.render() for x in u]
    if not any(x.startswith("* BYE [NOPERM]") for x in got) or word(t) != "NO":
        raise dt.TestFailure("NOOP after revoke: %r %s" % (got, t.render()))
    a.close()


def t_pipelined_rev2(s, o):
    a = setup(s, o, True)
    o.ok("APPEND Shared %L", [dt.sample_message(2)])   # would be an EXISTS
    a.send("p1 FETCH 1 (FLAGS)\r\np2 NOOP\r\np3 STORE 1 +FLAGS (\\Seen)\r\np4 STATUS INBOX (MESSAGES)")
    lines = []
    for tag in ("p1", "p2", "p3", "p4"):
        while True:
            r = a.read()
            lines.append(r.render())
            if r.render().startswith(tag + " "):
                break
    closed = [i for i, l in enumerate(lines) if l.startswith("* OK [CLOSED]")]
    if len(closed) != 1 or closed[0] != 0:
        raise dt.TestFailure("CLOSED not once and first: %r" % lines)
    tagged = {l.split(" ")[0]: l.split(" ")[1] for l in lines if l.startswith("p")}
    if tagged != {"p1": "BAD", "p2": "OK", "p3": "BAD", "p4": "OK"}:
        raise dt.TestFailure("answers: %r" % lines)
    leaked = [l for l in lines if " EXISTS" in l or " FETCH " in l or " EXPUNGE" in l]
    if leaked:
        raise dt.TestFailure("mailbox data after CLOSED: %r" % leaked)
    a.logout()


def main():
    s = dt.Server(start=False)
    try:
        for u in ("owner", "alice"):
            s.add_user(u, "secret")
        s.start()
        o = s.login("owner", "secret")
        R.run("IMAP4rev1: LOGOUT after a revoke is BYE then OK", t_logout_rev1, s, o)
        R.run("IMAP4rev1: another command after a revoke is BYE [NOPERM] then NO", t_other_rev1, s, o)
        R.run("IMAP4rev2: pipelined commands after a revoke: one CLOSED, then BAD/OK, no mailbox data",
              t_pipelined_rev2, s, o)
        o.logout()
        R.check_sanitizer(s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
