#!/usr/bin/env python3
"""RFC 4314 rights matrix: for every right letter l r s w i p k x t e a n,
granted (bob holds "r" plus that letter) and denied (bob holds every right
but that letter), bob runs the commands that depend on rights on two
mailboxes of alice's, and each outcome is checked against a model of what
the rights allow:

  LIST              the mailbox is listed only with l
  MYRIGHTS          answers with the rights (any of l r i k x a), else NO
  APPEND            needs i (NO [TRYCREATE] without l, NO [NOPERM] with l);
                    the new message keeps \\Seen only with s, \\Deleted only
                    with t, \\Flagged and keywords only with w
  COPY (target)     the same as APPEND, from bob's own INBOX
  SELECT            needs r; [READ-ONLY] without any of s w t e i;
                    PERMANENTFLAGS lists \\Seen with s, \\Deleted with t,
                    \\Flagged and \\* with w
  FETCH BODY[]      sets (bob's own) \\Seen only with s
  STORE +FLAGS      \\Seen needs s, \\Flagged w, \\Deleted t (NO otherwise)
  STORE FLAGS       replaces only the flags the rights cover
  EXPUNGE           needs e
  MOVE (source)     needs t and e (NO [NOPERM], nothing moves)
  CLOSE             always OK; expunges only with e
  GETACL            needs a
  CREATE child      needs k
  DELETE            needs x
(p and n change nothing here: p is for LMTP delivery, n for annotations.)

alice grants with SETACL. Mailboxes are reached as "Other Users/alice/..."."""

import re
import sys

import darius_test as dt

R = dt.Report("acl_matrix")

ALL = "lrswipkxtean"
OTHER = "Other Users/alice/"


def q(name):
    return dt.quote(name)


def tagged_status(t):
    """("OK"|"NO"|"BAD", "[CODE]" or "")."""
    parts = t.text.split(" ", 3)
    status = parts[1] if len(parts) > 1 else ""
    code = ""
    if len(parts) > 2 and parts[2].startswith("["):
        code = parts[2].rstrip("]").lstrip("[").split(" ")[0]
    return status, code


def flags_of(untagged, msn=None):
    """{msn: set(flags)} from '* n FETCH (... FLAGS (...) ...)' lines."""
    out = {}
    for r in untagged:
        m = re.match(r"\* (\d+) FETCH \(.*FLAGS \(([^)]*)\)", r.render())
        if m:
            out[int(m.group(1))] = set(x.lower() for x in m.group(2).split())
    return out if msn is None else out.get(msn, set())


def nfetch(untagged):
    return sum(1 for r in untagged if re.match(r"\* \d+ FETCH ", r.render()))


