#!/usr/bin/env python3
"""Name tricks: alice tries to reach bob's private mail by every spelling
trick we could think of, and each must fail exactly like a mailbox that
does not exist (RFC 4314 section 4: a mailbox without "l" must not be
distinguishable from a missing one; issue 3 "Bad input and abuse").

How "exactly like" is checked: every trick name T aimed at bob's private
mailboxes has a control name C - the same trick aimed at a user or a
mailbox that does not exist. For each command (STATUS, SELECT, EXAMINE,
APPEND, COPY into, RENAME from/to, DELETE, GETACL, MYRIGHTS, SETACL,
LISTRIGHTS, SUBSCRIBE then LSUB, LIST) alice's answer for T must be NO
with the same text as for C (only the tag differs), no untagged response
may carry anything about T, and at the end bob's store must be unchanged
(same mailboxes, message counts, ACLs).

Setup: bob has INBOX (1 message), Private, Private/Deep (private: no ACL
entry for alice) and Shared, shared to alice with "lr". Every private
message carries the subject marker SECRETBOB; no response alice ever gets
may contain it, nor the name "Private".

Also:
  - the "lr" share is reachable and read-only for alice: SELECT is
    [READ-ONLY], FETCH works, STORE / EXPUNGE refused (NO [NOPERM] or
    [READ-ONLY]), APPEND / COPY into refused NO [NOPERM];
  - "user/bob" from a non-admin is alice's own personal folder, never
    bob's account;
  - the '.' separator (unixhierarchysep: no) with the dotted user
    "john.smith" (written "john^smith", as Cyrus) and a user "john" whose
    folder "smith" makes "Other Users.john.smith" a different mailbox.
"""

import re
import sys

import darius_test as dt

R = dt.Report("name_tricks")

SECRET = "SECRETBOB"
RENAME_TO_ERRORS = []   # RENAME AliceBox <trick> answers that differ from the control
ACCOUNT_LEVEL = re.compile(r'\* LIST \([^)]*\\Noselect[^)]*\) "[/.]" "?Other Users[/.](bob|john\^smith)"?$', re.I)


def q(name):
    return dt.quote(name)


def lit_needed(name):
    return any(ord(c) < 0x20 or ord(c) == 0x7f or ord(c) > 0x7e for c in name) or len(name) > 1000


def arg(name):
    """(command text fragment, literals) for a mailbox name: quoted, or a
    synchronizing literal when it holds bytes a quoted string cannot."""
    if lit_needed(name):
        return "%L", [name.encode("utf-8", "surrogateescape")]
    return q(name), []


def body(t):
    """Tagged response without the tag (a MAILBOXID, different for every
    new mailbox, is blanked so two CREATEs compare equal)."""
    b = t.render().split(" ", 1)[1] if " " in t.render() else t.render()
    return re.sub(r"\[MAILBOXID \([^)]*\)\]", "[MAILBOXID (x)]", b)


def status_word(t):
    p = t.render().split(" ")
    return p[1] if len(p) > 1 else ""


def leaks(untagged, tricky):
    """Untagged responses that mention the secret marker, "Private", or
    report data for the mailbox (EXISTS, STATUS, ACL, MYRIGHTS, LISTRIGHTS,
    LIST/LSUB of a private name)."""
    bad = []
    for r in untagged:
        t = r.render()
        if SECRET in t:
            bad.append(t)
        elif re.match(r"\* (\d+ EXISTS|\d+ RECENT|STATUS |ACL |MYRIGHTS |LISTRIGHTS |FLAGS |OK \[UIDVALIDITY)", t):
            bad.append(t)
    return bad


