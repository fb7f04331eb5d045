#!/usr/bin/env python3
"""Group identifiers, negative rights, "anyone" versus "anonymous"
(RFC 4314 section 2 and issue 3 "Access control").

Server: config "groupfile" points at a temporary file in /etc/group
format (plus a "name: user1, user2" line), allowanonymouslogin yes.
"owner" owns the mailboxes; alice and dave are in group staff, carol is
not.

  groups     SETACL group:staff lr: members list/select/fetch, a
             non-member gets NONEXISTENT; editing the group file (alice
             removed) takes effect for new sessions; the "name: a, b"
             line form works; an unknown group grants nothing
  negative   "anyone lr" with "-bob r": bob sees it (l) but SELECT is NO
             [NOPERM], others select it; "-bob l" hides it from bob
             entirely; "-group:staff r" takes r from members only
  anonymous  LOGIN anonymous and AUTHENTICATE ANONYMOUS see only
             mailboxes granting rights to "anonymous", not to "anyone";
             granted "lrswi" they still can only read (capped to lr):
             STORE/APPEND/EXPUNGE/CREATE/SETACL refused; no INBOX of
             their own
  disabled   with allowanonymouslogin no, no AUTH=ANONYMOUS capability,
             LOGIN anonymous and AUTHENTICATE ANONYMOUS are refused

The group file is edited and then its mtime set explicitly to a later
time (os.utime), so the change is seen deterministically whatever the
file system's timestamp granularity - no sleep."""

import base64
import os
import re
import sys
import time

import darius_test as dt

R = dt.Report("acl_groups_anon")

OTHER = "Other Users/owner/"


def q(name):
    return dt.quote(name)


def word(t):
    p = t.render().split(" ")
    return p[1] if len(p) > 1 else ""


def code(t):
    m = re.match(r"\S+ \S+ \[([A-Z-]+)", t.render())
    return m.group(1) if m else ""


def listed(c, pattern="*"):
    u, t = c.ok('LIST "" %s' % q(pattern))
    out = set()
    for r in u:
        m = re.match(r'\* LIST \(([^)]*)\) \S+ "?([^"]*)"?$', r.render())
        if m and "\\noselect" not in m.group(1).lower():
            out.add(m.group(2))
    return out


def write_groups(path, text, bump):
    with open(path, "w") as f:
        f.write(text)
    # a distinct, later mtime each time: the server re-reads on change
    t = time.time() + bump
    os.utime(path, (t, t))


def setup(s):
    o = s.login("owner", "secret")
    for m, acl in (("Staff", [("group:staff", "lr")]),
                   ("Help", [("group:helpdesk", "lr")]),
                   ("Ghost", [("group:nosuchgroup", "lr")]),
                   ("Public", [("anyone", "lr"), ("-bob", "r")]),
                   ("Hidden", [("anyone", "lr"), ("-bob", "l")]),
                   ("NotStaff", [("anyone", "lr"), ("-group:staff", "r")]),
                   ("AnyoneOnly", [("anyone", "lr")]),
                   ("Archive", [("anonymous", "lrswi")]),
                   ("ArchiveAll", [("anonymous", "lrswipkxtean"), ("anyone", "lr")])):
        o.ok("CREATE %s" % m)
        o.ok("APPEND %s %%L" % m, [dt.sample_message(1, subject="in " + m)])
        for ident, rights in acl:
            o.ok("SETACL %s %s %s" % (m, q(ident), rights))
    o.logout()


def can_read(s, user, mailbox):
    """(listed, SELECT tagged response) for user on owner's mailbox."""
    c = s.login(user, "secret")
    seen = (OTHER + mailbox) in listed(c, OTHER + "*")
    u, t = c.command("SELECT %s" % q(OTHER + mailbox))
    if word(t) == "OK":
        u2, t2 = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if not any(("in " + mailbox) in r.render() for r in u2):
            raise dt.TestFailure("%s FETCH in %s: %r" % (user, mailbox, [r.render() for r in u2]))
    c.logout()
    return seen, t


def expect_access(s, user, mailbox, want_list, want_select, want_code=None):
    seen, t = can_read(s, user, mailbox)
    errs = []
    if seen != want_list:
        errs.append("%s LIST %s: %s (want %s)" % (user, mailbox, seen, want_list))
    if (word(t) == "OK") != want_select:
        errs.append("%s SELECT %s: %s" % (user, mailbox, t.render()))
    elif not want_select and want_code and code(t) != want_code:
        errs.append("%s SELECT %s: %s (want [%s])" % (user, mailbox, t.render(), want_code))
    return errs


