#!/usr/bin/env python3
"""Hostile LMTP senders and login state left behind (issue 9, items 7, 8,
11 and 13):

- createonpost with +detail names IMAP CREATE refuses ("..", "a/../b",
  "x/./y", 65 and 200 levels, wildcards, empty levels, another namespace,
  '/' under the '.' separator): each message lands in INBOX and no
  mailbox is created (checked with `darius mailbox list --all --json`);
  also through `darius deliver` (+detail and -m);
- createonpost below an existing folder needs k on it for the poster
  (unauthenticated: anyone; the authenticated LMTP client; deliver -a):
  a folder shared read-only cannot grow a child from outside;
- a local part carrying a domain ("alice@a.test"@main.test,
  bob@b.test@main.test, "bob+x@b.test"@main.test, escaped and routed
  forms) is an unknown user under virtdomains and without: 550 5.1.1 and
  nothing delivered; `darius deliver` exits 67;
- IGNOREQUOTA from an unauthenticated TCP client is ignored (quota
  applies, logged once per session), honoured after AUTH and on the unix
  socket, and from anyone with lmtp_ignorequota_requires_auth: no;
- a POP3 USER followed by a disconnect, and IMAP/LMTP logins abandoned
  half-way, leave nothing allocated (run with --sanitizer: LeakSanitizer
  reports at worker exit fail the test).
"""

import base64
import json
import os
import re
import ssl
import subprocess
import sys
import time

import darius_test as dt

R = dt.Report("lmtp_hostile")


def msg(mid):
    return ("From: <s@example.org>\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody %s\r\n"
            % (mid, mid, mid))


def lhlo(c):
    code, lines = c.cmd("LHLO client.example")
    if code != 250:
        raise dt.TestFailure("LHLO: %r" % lines)
    return [l[4:] for l in lines]


def transaction(c, rcpts, data, mail="MAIL FROM:<s@example.org>"):
    """One LMTP transaction: (RCPT replies, replies after DATA)."""
    code, lines = c.cmd(mail)
    if code != 250:
        raise dt.TestFailure("%s: %r" % (mail, lines))
    rr = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
    ok = sum(1 for code, _ in rr if code == 250)
    if ok == 0:
        c.cmd("RSET")
        return rr, []
    code, lines = c.cmd("DATA")
    if code != 354:
        raise dt.TestFailure("DATA: %r" % lines)
    c.send_raw(dt.lmtp_data(data))
    return rr, [c.reply() for _ in range(ok)]


def mailboxes(s):
    """{(store, mailbox): messages} of every store."""
    r = s.cli("mailbox", "list", "--all", "--json")
    if r.returncode != 0:
        raise dt.TestFailure("mailbox list --all: %d %s" % (r.returncode, r.stderr))
    return {(m["store"], m["mailbox"]): m["messages"] for m in json.loads(r.stdout)}


def deliver(s, args, data):
    return subprocess.run([s.darius, "-C", s.conf_path, "deliver"] + args, input=data.encode(),
                          capture_output=True, timeout=60)


def server(config, users):
    s = dt.Server(start=False, config=config)
    try:
        for u, p in users:
            s.add_user(u, p)
        s.start()
    except Exception:
        s.cleanup()
        raise
    return s


def imap_ok(c, line):
    u, t = c.command(line)
    if t.render().split(" ", 2)[1] != "OK":
        raise dt.TestFailure("%s: %s" % (line, t.render()))
    return u


# ---- item 7: createonpost names and the k right ----------------------------------

def deep(n):
    return "/".join("d%d" % i for i in range(n))


BAD_DETAILS = [
    "..", ".", "../../x", "a/../b", "x/./y", "x/..", "a/.", "../x", "INBOX/../x",
    deep(65), deep(200), "a//b", "/a", "a/", "x*y", "x%y",
    "Other Users/alice/x", "Other Users", "Shared Folders/x", "Shared Folders",
]


def detail_rcpt(user, d):
    """user+d as an address: quoted when d has a space."""
    return '"%s+%s"' % (user, d) if " " in d else "%s+%s" % (user, d)


