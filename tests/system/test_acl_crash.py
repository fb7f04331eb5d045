#!/usr/bin/env python3
"""ACL and quota changes are atomic and survive a crash (issue 3, "Bad
input and abuse": "ACL and quota changes are atomic and survive a
crash"; "Usage is updated in the same transaction as the change that
causes it, so it is never wrong after a crash").

Crash = SIGKILL of the whole server process group (master and workers,
Server.kill_group()), then a restart on the same datadir.

  1. acknowledged SETACL / DELETEACL / SETQUOTA are there after the crash,
     and alice's access follows them (LIST, SELECT);
  2. racing the kill: bob pipelines 150 SETACLs (one per mailbox, each
     "lrswi" for alice), the server is killed as soon as the first OK
     arrives; after restart every acknowledged grant is there, every
     mailbox's ACL is either exactly as before or exactly the new value
     (GETACL answers and parses), and alice's LIST shows exactly the
     mailboxes whose ACL grants her "l" (the share index may only hold
     extra hints, never miss a grant nor resurrect a revoke);
  3. the same for DELETEACL racing the kill (an acknowledged revoke stays
     revoked - a crash must never give access back);
  4. SETQUOTA racing the kill: limits are set pairwise (STORAGE v MESSAGE
     v, v increasing); afterwards both limits are the same v, v >= the
     last acknowledged one;
  5. APPENDs racing the kill: quota usage (GETQUOTA MESSAGE/STORAGE) equals
     what STATUS reports after the restart;
  6. `darius acl list` and `darius quota get` agree with GETACL/GETQUOTA
     after the restart, and `darius quota recalc --dry-run` finds no drift.

No sleeps: the kill is triggered by a response arriving, waits poll."""

import json
import re
import sys

import darius_test as dt

R = dt.Report("acl_crash")

N = 150            # mailboxes in the SETACL race
KILL_AFTER = 20    # APPEND race: kill when this many OKs have arrived
BULK = 3000       # SETACLs in the bulk race (~370 KB of commands)
PAD = "x" * 100    # long identifiers: more bytes per command, ACLs < 4 KB
KILL_FIRST = 1     # ACL/quota races: kill at the first OK (more still in flight)


def q(name):
    return dt.quote(name)


def crash_restart(s):
    s.kill_group()
    s.start()


def acl_of(c, mailbox):
    """{id: rights} from GETACL (raises on NO/BAD or unparseable)."""
    u, t = c.ok("GETACL %s" % q(mailbox))
    acls = [r.render() for r in u if r.render().startswith("* ACL ")]
    if len(acls) != 1:
        raise dt.TestFailure("GETACL %s: %r" % (mailbox, [r.render() for r in u]))
    toks = tokens(acls[0][len("* ACL "):])
    if len(toks) % 2 != 1:
        raise dt.TestFailure("GETACL %s: odd entry list %r" % (mailbox, acls[0]))
    out = {}
    for i in range(1, len(toks), 2):
        if not re.fullmatch(r"[lrswipkxteancd]*", toks[i + 1]):
            raise dt.TestFailure("GETACL %s: bad rights %r" % (mailbox, toks[i + 1]))
        out[toks[i]] = toks[i + 1]
    return out


def tokens(s):
    """astrings of an IMAP response tail (atoms and quoted strings)."""
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', s):
        out.append(m.group(1).replace('\\"', '"').replace("\\\\", "\\") if m.group(1) is not None
                   else m.group(2))
    return out


def rights_set(r):
    return set(r) - {"c", "d"}


def quota_of(c, root):
    """{resource: (usage, limit)} from GETQUOTA."""
    u, t = c.ok("GETQUOTA %s" % q(root))
    out = {}
    for r in u:
        m = re.match(r'\* QUOTA \S+ \((.*)\)$', r.render())
        if m:
            p = m.group(1).split()
            for i in range(0, len(p) - 2, 3):
                out[p[i].upper()] = (int(p[i + 1]), int(p[i + 2]))
    return out


def listed(c, pattern):
    u, t = c.ok('LIST "" %s' % q(pattern))
    out = set()
    for r in u:
        m = re.match(r'\* LIST \(([^)]*)\) \S+ (.*)$', r.render())
        if m and "\\noselect" not in m.group(1).lower():
            out.add(tokens(m.group(2))[0])
    return out