# ---- groups -----------------------------------------------------------------

def t_group_members(s):
    errs = []
    errs += expect_access(s, "alice", "Staff", True, True)
    errs += expect_access(s, "dave", "Staff", True, True)
    errs += expect_access(s, "carol", "Staff", False, False, "NONEXISTENT")
    errs += expect_access(s, "carol", "Help", True, True)      # "helpdesk: carol, dave" form
    errs += expect_access(s, "alice", "Help", False, False, "NONEXISTENT")
    errs += expect_access(s, "alice", "Ghost", False, False, "NONEXISTENT")
    c = s.login("alice", "secret")
    u, t = c.command("MYRIGHTS %s" % q(OTHER + "Staff"))
    if not any(re.match(r'\* MYRIGHTS .* "?lr"?$', r.render()) for r in u):
        errs.append("alice MYRIGHTS Staff: %r %s" % ([r.render() for r in u], t.render()))
    c.logout()
    o = s.login("owner", "secret")
    u, t = o.ok("GETACL Staff")
    if not re.search(r'"?group:staff"? "?lr"?( |$)', u[0].render()):
        errs.append("GETACL Staff: %s" % u[0].render())
    o.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_group_edit(s, path):
    # alice removed from staff
    write_groups(path, "staff:x:100:dave\nhelpdesk: carol, dave\n", 20)
    errs = []
    errs += expect_access(s, "alice", "Staff", False, False, "NONEXISTENT")
    errs += expect_access(s, "dave", "Staff", True, True)
    # and added back (a second, later edit)
    write_groups(path, "staff:x:100:alice,dave\nhelpdesk: carol, dave\n", 40)
    errs += expect_access(s, "alice", "Staff", True, True)
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_group_file_hostile(s, path):
    """A group file that vanishes or holds garbage grants nothing and
    crashes nothing; a good file afterwards works again."""
    errs = []
    os.unlink(path)
    errs += expect_access(s, "alice", "Staff", False, False, "NONEXISTENT")
    errs += expect_access(s, "carol", "Help", False, False, "NONEXISTENT")
    garbage = ("staff\n" + "staff:x\n" + ":x:1:alice\n" + "x" * 200000 + "\n" +
               "staff:x:100:" + "," * 20000 + "\n" + "helpdesk:" + " " * 1000 + "\n" +
               "staff:x:100:\x00alice\n" + "\xff\xfe:x:1:alice\n" + "other:x:101:" + "u," * 50000 + "\n")
    write_groups(path, garbage, 60)
    errs += expect_access(s, "alice", "Staff", False, False, "NONEXISTENT")
    errs += expect_access(s, "carol", "Help", False, False, "NONEXISTENT")
    errs += expect_access(s, "dave", "Staff", False, False, "NONEXISTENT")
    write_groups(path, "staff:x:100:alice,dave\nhelpdesk: carol, dave\n", 80)
    errs += expect_access(s, "alice", "Staff", True, True)
    errs += expect_access(s, "carol", "Help", True, True)
    if errs:
        raise dt.TestFailure("; ".join(errs))


# ---- negative rights -----------------------------------------------------------------

def t_negative(s):
    errs = []
    # -bob r: bob still has l (from anyone) so he sees it, but may not read
    errs += expect_access(s, "bob", "Public", True, False, "NOPERM")
    errs += expect_access(s, "carol", "Public", True, True)
    errs += expect_access(s, "alice", "Public", True, True)
    c = s.login("bob", "secret")
    u, t = c.command("MYRIGHTS %s" % q(OTHER + "Public"))
    if not any(re.match(r'\* MYRIGHTS .* "?l"?$', r.render()) for r in u):
        errs.append("bob MYRIGHTS Public: %r %s" % ([r.render() for r in u], t.render()))
    u, t = c.command("STATUS %s (MESSAGES)" % q(OTHER + "Public"))
    if word(t) == "OK":
        errs.append("bob STATUS Public without r: %s" % t.render())
    c.logout()
    # -bob l: invisible to bob (he still has r: but no l and SELECT needs
    # only r, so SELECT may work - what must not happen is LIST showing it)
    seen, t = can_read(s, "bob", "Hidden")
    if seen:
        errs.append("bob LIST shows Hidden despite -bob l")
    errs += expect_access(s, "carol", "Hidden", True, True)
    # -group:staff r: members lose r, others keep it
    errs += expect_access(s, "alice", "NotStaff", True, False, "NOPERM")
    errs += expect_access(s, "dave", "NotStaff", True, False, "NOPERM")
    errs += expect_access(s, "carol", "NotStaff", True, True)
    # the owner keeps every right whatever negative entries say
    o = s.login("owner", "secret")
    o.ok("SETACL Public -owner lrswipkxtea")
    u, t = o.command("SELECT Public")
    if word(t) != "OK" or "[READ-WRITE]" not in t.render():
        errs.append("owner locked out by a negative entry: %s" % t.render())
    o.ok("DELETEACL Public -owner")
    o.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


