#!/usr/bin/env python3
"""LIST pattern bounds and matching (issue 9 item 6).

A LIST pattern used to be matched in O(pattern x name) per mailbox, and
patterns were only bounded by the line length: a 1 MiB pattern cost most
of a second per long mailbox name, per LIST. Now:

  bounds     reference + pattern longer than 8192 octets (up to a 1 MiB
             pattern), more than 32
             wildcards ('*', '%') in all the patterns of one command, or
             more than 32 patterns in a LIST-EXTENDED list: NO [LIMIT]
             (RFC 5530), for LIST and LSUB; the session goes on working.
             The server allows 2 MiB lines here (maxline) so that the
             1 MiB pattern reaches the LIST code at all.
  at limit   exactly 32 patterns, and a pattern with 32 wildcards, are
             answered OK.
  matching   a pathological but legal pattern (32 wildcards between
             literals) against long names that keep every position
             alive, and a set of patterns against a set of names
             (INBOX in any case, '%' stopping at the separator, '*'
             crossing it): LIST returns exactly what the RFC 9051 6.3.9
             definition (reimplemented here) says.

Nothing here measures time: the assertions are on the responses (the
old server answered the oversized patterns with OK after a long match).
"""

import re
import sys

import darius_test as dt

R = dt.Report("list_patterns")


def word(t):
    p = t.render().split(" ")
    return p[1] if len(p) > 1 else ""


def listed(untagged):
    out = []
    for r in untagged:
        m = re.match(r'\* (?:LIST|LSUB) \(([^)]*)\) "(.)" (.*)$', r.render())
        if not m:
            continue
        name = m.group(3)
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out.append((m.group(1), name))
    return out


def ref_match(pat, name, sep="/"):
    """RFC 9051 6.3.9: '*' matches anything, '%' anything but the
    hierarchy separator; the INBOX level matches case-insensitively.
    The textbook dynamic programme over (pattern, name) positions, one
    row per pattern character held as a bit set (bit j: the pattern so
    far matches name[:j])."""
    n = len(name)
    inbox = name[:5] == "INBOX" and (n == 5 or name[5] == sep)
    full = (1 << (n + 1)) - 1
    eq = {}

    def eqmask(c):
        if c not in eq:
            m = 0
            for j in range(1, n + 1):
                nc = name[j - 1]
                if nc == c or (inbox and j <= 5 and c.upper() == nc):
                    m |= 1 << j
            eq[c] = m
        return eq[c]

    # level segments of positions: a '%' run stops where name[j-1] == sep
    starts = [0] + [j for j in range(1, n + 1) if name[j - 1] == sep]
    segs = []
    for k, st in enumerate(starts):
        end = starts[k + 1] - 1 if k + 1 < len(starts) else n
        segs.append((st, end, ((1 << (end + 1)) - 1) & ~((1 << st) - 1)))
    row = 1
    for c in pat:
        if c == "*":
            row = full & ~((row & -row) - 1) if row else 0
        elif c == "%":
            out = 0
            for st, end, mask in segs:
                part = row & mask
                if part:
                    out |= mask & ~((part & -part) - 1)
            row = out
        else:
            row = (row << 1) & eqmask(c)
        if not row:
            return False
    return bool(row >> n & 1)


def expect_limit(c, cmd, what):
    u, t = c.command(cmd)
    if word(t) != "NO" or "[LIMIT]" not in t.render():
        raise dt.TestFailure("%s: want NO [LIMIT], got %s" % (what, t.render()[:200]))
    if listed(u):
        raise dt.TestFailure("%s: names listed before the refusal" % what)
    return t.render()[len(t.render().split(" ")[0]) + 1:]