def pipeline_and_kill(s, c, cmds, kill_after):
    """Send every command at once, read tagged answers in order; SIGKILL
    the group right after the kill_after-th OK. Returns the number of
    commands acknowledged with OK (a prefix: the session runs them in
    order) - and raises if any answered otherwise."""
    tags = []
    data = b""
    for cmd in cmds:
        tag = c.next_tag()
        tags.append(tag)
        data += (tag + " " + cmd + "\r\n").encode()
    # the server may answer a pipelined batch only when it is done with it
    c.settimeout(60 * dt.timeout_scale())
    c.send_raw(data)
    acked = 0
    for tag in tags:
        u, t = c.collect(tag)
        if t.render().split(" ")[1] != "OK":
            raise dt.TestFailure("pipelined command %d answered %s" % (acked, t.render()))
        acked += 1
        if acked >= kill_after:
            break
    s.kill_group()
    # every answer the server sent before it died counts as acknowledged:
    # read what is left in the socket up to EOF
    for tag in tags[acked:]:
        try:
            u, t = c.collect(tag)
        except (EOFError, dt.TestFailure, OSError):
            break
        if t.render().split(" ")[1] != "OK":
            raise dt.TestFailure("pipelined command %d answered %s" % (acked, t.render()))
        acked += 1
    c.close()
    s.start()
    return acked


# ---- 1. acknowledged changes survive ------------------------------------------

def t_acked_survive(s):
    b = s.login("bob", "secret")
    b.ok("CREATE Shared")
    b.ok("CREATE Revoked")
    b.ok("APPEND Shared %L", [dt.sample_message(1)])
    b.ok("SETACL Shared alice lrs")
    b.ok("SETACL Shared -alice s")
    b.ok("SETACL Shared group:staff lr")
    b.ok("SETACL Revoked alice lr")
    b.ok("DELETEACL Revoked alice")
    b.close()
    adm = s.login("admin", "secret")
    adm.ok('SETQUOTA "user/bob" (STORAGE 1000 MESSAGE 10)')
    adm.close()
    crash_restart(s)
    b = s.login("bob", "secret")
    acl = acl_of(b, "Shared")
    errs = []
    if rights_set(acl.get("alice", "")) != set("lrs"):
        errs.append("alice on Shared: %r" % acl)
    if rights_set(acl.get("-alice", "")) != set("s"):
        errs.append("-alice on Shared: %r" % acl)
    if rights_set(acl.get("group:staff", "")) != set("lr"):
        errs.append("group:staff on Shared: %r" % acl)
    acl2 = acl_of(b, "Revoked")
    if "alice" in acl2:
        errs.append("revoked entry is back: %r" % acl2)
    b.logout()
    a = s.login("alice", "secret")
    seen = listed(a, "Other Users/bob/*")
    if seen != {"Other Users/bob/Shared"}:
        errs.append("alice LIST after crash: %r" % seen)
    u, t = a.command('MYRIGHTS "Other Users/bob/Shared"')
    my = [r.render() for r in u if r.render().startswith("* MYRIGHTS")]
    if not my or rights_set(tokens(my[0])[-1]) != set("lr"):
        errs.append("MYRIGHTS after crash: %r %s" % (my, t.render()))
    u, t = a.command('EXAMINE "Other Users/bob/Shared"')
    if t.render().split(" ")[1] != "OK":
        errs.append("EXAMINE after crash: %s" % t.render())
    u, t = a.command('STATUS "Other Users/bob/Revoked" (MESSAGES)')
    if "NONEXISTENT" not in t.render():
        errs.append("revoked mailbox after crash: %s" % t.render())
    a.logout()
    adm = s.login("admin", "secret")
    qq = quota_of(adm, "user/bob")
    if qq.get("STORAGE", (0, 0))[1] != 1000 or qq.get("MESSAGE", (0, 0))[1] != 10:
        errs.append("quota after crash: %r" % qq)
    adm.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


# ---- 2./3. SETACL / DELETEACL racing the kill --------------------------------

