#!/usr/bin/env python3
"""Durability: SIGKILL the whole server (master and workers) while two
connections stream APPENDs; after a restart every APPEND that got a tagged
OK must be present with identical content, and the mailbox counters must be
consistent."""

import re
import sys
import threading
import time

import darius_test as dt

R = dt.Report("durability")


COND = threading.Condition()


def streamer(s, idx, acked, errors, stop):
    try:
        c = s.login()
    except Exception as e:  # noqa: BLE001
        errors.append("login %d: %s" % (idx, e))
        return
    n = 0
    try:
        while not stop.is_set():
            n += 1
            msg = dt.sample_message(idx * 100000 + n, size=(n % 7) * 3000,
                                    subject="dur %d-%d" % (idx, n))
            _, t = c.command("APPEND INBOX {%d+}\r\n" % len(msg.encode()) + msg)
            if t.text.split(" ", 2)[1] == "OK":
                with COND:
                    acked.append(msg.encode())
                    COND.notify_all()
    except (EOFError, OSError, dt.TestFailure):
        pass  # the kill
    except Exception as e:  # noqa: BLE001
        errors.append("stream %d: %s" % (idx, e))
    finally:
        c.close()


def kill_during_appends():
    s = dt.server_with_user()
    try:
        acked, errors = [], []
        stop = threading.Event()
        th = [threading.Thread(target=streamer, args=(s, i, acked, errors, stop)) for i in (1, 2)]
        for t in th:
            t.start()
        # wait (bounded) until enough APPENDs were acknowledged; the kill
        # then lands while both streams are mid-APPEND
        with COND:
            COND.wait_for(lambda: len(acked) >= 60 or errors, timeout=30 * dt.timeout_scale())
        s.kill_group()          # SIGKILL master and workers mid-stream
        stop.set()
        for t in th:
            t.join(30)
        if errors:
            raise dt.TestFailure("; ".join(errors))
        if len(acked) < 10:
            raise dt.TestFailure("only %d APPENDs acknowledged before the kill" % len(acked))
        s.start()
        c = s.login()
        u, t = c.ok("SELECT INBOX")
        exists = [int(m.group(1)) for m in dt.untagged_match(u, r"\* (\d+) EXISTS")][-1]
        uidnext = int(re.search(r"UIDNEXT (\d+)", "\n".join(r.render() for r in u)).group(1))
        u, t = c.ok("FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])") if exists else ([], None)
        got = {}
        sizes = 0
        uids = []
        for r in u:
            if not r.literals:
                continue
            body = r.literals[-1]
            m = re.search(rb"Message-ID: <(\d+)\.test@", body)
            key = m.group(1) if m else body
            if key in got:
                raise dt.TestFailure("duplicate message %r after restart" % key)
            got[key] = body
            sizes += int(re.search(r"RFC822\.SIZE (\d+)", r.text).group(1))
            uids.append(int(re.search(r"UID (\d+)", r.text).group(1)))
        missing = bad = 0
        for msg in acked:
            key = re.search(rb"Message-ID: <(\d+)\.test@", msg).group(1)
            if key not in got:
                missing += 1
            elif got[key] != msg:
                bad += 1
        if missing or bad:
            raise dt.TestFailure("%d of %d acknowledged APPENDs missing, %d differ"
                                 % (missing, len(acked), bad))
        if len(got) != exists:
            raise dt.TestFailure("EXISTS %d but FETCH returned %d messages" % (exists, len(got)))
        _, st = c.command("STATUS INBOX (MESSAGES UIDNEXT SIZE)")
        u2 = [r.render() for r in _]
        m = re.search(r"MESSAGES (\d+) UIDNEXT (\d+) SIZE (\d+)", " ".join(u2))
        if not m or int(m.group(1)) != exists or int(m.group(3)) != sizes:
            raise dt.TestFailure("STATUS inconsistent: %r (exists %d, size %d)" % (u2, exists, sizes))
        if uids and uidnext <= max(uids):
            raise dt.TestFailure("UIDNEXT %d not above highest UID %d" % (uidnext, max(uids)))
        # the store still accepts writes and UIDs keep growing
        _, t = c.ok("APPEND INBOX %L", [dt.sample_message(999999)])
        m = re.search(r"APPENDUID \d+ (\d+)", t.text)
        if m and uids and int(m.group(1)) <= max(uids):
            raise dt.TestFailure("UID reused after crash: %s" % t.render())
        c.logout()
        s.stop()
        return "%d acknowledged, %d present after restart" % (len(acked), len(got))
    finally:
        s.cleanup()


def main():
    R.run("SIGKILL during APPEND streams keeps every acknowledged message", kill_during_appends)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