def bad_details(s):
    before = mailboxes(s)
    inbox = before[("bob", "INBOX")]
    c = s.lmtp(unix=True)
    lhlo(c)
    for i, d in enumerate(BAD_DETAILS):
        rr, dr = transaction(c, [detail_rcpt("bob", d)], msg("bad%d" % i))
        if rr[0][0] != 250 or [x[0] for x in dr] != [250]:
            raise dt.TestFailure("bob+%s: %r %r" % (d[:40], rr, dr))
    c.cmd("QUIT")
    # darius deliver takes the same rules: +detail and -m with a user
    for i, d in enumerate(["../../x", "a/../b", deep(65)]):
        p = deliver(s, ["bob+" + d], msg("cli%d" % i))
        q = deliver(s, ["-m", d, "bob"], msg("clim%d" % i))
        if p.returncode != 0 or q.returncode != 0:
            raise dt.TestFailure("deliver %s: %d %d %r" % (d[:40], p.returncode, q.returncode, q.stderr))
    after = mailboxes(s)
    new = sorted(set(after) - set(before))
    if new:
        raise dt.TestFailure("mailboxes created: %r" % [(st, n[:60]) for st, n in new])
    want = inbox + len(BAD_DETAILS) + 6
    if after[("bob", "INBOX")] != want:
        raise dt.TestFailure("bob's INBOX has %d messages, want %d" % (after[("bob", "INBOX")], want))
    # a valid name is still created (top level, and 64 levels)
    c = s.lmtp(unix=True)
    lhlo(c)
    for i, d in enumerate(["Fresh", deep(64)]):
        transaction(c, ["bob+" + d], msg("good%d" % i))
    c.cmd("QUIT")
    after = mailboxes(s)
    if after.get(("bob", "Fresh")) != 1 or after.get(("bob", deep(64))) != 1:
        raise dt.TestFailure("valid details not created: %r" % sorted(n[:30] for st, n in after if st == "bob"))


def bad_details_dotsep(s):
    """unixhierarchysep: no - '.' separates, '/' belongs to no name."""
    before = mailboxes(s)
    c = s.lmtp(unix=True)
    lhlo(c)
    details = ["a/b", "a/../b", "x.y/z", "a..b", ".a", "a.", deep(3).replace("/", ".") + "/x"]
    for i, d in enumerate(details):
        rr, dr = transaction(c, ["bob+" + d], msg("dot%d" % i))
        if rr[0][0] != 250 or [x[0] for x in dr] != [250]:
            raise dt.TestFailure("bob+%s: %r %r" % (d, rr, dr))
    transaction(c, ["bob+ok.sub"], msg("dotok"))
    c.cmd("QUIT")
    after = mailboxes(s)
    new = sorted(set(after) - set(before))
    if new != [("bob", "ok/sub")]:
        raise dt.TestFailure("created: %r" % new)
    if after[("bob", "INBOX")] != before[("bob", "INBOX")] + len(details):
        raise dt.TestFailure("INBOX %d -> %d" % (before[("bob", "INBOX")], after[("bob", "INBOX")]))


