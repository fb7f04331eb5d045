#!/usr/bin/env python3
"""METADATA (RFC 5464) annotations across mailbox and account operations:
RENAME carries a mailbox's entries and its children's (4.1), RENAME INBOX
copies INBOX's to the new mailbox and keeps them on INBOX, DELETE drops
them so that a new mailbox of the same name inherits nothing, an
account rename carries the owner's entries (mailbox and server ones) and
the reader's /private entries in other users' mailboxes, a partition
move carries everything in the store, and an account delete drops the
deleted reader's /private entries elsewhere. Each step is checked from
a fresh session."""

import re
import sys
import tempfile

import darius_test as dt

R = dt.Report("metadata-mailbox-ops")


def ok(t):
    return t.render().split(" ", 2)[1:2] == ["OK"]


def md(c, mailbox, entries):
    """The METADATA response of GETMETADATA as {entry: value or None};
    None as a whole when the command failed."""
    u, t = c.command('GETMETADATA "%s" (%s)' % (mailbox, " ".join(entries)))
    if not ok(t):
        return None
    out = {}
    for r in u:
        txt = r.render()
        if not txt.startswith("* METADATA "):
            continue
        for m in re.finditer(r'"(/[^"]+)" (NIL|"((?:[^"\\]|\\.)*)")', txt):
            out[m.group(1)] = None if m.group(2) == "NIL" else m.group(3)
    return out


def main():
    p2 = tempfile.mkdtemp(prefix="darius-md-p2-")
    s = dt.Server(config={"admins": "admin", "partition-p2": p2})
    try:
        for u in ("admin", "alice", "bob"):
            s.add_user(u, "secret")
        a = s.login("alice", "secret")
        a.ok("CREATE Work")
        a.ok("CREATE Work/Sub")
        a.ok('SETMETADATA Work (/shared/comment "work" /private/comment "mine")')
        a.ok('SETMETADATA Work/Sub (/shared/comment "sub")')
        a.ok('SETMETADATA INBOX (/shared/comment "inbox")')
        a.ok('SETMETADATA "" (/private/vendor/example/theme "dark")')
        a.ok("SETACL Work bob lr")

        # RENAME: the entries follow the mailbox and its children
        a.ok("RENAME Work Projects")
        got = md(a, "Projects", ["/shared/comment", "/private/comment"])
        R.check(got == {"/shared/comment": "work", "/private/comment": "mine"},
                "RENAME Work Projects: both entries follow", repr(got))
        got = md(a, "Projects/Sub", ["/shared/comment"])
        R.check(got == {"/shared/comment": "sub"}, "the child's entry follows to Projects/Sub", repr(got))
        R.check(md(a, "Work", ["/shared/comment"]) is None, "Work no longer exists for GETMETADATA")

        # DELETE: gone; a new mailbox of the same name starts empty (4.1)
        a.ok("DELETE Projects/Sub")
        a.ok("CREATE Projects/Sub")
        got = md(a, "Projects/Sub", ["/shared/comment"])
        R.check(got == {"/shared/comment": None}, "a recreated Projects/Sub inherits nothing", repr(got))

        # RENAME INBOX: copied to the new mailbox, kept on INBOX
        a.ok("RENAME INBOX Old")
        R.check(md(a, "INBOX", ["/shared/comment"]) == {"/shared/comment": "inbox"},
                "INBOX keeps its entries after RENAME INBOX")
        R.check(md(a, "Old", ["/shared/comment"]) == {"/shared/comment": "inbox"},
                "the mailbox RENAME INBOX made has a copy")

        # a value literal bigger than the limit (and than the reader's
        # in-memory literal size): MAXSIZE, nothing stored
        u, t = a.command("SETMETADATA INBOX (/private/big %L)", [b"z" * 70000])
        R.check(t.render().endswith("NO [METADATA MAXSIZE 16384] Annotation value too large"),
                "a 70000-octet value is NO [METADATA MAXSIZE 16384]", t.render())
        R.check(md(a, "INBOX", ["/private/big"]) == {"/private/big": None}, "and is not stored")
        u, t = a.command("SETMETADATA INBOX (/private/big %L)", [b"z" * 16384])
        R.check(ok(t), "a value of exactly metadata_max_value_size is stored", t.render())

        # bob's private entry on alice's mailbox
        b = s.login("bob", "secret")
        b.ok('SETMETADATA "Other Users/alice/Projects" (/private/comment "bob\'s note")')
        got = md(b, "Other Users/alice/Projects", ["/private/comment", "/shared/comment"])
        R.check(got == {"/private/comment": "bob's note", "/shared/comment": "work"},
                "bob reads his private entry and the shared one", repr(got))
        b.logout()
        a.logout()

        # account rename of the owner: everything in the store moves
        adm = s.login("admin", "secret")
        u, t = adm.command('RENAME "user/alice" "user/alice2"')
        R.check(ok(t), "admin renames user/alice to user/alice2", t.render())
        a2 = s.login("alice2", "secret")
        got = md(a2, "Projects", ["/shared/comment", "/private/comment"])
        R.check(got == {"/shared/comment": "work", "/private/comment": "mine"},
                "alice2 keeps her mailbox entries, the private one too", repr(got))
        got = md(a2, "", ["/private/vendor/example/theme"])
        R.check(got == {"/private/vendor/example/theme": "dark"}, "alice2 keeps her server entry", repr(got))
        a2.logout()

        # account rename of a reader: its private entries elsewhere follow
        u, t = adm.command('RENAME "user/bob" "user/bob2"')
        R.check(ok(t), "admin renames user/bob to user/bob2", t.render())
        b2 = s.login("bob2", "secret")
        got = md(b2, "Other Users/alice2/Projects", ["/private/comment"])
        R.check(got == {"/private/comment": "bob's note"}, "bob2 still has his private entry on alice2's mailbox",
                repr(got))
        b2.logout()

        # partition move: the store moves with its entries
        r = s.cli("user", "move-partition", "alice2", "p2")
        R.check(r.returncode == 0, "darius user move-partition alice2 p2", r.stderr)
        a2 = s.login("alice2", "secret")
        got = md(a2, "Projects", ["/shared/comment", "/private/comment"])
        R.check(got == {"/shared/comment": "work", "/private/comment": "mine"},
                "after the partition move the entries are there", repr(got))
        R.check(md(a2, "", ["/private/vendor/example/theme"]) == {"/private/vendor/example/theme": "dark"},
                "and the server entry")
        a2.logout()

        # account delete of the reader: its entries elsewhere go, so a new
        # account of the same name sees nothing
        u, t = adm.command('DELETE "user/bob2"')
        R.check(ok(t), "admin deletes user/bob2", t.render())
        s.add_user("bob2", "secret")
        a2 = s.login("alice2", "secret")
        a2.ok("SETACL Projects bob2 lr")   # the delete took the old grant along
        a2.logout()
        b3 = s.login("bob2", "secret")
        got = md(b3, "Other Users/alice2/Projects", ["/private/comment"])
        R.check(got == {"/private/comment": None}, "a new bob2 does not inherit the old one's private entry",
                repr(got))
        b3.logout()
        adm.logout()
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