def alice_view_matches(s, acls):
    """alice's LIST of bob's R* mailboxes == the ones granting her l."""
    want = {"Other Users/bob/" + m for m, a in acls.items() if "l" in a.get("alice", "")}
    a = s.login("alice", "secret")
    got = {x for x in listed(a, "Other Users/bob/*") if x.startswith("Other Users/bob/R")}
    # spot-check access (not only LIST) on a few mailboxes
    bad = []
    for m in sorted(acls)[:5] + sorted(acls)[-5:]:
        u, t = a.command('STATUS %s (MESSAGES)' % q("Other Users/bob/" + m))
        ok = t.render().split(" ")[1] == "OK"
        if ok != ("r" in acls[m].get("alice", "")):
            bad.append("%s: STATUS %s with ACL %r" % (m, t.render(), acls[m]))
    a.logout()
    if got != want:
        bad.append("LIST shows %d, ACLs grant %d; only listed %r; only granted %r"
                   % (len(got), len(want), sorted(got - want)[:5], sorted(want - got)[:5]))
    return bad


def t_setacl_race(s):
    b = s.login("bob", "secret")
    for i in range(N):
        b.ok("CREATE R%03d" % i)
    acked = pipeline_and_kill(s, b, ["SETACL R%03d alice lrswi" % i for i in range(N)], KILL_FIRST)
    b = s.login("bob", "secret")
    errs = []
    acls = {}
    done = 0
    for i in range(N):
        m = "R%03d" % i
        try:
            acls[m] = acl_of(b, m)
        except dt.TestFailure as e:
            errs.append(str(e))
            continue
        al = acls[m].get("alice")
        if al is None:
            if i < acked:
                errs.append("%s: acknowledged SETACL lost: %r" % (m, acls[m]))
        elif rights_set(al) != set("lrswi"):
            errs.append("%s: partial ACL %r" % (m, acls[m]))
        else:
            done += 1
        if rights_set(acls[m].get("bob", "")) != set("lrswipkxtean"):
            errs.append("%s: owner entry damaged: %r" % (m, acls[m]))
    # the changes are in order: the applied ones are a prefix
    applied = [i for i in range(N) if "alice" in acls.get("R%03d" % i, {})]
    if applied != list(range(len(applied))):
        errs.append("applied SETACLs are not a prefix: %r" % applied[:30])
    b.logout()
    errs += alice_view_matches(s, acls)
    if errs:
        raise dt.TestFailure("; ".join(errs[:8]))
    return "%d acknowledged, %d applied of %d" % (acked, done, N)


def t_deleteacl_race(s):
    b = s.login("bob", "secret")
    # make every grant certain first (the previous race left a prefix)
    for i in range(N):
        b.ok("SETACL R%03d alice lrswi" % i)
    acked = pipeline_and_kill(s, b, ["DELETEACL R%03d alice" % i for i in range(N)], KILL_FIRST)
    b = s.login("bob", "secret")
    errs = []
    acls = {}
    for i in range(N):
        m = "R%03d" % i
        try:
            acls[m] = acl_of(b, m)
        except dt.TestFailure as e:
            errs.append(str(e))
            continue
        al = acls[m].get("alice")
        if i < acked and al is not None:
            errs.append("%s: acknowledged DELETEACL undone by the crash: %r" % (m, acls[m]))
        if al is not None and rights_set(al) != set("lrswi"):
            errs.append("%s: partial ACL %r" % (m, acls[m]))
    b.logout()
    errs += alice_view_matches(s, acls)
    if errs:
        raise dt.TestFailure("; ".join(errs[:8]))
    gone = sum(1 for a in acls.values() if "alice" not in a)
    return "%d acknowledged, %d revoked" % (acked, gone)


def bulk_state(s):
    """{j: rights} for every "uNNNN" entry over the R mailboxes."""
    b = s.login("bob", "secret")
    out = {}
    errs = []
    for i in range(N):
        m = "R%03d" % i
        try:
            acl = acl_of(b, m)
        except dt.TestFailure as e:
            errs.append(str(e))
            continue
        for k, v in acl.items():
            if re.fullmatch(r"u\d{4}" + PAD, k):
                if int(k[1:5]) % N != i:
                    errs.append("%s: entry %s belongs elsewhere" % (m, k[:5]))
                out[int(k[1:5])] = v
        if rights_set(acl.get("bob", "")) != set("lrswipkxtean"):
            errs.append("%s: owner entry damaged: %r" % (m, acl))
    b.logout()
    return out, errs