# ---- identifier abuse -------------------------------------------------------------------

def t_identifier_abuse(s):
    """SETACL with hostile identifiers and rights strings: refused or
    stored harmlessly; never an entry for someone else (the stored form is
    "id<TAB>rights<TAB>...", so a TAB in an identifier or in the rights
    must not inject an entry), GETACL keeps parsing, nobody gains access."""
    o = s.login("owner", "secret")
    o.ok("CREATE Abuse")
    o.ok("APPEND Abuse %L", [dt.sample_message(1, subject="in Abuse")])
    errs = []
    ids = ["dave\tlrswipkxtea\tcarol", "carol\t", "\tcarol", "carol\x0b", " carol", "carol ", "-", "--carol",
           "", "group:", "group:staff:x", "x" * 1000, "anyone@x", "anonymous@x", "group:staff\tlr\tcarol",
           "-\tcarol", "carol\\", "car\"ol", "*", "%", "a" * 301]
    for ident in ids:
        u, t = o.command("SETACL Abuse %s lr" % dt.quote(ident))
        if word(t) == "BAD" and not t.render().split(" ", 2)[2:]:
            errs.append("SETACL %r: %s" % (ident, t.render()))
    for rights in ("lr\tdave\tlrswipkxtea", "lr\x00", "lrZ", "l" * 100, "lr ", "\tlr", "+-l", "--l"):
        # ("+" and "-" alone are valid: add or remove nothing, RFC 4314 3.1)
        u, t = o.command("SETACL Abuse bob %s" % dt.quote(rights))
        if word(t) == "OK":
            u2, t2 = o.ok("GETACL Abuse")
            errs.append("SETACL bob %r accepted: %s" % (rights, u2[0].render()))
    u, t = o.command("GETACL Abuse")
    if word(t) != "OK" or len(u) != 1:
        errs.append("GETACL after abuse: %r %s" % ([r.render() for r in u], t.render()))
    else:
        line = u[0].render()
        toks = re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', line)
        vals = [a or b for a, b in toks][3:]
        if len(vals) % 2:
            errs.append("GETACL after abuse: odd entry list %r" % line)
        for i in range(0, len(vals) - 1, 2):
            if not re.fullmatch(r"[lrswipkxteancd]*", vals[i + 1]):
                errs.append("GETACL after abuse: bad rights %r in %r" % (vals[i + 1], line))
        ids_now = set(vals[0::2])
        for bad in ("carol", "dave", "bob"):
            if bad in ids_now:
                errs.append("GETACL after abuse has an entry for %s: %r" % (bad, line))
    o.logout()
    for user in ("carol", "dave", "bob", "alice"):
        seen, t = can_read(s, user, "Abuse")
        if seen or word(t) == "OK":
            errs.append("%s reaches Abuse after identifier abuse: listed %s, %s" % (user, seen, t.render()))
    if errs:
        raise dt.TestFailure("; ".join(errs[:10]))


# ---- anonymous ------------------------------------------------------------------------

def anon_login(s):
    c = s.client()
    c.greeting()
    c.ok("LOGIN anonymous x")
    return c


def anon_login_upper(s):
    # user names are case-insensitive: "ANONYMOUS" is the anonymous login too
    c = s.client()
    c.greeting()
    c.ok("LOGIN ANONYMOUS x")
    return c


def anon_authenticate(s):
    c = s.client()
    c.greeting()
    tag = c.next_tag()
    c.send("%s AUTHENTICATE ANONYMOUS" % tag)
    r = c.read()
    if not r.text.startswith("+"):
        raise dt.TestFailure("AUTHENTICATE ANONYMOUS: no continuation: %s" % r.render())
    c.send(base64.b64encode(b"tester@example.org").decode())
    u, t = c.collect(tag)
    if word(t) != "OK":
        raise dt.TestFailure("AUTHENTICATE ANONYMOUS: %s" % t.render())
    return c


