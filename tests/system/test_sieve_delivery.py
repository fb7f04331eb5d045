#!/usr/bin/env python3
"""Sieve (RFC 5228) at delivery: a script stored with `darius sieve put`,
the message delivered over LMTP (and `darius deliver`), the result read
over IMAP; mail that leaves the server goes through the test sendmail
(tests/lib/fake-sendmail.sh), whose argv and stdin are checked.

keep; fileinto with imap4flags, :create, a missing mailbox (kept in
INBOX); discard; redirect and vacation through sendmail; reject and
ereject answered at LMTP time (550 5.7.1) per recipient; a sendmail
failure is 451 unless a copy is stored; a run-time error keeps the
message; the duplicate test (RFC 7352); spamtest/virustest from
configured headers (RFC 5235); run-time errors in `darius sieve log`;
sieve_before / sieve_after; a
stored compiled form of another
format version is recompiled and cached; `darius deliver` with Sieve."""

import json
import os
import select
import sqlite3
import subprocess
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("sieve-delivery")

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_SENDMAIL = os.path.join(HERE, "..", "lib", "fake-sendmail.sh")

MSG = ("From: s@example.org\r\nTo: %(to)s\r\nSubject: %(subject)s\r\n"
       "Message-ID: <%(mid)s@example.org>\r\n\r\nHello %(mid)s\r\n")


def msg(mid, to="alice@example.org", subject="test"):
    return MSG % {"mid": mid, "to": to, "subject": subject}


def put_script(s, user, text, name="main"):
    r = s.cli("sieve", "put", "--activate", user, name, input_text=text)
    if r.returncode != 0:
        raise dt.TestFailure("sieve put: %d %s%s" % (r.returncode, r.stdout, r.stderr))


def lmtp_deliver(s, rcpts, data, mail_from="s@example.org"):
    """One LMTP transaction: the RCPT codes and the DATA reply lines."""
    c = s.lmtp(unix=True)
    code, lines = c.cmd("LHLO client.example")
    if code != 250:
        raise dt.TestFailure("LHLO %r" % lines)
    code, lines = c.cmd("MAIL FROM:<%s>" % mail_from)
    if code != 250:
        raise dt.TestFailure("MAIL %r" % lines)
    for r in rcpts:
        code, lines = c.cmd("RCPT TO:<%s>" % r)
        if code != 250:
            raise dt.TestFailure("RCPT %s: %r" % (r, lines))
    code, lines = c.cmd("DATA")
    if code != 354:
        raise dt.TestFailure("DATA %r" % lines)
    c.send_raw(dt.lmtp_data(data))
    replies = [c.reply() for _ in rcpts]
    c.cmd("QUIT")
    c.close()
    return [(code, lines[-1]) for code, lines in replies]


def deliver_ok(s, rcpts, data, **kw):
    rep = lmtp_deliver(s, rcpts, data, **kw)
    if any(code != 250 for code, _ in rep):
        raise dt.TestFailure("DATA replies %r" % rep)


def messages(s, user, mailbox, mid):
    """[(uid, flags)] of the messages with mid in mailbox; None when the
    mailbox cannot be selected."""
    c = s.login(user, s.users[user])
    u, t = c.command('EXAMINE "%s"' % mailbox)
    if "OK" not in t.text.split(" ", 2)[1:2]:
        c.logout()
        return None
    u, t = c.command('UID SEARCH HEADER Message-ID "<%s@example.org>"' % mid)
    uids = []
    for r in u:
        if r.text.startswith("* SEARCH"):
            uids = [int(x) for x in r.text.split()[2:]]
    out = []
    for uid in uids:
        u, t = c.command("UID FETCH %d (FLAGS)" % uid)
        flags = ""
        for r in u:
            if "FLAGS (" in r.text:
                flags = r.text.split("FLAGS (", 1)[1].split(")", 1)[0]
        out.append((uid, flags.split()))
    c.logout()
    return out


def count(s, user, mailbox, mid):
    m = messages(s, user, mailbox, mid)
    return -1 if m is None else len(m)


class Sendmail:
    """The fake sendmail's directory: calls and control files."""

    def __init__(self, s):
        self.dir = os.path.join(s.tmp, "mta")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, "sendmail")
        if not os.path.exists(self.path):
            os.symlink(FAKE_SENDMAIL, self.path)

    def reset(self):
        for f in os.listdir(self.dir):
            if f != "sendmail":
                os.unlink(os.path.join(self.dir, f))

    def count(self):
        try:
            with open(os.path.join(self.dir, "sendmail.count")) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0

    def call(self, n):
        with open(os.path.join(self.dir, "sendmail.%d.args" % n)) as f:
            args = f.read().splitlines()
        with open(os.path.join(self.dir, "sendmail.%d.msg" % n), "rb") as f:
            body = f.read()
        return args, body

    def fail(self, status):
        with open(os.path.join(self.dir, "sendmail.exit"), "w") as f:
            f.write("%d\n" % status)


def check(cond, what):
    if not cond:
        raise dt.TestFailure(what)


# ---- tests ------------------------------------------------------------------