def t_bulk_setacl_race(s):
    """Many SETACLs (more than one read buffer's worth, so the kill lands
    in the middle): the applied ones form a prefix, each complete."""
    cmds = ["SETACL R%03d u%04d%s %s" % (j % N, j, PAD, "lrswi" if j % 2 else "lr")
            for j in range(BULK)]
    b = s.login("bob", "secret")
    acked = pipeline_and_kill(s, b, cmds, KILL_FIRST)
    st, errs = bulk_state(s)
    applied = sorted(st)
    if applied != list(range(len(applied))):
        errs.append("applied SETACLs are not a prefix: first gaps %r" %
                    [j for j in range(len(applied)) if j not in st][:10])
    if len(applied) < acked:
        errs.append("acknowledged SETACLs lost: %d applied, %d acknowledged" % (len(applied), acked))
    for j, v in st.items():
        if rights_set(v) != set("lrswi" if j % 2 else "lr"):
            errs.append("u%04d: partial rights %r" % (j, v))
    if errs:
        raise dt.TestFailure("; ".join(errs[:8]))
    return "%d acknowledged, %d applied of %d" % (acked, len(applied), BULK)


def t_bulk_deleteacl_race(s):
    b = s.login("bob", "secret")
    # complete the set first
    st, errs = bulk_state(s)
    for j in range(BULK):
        if j not in st:
            b.ok("SETACL R%03d u%04d%s %s" % (j % N, j, PAD, "lrswi" if j % 2 else "lr"))
    cmds = ["DELETEACL R%03d u%04d%s" % (j % N, j, PAD) for j in range(BULK)]
    acked = pipeline_and_kill(s, b, cmds, KILL_FIRST)
    st, errs = bulk_state(s)
    gone = [j for j in range(BULK) if j not in st]
    if gone != list(range(len(gone))):
        errs.append("applied DELETEACLs are not a prefix: %r" % gone[:10])
    if len(gone) < acked:
        errs.append("acknowledged DELETEACLs undone: %d gone, %d acknowledged" % (len(gone), acked))
    for j, v in st.items():
        if rights_set(v) != set("lrswi" if j % 2 else "lr"):
            errs.append("u%04d: partial rights %r" % (j, v))
    if errs:
        raise dt.TestFailure("; ".join(errs[:8]))
    return "%d acknowledged, %d revoked of %d" % (acked, len(gone), BULK)


# ---- 4. SETQUOTA racing the kill --------------------------------------------------

def t_setquota_race(s):
    adm = s.login("admin", "secret")
    cmds = ['SETQUOTA "user/bob" (STORAGE %d MESSAGE %d)' % (v, v) for v in range(2000, 2000 + N)]
    acked = pipeline_and_kill(s, adm, cmds, KILL_FIRST)
    adm = s.login("admin", "secret")
    qq = quota_of(adm, "user/bob")
    adm.logout()
    st = qq.get("STORAGE", (0, None))[1]
    ms = qq.get("MESSAGE", (0, None))[1]
    if st != ms:
        raise dt.TestFailure("SETQUOTA torn by the crash: STORAGE limit %r, MESSAGE limit %r" % (st, ms))
    if st is None or st < 2000 + acked - 1:
        raise dt.TestFailure("acknowledged SETQUOTA lost: limit %r, last acknowledged %d" % (st, 2000 + acked - 1))
    return "limit %d, last acknowledged %d" % (st, 2000 + acked - 1)


# ---- 5. APPEND racing the kill: usage consistent -----------------------------------