class Tricks:
    def __init__(self, s, utf8=False):
        self.s = s
        self.utf8 = utf8
        self.alice = self.login()
        self.errors = []
        # a message in alice's INBOX, selected, for COPY
        self.alice.ok("APPEND INBOX %L", [dt.sample_message(1, subject="alice own")])
        u, t = self.alice.ok('LIST "" AliceBox')
        if not u:
            self.alice.ok("CREATE AliceBox")

    def run_cmd(self, fmt, name, extra_lits=()):
        """fmt has one {} for the mailbox argument."""
        a, lits = arg(name)
        cmd = fmt.replace("{}", a)
        # APPEND's message literal comes after the name
        return self.alice.command(cmd, list(lits) + list(extra_lits))

    def same(self, label, fmt, trick, control, extra_lits=(), allow_ok=False, undo=None):
        """Run fmt with trick and with control; both answers must agree.
        undo(name) runs after a successful command (a trick name that is
        simply one of alice's own personal names may be created)."""
        try:
            u1, t1 = self.run_cmd(fmt, trick, extra_lits)
            if undo and status_word(t1) == "OK":
                undo(trick)
            u2, t2 = self.run_cmd(fmt, control, extra_lits)
            if undo and status_word(t2) == "OK":
                undo(control)
        except (dt.TestFailure, EOFError) as e:
            self.errors.append("%s %r: %s" % (label, trick, e))
            self.reconnect()
            return None, None
        if body(t1) != body(t2) and label == "RENAME to":
            # reported separately (one known difference, see main)
            RENAME_TO_ERRORS.append("%r: %r vs control %r: %r" % (trick, body(t1), control, body(t2)))
        elif body(t1) != body(t2):
            self.errors.append("%s %r: %r differs from control %r: %r"
                               % (label, trick, body(t1), control, body(t2)))
        elif status_word(t1) == "OK" and not allow_ok:
            self.errors.append("%s %r: succeeded: %r" % (label, trick, body(t1)))
        bad = leaks(u1, trick)
        if bad:
            self.errors.append("%s %r: untagged leak %r" % (label, trick, bad[:3]))
        # bob's account level may be listed as a \Noselect node: alice can
        # see it because of the share below it (not a leak)
        u1 = [r for r in u1 if not ACCOUNT_LEVEL.match(r.render())]
        u2 = [r for r in u2 if not ACCOUNT_LEVEL.match(r.render())]
        if len(u1) != len(u2):
            self.errors.append("%s %r: %d untagged vs %d for control (%r / %r)"
                               % (label, trick, len(u1), len(u2), [x.render() for x in u1][:3],
                                  [x.render() for x in u2][:3]))
        return t1, t2

    def login(self):
        c = self.s.login("alice", "secret")
        if self.utf8:
            c.ok("ENABLE UTF8=ACCEPT")
        return c

    def reconnect(self):
        try:
            self.alice.close()
        except Exception:  # noqa: BLE001
            pass
        self.alice = self.login()

    def check_pair(self, trick, control):
        """Every command for one (trick, control) pair."""
        msg = dt.sample_message(7, subject="alice intrusion")
        self.same("STATUS", "STATUS {} (MESSAGES UIDNEXT)", trick, control)
        self.same("SELECT", "SELECT {}", trick, control)
        self.same("EXAMINE", "EXAMINE {}", trick, control)
        self.same("APPEND", "APPEND {} %L", trick, control, extra_lits=[msg])
        self.alice.ok("SELECT INBOX")
        self.same("COPY", "COPY 1 {}", trick, control)
        self.same("MOVE", "MOVE 1 {}", trick, control)
        self.alice.ok("CLOSE")
        self.same("RENAME from", "RENAME {} Stolen", trick, control)
        self.same("RENAME to", "RENAME AliceBox {}", trick, control, allow_ok=True,
                  undo=lambda n: self.run_cmd("RENAME {} AliceBox", n))
        self.same("DELETE", "DELETE {}", trick, control)
        self.same("GETACL", "GETACL {}", trick, control)
        self.same("MYRIGHTS", "MYRIGHTS {}", trick, control)
        self.same("LISTRIGHTS", "LISTRIGHTS {} alice", trick, control)
        self.same("SETACL", "SETACL {} alice lrswipkxtea", trick, control)
        self.same("DELETEACL", "DELETEACL {} bob", trick, control)
        self.same("GETQUOTAROOT", "GETQUOTAROOT {}", trick, control, allow_ok=True)
        self.same("CREATE", "CREATE {}", trick, control, allow_ok=True,
                  undo=lambda n: self.run_cmd("DELETE {}", n))
        # LIST with the name itself as the pattern: nothing (or the same as
        # the control, which names nothing that exists)
        t1, t2 = self.same("LIST", 'LIST "" {}', trick, control, allow_ok=True)
        # SUBSCRIBE may be accepted for any name (RFC 9051 6.3.7), but the
        # answer and what LSUB then shows must not depend on existence
        if lit_needed(trick):
            return
        self.same("SUBSCRIBE", "SUBSCRIBE {}", trick, control, allow_ok=True)
        u, t = self.alice.command('LSUB "" "*"')
        f1 = self.lsub_flags(u, trick)
        f2 = self.lsub_flags(u, control)
        if f1 != f2:
            self.errors.append("LSUB %r: flags %r vs control %r" % (trick, f1, f2))
        for r in u:
            if SECRET in r.render():
                self.errors.append("LSUB leak %r" % r.render())
        self.alice.command("UNSUBSCRIBE %s" % q(trick))
        self.alice.command("UNSUBSCRIBE %s" % q(control))

    @staticmethod
    def lsub_flags(untagged, name):
        for r in untagged:
            m = re.match(r'\* LSUB \(([^)]*)\) (NIL|"(?:[^"\\]|\\.)*") (.*)$', r.render())
            if not m:
                continue
            n = m.group(3)
            if n.startswith('"'):
                n = n[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if n == name:
                return sorted(x.lower() for x in m.group(1).split())
        return None

    def result(self, what):
        if self.errors:
            err = self.errors
            self.errors = []
            raise dt.TestFailure("%d mismatches: %s" % (len(err), " | ".join(err[:12])))
        return what


# ---- setup -----------------------------------------------------------------

def setup_bob(s, sep="/", user="bob", prefix="Other Users"):
    b = s.login(user, "secret")
    b.ok("APPEND INBOX %L", [dt.sample_message(1, subject=SECRET + " inbox")])
    for m in ("Private", "Private%sDeep" % sep, "Shared"):
        b.ok("CREATE %s" % q(m))
    b.ok("APPEND Private %L", [dt.sample_message(2, subject=SECRET + " private")])
    b.ok("APPEND %s %%L" % q("Private%sDeep" % sep), [dt.sample_message(3, subject=SECRET + " deep")])
    b.ok("APPEND Shared %L", [dt.sample_message(4, subject="shared hello")])
    b.ok("SETACL Shared alice lr")
    return b


def bob_snapshot(b, sep="/"):
    """What bob's store looks like: names, counts, ACLs."""
    u, t = b.ok('LIST "" "*"')
    names = sorted(re.sub(r'^\* LIST \([^)]*\) \S+ ', "", r.render()).strip('"') for r in u
                   if r.render().startswith("* LIST"))
    own = [n for n in names if not n.startswith("Other Users") and not n.startswith("Shared Folders")]
    out = []
    for n in own:
        u, t = b.command("STATUS %s (MESSAGES)" % q(n))
        u2, t2 = b.command("GETACL %s" % q(n))
        out.append((n, [r.render() for r in u], sorted(x.render() for x in u2)))
    return out


TRICKS_SLASH = [
    # separator games
    ("Other Users//bob", "Other Users//nosuch"),
    ("Other Users//bob/Private", "Other Users//nosuch/Private"),
    ("Other Users/bob/", "Other Users/nosuch/"),
    ("Other Users/bob//Private", "Other Users/bob//Nosuchbox"),
    ("Other Users/bob/Private/", "Other Users/bob/Nosuchbox/"),
    ("/Other Users/bob", "/Other Users/nosuch"),
    ("/Other Users/bob/Private", "/Other Users/nosuch/Private"),
    ("Other Users/./bob", "Other Users/./nosuch"),
    ("Other Users/bob/./Private", "Other Users/bob/./Nosuchbox"),
    ("Other Users/bob/../bob/Private", "Other Users/bob/../bob/Nosuchbox"),
    ("Other Users/alice/../bob/Private", "Other Users/alice/../nosuch/Private"),
    ("Other Users/../Other Users/bob", "Other Users/../Other Users/nosuch"),
    ("Other Users/bob/Private/..", "Other Users/bob/Nosuchbox/.."),
    ("Other Users/bob/Private/Deep/../../Private", "Other Users/bob/Nosuchbox/Deep/../../Nosuchbox"),
    ("Other Users\\bob\\Private", "Other Users\\nosuch\\Private"),
    ("Other Users/bob\\Private", "Other Users/bob\\Nosuchbox"),
    # the plain names: no "l" means nonexistent
    ("Other Users/bob", "Other Users/nosuch"),
    ("Other Users/bob/Private", "Other Users/bob/Nosuchbox"),
    ("Other Users/bob/Private/Deep", "Other Users/bob/Nosuchbox/Deep"),
    ("Other Users/bob/Shared/../Private", "Other Users/bob/Shared/../Nosuchbox"),
    # case
    ("other users/bob", "other users/nosuch"),
    ("OTHER USERS/bob", "OTHER USERS/nosuch"),
    ("Other Users/BOB", "Other Users/NOSUCH"),
    ("Other Users/Bob/Private", "Other Users/Nosuch/Private"),
    ("Other Users/bob/private", "Other Users/bob/nosuchbox"),
    ("Other Users/bob/PRIVATE/Deep", "Other Users/bob/NOSUCHBOX/Deep"),
    # INBOX spellings addressing bob's INBOX
    ("Other Users/bob/INBOX", "Other Users/nosuch/INBOX"),
    ("Other Users/bob/inbox", "Other Users/nosuch/inbox"),
    ("Other Users/bob/InBoX", "Other Users/nosuch/InBoX"),
    ("Other Users/bob/INBOX/Private", "Other Users/bob/INBOX/Nosuchbox"),
    # modified UTF-7: non-canonical encodings of '/' and of letters
    ("Other Users&AC8-bob", "Other Users&AC8-nosuch"),
    ("Other Users&AC8-bob&AC8-Private", "Other Users&AC8-nosuch&AC8-Private"),
    ("&AE8-ther Users/bob", "&AE8-ther Users/nosuch"),
    ("Other Users/&AGI-ob/Private", "Other Users/&AG4-osuch/Private"),
    ("Other Users/bob/&AFA-rivate", "Other Users/bob/&AE4-osuchbox"),
    ("Other Users/bob&AC8-Private", "Other Users/bob&AC8-Nosuchbox"),
    ("Other Users/bob/Private&AC8-Deep", "Other Users/bob/Nosuchbox&AC8-Deep"),
    ("Other Users/b&AG8-b", "Other Users/n&AG8-such"),
    ("Other Users/bob&AAA-/Private", "Other Users/nosuch&AAA-/Private"),
    ("Other Users/bob/Private&-", "Other Users/bob/Nosuchbox&-"),
    ("Other Users/bob/Private&", "Other Users/bob/Nosuchbox&"),
    ("Other Users/bob/Private&AC8", "Other Users/bob/Nosuchbox&AC8"),
    ("Other Users/bob/&-Private", "Other Users/bob/&-Nosuchbox"),
    # domain suffixes
    ("Other Users/bob@localhost", "Other Users/nosuch@localhost"),
    ("Other Users/bob@localhost/Private", "Other Users/nosuch@localhost/Private"),
    ("Other Users/bob@", "Other Users/nosuch@"),
    ("Other Users/bob@/Private", "Other Users/nosuch@/Private"),
    ("Other Users/bob@example.org/Private", "Other Users/nosuch@example.org/Private"),
    ("Other Users/bob%localhost/Private", "Other Users/nosuch%localhost/Private"),
    ("Other Users/%shared/Private", "Other Users/%nosuch/Private"),
    # wildcards in names (never a pattern outside LIST)
    ("Other Users/*/Private", "Other Users/*/Nosuchbox"),
    ("Other Users/%/Private", "Other Users/%/Nosuchbox"),
    ("Other Users/bo*/Private", "Other Users/no*/Private"),
    ("Other Users/bob/Priv*", "Other Users/bob/Nosu*"),
    ("Other Users/bob/Priv%", "Other Users/bob/Nosu%"),
    ("Other Users/carol/*", "Other Users/nosuch/*"),
    ("*/bob/Private", "*/nosuch/Private"),
    # control characters and NUL (sent as literals)
    ("Other Users/bob\x00/Private", "Other Users/nosuch\x00/Private"),
    ("Other Users/bob/Private\x00", "Other Users/bob/Nosuchbox\x00"),
    ("Other Users/bob\x01", "Other Users/nosuch\x01"),
    ("Other Users/bob/Private\t", "Other Users/bob/Nosuchbox\t"),
    ("Other Users/bob/Private\x7f", "Other Users/bob/Nosuchbox\x7f"),
    ("Other Users/bob\r\n/Private", "Other Users/nosuch\r\n/Private"),
    # spaces
    ("Other Users/bob /Private", "Other Users/nosuch /Private"),
    ("Other Users/ bob/Private", "Other Users/ nosuch/Private"),
    ("Other Users /bob/Private", "Other Users /nosuch/Private"),
    # raw 8-bit / UTF-8 look-alikes (IMAP4rev1: not valid mUTF-7)
    ("Other Users\u2215bob\u2215Private", "Other Users\u2215nosuch\u2215Private"),
    ("Other Users/bob\uff0fPrivate", "Other Users/bob\uff0fNosuchbox"),
    ("Other Users/b\u00f6b/Private", "Other Users/n\u00f6such/Private"),
    # Unicode look-alikes and compatibility forms of "bob" (an NFKC or
    # case-folding step must not turn them into bob)
    ("Other Users/\uff42\uff4f\uff42/Private", "Other Users/\uff4e\uff4f\uff53/Private"),
    ("Other Users/b\u043eb/Private", "Other Users/n\u043esuch/Private"),
    ("Other Users/bob\u200b/Private", "Other Users/nosuch\u200b/Private"),
    ("Other Users/BO\u0042/Private", "Other Users/NO\u0053UCH/Private"),
    ("Other\u00a0Users/bob/Private", "Other\u00a0Users/nosuch/Private"),
    # through the shared namespace
    ("Shared Folders/../Other Users/bob/Private", "Shared Folders/../Other Users/nosuch/Private"),
    ("Shared Folders/bob/Private", "Shared Folders/nosuch/Private"),
    ("Shared Folders/%shared/../bob/Private", "Shared Folders/%shared/../nosuch/Private"),
    # very long, very deep
    ("Other Users/bob/Private/" + "x" * 2000, "Other Users/bob/Nosuchbox/" + "x" * 2000),
    ("Other Users/" + "bob" * 300, "Other Users/" + "nos" * 300),
    ("Other Users/bob/Private" + "/a" * 300, "Other Users/bob/Nosuchbox" + "/a" * 300),
    ("Other Users/bob/Private" + "/" * 300, "Other Users/bob/Nosuchbox" + "/" * 300),
    # carol shares nothing with alice: even her account must look absent
    ("Other Users/carol", "Other Users/nosuch"),
    ("Other Users/carol/Private", "Other Users/nosuch/Private"),
    ("Other Users/CAROL/Private", "Other Users/NOSUCH/Private"),
    ("Other Users/carol/", "Other Users/nosuch/"),
    ("Other Users/carol@localhost/Private", "Other Users/nosuch@localhost/Private"),
    ("Other Users/carol/INBOX", "Other Users/nosuch/INBOX"),
    ("Other Users/c&AGE-rol/Private", "Other Users/n&AG8-such/Private"),
]


def t_tricks(s, pairs, utf8=False):
    tr = Tricks(s, utf8)
    for trick, control in pairs:
        tr.check_pair(trick, control)
    tr.alice.logout()
    return tr.result("%d trick names x 20 commands" % len(pairs))


def t_list_shows_nothing(s):
    a = s.login("alice", "secret")
    errs = []
    seen_shared = False
    for pat in ('"" "*"', '"" "%"', '"" "Other Users/*"', '"" "Other Users/%"', '"" "Other Users/bob/*"',
                '"" "Other Users/bob/%"', '"Other Users/bob/" "*"', '"Other Users/" "*"', '"" "*Priv*"',
                '"" "*/Deep"', '"" "other users/*"', '"" "Other Users/BOB/*"', '"" "Other Users//bob/*"',
                '"" "Other Users/bob/../bob/*"', '"" "Other Users&AC8-*"', '"" "Other Users/bob@localhost/*"',
                '(SUBSCRIBED) "" "*"', '"" "*" RETURN (CHILDREN STATUS (MESSAGES))',
                '"" "Other Users/bob" RETURN (CHILDREN)', '"" "Other Users/*" RETURN (MYRIGHTS)'):
        u, t = a.command("LIST " + pat)
        for r in u:
            x = r.render()
            if SECRET in x or "Private" in x or "Deep" in x:
                errs.append("LIST %s: %s" % (pat, x))
            if re.search(r"INBOX", x) and "Other Users/bob" in x:
                errs.append("LIST %s shows bob's INBOX: %s" % (pat, x))
            if "Other Users/bob/Shared" in x:
                seen_shared = True
            # bob's account level is at most a \Noselect (or \NonExistent) node
            m = re.match(r'\* LIST \(([^)]*)\) \S+ "?Other Users/bob"?$', x)
            if m and "\\noselect" not in m.group(1).lower() and "\\nonexistent" not in m.group(1).lower():
                errs.append("LIST %s: bob's account level selectable for alice: %s" % (pat, x))
            if re.match(r"\* STATUS \"?Other Users/bob\"? ", x):
                errs.append("LIST %s: STATUS of bob's INBOX: %s" % (pat, x))
    # LSUB of a subscribed private name must look like any other
    # non-existent subscription
    a.ok('SUBSCRIBE "Other Users/bob/Private"')
    a.ok('SUBSCRIBE "Other Users/bob/Nosuchbox"')
    u, t = a.ok('LSUB "" "Other Users/bob/*"')
    got = sorted(re.sub(r'\\|"', "", r.render()) for r in u)
    flags = {}
    for r in u:
        m = re.match(r'\* LSUB \(([^)]*)\) \S+ "?([^"]*)"?$', r.render())
        if m:
            flags[m.group(2)] = m.group(1).lower()
    if flags.get("Other Users/bob/Private") != flags.get("Other Users/bob/Nosuchbox"):
        errs.append("LSUB flags differ: %r" % got)
    u, t = a.ok('LIST (SUBSCRIBED) "" "Other Users/bob/*"')
    flags = {}
    for r in u:
        m = re.match(r'\* LIST \(([^)]*)\) \S+ "?([^"]*)"?$', r.render())
        if m:
            flags[m.group(2)] = sorted(m.group(1).lower().split())
    if flags.get("Other Users/bob/Private") != flags.get("Other Users/bob/Nosuchbox"):
        errs.append("LIST (SUBSCRIBED) flags differ: %r" % flags)
    a.ok('UNSUBSCRIBE "Other Users/bob/Private"')
    a.ok('UNSUBSCRIBE "Other Users/bob/Nosuchbox"')
    a.logout()
    if not seen_shared:
        errs.append("the share Other Users/bob/Shared was never listed")
    if errs:
        raise dt.TestFailure("; ".join(errs[:10]))


def t_shared_readonly(s):
    a = s.login("alice", "secret")
    a.ok("APPEND INBOX %L", [dt.sample_message(1, subject="alice own")])
    errs = []
    m = "Other Users/bob/Shared"
    u, t = a.command("MYRIGHTS %s" % q(m))
    if status_word(t) != "OK" or not any(re.match(r'\* MYRIGHTS "?Other Users/bob/Shared"? "?lr"?$', r.render())
                                         for r in u):
        errs.append("MYRIGHTS: %s %s" % ([r.render() for r in u], t.render()))
    u, t = a.command("STATUS %s (MESSAGES)" % q(m))
    if status_word(t) != "OK" or not any("MESSAGES 1" in r.render() for r in u):
        errs.append("STATUS: %s %s" % ([r.render() for r in u], t.render()))
    u, t = a.command("APPEND %s %%L" % q(m), [dt.sample_message(9)])
    if not t.render().split(" ", 1)[1].startswith("NO [NOPERM]"):
        errs.append("APPEND into lr share: %s" % t.render())
    a.ok("SELECT INBOX")
    u, t = a.command("COPY 1 %s" % q(m))
    if not body(t).startswith("NO [NOPERM]"):
        errs.append("COPY into lr share: %s" % t.render())
    u, t = a.command("SELECT %s" % q(m))
    if status_word(t) != "OK" or "[READ-ONLY]" not in t.render():
        errs.append("SELECT lr share: %s" % t.render())
    else:
        u, t = a.command("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if status_word(t) != "OK" or not any("shared hello" in r.render() for r in u):
            errs.append("FETCH: %s" % t.render())
        for cmd in ("STORE 1 +FLAGS (\\Flagged)", "STORE 1 +FLAGS (\\Deleted)", "STORE 1 +FLAGS (\\Seen)",
                    "STORE 1 +FLAGS ($Junk)", "EXPUNGE", "UID EXPUNGE 1:*"):
            u, t = a.command(cmd)
            if not (body(t).startswith("NO [NOPERM]") or body(t).startswith("NO [READ-ONLY]")):
                errs.append("%s on lr share: %s" % (cmd, t.render()))
        u, t = a.command("MOVE 1 INBOX")
        if status_word(t) == "OK":
            errs.append("MOVE out of lr share: %s" % t.render())
        a.ok("CLOSE")
    for c in ("DELETE %s" % q(m), "SETACL %s alice lrswipkxtea" % q(m), "GETACL %s" % q(m),
              "RENAME %s Stolen" % q(m), "CREATE %s" % q(m + "/child"), "DELETEACL %s alice" % q(m)):
        u, t = a.command(c)
        if not body(t).startswith("NO [NOPERM]"):
            errs.append("%s: %s" % (c, t.render()))
    a.logout()
    # bob's share is unchanged
    b = s.login("bob", "secret")
    u, t = b.ok("SELECT Shared")
    if not any(re.match(r"\* 1 EXISTS", r.render()) for r in u):
        errs.append("bob's Shared changed: %s" % [r.render() for r in u])
    u, t = b.ok("FETCH 1 FLAGS")
    if any("\\Flagged" in r.render() or "\\Deleted" in r.render() for r in u):
        errs.append("alice changed flags in bob's Shared: %s" % [r.render() for r in u])
    u, t = b.ok("GETACL Shared")
    acl = " ".join(r.render() for r in u)
    if not re.search(r"\balice lr\b", acl) or re.search(r"\balice lr[^ ]", acl):
        errs.append("ACL of Shared changed: %s" % acl)
    b.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_user_prefix_is_personal(s):
    """'user/bob' from a non-admin is alice's own folder named user/bob."""
    a = s.login("alice", "secret")
    errs = []
    for n, ctl in (("user/bob", "user/nosuch"), ("user/bob/Private", "user/nosuch/Private"),
                   ("user.bob", "user.nosuch"), ("user/bob/INBOX", "user/nosuch/INBOX")):
        u1, t1 = a.command("STATUS %s (MESSAGES)" % q(n))
        u2, t2 = a.command("STATUS %s (MESSAGES)" % q(ctl))
        if body(t1) != body(t2) or status_word(t1) == "OK":
            errs.append("STATUS %s: %s vs %s" % (n, body(t1), body(t2)))
        u1, t1 = a.command("SELECT %s" % q(n))
        if status_word(t1) == "OK" or any(SECRET in r.render() for r in u1):
            errs.append("SELECT %s: %s" % (n, t1.render()))
    u, t = a.command("CREATE user/bob/Private")
    if status_word(t) != "OK":
        errs.append("CREATE user/bob/Private as alice's own folder: %s" % t.render())
    else:
        a.ok("APPEND user/bob/Private %L", [dt.sample_message(5, subject="alice in user-bob")])
        u, t = a.ok("SELECT user/bob/Private")
        if not any(re.match(r"\* 1 EXISTS", r.render()) for r in u):
            errs.append("user/bob/Private is not alice's: %s" % [r.render() for r in u])
        u, t = a.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if not any("alice in user-bob" in r.render() for r in u):
            errs.append("user/bob/Private content: %s" % [r.render() for r in u])
        a.ok("CLOSE")
        u, t = a.ok('LIST "" "user/*"')
        names = [r.render() for r in u]
        if not any(x.endswith("user/bob/Private") or x.endswith('user/bob/Private"') for x in names):
            errs.append("LIST user/*: %s" % names)
        a.ok("DELETE user/bob/Private")
        a.command("DELETE user/bob")
        a.command("DELETE user")
    a.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


UTF8_PAIRS = [p for p in TRICKS_SLASH if "&" in p[0] or any(ord(ch) > 0x7e for ch in p[0])] + [
    ("Other Users/bob/Private", "Other Users/bob/Nosuchbox"),
    ("Other Users/bob", "Other Users/nosuch"),
    ("Other Users/carol/Private", "Other Users/nosuch/Private"),
]


def t_quota_roots(s):
    """Quota commands by a non-admin do not tell bob's account from a
    missing one, and never change anything."""
    a = s.login("alice", "secret")
    errs = []
    for cmd in ('GETQUOTA {}', 'SETQUOTA {} (STORAGE 1 MESSAGE 1)', 'GETQUOTAROOT {}'):
        for trick, control in (("user/bob", "user/nosuch"), ("Other Users/bob", "Other Users/nosuch"),
                               ("user/carol", "user/nosuch"), ("Other Users/carol/Private", "Other Users/nosuch/Private"),
                               ("Other Users/bob/Private", "Other Users/bob/Nosuchbox")):
            if cmd.startswith("GETQUOTAROOT") and trick.startswith("user/"):
                continue   # alice's own personal names
            u1, t1 = a.command(cmd.replace("{}", q(trick)))
            u2, t2 = a.command(cmd.replace("{}", q(control)))
            if body(t1) != body(t2) or len(u1) != len(u2):
                errs.append("%s: %r %s vs %r %s" % (cmd.replace("{}", trick), [r.render() for r in u1],
                                                    body(t1), [r.render() for r in u2], body(t2)))
            if cmd.startswith("SETQUOTA") and status_word(t1) == "OK":
                errs.append("non-admin %s: %s" % (cmd.replace("{}", trick), t1.render()))
    a.logout()
    b = s.login("bob", "secret")
    u, t = b.ok("GETQUOTAROOT INBOX")
    if any(re.search(r"STORAGE \d+ 1\b|MESSAGE \d+ 1\b", r.render()) for r in u):
        errs.append("bob's quota changed by alice: %r" % [r.render() for r in u])
    b.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs[:8]))