def keep(s, mta):
    put_script(s, "alice", "keep;\r\n")
    deliver_ok(s, ["alice"], msg("k1"))
    check(count(s, "alice", "INBOX", "k1") == 1, "keep: not in INBOX")


def fileinto_flags(s, mta):
    a = s.login("alice", s.users["alice"])
    a.ok("CREATE Work")
    a.logout()
    put_script(s, "alice", 'require ["fileinto", "imap4flags"];\r\n'
               'if header :contains "subject" "work" {\r\n'
               '  fileinto :flags ["\\\\Flagged", "$Work"] "Work";\r\n}\r\n')
    deliver_ok(s, ["alice"], msg("f1", subject="work item"))
    m = messages(s, "alice", "Work", "f1")
    check(m is not None and len(m) == 1, "fileinto: not in Work: %r" % m)
    check("\\Flagged" in m[0][1] and "$Work" in m[0][1], "fileinto :flags: %r" % m)
    check(count(s, "alice", "INBOX", "f1") == 0, "fileinto also kept in INBOX")
    # not matching: the implicit keep
    deliver_ok(s, ["alice"], msg("f2", subject="other"))
    check(count(s, "alice", "INBOX", "f2") == 1 and count(s, "alice", "Work", "f2") == 0, "implicit keep")


def fileinto_create(s, mta):
    put_script(s, "alice", 'require ["fileinto", "mailbox"];\r\nfileinto :create "Lists/new";\r\n')
    deliver_ok(s, ["alice"], msg("c1"))
    check(count(s, "alice", "Lists/new", "c1") == 1, "fileinto :create: not in the new mailbox")
    check(count(s, "alice", "INBOX", "c1") == 0, "fileinto :create also kept")


def fileinto_missing(s, mta):
    put_script(s, "alice", 'require "fileinto";\r\nfileinto "Nope";\r\n')
    deliver_ok(s, ["alice"], msg("m1"))
    check(count(s, "alice", "Nope", "m1") == -1, "missing mailbox was created")
    check(count(s, "alice", "INBOX", "m1") == 1, "fileinto a missing mailbox: not kept in INBOX")
    check("user=alice: fileinto into Nope failed" in s.stderr_text(), "the failed fileinto is not logged")
    # a script cannot file into another user's or a shared mailbox
    put_script(s, "alice", 'require ["fileinto", "mailbox"];\r\nfileinto :create "Other Users/bob";\r\n'
               'fileinto :create "Shared Folders/x";\r\nfileinto "../bob";\r\n')
    deliver_ok(s, ["alice"], msg("m2"))
    check(count(s, "alice", "INBOX", "m2") == 1, "fileinto another namespace: not kept in INBOX")
    check(count(s, "bob", "INBOX", "m2") == 0, "fileinto reached bob")
    check('fileinto "Other Users/bob": not a valid mailbox name; kept in INBOX' in s.stderr_text(),
          "the refused fileinto is not logged")


def specialuse_editheader(s, mta):
    a = s.login("alice", s.users["alice"])
    a.ok("CREATE Junk (USE (\\Junk))")
    a.logout()
    # RFC 8579: the mailbox with the special use wins over the name
    put_script(s, "alice", 'require ["fileinto", "special-use", "editheader"];\r\n'
               'addheader "X-Filtered" "by sieve";\r\nfileinto :specialuse "\\\\Junk" "Spam";\r\n')
    deliver_ok(s, ["alice"], msg("u1"))
    check(count(s, "alice", "Junk", "u1") == 1 and count(s, "alice", "Spam", "u1") == -1, ":specialuse")
    # RFC 5293: the stored copy carries the edited header
    a = s.login("alice", s.users["alice"])
    a.ok("EXAMINE Junk")
    u, _ = a.ok('SEARCH HEADER X-Filtered "by sieve"')
    a.logout()
    check(any(r.text.startswith("* SEARCH ") and len(r.text.split()) == 3 for r in u), "addheader: %r" %
          [r.render() for r in u])


def mailboxid(s, mta):
    a = s.login("alice", s.users["alice"])
    u, _ = a.ok("STATUS Work (MAILBOXID)")
    a.logout()
    mid = [r.text.split("MAILBOXID (", 1)[1].split(")", 1)[0] for r in u if "MAILBOXID (" in r.text]
    check(len(mid) == 1, "STATUS MAILBOXID: %r" % [r.render() for r in u])
    # RFC 9042: the mailbox with that id wins over the name
    put_script(s, "alice", 'require ["fileinto", "mailboxid"];\r\nfileinto :mailboxid "%s" "Gone";\r\n' % mid[0])
    deliver_ok(s, ["alice"], msg("i1"))
    check(count(s, "alice", "Work", "i1") == 1 and count(s, "alice", "Gone", "i1") == -1, ":mailboxid")


def discard(s, mta):
    put_script(s, "alice", "discard;\r\n")
    deliver_ok(s, ["alice"], msg("d1"))
    check(count(s, "alice", "INBOX", "d1") == 0, "discard: stored")