def k_on_parent(s):
    """bob's Projects is shared read-only with alice and accepts posts
    (anyone p): a sender must not add a folder inside it (alice would see
    it). k on Projects for the poster is what CREATE needs."""
    b = s.login("bob", s.users["bob"])
    imap_ok(b, "CREATE Projects")
    imap_ok(b, "SETACL Projects alice lr")
    imap_ok(b, "SETACL Projects anyone p")
    imap_ok(b, "SETACL Projects lmtpadmin p")

    def post(rcpt, mid, auth=False):
        if auth:
            c = s.lmtp()
            lhlo(c)
            code, lines = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0lmtpadmin\0adminpw").decode())
            if code != 235:
                raise dt.TestFailure("AUTH: %r" % lines)
        else:
            c = s.lmtp(unix=True)
            lhlo(c)
        rr, dr = transaction(c, [rcpt], msg(mid))
        c.cmd("QUIT")
        if rr[0][0] != 250 or [x[0] for x in dr] != [250]:
            raise dt.TestFailure("%s: %r %r" % (rcpt, rr, dr))

    before = mailboxes(s)
    post("bob+Projects", "kp0")                  # p is enough to post into it
    post("bob+Projects/evil", "k1")              # anyone: no k -> INBOX
    post("bob+Projects/a/b", "k2")               # nearest existing ancestor decides
    post("bob+Projects/admin", "k3", auth=True)  # an admin poster: no k from being one
    p = deliver(s, ["bob+Projects/cli"], msg("k4"))   # deliver without -a: anyone
    q = deliver(s, ["-m", "Projects/clim", "bob"], msg("k5"))
    if p.returncode != 0 or q.returncode != 0:
        raise dt.TestFailure("deliver: %d %d" % (p.returncode, q.returncode))
    after = mailboxes(s)
    new = sorted(set(after) - set(before))
    if new:
        raise dt.TestFailure("created without k: %r" % new)
    if after[("bob", "Projects")] != before[("bob", "Projects")] + 1:
        raise dt.TestFailure("post into Projects not delivered")
    if after[("bob", "INBOX")] != before[("bob", "INBOX")] + 5:
        raise dt.TestFailure("INBOX %d -> %d" % (before[("bob", "INBOX")], after[("bob", "INBOX")]))
    # alice's view: nothing new under Projects
    a = s.login("alice", s.users["alice"])
    u = imap_ok(a, 'LIST "" "Other Users/bob/*"')
    names = [r.render() for r in u]
    if len(names) != 1 or "Projects" not in names[0]:
        raise dt.TestFailure("alice sees %r" % names)
    # k granted: to the authenticated poster, then to the owner via -a, then anyone
    imap_ok(b, "SETACL Projects lmtpadmin kp")
    post("bob+Projects/admin", "k6", auth=True)
    p = deliver(s, ["-a", "bob", "bob+Projects/owner"], msg("k7"))
    if p.returncode != 0:
        raise dt.TestFailure("deliver -a bob: %d %r" % (p.returncode, p.stderr))
    post("bob+Projects/anon", "k8")   # anyone still has no k
    imap_ok(b, "SETACL Projects anyone kp")
    post("bob+Projects/anon", "k9")
    after = mailboxes(s)
    new = sorted(set(after) - set(before))
    want = [("bob", "Projects/admin"), ("bob", "Projects/anon"), ("bob", "Projects/owner")]
    if new != want:
        raise dt.TestFailure("created %r, want %r" % (new, want))
    # the child has its parent's ACL, and alice (lr on Projects) sees it
    u = imap_ok(b, "GETACL Projects/anon")
    acl = " ".join(r.render() for r in u)
    if not re.search(r"\balice lr\b", acl):
        raise dt.TestFailure("child ACL %r" % acl)
    u = imap_ok(a, 'LIST "" "Other Users/bob/Projects/*"')
    names = " ".join(r.render() for r in u)
    if "Projects/anon" not in names:
        raise dt.TestFailure("alice does not see the child: %r" % names)
    a.logout()
    b.logout()


def cli_mailbox_names(s):
    """The CLI creates through the access layer: the same rules."""
    before = mailboxes(s)
    for n in ("user/bob/c/../d", "user/bob/./z", "user/bob/w/./v", "user/bob/" + deep(65)):
        r = s.cli("mailbox", "create", n)
        if r.returncode == 0:
            raise dt.TestFailure("darius mailbox create %s accepted" % n[:40])
    r = s.cli("mailbox", "create", "user/bob/Okay")
    if r.returncode != 0:
        raise dt.TestFailure("valid create: %s" % r.stderr)
    r = s.cli("mailbox", "rename", "user/bob/Okay", "user/bob/x/../y")
    if r.returncode == 0:
        raise dt.TestFailure("rename to a '..' level accepted")
    new = sorted(set(mailboxes(s)) - set(before))
    if new != [("bob", "Okay")]:
        raise dt.TestFailure("created %r" % new)


# ---- item 8: a local part carrying a domain --------------------------------------

CROSS = [
    '"alice@a.test"@main.test',
    'bob@b.test@main.test',
    '"bob+x@b.test"@main.test',
    'bob+x@b.test@main.test',
    '"bob@b.test"',
    'bob@b.test@',
    '"alice@a.test"@a.test',
    r'bob\@b.test@main.test',
    r'"bob\@b.test"@main.test',
    '@relay.test:"alice@a.test"@main.test',
    '"bb+news@b.test"@main.test',
    '"bob@main.test"@main.test',
]