class Case:
    """One rights set for bob; collects mismatches instead of stopping at
    the first, so one run reports every wrong cell of the row."""

    def __init__(self, s, alice, bob, label, rights):
        self.s, self.alice, self.bob = s, alice, bob
        self.label = label
        self.rights = set(rights)
        self.rstr = "".join(c for c in ALL if c in self.rights)
        self.errors = []
        safe = label.replace("-", "no").replace("+", "has")
        self.m = "M_" + safe      # selected / changed by bob
        self.d = "D_" + safe      # APPEND / COPY target
        self.kw = "$Kw"

    def has(self, c):
        return c in self.rights

    def expect(self, cond, what):
        if not cond:
            self.errors.append(what)

    def expect_status(self, t, ok, what, codes=None):
        st, code = tagged_status(t)
        if ok:
            self.expect(st == "OK", "%s: expected OK, got %s" % (what, t.render()))
        else:
            self.expect(st == "NO", "%s: expected NO, got %s" % (what, t.render()))
            if codes and st == "NO":
                self.expect(code in codes, "%s: expected [%s], got %s" % (what, "|".join(codes), t.render()))
        return st == "OK"

    # ---- set-up by the owner ------------------------------------------------
    def setup(self):
        a = self.alice
        for mb in (self.m, self.d):
            a.ok("CREATE %s" % q(mb))
        # M: 1 and 2 plain, 3 \Deleted, 4 plain (for MOVE)
        for i in range(4):
            fl = "(\\Deleted) " if i == 2 else ""
            a.ok("APPEND %s %s%%L" % (q(self.m), fl), [dt.sample_message(i + 1)])
        for mb in (self.m, self.d):
            a.ok("SETACL %s bob %s" % (q(mb), self.rstr or '""'))

    # ---- bob ----------------------------------------------------------------
    def run(self):
        b = self.bob
        m, d = OTHER + self.m, OTHER + self.d
        insert_codes = ["NOPERM"] if self.has("l") else ["TRYCREATE"]

        # LIST: visible only with l
        u, t = b.ok('LIST "" %s' % q(OTHER + "*"))
        listed = any(r.render().endswith(self.m) or r.render().endswith('"%s"' % m) for r in u
                     if r.render().startswith("* LIST"))
        self.expect(listed == self.has("l"), "LIST shows %s: %s, want %s" % (self.m, listed, self.has("l")))

        # MYRIGHTS: any of l r i k x a
        u, t = b.command("MYRIGHTS %s" % q(m))
        if self.expect_status(t, bool(self.rights & set("lrikxa")), "MYRIGHTS"):
            got = [re.match(r'\* MYRIGHTS .* "?([a-z]*)"?$', r.render()) for r in u]
            got = [g.group(1) for g in got if g]
            want = set(self.rstr)
            have = set(got[0]) - set("cd") if got else None
            self.expect(have == want, "MYRIGHTS: got %r, want %r" % (got, self.rstr))

        # APPEND with every kind of flag
        u, t = b.command("APPEND %s (\\Seen \\Deleted \\Flagged %s) %%L" % (q(d), self.kw),
                         [dt.sample_message(10)])
        appended = self.expect_status(t, self.has("i"), "APPEND", insert_codes)

        # COPY from bob's INBOX (message 1 carries every kind of flag)
        b.ok("SELECT INBOX")
        u, t = b.command("COPY 1 %s" % q(d))
        copied = self.expect_status(t, self.has("i"), "COPY", insert_codes)
        if copied:
            self.expect("[COPYUID " in t.text, "COPY: no COPYUID in %s" % t.render())
        b.ok("UNSELECT")

        # the new messages' flags, as alice (shared flags) and bob (own \Seen)
        nnew = int(appended) + int(copied)
        if nnew:
            u, t = self.alice.ok("EXAMINE %s" % q(self.d))
            u, t = self.alice.ok("FETCH 1:* (FLAGS)")
            fl = flags_of(u)
            for msn in sorted(fl):
                f = fl[msn]
                self.expect(("\\deleted" in f) == self.has("t"), "APPEND/COPY %d: \\Deleted %s" % (msn, f))
                self.expect(("\\flagged" in f) == self.has("w"), "APPEND/COPY %d: \\Flagged %s" % (msn, f))
                self.expect((self.kw.lower() in f) == self.has("w"), "APPEND/COPY %d: %s %s" % (msn, self.kw, f))
            self.alice.ok("UNSELECT")
            if self.has("r"):
                b.ok("EXAMINE %s" % q(d))
                u, t = b.ok("FETCH 1:* (FLAGS)")
                fl = flags_of(u)
                for msn in sorted(fl):
                    self.expect(("\\seen" in fl[msn]) == self.has("s"),
                                "APPEND/COPY %d: bob's \\Seen %s" % (msn, fl[msn]))
                b.ok("UNSELECT")

        # SELECT
        u, t = b.command("SELECT %s" % q(m))
        if not self.expect_status(t, self.has("r"), "SELECT"):
            self.unselected_commands(m)
            return
        rw = bool(self.rights & set("swtei"))
        self.expect(("[READ-WRITE]" in t.text) == rw and ("[READ-ONLY]" in t.text) == (not rw),
                    "SELECT: %s (want %s)" % (t.render(), "READ-WRITE" if rw else "READ-ONLY"))
        pf = [re.search(r"\[PERMANENTFLAGS \(([^)]*)\)\]", r.render()) for r in u]
        pf = [p.group(1).split() for p in pf if p]
        self.expect(len(pf) == 1, "SELECT: PERMANENTFLAGS missing")
        if pf:
            perm = set(x.lower() for x in pf[0])
            want = set()
            if rw:
                if self.has("s"):
                    want.add("\\seen")
                if self.has("t"):
                    want.add("\\deleted")
                if self.has("w"):
                    want |= {"\\answered", "\\flagged", "\\draft", "\\*"}
            self.expect(perm == want, "PERMANENTFLAGS %s, want %s" % (sorted(perm), sorted(want)))

        # FETCH BODY[] sets \Seen only with s
        u, t = b.ok("FETCH 2 (BODY[])")
        u, t = b.ok("FETCH 2 (FLAGS)")
        self.expect(("\\seen" in flags_of(u, 2)) == self.has("s"), "FETCH BODY[]: flags %s" % flags_of(u, 2))

        ro_codes = ["NOPERM", "READ-ONLY"]
        # STORE +FLAGS, one right each
        for flag, right in (("\\Seen", "s"), ("\\Flagged", "w"), ("\\Deleted", "t")):
            u, t = b.command("STORE 1 +FLAGS (%s)" % flag)
            self.expect_status(t, self.has(right), "STORE +FLAGS %s" % flag, ro_codes)
            u, t = b.ok("FETCH 1 (FLAGS)")
            self.expect((flag.lower() in flags_of(u, 1)) == self.has(right),
                        "after STORE +FLAGS %s: %s" % (flag, flags_of(u, 1)))
        # STORE FLAGS (replace) changes only what the rights cover
        u, t = b.ok("FETCH 1 (FLAGS)")
        before = flags_of(u, 1) - {"\\recent"}
        u, t = b.command("STORE 1 FLAGS (\\Answered)")
        can = bool(self.rights & set("swt")) and rw
        if self.expect_status(t, can, "STORE FLAGS (\\Answered)", ro_codes):
            u, t = b.ok("FETCH 1 (FLAGS)")
            after = flags_of(u, 1) - {"\\recent"}
            covered = set()
            if self.has("s"):
                covered.add("\\seen")
            if self.has("t"):
                covered.add("\\deleted")
            if self.has("w"):
                covered |= {"\\answered", "\\flagged", "\\draft"}
            want = set(x for x in before if x not in covered) | ({"\\answered"} & covered)
            self.expect(after == want, "STORE FLAGS (\\Answered): %s -> %s, want %s" % (before, after, want))

        # EXPUNGE: message 3 has \Deleted (set by alice)
        u, t = b.ok("FETCH 1:* (UID)")
        count_before = nfetch(u)
        u, t = b.command("EXPUNGE")
        if self.expect_status(t, self.has("e"), "EXPUNGE", ro_codes):
            self.expect(any(r.render().endswith(" EXPUNGE") for r in u), "EXPUNGE: no EXPUNGE response")
        u, t = b.ok("FETCH 1:* (UID)")
        count = nfetch(u)
        self.expect((count < count_before) == self.has("e"), "EXPUNGE: %d -> %d messages" % (count_before, count))

        # MOVE needs t and e on the source
        u, t = b.command("MOVE %d INBOX" % count)
        if self.expect_status(t, self.has("t") and self.has("e"), "MOVE", ro_codes):
            self.expect(any("[COPYUID " in r.render() for r in u), "MOVE: no COPYUID")
        u, t = b.ok("FETCH 1:* (UID)")
        moved = nfetch(u) < count
        self.expect(moved == (self.has("t") and self.has("e")), "MOVE: %d -> %d messages" % (count, nfetch(u)))

        # CLOSE is OK either way; it expunges only with e
        if self.has("t") and rw:
            b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        u, t = b.command("CLOSE")
        self.expect_status(t, True, "CLOSE")
        u, t = self.alice.ok("STATUS %s (MESSAGES)" % q(self.m))
        m2 = re.search(r"MESSAGES (\d+)", u[0].render())
        after_close = int(m2.group(1)) if m2 else -1
        want = count - int(moved) - int(self.has("t") and self.has("e") and rw)
        self.expect(after_close == want, "CLOSE: %d messages left, want %d" % (after_close, want))
        self.unselected_commands(m)

    def unselected_commands(self, m):
        b = self.bob
        u, t = b.command("GETACL %s" % q(m))
        self.expect_status(t, self.has("a"), "GETACL")
        u, t = b.command("CREATE %s" % q(m + "/sub"))
        self.expect_status(t, self.has("k"), "CREATE child")
        u, t = b.command("DELETE %s" % q(m))
        self.expect_status(t, self.has("x"), "DELETE")

    def result(self):
        if self.errors:
            raise dt.TestFailure("rights %r: %s" % (self.rstr, "; ".join(self.errors)))
        return "rights %s" % (self.rstr or '""')


def matrix(s, letter):
    alice = s.login("alice", "secret")
    bob = s.login("bob", "secret")
    # bob's INBOX message 1 carries every kind of flag, for COPY
    u, t = bob.ok("STATUS INBOX (MESSAGES)")
    if "MESSAGES 0" in u[0].render():
        bob.ok("APPEND INBOX (\\Seen \\Deleted \\Flagged $Kw) %L", [dt.sample_message(99)])
    out = []
    for label, rights in (("+" + letter, {"r", letter}), ("-" + letter, set(ALL) - {letter})):
        c = Case(s, alice, bob, label, rights)
        c.setup()
        c.run()
        out.append(c.result())
    alice.logout()
    bob.logout()
    return ", ".join(out)


def main():
    s = dt.Server(start=False)
    try:
        s.add_user("alice", "secret")
        s.add_user("bob", "secret")
        s.start()
        for letter in ALL:
            R.run("right %s granted and denied" % letter, matrix, s, letter)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
