#!/usr/bin/env python3
"""The darius admin CLI against a running dariusd (run by test-cli.sh when
dariusd and python3 are there; DARIUS_BIN_DIR = the build dir).

  - user add --partition --quota, deliveries, then `user move-partition`
    while the user has a selected IMAP session: the session is told and
    closed, the command succeeds, and afterwards every message is still
    there (IMAP FETCH, `mailbox list`, `quota get`, `user info --json`);
  - `acl set` / `acl delete` take effect for another user's IMAP session
    (LIST / SELECT of "Other Users/alice/Shared");
  - `user rename` while the user is logged in: kicked, the new name logs
    in with the old password and finds the mail, the old name is gone;
  - `mailbox list --all --json` while the server runs.
Prints PASS/FAIL lines and "cli-live: N passed, N failed".
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import darius_test as dt  # noqa: E402

R = dt.Report("cli-live")


def cli_ok(s, *args, input_text=None):
    r = s.cli(*args, input_text=input_text)
    if r.returncode != 0:
        raise dt.TestFailure("darius %s: exit %d: %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def subjects(c):
    u, t = c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = set()
    for r in u:
        for lit in r.literals:
            for line in lit.decode("utf-8", "replace").splitlines():
                if line.lower().startswith("subject:"):
                    out.add(line.split(":", 1)[1].strip())
    return out


def exists_of(untagged):
    for r in untagged:
        t = r.render()
        if t.endswith(" EXISTS"):
            return int(t.split()[1])
    return None


def expect_kicked(c):
    c.settimeout(10 * dt.timeout_scale())
    r = c.read().render()
    if not r.startswith("* BYE"):
        raise dt.TestFailure("expected BYE, got %r" % r)
    if not c.at_eof(5):
        raise dt.TestFailure("session not closed after BYE")


def move_partition(s):
    c = s.login("alice", "secret")
    c.ok("SELECT INBOX")
    mover = subprocess.Popen([s.darius, "-C", s.conf_path, "user", "move-partition", "alice", "default"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        expect_kicked(c)
        out, err = mover.communicate(timeout=60 * dt.timeout_scale())
    finally:
        if mover.poll() is None:
            mover.kill()
            mover.wait()
    if mover.returncode != 0 or "moved from partition p2 to default" not in out:
        raise dt.TestFailure("move-partition: exit %d: %s%s" % (mover.returncode, out, err))
    if os.path.isdir(os.path.join(s.part, "user", "a", "alice")):
        raise dt.TestFailure("old copy left on p2")
    c = s.login("alice", "secret")
    u, t = c.ok("SELECT INBOX")
    if exists_of(u) != 3:
        raise dt.TestFailure("after the move: %r EXISTS" % exists_of(u))
    got = subjects(c)
    if got != {"one", "two", "three"}:
        raise dt.TestFailure("after the move: subjects %r" % got)
    c.logout()
    if "INBOX 3 messages" not in cli_ok(s, "mailbox", "list", "alice").splitlines():
        raise dt.TestFailure("mailbox list after the move")
    info = json.loads(cli_ok(s, "user", "info", "--json", "alice"))
    if info["partition"] != "default" or info["messages"] != 3 or info["quota"]["storage"]["limit"] != 1000:
        raise dt.TestFailure("user info after the move: %r" % info)
    if "messages 3/unlimited" not in cli_ok(s, "quota", "get", "user/alice"):
        raise dt.TestFailure("quota after the move")


def acl_live(s):
    cli_ok(s, "mailbox", "create", "user/alice/Shared")
    b = s.login("bob", "bobpw")
    u, t = b.command('SELECT "Other Users/alice/Shared"')
    if " NO " not in t.render():
        raise dt.TestFailure("SELECT before acl set: %s" % t.render())
    cli_ok(s, "acl", "set", "user/alice/Shared", "bob", "lr")
    u, t = b.ok('LIST "" "Other Users/alice/*"')
    if not any("Other Users/alice/Shared" in r.render() for r in u):
        raise dt.TestFailure("LIST after acl set: %r" % [r.render() for r in u])
    b.ok('EXAMINE "Other Users/alice/Shared"')
    b.ok("CLOSE")
    listed = json.loads(cli_ok(s, "acl", "list", "--json", "user/alice/Shared"))
    if {"id": "bob", "rights": "lr", "negative": False} not in listed["acl"]:
        raise dt.TestFailure("acl list: %r" % listed)
    cli_ok(s, "acl", "delete", "user/alice/Shared", "bob")
    u, t = b.command('EXAMINE "Other Users/alice/Shared"')
    if " NO " not in t.render():
        raise dt.TestFailure("EXAMINE after acl delete: %s" % t.render())
    b.logout()


def rename_live(s):
    c = s.login("alice", "secret")
    c.ok("SELECT INBOX")
    r = s.cli("user", "rename", "alice", "alicia")
    if r.returncode != 0:
        raise dt.TestFailure("user rename: %d %s%s" % (r.returncode, r.stdout, r.stderr))
    expect_kicked(c)
    c = s.login("alicia", "secret")
    u, t = c.ok("SELECT INBOX")
    if exists_of(u) != 3:
        raise dt.TestFailure("renamed user's INBOX: %r EXISTS" % exists_of(u))
    c.logout()
    c = s.client()
    c.greeting()
    u, t = c.command("LOGIN alice secret")
    if " NO " not in t.render():
        raise dt.TestFailure("old name still logs in: %s" % t.render())
    c.logout()
    users = cli_ok(s, "user", "list").split()
    if "alice" in users or "alicia" not in users:
        raise dt.TestFailure("user list after rename: %r" % users)


def list_all(s):
    j = json.loads(cli_ok(s, "mailbox", "list", "--all", "--json"))
    names = {m["name"]: m for m in j}
    if names.get("user/alicia", {}).get("messages") != 3 or "user/alicia/Shared" not in names:
        raise dt.TestFailure("mailbox list --all: %r" % sorted(names))


def main():
    top = tempfile.mkdtemp(prefix="darius-cli-p2-")
    part = os.path.join(top, "p2")
    os.makedirs(part)
    os.chmod(top, 0o777)
    os.chmod(part, 0o777)
    s = dt.Server(start=False, config={"partition-p2": part})
    s.part = part
    try:
        cli_ok(s, "user", "add", "--partition", "p2", "--quota", "1000", "alice", input_text="secret\n")
        cli_ok(s, "user", "add", "bob", input_text="bobpw\n")
        s.start()
        for subj in ("one", "two", "three"):
            cli_ok(s, "deliver", "alice",
                   input_text="From: x@example.com\nTo: alice@example.com\nSubject: %s\n\nbody %s\n" % (subj, subj))
        R.run("move-partition while logged in: kicked, all messages kept", move_partition, s)
        R.run("acl set/delete take effect for a live IMAP session", acl_live, s)
        R.run("user rename while logged in: kicked, new name logs in, old gone", rename_live, s)
        R.run("mailbox list --all --json while the server runs", list_all, s)
        s.stop()
        if s.sanitizer_reports():
            R.fail("sanitizer reports in dariusd's stderr")
    except Exception as e:  # noqa: BLE001
        R.fail("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        s.cleanup()
        subprocess.run(["rm", "-rf", top])
    print("cli-live: %d passed, %d failed" % (R.passed, R.failed))
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