def cross_domain(s):
    before = mailboxes(s)
    for unix in (True, False):
        c = s.lmtp(unix=unix)
        lhlo(c)
        c.cmd("MAIL FROM:<s@example.org>")
        for a in CROSS:
            code, lines = c.cmd("RCPT TO:<%s>" % a)
            if code != 550 or "5.1.1" not in lines[0]:
                raise dt.TestFailure("RCPT TO:<%s>: %r" % (a, lines))
        code, lines = c.cmd("DATA")
        if code != 503:
            raise dt.TestFailure("DATA without recipients: %r" % lines)
        c.cmd("QUIT")
    for a in ["alice@a.test@main.test", '"alice@a.test"@main.test', '"bob+x@b.test"@main.test']:
        p = deliver(s, [a], msg("x"))
        if p.returncode != 67:
            raise dt.TestFailure("darius deliver %s: exit %d" % (a, p.returncode))
    p = deliver(s, ["-m", "Lists", "bob@b.test@main.test"], msg("x2"))
    if p.returncode != 67:
        raise dt.TestFailure("darius deliver -m: exit %d" % p.returncode)
    after = mailboxes(s)
    if after != before:
        raise dt.TestFailure("something was delivered: %r -> %r" % (before, after))
    # the plain forms still work, also quoted
    c = s.lmtp(unix=True)
    lhlo(c)
    rr, dr = transaction(c, ["alice@a.test", '"bob"@b.test', "bob@main.test"], msg("ok"))
    c.cmd("QUIT")
    if [x[0] for x in rr] != [250, 250, 250] or [x[0] for x in dr] != [250, 250, 250]:
        raise dt.TestFailure("%r %r" % (rr, dr))
    after = mailboxes(s)
    for st in ("alice@a.test", "bob@b.test", "bob"):
        if after[(st, "INBOX")] != before.get((st, "INBOX"), 0) + 1:
            raise dt.TestFailure("%s: %r" % (st, after))


def cross_domain_plain(s):
    """Without virtdomains a local part with '@' is refused all the same."""
    before = mailboxes(s)
    c = s.lmtp(unix=True)
    lhlo(c)
    c.cmd("MAIL FROM:<s@example.org>")
    for a in ['"bob@evil.test"@main.test', "bob@evil.test@main.test", '"bob+x@y"@z']:
        code, lines = c.cmd("RCPT TO:<%s>" % a)
        if code != 550 or "5.1.1" not in lines[0]:
            raise dt.TestFailure("RCPT TO:<%s>: %r" % (a, lines))
    c.cmd("QUIT")
    if mailboxes(s) != before:
        raise dt.TestFailure("delivered")


# ---- item 13: IGNOREQUOTA ------------------------------------------------------------

NOTICE = "IGNOREQUOTA from an unauthenticated client ignored"


def tls(c):
    code, lines = c.cmd("STARTTLS")
    if code != 220:
        raise dt.TestFailure("STARTTLS: %r" % lines)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock)