def anon_checks(s, c, how):
    errs = []
    seen = listed(c, "*")
    want = {OTHER + "Archive", OTHER + "ArchiveAll"}
    if seen != want:
        errs.append("%s LIST *: %r (want exactly %r)" % (how, sorted(seen), sorted(want)))
    for m in ("AnyoneOnly", "Public", "Staff", "Hidden"):
        u, t = c.command("SELECT %s" % q(OTHER + m))
        if word(t) == "OK" or code(t) != "NONEXISTENT":
            errs.append("%s SELECT %s (anyone, not anonymous): %s" % (how, m, t.render()))
    for m in ("Archive", "ArchiveAll"):
        u, t = c.command("MYRIGHTS %s" % q(OTHER + m))
        if not any(re.match(r'\* MYRIGHTS .* "?lr"?$', r.render()) for r in u):
            errs.append("%s MYRIGHTS %s (capped to lr): %r %s" % (how, m, [r.render() for r in u], t.render()))
        u, t = c.command("APPEND %s %%L" % q(OTHER + m), [dt.sample_message(5)])
        if word(t) == "OK" or code(t) != "NOPERM":
            errs.append("%s APPEND %s: %s" % (how, m, t.render()))
        u, t = c.command("SELECT %s" % q(OTHER + m))
        if word(t) != "OK":
            errs.append("%s SELECT %s: %s" % (how, m, t.render()))
            continue
        if "[READ-ONLY]" not in t.render():
            errs.append("%s SELECT %s not read-only: %s" % (how, m, t.render()))
        u, t = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if not any(("in " + m) in r.render() for r in u):
            errs.append("%s FETCH %s: %r" % (how, m, [r.render() for r in u]))
        for cmd in ("STORE 1 +FLAGS (\\Seen)", "STORE 1 +FLAGS (\\Flagged)", "STORE 1 +FLAGS (\\Deleted)",
                    "EXPUNGE"):
            u, t = c.command(cmd)
            if word(t) == "OK" and any("FETCH" in r.render() for r in u):
                errs.append("%s %s in %s changed something: %r" % (how, cmd, m, [r.render() for r in u]))
            elif word(t) == "OK" and cmd != "EXPUNGE":
                errs.append("%s %s in %s: %s" % (how, cmd, m, t.render()))
        c.ok("CLOSE")
        for cmd in ("CREATE %s" % q(OTHER + m + "/sub"), "DELETE %s" % q(OTHER + m),
                    "SETACL %s anonymous lrswipkxtea" % q(OTHER + m), "GETACL %s" % q(OTHER + m),
                    "RENAME %s %s" % (q(OTHER + m), q(OTHER + m + "2"))):
            u, t = c.command(cmd)
            if word(t) == "OK":
                errs.append("%s %s: %s" % (how, cmd, t.render()))
    # no personal store
    for cmd in ("SELECT INBOX", "CREATE Mine", "APPEND INBOX %L"):
        lits = [dt.sample_message(6)] if "%L" in cmd else []
        u, t = c.command(cmd, lits)
        if word(t) == "OK":
            errs.append("%s %s: %s" % (how, cmd, t.render()))
    c.logout()
    return errs