def t_own_inbox_variants(s):
    """alice's INBOX spellings are alice's INBOX (1 message + whatever she
    copied), never anyone else's."""
    a = s.login("alice", "secret")
    u, t = a.ok("STATUS INBOX (MESSAGES)")
    want = re.search(r"MESSAGES (\d+)", u[0].render()).group(1)
    errs = []
    for n in ("inbox", "InBoX", "iNBOX"):
        u, t = a.command("STATUS %s (MESSAGES)" % n)
        if status_word(t) != "OK" or not any("MESSAGES %s" % want in r.render() for r in u):
            errs.append("STATUS %s: %s %s" % (n, [r.render() for r in u], t.render()))
        if any(SECRET in r.render() for r in u):
            errs.append("leak %s" % n)
    a.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_bob_unchanged(s, before):
    b = s.login("bob", "secret")
    after = bob_snapshot(b)
    u, t = b.ok("SELECT Private")
    u, t = b.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subj = [r.render() for r in u]
    b.logout()
    if after != before:
        raise dt.TestFailure("bob's store changed:\nbefore %r\nafter  %r" % (before, after))
    if len(subj) != 1 or SECRET not in subj[0]:
        raise dt.TestFailure("bob's Private content changed: %r" % subj)
    return "%d mailboxes" % len(after)