def ignorequota(s):
    r = s.cli("quota", "set", "user/bob", "message=1")
    if r.returncode != 0:
        raise dt.TestFailure("quota set: %s" % r.stderr)
    c = s.lmtp(unix=True)
    lhlo(c)
    transaction(c, ["bob"], msg("fill"))
    c.cmd("QUIT")
    count = lambda: mailboxes(s)[("bob", "INBOX")]
    n0 = count()
    if s.stderr_text().count(NOTICE):
        raise dt.TestFailure("notice before any IGNOREQUOTA")
    # unauthenticated TCP: on MAIL, on RCPT, twice in one session -> quota applies
    c = s.lmtp()
    lhlo(c)
    rr, _ = transaction(c, ["bob"], msg("iq1"), mail="MAIL FROM:<s@example.org> IGNOREQUOTA")
    if rr[0][0] != 452 or "4.2.2" not in rr[0][1][0]:
        raise dt.TestFailure("MAIL IGNOREQUOTA unauthenticated: %r" % rr)
    c.cmd("MAIL FROM:<s@example.org>")
    code, lines = c.cmd("RCPT TO:<bob> IGNOREQUOTA")
    if code != 452:
        raise dt.TestFailure("RCPT IGNOREQUOTA unauthenticated: %r" % lines)
    c.cmd("QUIT")
    if count() != n0:
        raise dt.TestFailure("stored over quota")
    if s.stderr_text().count(NOTICE) != 1:
        raise dt.TestFailure("want one notice per session, got %d" % s.stderr_text().count(NOTICE))
    # after STARTTLS + AUTH (an admin): honoured
    c = s.lmtp()
    lhlo(c)
    tls(c)
    lhlo(c)
    code, lines = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0lmtpadmin\0adminpw").decode())
    if code != 235:
        raise dt.TestFailure("AUTH: %r" % lines)
    rr, dr = transaction(c, ["bob"], msg("iq2"), mail="MAIL FROM:<s@example.org> IGNOREQUOTA")
    c.cmd("MAIL FROM:<s@example.org>")
    code, lines = c.cmd("RCPT TO:<bob> IGNOREQUOTA")
    c.cmd("QUIT")
    if rr[0][0] != 250 or [x[0] for x in dr] != [250] or code != 250:
        raise dt.TestFailure("authenticated IGNOREQUOTA: %r %r %r" % (rr, dr, lines))
    # the unix socket (the local MTA) is trusted
    c = s.lmtp(unix=True)
    lhlo(c)
    rr, dr = transaction(c, ["bob"], msg("iq3"), mail="MAIL FROM:<s@example.org> IGNOREQUOTA")
    c.cmd("QUIT")
    if rr[0][0] != 250 or [x[0] for x in dr] != [250]:
        raise dt.TestFailure("unix socket IGNOREQUOTA: %r %r" % (rr, dr))
    if count() != n0 + 2:
        raise dt.TestFailure("want %d messages, have %d" % (n0 + 2, count()))
    if s.stderr_text().count(NOTICE) != 1:
        raise dt.TestFailure("notices: %d" % s.stderr_text().count(NOTICE))
    # lmtp_ignorequota_requires_auth: no -> anyone (the old behaviour)
    s.stop()
    s.conf["lmtp_ignorequota_requires_auth"] = "no"
    s.write_config()
    s.start()
    c = s.lmtp()
    lhlo(c)
    rr, dr = transaction(c, ["bob"], msg("iq4"), mail="MAIL FROM:<s@example.org> IGNOREQUOTA")
    c.cmd("QUIT")
    if rr[0][0] != 250 or [x[0] for x in dr] != [250]:
        raise dt.TestFailure("requires_auth no: %r %r" % (rr, dr))
    if count() != n0 + 3:
        raise dt.TestFailure("want %d messages, have %d" % (n0 + 3, count()))


# ---- item 11: login state left behind -----------------------------------------------

def server_side_inodes(s, sock, ports):
    cport = sock.getsockname()[1]
    return {ino for lp, rp, ino in dt._proc_net_tcp() if rp == cport and lp in ports}


def wait_server_closed(s, inodes):
    """Poll until no dariusd process holds the server side of the
    connection any more (the session was torn down)."""
    deadline = time.monotonic() + 10 * dt.timeout_scale()
    while time.monotonic() < deadline:
        held = False
        for pid in s.worker_pids() + [s.pid()]:
            try:
                for fd in os.listdir("/proc/%d/fd" % pid):
                    try:
                        t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                    except OSError:
                        continue
                    if t.startswith("socket:[") and t[8:-1] in inodes:
                        held = True
            except OSError:
                continue
        if not held:
            return
        time.sleep(0.02)
    raise dt.TestFailure("the server did not close the connection")


def abandon(s, sock, port):
    inodes = server_side_inodes(s, sock, (port,))
    if not inodes:
        raise dt.TestFailure("server side of the connection not found")
    sock.close()
    wait_server_closed(s, inodes)