def t_anonymous(s):
    errs = []
    c = s.client()
    c.greeting()
    u, t = c.ok("CAPABILITY")
    if "AUTH=ANONYMOUS" not in " ".join(r.render() for r in u):
        errs.append("no AUTH=ANONYMOUS with allowanonymouslogin yes: %r" % [r.render() for r in u])
    c.logout()
    for how, fn in (("LOGIN anonymous", anon_login), ("LOGIN ANONYMOUS", anon_login_upper),
                    ("AUTHENTICATE ANONYMOUS", anon_authenticate)):
        try:
            errs += anon_checks(s, fn(s), how)
        except (dt.TestFailure, EOFError) as e:
            errs.append("%s: %s" % (how, e))
    # nothing was written by the anonymous sessions
    o = s.login("owner", "secret")
    for m in ("Archive", "ArchiveAll"):
        u, t = o.ok("SELECT %s" % m)
        if not any(re.match(r"\* 1 EXISTS", r.render()) for r in u):
            errs.append("owner's %s changed: %r" % (m, [r.render() for r in u]))
        u, t = o.ok("FETCH 1 FLAGS")
        if any(f in r.render() for r in u for f in ("\\Seen", "\\Flagged", "\\Deleted")):
            errs.append("anonymous changed flags in %s: %r" % (m, [r.render() for r in u]))
        u, t = o.ok("GETACL %s" % m)
        if "anonymous lrswipkxtea " in u[0].render() + " " and m == "Archive":
            errs.append("anonymous changed the ACL of %s: %s" % (m, u[0].render()))
        o.ok("CLOSE")
    o.logout()
    # an authenticated user is not "anonymous": Archive is not theirs to see
    errs += expect_access(s, "carol", "Archive", False, False, "NONEXISTENT")
    errs += expect_access(s, "carol", "ArchiveAll", True, True)
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_anonymous_disabled(s):
    errs = []
    c = s.client()
    c.greeting()
    u, t = c.ok("CAPABILITY")
    if "AUTH=ANONYMOUS" in " ".join(r.render() for r in u):
        errs.append("AUTH=ANONYMOUS advertised with allowanonymouslogin no")
    c.logout()
    # one connection per attempt: failed logins may close a connection
    for who in ("anonymous", "ANONYMOUS", "Anonymous"):
        c = s.client()
        c.greeting()
        u, t = c.command("LOGIN %s x" % who)
        if word(t) != "NO":
            errs.append("LOGIN %s: %s" % (who, t.render()))
        c.close()
    c = s.client()
    c.greeting()
    tag = c.next_tag()
    c.send("%s AUTHENTICATE ANONYMOUS" % tag)
    r = c.read()
    if r.text.startswith("+"):
        c.send(base64.b64encode(b"tester@example.org").decode())
        r = c.read()
    if not r.text.startswith(tag + " ") or word(r) not in ("NO", "BAD"):
        errs.append("AUTHENTICATE ANONYMOUS: %s" % r.render())
    c.close()
    c = s.client()
    c.greeting()
    u, t = c.command("AUTHENTICATE ANONYMOUS dGVzdGVy")
    if word(t) not in ("NO", "BAD"):
        errs.append("AUTHENTICATE ANONYMOUS (SASL-IR): %s" % t.render())
    # still not authenticated
    u, t = c.command('LIST "" "*"')
    if word(t) != "BAD":
        errs.append("LIST after refused anonymous login: %s" % t.render())
    c.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_reserved_names(s):
    """The identifiers "anonymous" and "anyone" can never be user names
    (an account named so would be confused with the ACL identifiers)."""
    errs = []
    for n in ("anonymous", "anyone", "Anonymous", "ANYONE"):
        r = s.cli("user", "add", n, input_text="pw\n")
        if r.returncode == 0:
            errs.append("darius user add %s succeeded: %s" % (n, r.stdout.strip()))
    if errs:
        raise dt.TestFailure("; ".join(errs))


def main():
    s = dt.Server(start=False)
    gpath = os.path.join(s.tmp, "group")
    write_groups(gpath, "# test groups\nstaff:x:100:alice,dave\nother:x:101:bob\nhelpdesk: carol, dave\n", 0)
    s.conf.update({"groupfile": gpath, "allowanonymouslogin": "yes"})
    s.write_config()
    try:
        for u in ("owner", "alice", "bob", "carol", "dave"):
            s.add_user(u, "secret")
        s.start()
        R.run("setup mailboxes and ACLs", setup, s)
        R.run("group:staff members read, non-members see nothing", t_group_members, s)
        R.run("group file edits take effect for new sessions", t_group_edit, s, gpath)
        R.run("group file removed or garbage: grants nothing, no crash", t_group_file_hostile, s, gpath)
        R.run("negative rights (-user, -group:)", t_negative, s)
        R.run("hostile identifiers and rights in SETACL", t_identifier_abuse, s)
        R.run("anonymous sees only 'anonymous' grants, capped to lr", t_anonymous, s)
        R.run("'anonymous' and 'anyone' cannot be user names", t_reserved_names, s)
        s.stop()
    finally:
        s.cleanup()
    s = dt.Server(start=False, config={"allowanonymouslogin": "no"})
    try:
        s.add_user("owner", "secret")
        s.start()
        R.run("allowanonymouslogin no: anonymous refused", t_anonymous_disabled, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