def t_bounds(s):
    c = s.login("alice", "secret")
    res = []
    # 1 MiB less room for the rest of the command (the reader's bound on a
    # command's text is 1 MiB)
    big = "a" * (1024 * 1024 - 64)
    res.append(expect_limit(c, 'LIST "" %s' % big, "1 MiB atom pattern"))
    expect_limit(c, 'LIST "" "*%s"' % big, "1 MiB quoted pattern")
    expect_limit(c, 'LSUB "" %s' % big, "1 MiB LSUB pattern")
    expect_limit(c, 'LIST "%s" "*"' % big, "1 MiB reference")
    expect_limit(c, 'LIST "" %s' % ("a" * 8193), "8193-octet pattern")
    expect_limit(c, 'LIST "%s" %s' % ("a" * 4096, "a" * 4097), "8193 octets of reference + pattern")
    res.append(expect_limit(c, 'LIST "" "%s"' % ("%*" * 5000 + "x"), "10,000 wildcards"))
    expect_limit(c, 'LIST "" "%s"' % ("%" * 33), "33 wildcards")
    expect_limit(c, 'LSUB "" "%s"' % ("*" * 33), "33 wildcards in LSUB")
    expect_limit(c, 'LIST "*" "%s"' % ("%" * 32), "32 wildcards + one in the reference")
    pats = " ".join('"p%d*%%"' % i for i in range(16))
    expect_limit(c, 'LIST "" (%s "x%%")' % pats, "33 wildcards over 17 patterns")
    pats = " ".join('"p%d"' % i for i in range(33))
    res.append(expect_limit(c, 'LIST "" (%s)' % pats, "33 patterns"))
    pats = " ".join('"p%d"' % i for i in range(5000))
    expect_limit(c, 'LIST (SUBSCRIBED) "" (%s)' % pats, "5000 patterns")
    # still a working session, and the limits are not off by one
    u, t = c.ok('LIST "" "%s"' % ("%" * 32))
    if not any(n == "INBOX" for _, n in listed(u)):
        raise dt.TestFailure("LIST with 32 '%%': INBOX missing: %r" % [r.render() for r in u])
    pats = " ".join('"p%d"' % i for i in range(31)) + ' "INBOX"'
    u, t = c.ok('LIST "" (%s)' % pats)
    if [n for _, n in listed(u)] != ["INBOX"]:
        raise dt.TestFailure("LIST with 32 patterns: %r" % [r.render() for r in u])
    u, t = c.ok('LIST "" "%s"' % ("a" * 8192))
    c.ok("NOOP")
    c.logout()
    return "; ".join(res)


NAMES = [
    "INBOX/x",
    "INBOX/Sub/deep",
    "inboxish",
    "a/b/c",
    "a/bc",
    "abc",
    "ab/ab/ab",
    "aba/b",
    "b_c",
]


def t_matching(s):
    c = s.login("bob", "secret")
    # long names that keep every position of a pattern of a's alive
    longs = ["a" * 900 + "/" + "a" * 100 + "b", "a" * 1000 + "b", "a" * 1023, "a" * 600 + "/b/" + "a" * 300]
    for n in NAMES + longs:
        c.ok('CREATE "%s"' % n)
    all_names = set()
    u, _ = c.ok('LIST "" "*"')
    for _, n in listed(u):
        all_names.add(n)
    for want in ["INBOX", "a", "a/b", "ab", "ab/ab"] + NAMES + longs:
        if want not in all_names:
            raise dt.TestFailure("LIST *: %s missing (%d names)" % (want, len(all_names)))
    # 32 wildcards between literals: the pathological but legal shape
    hostile = "".join("a%" if i % 2 == 0 else "a*" for i in range(31)) + "a*b"
    patterns = [hostile, "*a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b", "%/%", "%", "*", "inbox/%", "InBoX*", "INBOX%",
                "a*c", "a%c", "*b*", "%b", "ab/*", "a*b", "*/b/*", "a%/b", "%a%a%a%/%", "*%*%*%*b",
                "*a/a*", "%aaaa%"]
    checked = 0
    for p in patterns:
        u, t = c.ok('LIST "" "%s"' % p)
        got = sorted(n for _, n in listed(u))
        want = sorted(n for n in all_names if ref_match(p, n))
        if got != want:
            raise dt.TestFailure("LIST %s: got %r, want %r" % (p[:40], [g[:30] for g in got],
                                                                [w[:30] for w in want]))
        checked += 1
    # the same through LIST-EXTENDED with several patterns at once
    u, t = c.ok('LIST "" ("inbox" "%s" "a/bc")' % hostile)
    got = sorted(n for _, n in listed(u))
    want = sorted(n for n in all_names if n in ("INBOX", "a/bc") or ref_match(hostile, n))
    if got != want:
        raise dt.TestFailure("LIST-EXTENDED: got %r, want %r" % (got, want))
    c.logout()
    return "%d patterns over %d names" % (checked + 1, len(all_names))


def main():
    s = dt.Server(start=False, config={"maxline": str(2 * 1024 * 1024)})
    try:
        s.add_user("alice", "secret")
        s.add_user("bob", "secret")
        s.start()
        R.run("oversized patterns, wildcard and pattern counts: NO [LIMIT]", t_bounds, s)
        R.run("pathological but legal patterns match as RFC 9051 6.3.9 says", t_matching, s)
        R.check_sanitizer(s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