def redirect(s, mta):
    mta.reset()
    put_script(s, "alice", 'redirect "fwd@example.net";\r\n')
    deliver_ok(s, ["alice"], msg("r1"))
    check(mta.count() == 1, "redirect: sendmail called %d times" % mta.count())
    args, body = mta.call(1)
    check(args == ["-i", "-f", "s@example.org", "--", "fwd@example.net"], "redirect argv %r" % args)
    check(b"X-Darius-Redirected: alice" in body and b"Hello r1" in body, "redirect message %r" % body[:300])
    check(b"Return-Path" not in body, "redirect kept the Return-Path")
    check(count(s, "alice", "INBOX", "r1") == 0, "redirect without :copy stored a copy")
    # :copy keeps one too
    mta.reset()
    put_script(s, "alice", 'require "copy";\r\nredirect :copy "fwd@example.net";\r\n')
    deliver_ok(s, ["alice"], msg("r2"))
    check(mta.count() == 1 and count(s, "alice", "INBOX", "r2") == 1, "redirect :copy")


def vacation(s, mta):
    mta.reset()
    put_script(s, "alice", 'require "vacation";\r\nvacation :days 1 :subject "Away" "I am away.";\r\n')
    deliver_ok(s, ["alice@example.org"], msg("v1"))
    check(count(s, "alice", "INBOX", "v1") == 1, "vacation: the message is not kept")
    check(mta.count() == 1, "vacation: sendmail called %d times" % mta.count())
    args, body = mta.call(1)
    check(args == ["-i", "-f", "<>", "--", "s@example.org"], "vacation argv %r" % args)
    check(b"I am away." in body and b"Subject: Away" in body and b"Auto-Submitted: auto-replied" in body,
          "vacation reply %r" % body[:400])
    check(b"In-Reply-To: <v1@example.org>" in body, "vacation In-Reply-To")
    # the same sender within :days: no second reply (RFC 5230 4.2)
    deliver_ok(s, ["alice@example.org"], msg("v2"))
    check(mta.count() == 1 and count(s, "alice", "INBOX", "v2") == 1, "vacation replied twice")
    # :fcc (RFC 8580): the reply is filed too, \Seen
    mta.reset()
    put_script(s, "alice", 'require ["vacation", "fcc", "mailbox"];\r\n'
               'vacation :days 1 :handle "fcc" :fcc "Sent" :create "Filed reply.";\r\n')
    deliver_ok(s, ["alice@example.org"], msg("v3"))
    check(mta.count() == 1, "vacation :fcc: sendmail called %d times" % mta.count())
    a = s.login("alice", s.users["alice"])
    u, t = a.command("EXAMINE Sent")
    check(t.text.split(" ", 2)[1] == "OK", "vacation :fcc: no Sent mailbox: %s" % t.text)
    u, _ = a.ok('SEARCH SEEN BODY "Filed reply."')
    a.logout()
    check(any(r.text.startswith("* SEARCH ") and len(r.text.split()) == 3 for r in u), "vacation :fcc copy: %r" %
          [r.render() for r in u])


def reject(s, mta):
    put_script(s, "alice", 'require "reject";\r\nreject "Not wanted here.";\r\n')
    put_script(s, "bob", 'require "ereject";\r\nif header :contains "subject" "spam" { ereject "No spam"; }\r\n')
    rep = lmtp_deliver(s, ["alice", "bob", "carol"], msg("j1", subject="spam"))
    check(rep[0] == (550, "550 5.7.1 Not wanted here."), "reject reply %r" % (rep,))
    check(rep[1] == (550, "550 5.7.1 No spam"), "ereject reply %r" % (rep,))
    check(rep[2][0] == 250, "the other recipient %r" % (rep,))
    check(count(s, "alice", "INBOX", "j1") == 0 and count(s, "bob", "INBOX", "j1") == 0, "rejected but stored")
    check(count(s, "carol", "INBOX", "j1") == 1, "carol's copy")
    # a reason that is not ASCII cannot be an LMTP reply: an MDN (RFC 5429 2.2)
    mta.reset()
    put_script(s, "alice", 'require "reject";\r\nreject "Pas ici, d\u00e9sol\u00e9.";\r\n')
    rep = lmtp_deliver(s, ["alice"], msg("j3"))
    check(rep[0][0] == 250 and mta.count() == 1, "non-ASCII reject: %r, %d mails" % (rep, mta.count()))
    args, body = mta.call(1)
    check(args[-1] == "s@example.org" and b"Pas ici" in body, "non-ASCII reject MDN %r" % body[:300])
    check(count(s, "alice", "INBOX", "j3") == 0, "non-ASCII reject stored")
    put_script(s, "alice", 'require "reject";\r\nreject "Not wanted here.";\r\n')
    # reject of a message with the null sender: no MDN, not stored, 250
    mta.reset()
    rep = lmtp_deliver(s, ["alice"], msg("j2"), mail_from="")
    check(rep == [(250, rep[0][1])] and mta.count() == 0, "reject of a bounce: %r, %d mails" % (rep, mta.count()))
    check(count(s, "alice", "INBOX", "j2") == 0, "rejected bounce stored")
    s.cli("sieve", "deactivate", "bob")