def t_usage_after_crash(s):
    adm = s.login("admin", "secret")
    adm.ok('SETQUOTA "user/bob" (STORAGE 100000 MESSAGE 100000)')
    adm.logout()
    b = s.login("bob", "secret")
    b.ok("CREATE Bulk")
    msgs = [dt.sample_message(i, size=2000 + 37 * i) for i in range(N)]
    # pipelined APPENDs with non-synchronizing literals (LITERAL+)
    tags = []
    data = b""
    for m in msgs:
        tag = b.next_tag()
        tags.append(tag)
        raw = m.encode()
        data += ("%s APPEND Bulk {%d+}\r\n" % (tag, len(raw))).encode() + raw + b"\r\n"
    b.send_raw(data)
    acked = 0
    for tag in tags:
        u, t = b.collect(tag)
        if t.render().split(" ")[1] != "OK":
            raise dt.TestFailure("APPEND %d: %s" % (acked, t.render()))
        acked += 1
        if acked >= KILL_AFTER:
            break
    s.kill_group()
    for tag in tags[acked:]:   # answers sent before the kill count too
        try:
            u, t = b.collect(tag)
        except (EOFError, dt.TestFailure, OSError):
            break
        if t.render().split(" ")[1] != "OK":
            raise dt.TestFailure("APPEND %d: %s" % (acked, t.render()))
        acked += 1
    b.close()
    s.start()
    b = s.login("bob", "secret")
    total_msgs = 0
    total_size = 0
    u, t = b.ok('LIST "" "*" RETURN (STATUS (MESSAGES SIZE))')
    stat = [r.render() for r in u if r.render().startswith("* STATUS")]
    sizes_supported = all("SIZE" in x for x in stat) and stat
    if not sizes_supported:
        # fall back to STATUS per mailbox
        stat = []
        for name in listed(b, "*"):
            if name.startswith("Other Users") or name.startswith("Shared Folders"):
                continue
            u2, t2 = b.command("STATUS %s (MESSAGES SIZE)" % q(name))
            stat += [r.render() for r in u2 if r.render().startswith("* STATUS")]
    bulk = None
    for x in stat:
        m1 = re.search(r"MESSAGES (\d+)", x)
        m2 = re.search(r"SIZE (\d+)", x)
        total_msgs += int(m1.group(1)) if m1 else 0
        total_size += int(m2.group(1)) if m2 else 0
        if re.match(r'\* STATUS "?Bulk"? ', x):
            bulk = int(m1.group(1)) if m1 else None
    b.logout()
    if bulk is None or bulk < acked:
        raise dt.TestFailure("acknowledged APPENDs lost: Bulk has %r, %d acknowledged" % (bulk, acked))
    adm = s.login("admin", "secret")
    qq = quota_of(adm, "user/bob")
    adm.logout()
    errs = []
    if qq.get("MESSAGE", (None,))[0] != total_msgs:
        errs.append("MESSAGE usage %r, STATUS counts %d messages" % (qq.get("MESSAGE"), total_msgs))
    if "STORAGE" in qq and total_size:
        kib = (total_size + 1023) // 1024
        if abs(qq["STORAGE"][0] - kib) > 1:
            errs.append("STORAGE usage %r KiB, STATUS SIZE sums to %d bytes (%d KiB)"
                        % (qq["STORAGE"], total_size, kib))
    if errs:
        raise dt.TestFailure("; ".join(errs))
    return "Bulk has %d (acknowledged %d), usage %r" % (bulk, acked, qq)


# ---- 6. CLI agrees with IMAP --------------------------------------------------------

def t_cli_agrees(s):
    r = s.cli("--help")
    if "acl list" not in r.stdout + r.stderr:
        return "skipped: no 'darius acl list'"
    b = s.login("bob", "secret")
    errs = []
    for m in ("Shared", "R000", "R%03d" % (N - 1)):
        imap = {k: rights_set(v) for k, v in acl_of(b, m).items()}
        r = s.cli("acl", "list", "--json", "user/bob/" + m)
        if r.returncode != 0:
            errs.append("acl list %s: exit %d %s" % (m, r.returncode, r.stderr.strip()))
            continue
        try:
            j = json.loads(r.stdout)
            cli = {}
            for e in j["acl"]:
                # the id may carry the '-' itself ("negative" then repeats it)
                k = e["id"] if e["id"].startswith("-") else ("-" if e.get("negative") else "") + e["id"]
                if k.startswith("-") != bool(e.get("negative")):
                    errs.append("acl list --json %s: id %r vs negative %r" % (m, e["id"], e.get("negative")))
                cli[k] = rights_set(e["rights"])
        except (ValueError, KeyError, TypeError) as e:
            errs.append("acl list --json %s: unparseable %r (%s)" % (m, r.stdout[:200], e))
            continue
        if cli != imap:
            errs.append("%s: CLI %r vs GETACL %r" % (m, cli, imap))
        r2 = s.cli("acl", "list", "user/bob/" + m)
        plain = {}
        for line in r2.stdout.splitlines():
            p = line.split()
            if len(p) == 2:
                plain[p[0]] = rights_set(p[1])
        if plain != imap:
            errs.append("%s: plain CLI %r vs GETACL %r" % (m, plain, imap))
    b.logout()
    if errs:
        raise dt.TestFailure("; ".join(errs))


