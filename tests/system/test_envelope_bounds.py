#!/usr/bin/env python3
"""ENVELOPE amplification (issue 9 item 5): a message with a 10 MB folded
From header, delivered over LMTP and APPENDed, gives bounded ENVELOPE,
BODYSTRUCTURE and BODY answers (the address list is cut at 1000 addresses
or 64 KiB, see MIME_ENV_* in src/mail/mime.h), while BODY[HEADER] stays
exact (a header that long is not cached and is read from the message
file), SEARCH still sees the whole header, and the worker that did the
work survives with a bounded peak memory. Before the fix the ENVELOPE was
470 MB (From written three times, as Sender and Reply-To default to it)
and the worker's RSS grew to about 800 MB."""

import re
import sys

import darius_test as dt

R = dt.Report("envelope_bounds")

MAX_ADDRESSES = 1000          # MIME_ENV_MAX_ADDRESSES
MAX_FETCH_LINE = 1 << 20      # an ENVELOPE is ~440 KiB at most


def big_from(size):
    """A From header of about size bytes: folded lines of "a," (each one
    an address without a domain: the most output per input byte)."""
    line = "a," * 450
    n = size // (len(line) + 3) + 1
    return "From: " + "\r\n ".join([line] * n) + "\r\n b\r\n"


def message(subject, size):
    return (big_from(size) + "To: alice@example.com\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.org>\r\n\r\nbody text here\r\n" % (subject, subject))


def worker_peak_kb(s):
    """Largest VmHWM (peak RSS) among the server's worker processes."""
    peak = 0
    for pid in s.worker_pids():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak


def run(s):
    size = 10 << 20
    lm = s.lmtp(timeout=60 * dt.timeout_scale())
    for line in ("LHLO client.example", "MAIL FROM:<x@example.org>"):
        code, lines = lm.cmd(line)
        if code != 250:
            raise dt.TestFailure("%s: %r" % (line, lines))
    code, lines = lm.cmd("RCPT TO:<alice>")
    if code != 250:
        raise dt.TestFailure("RCPT: %r" % lines)
    code, lines = lm.cmd("DATA")
    if code != 354:
        raise dt.TestFailure("DATA: %r" % lines)
    lm.send_raw(dt.lmtp_data(message("delivered", size)))
    lm.expect(250, "delivery of the 10 MB From header")
    lm.cmd("QUIT")
    lm.close()

    c = s.login()
    c.settimeout(60 * dt.timeout_scale())
    appended = message("appended", size).encode()
    c.ok("APPEND INBOX %L", [appended])
    workers_before = sorted(s.worker_pids())
    c.ok("SELECT INBOX")

    u, _ = c.ok("FETCH 1:2 (ENVELOPE)")
    envs = [r for r in u if b"ENVELOPE" in r.raw]
    if len(envs) != 2:
        raise dt.TestFailure("expected 2 ENVELOPE answers, got %d" % len(envs))
    for r in envs:
        if len(r.raw) > MAX_FETCH_LINE:
            raise dt.TestFailure("ENVELOPE answer of %d bytes" % len(r.raw))
        # From, Sender and Reply-To each list exactly MAX_ADDRESSES.
        n = r.raw.count(b'(NIL NIL "a" "MISSING_DOMAIN")')
        if n != 3 * MAX_ADDRESSES:
            raise dt.TestFailure("expected %d listed addresses, got %d" % (3 * MAX_ADDRESSES, n))
    R.ok("FETCH ENVELOPE bounded", "%d and %d bytes" % (len(envs[0].raw), len(envs[1].raw)))

    u, _ = c.ok("FETCH 1:2 (BODYSTRUCTURE BODY)")
    for r in u:
        if len(r.raw) > 4096:
            raise dt.TestFailure("BODYSTRUCTURE answer of %d bytes" % len(r.raw))
    R.ok("FETCH BODYSTRUCTURE/BODY small")

    # BODY[HEADER] is exact although the header is not cached.
    u, _ = c.ok("FETCH 2 (BODY.PEEK[HEADER])")
    hdr = appended[:appended.index(b"\r\n\r\n") + 4]
    got = [r.literals[0] for r in u if r.literals]
    if got != [hdr]:
        raise dt.TestFailure("BODY[HEADER] of the appended message differs (%d bytes, want %d)"
                             % (len(got[0]) if got else -1, len(hdr)))
    u, _ = c.ok("FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[])")
    lits = [r.literals for r in u if r.literals]
    if not lits or len(lits[0]) != 2:
        raise dt.TestFailure("no header/body literals: %r" % u)
    h, full = lits[0]
    if not full.startswith(h) or not h.endswith(b"\r\n\r\n") or big_from(size).encode() not in h:
        raise dt.TestFailure("BODY[HEADER] of the delivered message is not its header")
    R.ok("BODY[HEADER] exact from the message file")

    # SEARCH reads the uncached header from the file.
    u, _ = c.ok('SEARCH HEADER Subject "appended"')
    if not dt.untagged_match(u, r"\* SEARCH 2"):
        raise dt.TestFailure("SEARCH HEADER: %r" % [r.render() for r in u])
    u, _ = c.ok('SEARCH FROM "a,a,a" TEXT "body text"')
    if not dt.untagged_match(u, r"\* SEARCH 1 2"):
        raise dt.TestFailure("SEARCH FROM/TEXT: %r" % [r.render() for r in u])
    # The end of the 10 MB field: the whole header was searched.
    u, _ = c.ok('SEARCH FROM "a,a, b" NOT FROM "zzz"')
    if not dt.untagged_match(u, r"\* SEARCH 1 2"):
        raise dt.TestFailure("SEARCH FROM end of field: %r" % [r.render() for r in u])
    R.ok("SEARCH over the uncached header")

    c.ok("NOOP")
    c.logout()
    c2 = s.login()
    c2.ok("SELECT INBOX")
    c2.logout()
    if sorted(s.worker_pids()) != workers_before:
        raise dt.TestFailure("workers changed (one died?): %r -> %r" % (workers_before, s.worker_pids()))
    R.ok("worker survives")

    if not dt.sanitizer():
        peak = worker_peak_kb(s)
        # Before the fix: ~800 MB for one FETCH ENVELOPE of a 10 MB From.
        if peak > 300 * 1024:
            raise dt.TestFailure("worker peak RSS %d KB" % peak)
        R.ok("worker peak RSS bounded", "%d KB" % peak)
    reports = s.sanitizer_reports()
    if reports:
        raise dt.TestFailure("sanitizer: %r" % reports)


def main():
    s = dt.server_with_user("alice", "secret")
    try:
        R.run("10 MB From header via LMTP and APPEND", run, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