def notify(s, mta):
    mta.reset()
    put_script(s, "alice", 'require "enotify";\r\n'
               'notify :message "You got mail" "mailto:pager@example.net?body=ping%20me";\r\n')
    deliver_ok(s, ["alice@example.org"], msg("n1"))
    check(count(s, "alice", "INBOX", "n1") == 1, "notify cancelled the implicit keep")
    check(mta.count() == 1, "notify: sendmail called %d times" % mta.count())
    args, body = mta.call(1)
    check(args == ["-i", "-f", "alice@example.org", "--", "pager@example.net"], "notify argv %r" % args)
    check(b"Auto-Submitted: auto-notified" in body and b"Subject: You got mail" in body and b"ping me" in body,
          "notify message %r" % body[:400])
    # RFC 5436 2.7: none for automatic mail
    auto = msg("n2").replace("Subject:", "Auto-Submitted: auto-replied\r\nSubject:")
    deliver_ok(s, ["alice@example.org"], auto)
    check(mta.count() == 1 and count(s, "alice", "INBOX", "n2") == 1, "notify for auto-submitted mail")
    # :fcc (RFC 8580): the notification is filed too
    put_script(s, "alice", 'require ["enotify", "fcc", "mailbox"];\r\n'
               'notify :fcc "Notes" :create :message "Filed note" "mailto:pager@example.net";\r\n')
    deliver_ok(s, ["alice@example.org"], msg("n3"))
    check(mta.count() == 2, "notify :fcc: sendmail called %d times" % mta.count())
    a = s.login("alice", s.users["alice"])
    u, t = a.command("EXAMINE Notes")
    check(t.text.split(" ", 2)[1] == "OK", "notify :fcc: no Notes mailbox: %s" % t.text)
    u, _ = a.ok('SEARCH SEEN SUBJECT "Filed note"')
    a.logout()
    check(any(r.text.startswith("* SEARCH ") and len(r.text.split()) == 3 for r in u), "notify :fcc copy: %r" %
          [r.render() for r in u])


def sendmail_failure(s, mta):
    mta.reset()
    mta.fail(1)
    try:
        put_script(s, "alice", 'redirect "fwd@example.net";\r\n')
        rep = lmtp_deliver(s, ["alice"], msg("x1"))
        check(rep[0][0] == 451 and rep[0][1].startswith("451 4.3.0"), "sendmail failure: %r" % rep)
        check(count(s, "alice", "INBOX", "x1") == 0, "451 but stored")
        # with a stored copy the failure is logged, the message accepted
        put_script(s, "alice", 'require "copy";\r\nredirect :copy "fwd@example.net";\r\n')
        rep = lmtp_deliver(s, ["alice"], msg("x2"))
        check(rep[0][0] == 250 and count(s, "alice", "INBOX", "x2") == 1, "kept + failed redirect: %r" % rep)
        check("a message it caused could not be sent" in s.stderr_text(), "kept + failed redirect not logged")
    finally:
        mta.fail(0)


def runtime_error(s, mta):
    # two vacation actions in one run are a run-time error (RFC 5230 4.7):
    # the script's actions are dropped and the message kept
    mta.reset()
    put_script(s, "alice", 'require ["vacation", "fileinto"];\r\nfileinto "Work";\r\n'
               'vacation :handle "a" "one";\r\nvacation :handle "b" "two";\r\n')
    deliver_ok(s, ["alice@example.org"], msg("e1"))
    check(count(s, "alice", "INBOX", "e1") == 1, "run-time error: not kept in INBOX")
    check(count(s, "alice", "Work", "e1") == 0, "run-time error: the fileinto was carried out")
    check(mta.count() == 0, "run-time error: a vacation was sent")
    check("user=alice script=main: run-time error, message kept" in s.stderr_text(), "run-time error not logged")


