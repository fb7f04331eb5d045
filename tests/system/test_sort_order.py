#!/usr/bin/env python3
"""SORT orders checked against an independent model on generated messages.

400 messages whose keys collide on purpose: subjects and From mailboxes
drawn from a few long strings that share their first 8, 9 or more octets
(the server folds the first criterion's first 8 octets into a number and
must fall back to the whole key on a tie), the empty subject, repeated
sizes, sent dates and INTERNALDATEs. Every sort below is computed in
Python from RFC 5256's rules (octet order of the casemapped keys, which
for these lowercase ASCII strings is the strings themselves; the
implicit last criterion is the sequence number, never reversed) and must
equal the server's SORT answer exactly, for SORT and UID SORT and for
ESORT's MIN/MAX/ALL."""

import random
import re
import sys

import darius_test as dt

R = dt.Report("sort-order")

SUBJECTS = ["", "aaaaaaaa", "aaaaaaaab", "aaaaaaaaa", "aaaaaaab", "aaaaaaa",
            "aaaaaaaabaaa", "aaaaaaaab a", "b", "ba", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"]
MAILBOXES = ["zed", "aaaaaaaaaaaa", "aaaaaaaaaaab", "aaaaaaaa", "aaaaaaab", "m"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def make_messages(rng, n):
    msgs = []
    for i in range(n):
        subj = rng.choice(SUBJECTS)
        mbox = rng.choice(MAILBOXES)
        day = rng.randint(1, 3)
        hour = rng.choice([0, 12])
        idate_day = rng.randint(1, 4)
        pad = rng.choice([0, 10, 10, 50])
        text = ("From: %s@example.org\r\n"
                "To: %s@example.net\r\n"
                "Subject: %s\r\n"
                "Date: %d Mar 2021 %02d:00:00 +0000\r\n"
                "Message-ID: <sort-%d@example.org>\r\n"
                "\r\n"
                "%s\r\n") % (mbox, rng.choice(MAILBOXES), subj, day, hour, i, "x" * pad)
        msgs.append({
            "text": text,
            "subject": subj,
            "from": mbox,
            "sent": (day, hour),
            "idate": idate_day,
            "size": len(text.encode()),
        })
    return msgs


def model_sort(msgs, crit):
    """Sequence numbers (1-based) in the order RFC 5256 gives."""
    import functools

    def key_of(m, k):
        return {"SUBJECT": m["subject"], "FROM": m["from"], "DISPLAYFROM": m["from"] + "@example.org",
                "SIZE": m["size"], "DATE": m["sent"], "ARRIVAL": m["idate"]}[k]

    def cmp(a, b):
        for rev, k in crit:
            x, y = key_of(msgs[a], k), key_of(msgs[b], k)
            v = (x > y) - (x < y)
            if v:
                return -v if rev else v
        return (a > b) - (a < b)

    return [i + 1 for i in sorted(range(len(msgs)), key=functools.cmp_to_key(cmp))]


def crit_text(crit):
    return " ".join(("REVERSE " if rev else "") + k for rev, k in crit)


def check_orders():
    rng = random.Random(5256)
    msgs = make_messages(rng, 400)
    s = dt.server_with_user()
    try:
        c = s.login()
        for m in msgs:
            c.ok('APPEND INBOX "%02d-Mar-2021 00:00:00 +0000" %%L' % m["idate"], [m["text"]])
        c.ok("SELECT INBOX")
        u, _ = c.ok("UID SEARCH ALL")
        uids = [int(x) for x in u[0].render().split()[2:]]
        if len(uids) != len(msgs):
            raise dt.TestFailure("%d messages stored, want %d" % (len(uids), len(msgs)))
        cases = [
            [(False, "SUBJECT")],
            [(True, "SUBJECT")],
            [(False, "FROM"), (False, "SIZE")],
            [(True, "FROM"), (True, "SUBJECT")],
            [(False, "DISPLAYFROM")],
            [(True, "DATE"), (False, "SUBJECT")],
            [(False, "SIZE"), (True, "ARRIVAL")],
            [(True, "SIZE")],
            [(False, "ARRIVAL"), (True, "FROM"), (False, "DATE")],
            [(False, "SUBJECT"), (True, "SUBJECT")],
        ]
        for crit in cases:
            want = model_sort(msgs, crit)
            u, _ = c.ok("SORT (%s) UTF-8 ALL" % crit_text(crit))
            got = [int(x) for x in u[0].render().split()[2:]]
            if got != want:
                diff = next(i for i in range(len(want)) if i >= len(got) or got[i] != want[i])
                raise dt.TestFailure("SORT (%s): first difference at position %d: got %s, want %s"
                                     % (crit_text(crit), diff, got[diff:diff + 5], want[diff:diff + 5]))
            u, _ = c.ok("UID SORT (%s) UTF-8 ALL" % crit_text(crit))
            got = [int(x) for x in u[0].render().split()[2:]]
            if got != [uids[i - 1] for i in want]:
                raise dt.TestFailure("UID SORT (%s) differs from the model" % crit_text(crit))
            u, _ = c.ok("SORT RETURN (MIN MAX) (%s) UTF-8 ALL" % crit_text(crit))
            line = u[0].render()
            if ("MIN %d" % want[0]) not in line or ("MAX %d" % want[-1]) not in line:
                raise dt.TestFailure("ESORT MIN/MAX for (%s): %s, want MIN %d MAX %d"
                                     % (crit_text(crit), line, want[0], want[-1]))
        c.logout()
        s.stop()
        R.check_sanitizer(s)
        return "%d criteria lists over %d messages" % (len(cases), len(msgs))
    finally:
        s.cleanup()


def expand_set(text):
    """'3,5:7' -> [3, 5, 6, 7] (a range in the order written)"""
    out = []
    for part in text.split(","):
        if ":" in part:
            x, y = (int(v) for v in part.split(":"))
            out.extend(range(x, y + 1) if x <= y else range(x, y - 1, -1))
        else:
            out.append(int(part))
    return out


def check_large():
    """8,192 messages (16 appended, then copied onto themselves): the
    scans past 4,096 rows read the store through a memory map
    (sqlite-message.c scan_mmap_begin); the answers must not change."""
    rng = random.Random(7)
    msgs = make_messages(rng, 16)
    s = dt.server_with_user()
    try:
        c = s.login()
        for m in msgs:
            c.ok('APPEND INBOX "%02d-Mar-2021 00:00:00 +0000" %%L' % m["idate"], [m["text"]])
        c.ok("SELECT INBOX")
        while len(msgs) < 8192:
            c.ok("COPY 1:* INBOX")
            msgs = msgs + msgs
        c.ok("NOOP")
        for crit in ([(False, "SUBJECT")], [(True, "DATE"), (False, "FROM")], [(False, "SIZE")]):
            want = model_sort(msgs, crit)
            u, _ = c.ok("SORT (%s) UTF-8 ALL" % crit_text(crit))
            got = [int(x) for x in u[0].render().split()[2:]]
            if got != want:
                raise dt.TestFailure("SORT (%s) over %d messages differs from the model" % (crit_text(crit), len(msgs)))
        # RETURN (PARTIAL): ranges within the first or last eighth are a
        # top-k selection (imap-cmd-sort.c), the next pages come from
        # the cached result; on these ties (16 distinct messages) every
        # slice must be the model's
        for crit in ([(False, "SUBJECT")], [(True, "DATE"), (False, "FROM")], [(True, "SIZE")]):
            want = model_sort(msgs, crit)
            n = len(want)
            for rng_text in ("1:50", "51:100", "1000:990", "1:1024", "1:1025", "-1:-50", "-51:-100",
                             "-1:-1024", "-1020:-1030", "4000:4100"):
                u, _ = c.ok("SORT RETURN (MIN MAX PARTIAL %s) (%s) UTF-8 ALL" % (rng_text, crit_text(crit)))
                line = u[0].render()
                m = re.search(r"PARTIAL \(\S+ (\S+)\)", line)
                got = expand_set(m.group(1)) if m else None
                a, b = (int(x) for x in rng_text.split(":"))
                lo, hi = min(abs(a), abs(b)), max(abs(a), abs(b))
                exp = want[lo - 1:hi] if a > 0 else want[n - hi:n - lo + 1]
                if got != exp or ("MIN %d" % want[0]) not in line or ("MAX %d" % want[-1]) not in line:
                    raise dt.TestFailure("SORT RETURN (MIN MAX PARTIAL %s) (%s): %s, want %s MIN %d MAX %d"
                                         % (rng_text, crit_text(crit), line[:200], exp[:5], want[0], want[-1]))
        subj = msgs[0]["subject"] or "aaaaaaa"
        want = [i + 1 for i, m in enumerate(msgs) if subj in m["subject"]]
        u, _ = c.ok('SEARCH SUBJECT "%s"' % subj)
        got = [int(x) for x in u[0].render().split()[2:]]
        if got != want:
            raise dt.TestFailure("SEARCH SUBJECT over %d messages: %d matches, want %d" % (len(msgs), len(got), len(want)))
        c.logout()
        s.stop()
        R.check_sanitizer(s)
        return "%d messages" % len(msgs)
    finally:
        s.cleanup()


def main():
    R.run("SORT equals the RFC 5256 model on colliding keys", check_orders)
    R.run("SORT and SEARCH over 8,192 messages", check_large)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