def t_cli_quota(s):
    r = s.cli("--help")
    if "quota get" not in r.stdout + r.stderr:
        return "skipped: no 'darius quota get'"
    errs = []
    adm = s.login("admin", "secret")
    qq = quota_of(adm, "user/bob")
    adm.logout()
    r = s.cli("quota", "get", "--json", "user/bob")
    if r.returncode != 0:
        errs.append("quota get: exit %d %s" % (r.returncode, r.stderr.strip()))
    else:
        try:
            json.loads(r.stdout, object_pairs_hook=_no_dup_keys)
        except ValueError as e:
            errs.append("quota get --json: %s in %r" % (e, r.stdout[:300]))
        try:
            j = json.loads(r.stdout)   # (a duplicate key: the last one wins)
            cli = {"STORAGE": (j["storage"]["used"], j["storage"]["limit"]),
                   "MESSAGE": (j["message"]["used"], j["message"]["limit"])}
            for k in ("STORAGE", "MESSAGE"):
                if cli[k] != qq.get(k):
                    errs.append("quota %s: CLI %r vs GETQUOTA %r" % (k, cli[k], qq.get(k)))
        except (ValueError, KeyError, TypeError) as e:
            errs.append("quota get --json: %s in %r" % (e, r.stdout[:300]))
    r = s.cli("quota", "recalc", "--dry-run", "bob")
    if r.returncode != 0:
        errs.append("quota recalc --dry-run: exit %d %s%s" % (r.returncode, r.stdout, r.stderr))
    else:
        r2 = s.cli("quota", "recalc", "--json", "--dry-run", "bob")
        try:
            j = json.loads(r2.stdout)
            # [{"root":..,"drift":BOOL,"before":{..},"after":{..}}]
            drift = [x for x in j if x.get("drift") or x.get("before") != x.get("after")]
            if drift or not j:
                errs.append("quota recalc finds drift after the crash: %s" % r2.stdout.strip()[:300])
        except ValueError:
            errs.append("quota recalc --json: unparseable %r" % r2.stdout[:200])
    if errs:
        raise dt.TestFailure("; ".join(errs))


def _no_dup_keys(pairs):
    keys = [k for k, v in pairs]
    dup = sorted(set(k for k in keys if keys.count(k) > 1))
    if dup:
        raise ValueError("duplicate JSON key(s) %r" % dup)
    return dict(pairs)


def main():
    s = dt.Server(start=False, config={"admins": "admin"})
    try:
        for u in ("admin", "alice", "bob"):
            s.add_user(u, "secret")
        s.start()
        R.run("acknowledged SETACL/DELETEACL/SETQUOTA survive SIGKILL", t_acked_survive, s)
        R.run("SETACL racing SIGKILL: all-or-nothing, acknowledged kept, LIST follows", t_setacl_race, s)
        R.run("DELETEACL racing SIGKILL: acknowledged revokes stay revoked", t_deleteacl_race, s)
        R.run("bulk SETACL racing SIGKILL: applied prefix, entries complete", t_bulk_setacl_race, s)
        R.run("bulk DELETEACL racing SIGKILL: applied prefix, acknowledged kept", t_bulk_deleteacl_race, s)
        R.run("SETQUOTA racing SIGKILL: limits all-or-nothing, acknowledged kept", t_setquota_race, s)
        R.run("APPEND racing SIGKILL: quota usage equals STATUS", t_usage_after_crash, s)
        R.run("darius acl list agrees with GETACL after the crashes", t_cli_agrees, s)
        R.run("darius quota get / recalc agree with GETQUOTA after the crashes", t_cli_quota, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