def t_server_alive(s):
    c = s.login("bob", "secret")
    c.ok("NOOP")
    c.logout()


# ---- '.' separator ------------------------------------------------------------

TRICKS_DOT = [
    ("Other Users.john^smith.Private", "Other Users.nosuch^user.Private"),
    ("Other Users.john^smith", "Other Users.nosuch^user"),
    ("Other Users.john.smith.Private", "Other Users.nosuch.user.Private"),
    ("Other Users.john.smith", "Other Users.nosuch.user"),
    ("Other Users.JOHN^SMITH.Private", "Other Users.NOSUCH^USER.Private"),
    ("Other Users.john^smith^Private", "Other Users.nosuch^user^Private"),
    ("Other Users.john/smith.Private", "Other Users.nosuch/user.Private"),
    ("Other Users/john.smith/Private", "Other Users/nosuch.user/Private"),
    ("Other Users.john^smith..Private", "Other Users.nosuch^user..Private"),
    ("Other Users..john^smith.Private", "Other Users..nosuch^user.Private"),
    (".Other Users.john^smith.Private", ".Other Users.nosuch^user.Private"),
    ("Other Users.john^smith.Private.", "Other Users.nosuch^user.Private."),
    ("Other Users.john^smith.Private.Deep", "Other Users.nosuch^user.Private.Deep"),
    ("Other Users.john&AF4-smith.Private", "Other Users.nosuch&AF4-user.Private"),
    ("Other Users&AC4-john^smith&AC4-Private", "Other Users&AC4-nosuch^user&AC4-Private"),
    ("Other Users.john^smith@localhost.Private", "Other Users.nosuch^user@localhost.Private"),
    ("Other Users.john^smith.INBOX", "Other Users.nosuch^user.INBOX"),
    ("Other Users.john^smith.inbox", "Other Users.nosuch^user.inbox"),
    ("Other Users.*.Private", "Other Users.*.Nosuchbox"),
    ("Other Users.john^smith.private", "Other Users.nosuch^user.private"),
    ("Other Users.john^^smith.Private", "Other Users.nosuch^^user.Private"),
    ("Other Users.john.Private", "Other Users.john.Nosuchbox"),
]