def duplicate(s, mta):
    # RFC 7352: the same Message-ID a second time is a duplicate (the
    # per-mailbox duplicate suppression is off in this server)
    put_script(s, "alice", 'require "duplicate";\r\nif duplicate { discard; }\r\n')
    deliver_ok(s, ["alice"], msg("dup1"))
    check(count(s, "alice", "INBOX", "dup1") == 1, "duplicate: first copy not stored")
    deliver_ok(s, ["alice"], msg("dup1"))
    check(count(s, "alice", "INBOX", "dup1") == 1, "duplicate: second copy not discarded")
    deliver_ok(s, ["alice"], msg("dup2"))
    check(count(s, "alice", "INBOX", "dup2") == 1, "duplicate: another Message-ID discarded")
    # per user: bob has not seen u1
    put_script(s, "bob", 'require "duplicate";\r\nif duplicate { discard; }\r\n')
    deliver_ok(s, ["bob"], msg("dup1", to="bob@example.org"))
    check(count(s, "bob", "INBOX", "dup1") == 1, "duplicate: another user's id counted")
    s.cli("sieve", "deactivate", "bob")
    # :handle separates lists; :uniqueid replaces the Message-ID
    put_script(s, "alice", 'require "duplicate";\r\nif duplicate :handle "h2" { discard; }\r\n')
    deliver_ok(s, ["alice"], msg("dup1"))
    check(count(s, "alice", "INBOX", "dup1") == 2, "duplicate :handle: not independent")
    put_script(s, "alice", 'require "duplicate";\r\nif duplicate :uniqueid "fixed" { discard; }\r\n')
    deliver_ok(s, ["alice"], msg("dup3"))
    deliver_ok(s, ["alice"], msg("dup4"))
    check(count(s, "alice", "INBOX", "dup3") == 1 and count(s, "alice", "INBOX", "dup4") == 0,
          "duplicate :uniqueid: not used as the id")
    # RFC 7352 3: a run that does not finish successfully tracks nothing:
    # the retry after a temporary failure is not a duplicate
    mta.reset()
    mta.fail(1)
    try:
        put_script(s, "alice", 'require "duplicate";\r\nif duplicate { discard; stop; }\r\n'
                   'redirect "fwd@example.net";\r\n')
        rep = lmtp_deliver(s, ["alice"], msg("dup5"))
        check(rep[0][0] == 451, "duplicate: sendmail failure not 451: %r" % rep)
    finally:
        mta.fail(0)
    deliver_ok(s, ["alice"], msg("dup5"))
    check(mta.count() == 2, "duplicate: the retry was taken for a duplicate (sendmail calls %d)" % mta.count())
    deliver_ok(s, ["alice"], msg("dup5"))
    check(mta.count() == 2, "duplicate: the third copy was redirected again")
    # `darius expire` prunes the expired entries (none yet)
    r = s.cli("expire")
    check(r.returncode == 0 and "removed 0 expired sieve duplicate entries" in r.stdout,
          "expire: %d %r" % (r.returncode, r.stdout))
    s.cli("sieve", "deactivate", "alice")


SPAM_MSG = ("From: s@example.org\r\nTo: alice@example.org\r\nSubject: offer\r\n%(extra)s"
            "Message-ID: <%(mid)s@example.org>\r\n\r\nBuy %(mid)s\r\n")


def spamtest(s, mta):
    # RFC 5235 with sieve_spamtest_status_header X-Spam-Score, max 10:
    # 7.5 is spamtest 8, 2.0 is 3, none is 0 ("not tested")
    put_script(s, "alice", 'require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto", '
               '"mailbox"];\r\n'
               'if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto :create "Junk"; }\r\n'
               'elsif spamtest "0" { fileinto :create "Untested"; }\r\n')
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "sp1", "extra": "X-Spam-Score: 7.5\r\n"})
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "sp2", "extra": "X-Spam-Score: 2.0\r\n"})
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "sp3", "extra": ""})
    check(count(s, "alice", "Junk", "sp1") == 1, "spamtest: 7.5 of 10 not filed as spam")
    check(count(s, "alice", "INBOX", "sp2") == 1, "spamtest: 2.0 of 10 not kept")
    check(count(s, "alice", "Untested", "sp3") == 1, "spamtest: no header is not \"0\"")
    # spamtestplus :percent: 7.5 of 10 is 75 %
    put_script(s, "alice", 'require ["spamtestplus", "relational", "comparator-i;ascii-numeric"];\r\n'
               'if spamtest :percent :value "eq" :comparator "i;ascii-numeric" "75" { discard; }\r\n')
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "sp4", "extra": "X-Spam-Score: 7.5\r\n"})
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "sp5", "extra": "X-Spam-Score: 7.4\r\n"})
    check(count(s, "alice", "INBOX", "sp4") == 0 and count(s, "alice", "INBOX", "sp5") == 1,
          "spamtestplus :percent: 75 % not matched exactly")
    # virustest reads sieve_virustest_status_header's 1..5 as it is
    put_script(s, "alice", 'require ["virustest", "relational", "comparator-i;ascii-numeric"];\r\n'
               'if virustest :value "ge" :comparator "i;ascii-numeric" "4" { discard; }\r\n')
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "vt1", "extra": "X-Virus-Status: 5\r\n"})
    deliver_ok(s, ["alice"], SPAM_MSG % {"mid": "vt2", "extra": "X-Virus-Status: 1\r\n"})
    check(count(s, "alice", "INBOX", "vt1") == 0 and count(s, "alice", "INBOX", "vt2") == 1,
          "virustest: 5 not discarded or 1 not kept")
    s.cli("sieve", "deactivate", "alice")


