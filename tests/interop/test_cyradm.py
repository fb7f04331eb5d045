#!/usr/bin/env python3
"""Interop: Debian's cyradm (package cyrus-admin) administering dariusd over
IMAP as it would a Cyrus server: create an account (user/NAME) and a child
mailbox, set and list ACLs, set and list quotas and quota roots, set and show
annotations (mboxcfg, info: RFC 5464 METADATA), rename the account, delete
it. Each step is checked both through cyradm's output and
through an independent view (the user's own IMAP session or the darius CLI).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import darius_test as dt

R = dt.Report("cyradm")
CYRADM = dt.find_tool("cyradm", ["/usr/bin"])


def cyradm(s, script, user="admin", password="secret"):
    """Run a cyradm script; returns (stdout, stderr). cyradm exits 0 even
    when a command fails, so callers check stderr."""
    args = [CYRADM, "--user", user, "-w", password, "--auth", "PLAIN", "--notls",
            "--norc", "--port", str(s.port), s.host]
    p = subprocess.run(args, input=script, capture_output=True, text=True,
                       timeout=60 * dt.timeout_scale(), errors="replace")
    return strip_prompts(p.stdout, s.host), p.stderr


def strip_prompts(out, host):
    """cyradm prints its prompt ("127.0.0.1> ") without a newline before
    reading each command, so a command's output may follow one or more
    prompts on the same line ("127.0.0.1> 127.0.0.1> bob lrs..."). Every
    run of prompts becomes a line break, so each output line starts at
    column 0 whatever the timing."""
    return re.sub(r"(?:%s> )+" % re.escape(host), "\n", out)


def listed(out):
    """Mailbox names from cyradm 'lm' output (name followed by attributes)."""
    return set(re.findall(r"(\S+) \((?:\\\w+ ?)*\)", out))


def main():
    if not CYRADM:
        if dt.ci():
            R.fail("cyradm", "cyradm not installed (CI=true)")
        else:
            R.skip("cyradm", "cyradm not installed")
        return R.done()
    part = tempfile.mkdtemp(prefix="darius-p2-")
    s = dt.Server(config={"admins": "admin", "allowplaintext": "yes", "partition-p2": part,
                          "metadata_admin": "mailto:postmaster@example.com"})
    try:
        s.add_user("admin", "secret")
        s.add_user("alice", "secret")

        # 1. create an account and a child mailbox
        out, err = cyradm(s, "cm user/bob\ncm user/bob/Lists\nlm\n")
        R.check(err.strip() == "", "cm user/bob, cm user/bob/Lists: no error", err)
        names = listed(out)
        R.check("user/bob" in names and "user/bob/Lists" in names,
                "lm shows user/bob and user/bob/Lists", out)
        users = s.cli("user", "list").stdout
        R.check(re.search(r"^bob\b", users, re.M) is not None,
                "the account exists for the CLI after cm user/bob", users)

        # 2. ACLs
        out, err = cyradm(s, "sam user/bob alice lrs\nsam user/bob/Lists alice lrsip\nlam user/bob\nlam user/bob/Lists\n")
        R.check(err.strip() == "", "sam: no error", err)
        R.check(re.search(r"^alice lrs$", out, re.M) is not None, "lam user/bob shows alice lrs", out)
        R.check(re.search(r"^alice lrsip$", out, re.M) is not None, "lam user/bob/Lists shows alice lrsip", out)
        c = s.login("alice", "secret")
        u, t = c.command('LIST "" "*"')
        R.check(any("Other Users/bob" in x.render() for x in u), "alice lists Other Users/bob",
                [x.render() for x in u])
        u, t = c.command('SELECT "Other Users/bob"')
        R.check(" OK " in t.render(), "alice selects bob's INBOX with r", t.render())
        u, t = c.command('STATUS "Other Users/bob/Lists" (MESSAGES)')
        R.check(" OK " in t.render(), "alice STATUS on bob's Lists", t.render())
        c.logout()
        out, err = cyradm(s, "dam user/bob alice\nlam user/bob\n")
        # (cyradm echoes each command after its prompt, so look for an ACL
        # line of its own)
        R.check(err.strip() == "" and not re.search(r"^alice ", out, re.M), "dam removes alice's entry",
                out + err)

        # 3. quotas
        out, err = cyradm(s, "sq user/bob 1000\nlq user/bob\nlqr user/bob/Lists\n")
        R.check(err.strip() == "", "sq: no error", err)
        R.check(re.search(r"STORAGE 0/1000 \(0%\)", out) is not None, "lq shows STORAGE 0/1000", out)
        R.check(re.search(r"^user/bob STORAGE 0/1000", out, re.M) is not None,
                "lqr user/bob/Lists names root user/bob", out)
        q = s.cli("quota", "get", "bob").stdout
        R.check("1000" in q, "darius quota get bob agrees", q)

        # 3b. annotations (RFC 5464): mboxcfg sends SETMETADATA, info
        # GETMETADATA with Cyrus's "/shared/*" and "/private/*"
        out, err = cyradm(s, 'mboxcfg user/bob/Lists comment "Mailing lists"\n'
                             "mboxcfg --private user/bob/Lists comment mine\n"
                             "info user/bob/Lists\ninfo\n")
        R.check(err.strip() == "", "mboxcfg comment, mboxcfg --private, info: no error", err)
        R.check(re.search(r"^\{user/bob/Lists\}:\n  private:\n    comment: mine\n  shared:\n"
                          r"    comment: Mailing lists$", out, re.M) is not None,
                "info user/bob/Lists shows the private and the shared comment", out)
        R.check(re.search(r"^\{Server Wide\}\n  shared:\n    admin: mailto:postmaster@example\.com$", out, re.M)
                is not None, "info shows the server's /shared/admin (metadata_admin)", out)
        c = s.login("alice", "secret")
        u, t = c.command('GETMETADATA "Other Users/bob/Lists" /shared/comment')
        R.check(any('"/shared/comment" "Mailing lists"' in x.render() for x in u),
                "alice (lrsip on Lists) reads the comment over IMAP", [x.render() for x in u] + [t.render()])
        c.logout()
        out, err = cyradm(s, "mboxcfg user/bob/Lists comment none\ninfo user/bob/Lists\n")
        R.check(err.strip() == "" and "Mailing lists" not in out and "comment: mine" in out,
                "mboxcfg ... none removes the shared comment only", out + err)
        out, err = cyradm(s, 'mboxcfg user/bob/Lists comment "Lists of bob"\n')
        R.check(err.strip() == "", "mboxcfg sets the comment again", err)
        out, err = cyradm(s, "setinfo comment Welcome\ninfo\nsetinfo admin mailto:x@example.com\n")
        R.check(re.search(r"^    comment: Welcome$", out, re.M) is not None,
                "setinfo comment sets the server's /shared/comment, info shows it", out + err)
        R.check("read-only" in err, "setinfo admin is refused (/shared/admin is read-only)", err)
        out, err = cyradm(s, "setinfo comment Nope\n", user="alice")
        R.check(err.strip() != "", "a non-admin's setinfo is refused", out + err)

        # 4. rename the account
        out, err = cyradm(s, "renm user/bob user/carol\nlm\n")
        R.check(err.strip() == "", "renm user/bob user/carol: no error", err)
        names = listed(out)
        R.check("user/carol" in names and "user/carol/Lists" in names and "user/bob" not in names,
                "lm after rename shows user/carol and its child only", out)
        users = s.cli("user", "list").stdout
        R.check(re.search(r"^carol\b", users, re.M) and not re.search(r"^bob\b", users, re.M),
                "the CLI sees carol, not bob", users)
        out, err = cyradm(s, "info user/carol/Lists\n")
        R.check(re.search(r"^    comment: Lists of bob$", out, re.M) is not None,
                "the comment moved with the account (info user/carol/Lists)", out + err)

        # 5. delete the account
        out, err = cyradm(s, "dm user/carol\nlm\n")
        R.check(err.strip() == "", "dm user/carol: no error", err)
        R.check(not any(n.startswith("user/carol") for n in listed(out)), "lm after dm: account gone", out)
        users = s.cli("user", "list").stdout
        R.check(not re.search(r"^carol\b", users, re.M), "the CLI no longer lists carol", users)

        # 6. an account on another partition (cm --partition sends the
        # Cyrus form "CREATE user/dave p2")
        out, err = cyradm(s, "cm --partition p2 user/dave\ncm --partition nosuch user/erin\n")
        R.check(err.strip() != "", "cm --partition with an unknown partition is refused", out + err)
        users = s.cli("user", "list").stdout
        R.check(not re.search(r"^erin\b", users, re.M), "no account erin was made on an unknown partition", users)
        info = s.cli("user", "info", "dave", "--json")
        try:
            part_of = json.loads(info.stdout).get("partition")
        except ValueError:
            part_of = None
        R.check(part_of == "p2", "cm --partition p2 user/dave puts dave's store on p2", info.stdout + info.stderr)
        R.check(os.path.isdir(os.path.join(part, "user", "d", "dave")), "the store directory is on p2", part)

        # 7. a non-admin cannot create accounts: for alice "user/mallory" is
        # just a personal folder name (the user/ namespace is the admins')
        out, err = cyradm(s, "cm user/mallory\n", user="alice")
        users = s.cli("user", "list").stdout
        R.check(not re.search(r"^mallory\b", users, re.M), "no account mallory was made", users)
        s.stop()
    finally:
        s.cleanup()
        subprocess.run(["rm", "-rf", part])
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