def dot_server():
    s = dt.Server(start=False, config={"unixhierarchysep": "no"})
    try:
        s.add_user("alice", "secret")
        s.add_user("john.smith", "secret")
        s.add_user("john", "secret")
        s.start()
    except Exception:
        s.cleanup()
        raise
    return s


def t_dot_setup(s):
    setup_bob(s, sep=".", user="john.smith").logout()
    # john (no dot) has "smith" and "smith.Private": "Other Users.john.smith"
    # is john's mailbox, private too
    j = s.login("john", "secret")
    j.ok("CREATE smith")
    j.ok("CREATE smith.Private")
    j.ok("CREATE Private")
    j.ok("APPEND smith.Private %L", [dt.sample_message(6, subject=SECRET + " john")])
    j.logout()


def t_dot_names(s):
    """john.smith sees his own names with '.' as separator; alice sees the
    share as Other Users.john^smith.Shared and nothing else of his."""
    errs = []
    j = s.login("john.smith", "secret")
    u, t = j.ok('LIST "" "*"')
    names = sorted(re.sub(r'^\* LIST \([^)]*\) \S+ ', "", r.render()).strip('"') for r in u)
    for want in ("INBOX", "Private", "Private.Deep", "Shared"):
        if want not in names:
            errs.append("john.smith LIST lacks %s: %r" % (want, names))
    u, t = j.ok('NAMESPACE')
    ns = u[0].render() if u else ""
    if '"."' not in ns or "Other Users" not in ns:
        errs.append("NAMESPACE: %s" % ns)
    j.logout()
    a = s.login("alice", "secret")
    u, t = a.ok('LIST "" "*"')
    lines = [r.render() for r in u]
    if not any(x.endswith("Other Users.john^smith.Shared") or x.endswith('Other Users.john^smith.Shared"')
               for x in lines):
        errs.append("alice LIST lacks Other Users.john^smith.Shared: %r" % lines)
    if any("Private" in x or SECRET in x for x in lines):
        errs.append("alice LIST shows private names: %r" % lines)
    u, t = a.command('SELECT "Other Users.john^smith.Shared"')
    if status_word(t) != "OK" or "[READ-ONLY]" not in t.render():
        errs.append("SELECT share: %s" % t.render())
    else:
        u, t = a.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if not any("shared hello" in r.render() for r in u):
            errs.append("FETCH share: %r" % [r.render() for r in u])
        a.ok("CLOSE")
    a.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