def sieve_log(s, mta):
    # run-time errors are shown to the user: `darius sieve log USER`
    r = s.cli("sieve", "log", "--clear", "alice")
    check(r.returncode == 0, "sieve log --clear: %d %r" % (r.returncode, r.stderr))
    put_script(s, "alice", 'require "fileinto";\r\nfileinto "Nope";\r\n', name="rules")
    deliver_ok(s, ["alice"], msg("lg1"))
    check(count(s, "alice", "INBOX", "lg1") == 1, "sieve log: fileinto a missing mailbox not kept")
    mta.reset()
    put_script(s, "alice", 'require "vacation";\r\nvacation :handle "a" "one";\r\nvacation :handle "b" "two";\r\n',
               name="rules")
    deliver_ok(s, ["alice"], msg("lg2"))
    check(count(s, "alice", "INBOX", "lg2") == 1, "sieve log: run-time error not kept")
    r = s.cli("sieve", "log", "alice")
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and len(lines) == 2, "sieve log: %d %r" % (r.returncode, r.stdout))
    check(" rules: fileinto into Nope failed" in lines[0] and "kept in INBOX" in lines[0],
          "sieve log: the fileinto failure: %r" % lines)
    check(" rules: run-time error, message kept: " in lines[1], "sieve log: the run-time error: %r" % lines)
    check(lines[0][:4].isdigit() and lines[0][19:20] == "Z", "sieve log: no UTC date: %r" % lines[0])
    # still logged for the operator, with user and script
    check("sieve: user=alice script=rules: run-time error, message kept" in s.stderr_text(),
          "sieve log: not in the server log")
    r = s.cli("sieve", "log", "--json", "alice")
    j = json.loads(r.stdout)
    check(len(j) == 2 and j[0]["script"] == "rules" and "Nope" in j[0]["message"] and
          j[0]["time"] <= j[1]["time"] and isinstance(j[1]["date"], str), "sieve log --json: %r" % j)
    # and to ManageSieve users as CHECKSCRIPT warnings (issue 11)
    c = s.sieve_login("alice", s.users["alice"])
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal("keep;\r\n") + b"\r\n")
    _, st = c.response()
    check(st.startswith("OK (WARNINGS)") and st.count("run-time error at delivery") == 2 and "Nope" in st and
          '"rules"' in st, "CHECKSCRIPT does not show the delivery errors: %r" % st)
    r = s.cli("sieve", "log", "--clear", "alice")
    check(r.returncode == 0 and "removed 2 entries" in r.stdout, "sieve log --clear: %r" % r.stdout)
    r = s.cli("sieve", "log", "alice")
    check(r.returncode == 0 and r.stdout == "", "sieve log after --clear: %r" % r.stdout)
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal("keep;\r\n") + b"\r\n")
    _, st = c.response()
    check(st == "OK", "CHECKSCRIPT after sieve log --clear: %r" % st)
    c.ok("LOGOUT")
    r = s.cli("sieve", "log", "nosuchuser")
    check(r.returncode == 67, "sieve log of an unknown user: %d" % r.returncode)
    s.cli("sieve", "deactivate", "alice")


def recompile(s, mta):
    put_script(s, "alice", 'require "fileinto";\r\nfileinto "Work";\r\n')
    db = None
    for root, dirs, files in os.walk(os.path.join(s.datadir, "user")):
        if "mail.db" in files and os.path.basename(root) == "alice":
            db = os.path.join(root, "mail.db")
    check(db is not None, "alice's mail.db not found")
    con = sqlite3.connect(db, timeout=10)
    con.execute("UPDATE sieve_script SET compiled_version=99, compiled=x'00010203' WHERE active=1")
    con.commit()
    con.close()
    deliver_ok(s, ["alice"], msg("p1"))
    check(count(s, "alice", "Work", "p1") == 1, "after recompiling: not filed")
    check("script=main: recompiled (other format version), cached" in s.stderr_text(), "recompile not logged")
    r = s.cli("sieve", "list", "--json", "alice")
    check('"compiled_version":1' in r.stdout, "the recompiled form is not cached: %s" % r.stdout)


def cli_deliver(s, mta):
    put_script(s, "alice", 'require "fileinto";\r\nfileinto "Work";\r\n')
    r = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "-f", "s@example.org", "alice"],
                       input=msg("q1").encode(), capture_output=True, timeout=60)
    check(r.returncode == 0, "deliver: exit %d %r" % (r.returncode, r.stderr))
    check(count(s, "alice", "Work", "q1") == 1, "deliver: the script did not file it")
    # reject in `darius deliver` is an MDN to the sender (RFC 5429 2.2.1)
    mta.reset()
    put_script(s, "alice", 'require "reject";\r\nreject "Not here";\r\n')
    r = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "-f", "s@example.org", "alice"],
                       input=msg("q3").encode(), capture_output=True, timeout=60)
    check(r.returncode == 0, "deliver reject: exit %d %r" % (r.returncode, r.stderr))
    check(mta.count() == 1, "deliver reject: sendmail called %d times" % mta.count())
    args, body = mta.call(1)
    check(args == ["-i", "-f", "<>", "--", "s@example.org"] and b"disposition-notification" in body and
          b"Not here" in body, "deliver reject MDN: %r %r" % (args, body[:300]))
    check(count(s, "alice", "INBOX", "q3") == 0, "deliver reject stored")
    put_script(s, "alice", 'require "ereject";\r\nereject "Go away";\r\n')
    r = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "-f", "s@example.org", "alice"],
                       input=msg("q2").encode(), capture_output=True, timeout=60)
    check(r.returncode == 77 and b"5.7.1 Go away" in r.stderr, "deliver ereject: %d %r" % (r.returncode, r.stderr))
    check(count(s, "alice", "INBOX", "q2") == 0, "deliver ereject stored")
    s.cli("sieve", "deactivate", "alice")