def pop3_user_leak():
    """USER allocates the pending name; a disconnect before PASS must
    free it (LeakSanitizer at worker exit, --sanitizer)."""
    s = server(None, [("alice", "alicepw")])
    try:
        for _ in range(3):
            p = s.pop3()
            p.ok("USER alice")
            abandon(s, p.sock, s.pop3_port)
        # USER, then AUTH (which forgets the USER), then disconnect
        p = s.pop3()
        p.ok("USER alice")
        p.send("AUTH PLAIN")
        if not p.line().startswith("+"):
            raise dt.TestFailure("AUTH PLAIN continuation")
        abandon(s, p.sock, s.pop3_port)
        # a complete login still works
        p = s.pop3_login("alice", "alicepw")
        p.ok("QUIT")
        s.stop()
    finally:
        s.cleanup()


def login_state_leaks():
    """The same pattern in IMAP (LOGIN with a literal, AUTHENTICATE
    mid-exchange) and LMTP (AUTH mid-exchange)."""
    s = server({"lmtp_auth_required": "yes", "admins": "lmtpadmin"}, [("alice", "alicepw"),
                                                                       ("lmtpadmin", "adminpw")])
    try:
        c = s.client()
        c.greeting()
        c.send_raw(b"a1 LOGIN {5}\r\n")
        if not c._readline().startswith(b"+"):
            raise dt.TestFailure("no continuation for the LOGIN literal")
        c.send_raw(b"alice {7}\r\n")
        if not c._readline().startswith(b"+"):
            raise dt.TestFailure("no continuation for the second literal")
        abandon(s, c.sock, s.port)
        c = s.client()
        c.greeting()
        c.send_raw(b"a1 AUTHENTICATE PLAIN\r\n")
        if not c._readline().startswith(b"+"):
            raise dt.TestFailure("no AUTHENTICATE continuation")
        abandon(s, c.sock, s.port)
        l = s.lmtp()
        lhlo(l)
        code, lines = l.cmd("AUTH PLAIN")
        if code != 334:
            raise dt.TestFailure("LMTP AUTH PLAIN: %r" % lines)
        abandon(s, l.sock, s.lmtp_port)
        l = s.lmtp()
        lhlo(l)
        code, lines = l.cmd("MAIL FROM:<s@x> IGNOREQUOTA")
        abandon(s, l.sock, s.lmtp_port)
        s.stop()
    finally:
        s.cleanup()


def main():
    users = [("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw"), ("lmtpadmin", "adminpw")]
    s = server({"createonpost": "yes", "lmtp_auth_required": "yes", "admins": "lmtpadmin"}, users)
    try:
        R.run("createonpost: names CREATE refuses land in INBOX, nothing created (LMTP, deliver)", bad_details, s)
        R.run("createonpost: k on the parent for the poster (anyone, AUTH, deliver -a)", k_on_parent, s)
        R.run("darius mailbox create/rename: the same name rules", cli_mailbox_names, s)
        R.run("local part with '@' without virtdomains: 550 5.1.1", cross_domain_plain, s)
        s.stop()
    finally:
        s.cleanup()

    s = server({"createonpost": "yes", "unixhierarchysep": "no"}, users)
    try:
        R.run("createonpost with the '.' separator: '/' and empty levels refused", bad_details_dotsep, s)
        s.stop()
    finally:
        s.cleanup()

    s = server({"virtdomains": "yes", "defaultdomain": "main.test", "postuser": "bb"},
               [("alice@a.test", "pw"), ("bob@b.test", "pw"), ("bob", "pw"), ("carol", "pw")])
    try:
        R.run("virtdomains: a local part carrying a domain is unknown (550 5.1.1, deliver 67)", cross_domain, s)
        s.stop()
    finally:
        s.cleanup()

    s = server({"admins": "lmtpadmin"}, [("bob", "bobpw"), ("lmtpadmin", "adminpw")])
    try:
        R.run("IGNOREQUOTA: ignored unauthenticated on TCP (logged once), honoured after AUTH and on "
              "the unix socket, lmtp_ignorequota_requires_auth: no", ignorequota, s)
        s.stop()
    finally:
        s.cleanup()

    R.run("POP3 USER then disconnect: nothing leaks", pop3_user_leak)
    R.run("IMAP LOGIN/AUTHENTICATE and LMTP AUTH abandoned: nothing leaks", login_state_leaks)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