def main():
    s = dt.Server(start=False)
    try:
        s.add_user("alice", "secret")
        s.add_user("bob", "secret")
        s.add_user("carol", "secret")
        s.start()
        c = s.login("carol", "secret")
        c.ok("CREATE Private")
        c.ok("APPEND Private %L", [dt.sample_message(8, subject=SECRET + " carol")])
        c.logout()
        b = setup_bob(s)
        before = bob_snapshot(b)
        b.logout()
        R.run("lr share reachable and read-only for alice", t_shared_readonly, s)
        R.run("LIST/LSUB never show bob's private mailboxes", t_list_shows_nothing, s)
        chunk = 12
        for i in range(0, len(TRICKS_SLASH), chunk):
            part = TRICKS_SLASH[i:i + chunk]
            R.run("tricks %d-%d answer like nonexistent (e.g. %r)" % (i + 1, i + len(part), part[0][0][:40]),
                  t_tricks, s, part)
        R.run("UTF8=ACCEPT: tricks answer like nonexistent", t_tricks, s, UTF8_PAIRS, True)
        R.run("quota commands do not reveal accounts", t_quota_roots, s)
        check_rename_to("")
        R.run("user/bob from a non-admin is alice's own folder", t_user_prefix_is_personal, s)
        R.run("alice's INBOX case variants are her own INBOX", t_own_inbox_variants, s)
        R.run("bob's store unchanged after every trick", t_bob_unchanged, s, before)
        R.run("server alive after the tricks", t_server_alive, s)
        s.stop()
    finally:
        s.cleanup()
    try:
        s = dot_server()
    except Exception as e:  # noqa: BLE001
        R.fail("'.' separator server start", str(e))
        return R.done()
    try:
        R.run("'.' separator: setup john.smith", t_dot_setup, s)
        R.run("'.' separator: john^smith names", t_dot_names, s)
        R.run("'.' separator: tricks answer like nonexistent", t_tricks, s, TRICKS_DOT)
        R.run("'.' separator: server alive", t_server_alive_dot, s)
        check_rename_to("'.' separator: ")
        s.stop()
    finally:
        s.cleanup()
    return R.done()


def check_rename_to(prefix):
    """RENAME of an own mailbox to a name in another user's store must
    answer like a missing user: [CANNOT] for an existing account but
    [NONEXISTENT] for an unknown one reveals which accounts exist."""
    errs = list(RENAME_TO_ERRORS)
    del RENAME_TO_ERRORS[:]
    R.check(not errs, prefix + "RENAME to another user's name does not reveal the account",
            "%d differences, e.g. %s" % (len(errs), " | ".join(errs[:3])))


def t_server_alive_dot(s):
    c = s.login("john.smith", "secret")
    u, t = c.ok("SELECT Private")
    if not any(re.match(r"\* 1 EXISTS", r.render()) for r in u):
        raise dt.TestFailure("john.smith Private changed: %r" % [r.render() for r in u])
    c.logout()
    j = s.login("john", "secret")
    u, t = j.ok("STATUS smith.Private (MESSAGES)")
    if "MESSAGES 1" not in u[0].render():
        raise dt.TestFailure("john's smith.Private changed: %r" % u[0].render())
    j.logout()


if __name__ == "__main__":
    sys.exit(main())