def global_scripts(s, mta):
    # before: a copy of everything into Audit; after: files "after" mail
    a = s.login("alice", s.users["alice"])
    a.ok("CREATE AfterBox")
    a.logout()
    put_script(s, "alice", "discard;\r\n")
    deliver_ok(s, ["alice", "bob"], msg("g1"))
    check(count(s, "alice", "Audit", "g1") == 1, "sieve_before did not run for alice")
    check(count(s, "alice", "INBOX", "g1") == 0, "alice's discard did not cancel the keep")
    check(count(s, "bob", "Audit", "g1") == 1 and count(s, "bob", "INBOX", "g1") == 1,
          "a user without a script: before's copy and the implicit keep")
    deliver_ok(s, ["alice"], msg("g2", subject="after this"))
    check(count(s, "alice", "AfterBox", "g2") == 1, "sieve_after did not run")
    # duplicate suppression applies to each mailbox a script files into
    deliver_ok(s, ["bob"], msg("g3"))
    deliver_ok(s, ["bob"], msg("g3"))
    check(count(s, "bob", "Audit", "g3") == 1 and count(s, "bob", "INBOX", "g3") == 1,
          "duplicatesuppression with Sieve: %r" % [count(s, "bob", m, "g3") for m in ("Audit", "INBOX")])
    # an operator's edit of a global script is picked up (recompiled)
    with open(s.conf["sieve_after"], "w") as f:
        f.write('require "fileinto";\nif header :contains "subject" "later" { fileinto "AfterBox"; }\n')
    deliver_ok(s, ["alice"], msg("g4", subject="later"))
    check(count(s, "alice", "AfterBox", "g4") == 1, "the edited sieve_after was not recompiled")


def global_editheader(s, mta):
    # RFC 5293 4: tests after an addheader see the new field; the user's
    # script runs after sieve_before and must see it too
    put_script(s, "alice", 'require "fileinto";\r\nif header :is "X-Audited" "yes" { fileinto "Seen-By-Audit"; }\r\n')
    a = s.login("alice", s.users["alice"])
    a.ok("CREATE Seen-By-Audit")
    a.logout()
    deliver_ok(s, ["alice"], msg("e1"))
    check(count(s, "alice", "Seen-By-Audit", "e1") == 1 and count(s, "alice", "INBOX", "e1") == 0,
          "the user's script did not see sieve_before's header: %r" %
          [count(s, "alice", m, "e1") for m in ("Seen-By-Audit", "INBOX")])
    c = s.login("alice", s.users["alice"])
    c.ok('SELECT "Seen-By-Audit"')
    u, t = c.command("FETCH 1 BODY.PEEK[HEADER.FIELDS (X-Audited)]")
    c.logout()
    check(any(b"X-Audited: yes" in lit for r in u for lit in r.literals),
          "the stored copy lacks the added field: %r" % [(r.text, r.literals) for r in u])


def global_maxredirects(s, mta):
    # sieve_before redirects once, the user's script twice: three in one
    # delivery against sieve_maxredirects 2 is a run-time error, so the
    # message is kept and nothing is sent
    mta.reset()
    put_script(s, "alice", 'redirect "one@example.net";\r\nredirect "two@example.net";\r\n')
    deliver_ok(s, ["alice"], msg("r1", subject="forward me"))
    check(mta.count() == 0, "redirects beyond the limit were sent: %d calls" % mta.count())
    check(count(s, "alice", "INBOX", "r1") == 1, "the message was not kept after the limit")
    # within the limit (one before, one of the user's) both go out
    put_script(s, "alice", 'redirect "one@example.net";\r\n')
    deliver_ok(s, ["alice"], msg("r2", subject="forward me"))
    check(mta.count() == 2, "two redirects within the limit: %d calls" % mta.count())
    check(count(s, "alice", "INBOX", "r2") == 0, "redirected message also kept")
    r = s.cli("sieve", "log", "alice")
    check("sieve_maxredirects" in r.stdout, "the limit is not in the user's log: %r" % r.stdout)
    s.cli("sieve", "deactivate", "alice")


def wait_file(path, what):
    deadline = time.monotonic() + 20 * dt.timeout_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.005)   # polling a condition (a file the server creates), with a deadline
    raise dt.TestFailure("%s: %s never appeared" % (what, path))


def off_loop(s, hold):
    """The Sieve run is a job: while it is held (DARIUS_TEST_HOLD_DIR/sieve,
    src/net/jobs.h) the worker - the only one - serves IMAP, and the LMTP
    client gets no reply until the job finished."""
    put_script(s, "alice", 'require "fileinto";\r\nfileinto "Work";\r\n')
    a = s.login("alice", s.users["alice"])
    a.ok("CREATE Work")
    a.logout()
    flag = os.path.join(hold, "sieve")
    open(flag, "w").close()
    try:
        c = s.lmtp(unix=True)
        c.cmd("LHLO client.example")
        c.cmd("MAIL FROM:<s@example.org>")
        code, _ = c.cmd("RCPT TO:<alice>")
        check(code == 250, "RCPT")
        code, _ = c.cmd("DATA")
        check(code == 354, "DATA")
        c.send_raw(dt.lmtp_data(msg("h1")))
        wait_file(flag + ".started", "the Sieve job")
        b = s.login("bob", s.users["bob"])   # served by the same worker meanwhile
        b.ok("NOOP")
        b.ok("SELECT INBOX")
        b.logout()
        r, _, _ = select.select([c.sock], [], [], 0)
        check(not r and not c.buf, "the LMTP client got a reply while the Sieve job was held")
    finally:
        for f in (flag, flag + ".started"):
            if os.path.exists(f):
                os.unlink(f)
    code, lines = c.reply()
    check(code == 250, "after release: %r" % lines)
    c.cmd("QUIT")
    c.close()
    check(count(s, "alice", "Work", "h1") == 1, "the held delivery was not filed")


def main():
    s = dt.Server(start=False, config={"duplicatesuppression": "no"})
    try:
        mta = Sendmail(s)
        s.conf["sendmail"] = mta.path
        s.conf["sieve_spamtest_status_header"] = "X-Spam-Score"
        s.conf["sieve_spamtest_max_value"] = "10"
        s.conf["sieve_virustest_status_header"] = "X-Virus-Status"
        s.write_config()
        for u, p in [("alice", "a1"), ("bob", "b1"), ("carol", "c1")]:
            s.add_user(u, p)
        s.start()
        R.run("keep", keep, s, mta)
        R.run("fileinto with imap4flags; implicit keep", fileinto_flags, s, mta)
        R.run("fileinto :create", fileinto_create, s, mta)
        R.run("fileinto a missing mailbox: kept in INBOX, logged", fileinto_missing, s, mta)
        R.run(":specialuse; addheader applied to the stored copy", specialuse_editheader, s, mta)
        R.run("fileinto :mailboxid", mailboxid, s, mta)
        R.run("discard", discard, s, mta)
        R.run("redirect (and :copy) through sendmail: argv, message", redirect, s, mta)
        R.run("vacation through sendmail: <> sender, reply, once per period", vacation, s, mta)
        R.run("reject/ereject at LMTP time (550 5.7.1) per recipient; reject of a bounce", reject, s, mta)
        R.run("notify mailto through sendmail; none for auto-submitted mail", notify, s, mta)
        R.run("sendmail failure: 451 unless a copy is stored", sendmail_failure, s, mta)
        R.run("run-time error: kept in INBOX, logged", runtime_error, s, mta)
        R.run("duplicate (RFC 7352): same Message-ID discarded; tracked only after success", duplicate, s, mta)
        R.run("spamtest/spamtestplus/virustest (RFC 5235) from the configured headers", spamtest, s, mta)
        R.run("run-time errors shown to the user: darius sieve log [--json] [--clear]", sieve_log, s, mta)
        R.run("compiled form of another version: recompiled and cached", recompile, s, mta)
        R.run("darius deliver runs the script (fileinto, ereject exit 77)", cli_deliver, s, mta)
        s.stop()
    finally:
        s.cleanup()

    s = dt.Server(start=False, config={"duplicatesuppression": "yes"})
    try:
        before = os.path.join(s.tmp, "before.sieve")
        after = os.path.join(s.tmp, "after.sieve")
        with open(before, "w") as f:
            f.write('require ["fileinto", "copy", "mailbox", "editheader"];\n'
                    'addheader "X-Audited" "yes";\n'
                    'if header :contains "subject" "forward" { redirect :copy "archive@example.net"; }\n'
                    'fileinto :copy :create "Audit";\n')
        with open(after, "w") as f:
            f.write('require "fileinto";\nif header :contains "subject" "after" { fileinto "AfterBox"; }\n')
        s.conf["sieve_before"] = before
        s.conf["sieve_after"] = after
        mta = Sendmail(s)
        s.conf["sendmail"] = mta.path
        s.conf["sieve_maxredirects"] = "2"
        s.write_config()
        for u, p in [("alice", "a1"), ("bob", "b1")]:
            s.add_user(u, p)
        s.start()
        R.run("sieve_before / sieve_after", global_scripts, s, None)
        R.run("sieve_before's header edits are seen by the user's script", global_editheader, s, mta)
        R.run("sieve_maxredirects bounds the whole delivery, not each script", global_maxredirects, s, mta)
        s.stop()
    finally:
        s.cleanup()

    hold = tempfile.mkdtemp(prefix="darius-hold-")
    old = os.environ.get("DARIUS_TEST_HOLD_DIR")
    s = dt.Server(start=False, workers=1)
    try:
        for u, p in [("alice", "a1"), ("bob", "b1")]:
            s.add_user(u, p)
        os.environ["DARIUS_TEST_HOLD_DIR"] = hold
        try:
            s.start()
        finally:
            if old is None:
                del os.environ["DARIUS_TEST_HOLD_DIR"]
            else:
                os.environ["DARIUS_TEST_HOLD_DIR"] = old
        R.run("the Sieve run is a job: the worker serves others while it is held", off_loop, s, hold)
        s.stop()
    finally:
        s.cleanup()
        for f in os.listdir(hold):
            os.unlink(os.path.join(hold, f))
        os.rmdir(hold)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
