#!/usr/bin/env python3
"""CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267 4.3): updating contexts followed
by a client model. Session A opens contexts with RETURN (UPDATE ALL) -
UID and message-number SEARCH, UID and message-number SORT - and applies
every ADDTO / REMOVEFROM (and EXPUNGE, which renumbers message-number
results) to its copy of each result; session B (and LMTP delivery) append,
store flags and expunge at random. After each step A's copy must equal a
fresh search or sort. Also: updates arrive during IDLE; REMOVEFROM of an
expunged message comes before its EXPUNGE (4.3.4) and ADDTO of a new
message after its EXISTS (4.3.3); a random seed is printed
(DARIUS_CONTEXT_SEED to replay)."""

import os
import random
import re
import sys

import darius_test as dt

R = dt.Report("context-update")
WAIT = 3.0

ESEARCH = re.compile(r'\* ESEARCH \(TAG "([^"]+)"\)( UID)?(.*)')
ITEM = re.compile(r' (ADDTO|REMOVEFROM|ALL|COUNT|MIN|MAX) (\([^)]*\)|\S+)')


def expand(s):
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            step = 1 if b >= a else -1
            out.extend(range(a, b + step, step))
        else:
            out.append(int(part))
    return out


class Ctx:
    def __init__(self, tag, cmd, sort):
        self.tag, self.cmd, self.sort = tag, cmd, sort
        self.res = []
        self.uid = cmd.startswith("UID ")


class Model:
    """A's view of its contexts, maintained only from responses."""

    def __init__(self):
        self.ctx = {}
        self.log = []

    def feed(self, line):
        self.log.append(line)
        m = re.fullmatch(r"\* (\d+) EXPUNGE", line)
        if m:
            n = int(m.group(1))
            for c in self.ctx.values():
                if c.uid:
                    continue
                if n in c.res:
                    raise dt.TestFailure("EXPUNGE of %d still in %s's result %r (REMOVEFROM must come first)"
                                         % (n, c.tag, c.res))
                c.res = [x - 1 if x > n else x for x in c.res]
            return
        m = ESEARCH.fullmatch(line)
        if not m or m.group(1) not in self.ctx:
            return
        c = self.ctx[m.group(1)]
        for kind, val in ITEM.findall(m.group(3)):
            if kind == "ALL":
                c.res = expand(val)
            elif kind in ("ADDTO", "REMOVEFROM"):
                toks = val.strip("()").split()
                for i in range(0, len(toks), 2):
                    pos, nums = int(toks[i]), expand(toks[i + 1])
                    self.apply(c, kind, pos, nums)

    def apply(self, c, kind, pos, nums):
        if kind == "ADDTO":
            for x in nums:
                if x in c.res:
                    raise dt.TestFailure("%s: ADDTO of %d already present" % (c.tag, x))
            if pos == 0:
                if c.sort:
                    raise dt.TestFailure("%s: SORT ADDTO with position 0" % c.tag)
                c.res = sorted(c.res + nums)
            else:
                if pos > len(c.res) + 1:
                    raise dt.TestFailure("%s: ADDTO position %d beyond %d results" % (c.tag, pos, len(c.res)))
                c.res[pos - 1:pos - 1] = nums
        else:
            if pos == 0:
                for x in nums:
                    if x not in c.res:
                        raise dt.TestFailure("%s: REMOVEFROM of %d not present" % (c.tag, x))
                    c.res.remove(x)
            else:
                got = c.res[pos - 1:pos - 1 + len(nums)]
                if got != nums:
                    raise dt.TestFailure("%s: REMOVEFROM (%d %r) but there are %r" % (c.tag, pos, nums, got))
                del c.res[pos - 1:pos - 1 + len(nums)]


def fresh(a, c):
    """The result a new search/sort gives now."""
    u, _ = a.ok(c.cmd.replace("RETURN (UPDATE ALL)", "RETURN (ALL)"))
    for r in u:
        m = ESEARCH.fullmatch(r.render())
        if m and " ALL " in m.group(3) + " ":
            return expand(m.group(3).split(" ALL ")[1].split()[0])
    return []


def cmd_lines(a, cmd, model, literals=()):
    u, t = a.ok(cmd, literals)
    for r in u:
        model.feed(r.render())
    return u, t


def open_contexts(a, model):
    specs = [("UID SEARCH RETURN (UPDATE ALL) UNSEEN UNDELETED", False),
             ("SEARCH RETURN (UPDATE ALL) FLAGGED", False),
             ("UID SORT RETURN (UPDATE ALL) (SIZE) UTF-8 NOT DELETED", True),
             ("SORT RETURN (UPDATE ALL) (REVERSE SIZE) UTF-8 OR FLAGGED LARGER 3000", True),
             ("SORT RETURN (UPDATE ALL) (ARRIVAL) UTF-8 KEYWORD $Junk", True)]
    for cmd, sort in specs:
        tag = a.next_tag()
        c = Ctx(tag, cmd, sort)
        model.ctx[tag] = c
        a.send("%s %s" % (tag, cmd))
        u, t = a.collect(tag)
        if not t.text.startswith(tag + " OK"):
            raise dt.TestFailure("%s: %s" % (cmd, t.render()))
        if any("NOUPDATE" in r.render() for r in u):
            raise dt.TestFailure("%s refused: %r" % (cmd, [r.render() for r in u]))
        for r in u:
            model.feed(r.render())


def lmtp_deliver(s, n, size):
    c = s.lmtp(unix=True)
    for line, want in (("LHLO client.example", 250), ("MAIL FROM:<s@example.org>", 250),
                       ("RCPT TO:<alice>", 250), ("DATA", 354)):
        code, lines = c.cmd(line)
        if code != want:
            raise dt.TestFailure("LMTP %s: %r" % (line, lines))
    c.send_raw(dt.lmtp_data(dt.sample_message(n, size=size)))
    code, lines = c.reply()
    if code != 250:
        raise dt.TestFailure("LMTP DATA: %r" % lines)
    c.cmd("QUIT")


def random_walk(s):
    seed = int(os.environ.get("DARIUS_CONTEXT_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    a = s.login()
    b = s.login()
    for i in range(6):
        b.ok("APPEND INBOX %L", [dt.sample_message(i, size=rnd.randrange(100, 6000))])
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    model = Model()
    open_contexts(a, model)
    flags = ["\\Seen", "\\Flagged", "\\Deleted", "$Junk"]
    steps = 0
    for step in range(60):
        op = rnd.randrange(10)
        if op < 2:
            lit = dt.sample_message(100 + step, size=rnd.randrange(100, 6000))
            fl = " ".join(f for f in flags if rnd.random() < 0.3)
            b.ok("APPEND INBOX (%s) %%L" % fl, [lit])
        elif op == 2:
            lmtp_deliver(s, 200 + step, rnd.randrange(100, 6000))
        elif op < 7:
            u, _ = b.ok("UID SEARCH ALL")
            uids = [int(x) for r in u if r.render().startswith("* SEARCH") for x in r.render().split()[2:]]
            if not uids:
                continue
            pick = ",".join(str(x) for x in rnd.sample(uids, min(len(uids), rnd.randrange(1, 4))))
            b.ok("UID STORE %s %sFLAGS.SILENT (%s)" % (pick, rnd.choice("+-"), rnd.choice(flags)))
        elif op < 9:
            b.ok("EXPUNGE")
        else:
            # A's own change
            u, _ = a.ok("UID SEARCH ALL")
            for r in u:
                model.feed(r.render())
            uids = [int(x) for r in u if r.render().startswith("* SEARCH") for x in r.render().split()[2:]]
            if uids:
                cmd_lines(a, "UID STORE %d %sFLAGS.SILENT (%s)" % (rnd.choice(uids), rnd.choice("+-"),
                                                                   rnd.choice(flags)), model)
        cmd_lines(a, "NOOP", model)
        for c in model.ctx.values():
            want = fresh(a, c)
            if c.res != want:
                raise dt.TestFailure("seed %d step %d: %s (%s) model %r, fresh %r\n%s"
                                     % (seed, step, c.tag, c.cmd, c.res, want, "\n".join(model.log[-30:])))
        steps += 1
    a.logout()
    b.logout()
    return "seed %d, %d steps, 5 contexts" % (seed, steps)


def read_until(c, regex, what, model):
    c.settimeout(WAIT * dt.timeout_scale())
    seen = []
    try:
        while True:
            r = c.read().render()
            seen.append(r)
            model.feed(r)
            if re.fullmatch(regex, r):
                return seen
    except dt.TestFailure as e:
        raise dt.TestFailure("%s: no /%s/ (%s); got %r" % (what, regex, e, seen))
    finally:
        c.settimeout(c.timeout)


def idle_order(s):
    a = s.login()
    b = s.login()
    for i in range(3):
        b.ok("APPEND INBOX %L", [dt.sample_message(i)])
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    model = Model()
    c = Ctx("s1", "SEARCH RETURN (UPDATE ALL) UNSEEN", False)
    model.ctx["s1"] = c
    a.send("s1 SEARCH RETURN (UPDATE ALL) UNSEEN")
    u, _ = a.collect("s1")
    for r in u:
        model.feed(r.render())
    a.send("i1 IDLE")
    a.expect(r"\+.*")
    b.ok("APPEND INBOX %L", [dt.sample_message(9)])
    seen = read_until(a, r'\* ESEARCH \(TAG "s1"\) ADDTO \(0 4\)', "ADDTO during IDLE", model)
    if "* 4 EXISTS" not in seen or seen.index("* 4 EXISTS") > len(seen) - 1:
        raise dt.TestFailure("ADDTO without or before EXISTS: %r" % seen)
    b.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    read_until(a, r'\* ESEARCH \(TAG "s1"\) REMOVEFROM \(0 2\)', "REMOVEFROM after \\Seen", model)
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    seen = read_until(a, r"\* 3 EXPUNGE", "EXPUNGE", model)
    if 'ESEARCH (TAG "s1") REMOVEFROM (0 3)' not in " ".join(seen):
        raise dt.TestFailure("no REMOVEFROM before EXPUNGE: %r" % seen)
    a.send("DONE")
    u, t = a.collect("i1")
    for r in u:
        model.feed(r.render())
    if c.res != [1, 3]:
        raise dt.TestFailure("after IDLE the result is %r, want [1, 3]" % c.res)
    a.ok("CANCELUPDATE \"s1\"")
    b.ok("APPEND INBOX %L", [dt.sample_message(10)])
    u, _ = a.ok("NOOP")
    if any("ESEARCH" in r.render() for r in u):
        raise dt.TestFailure("update after CANCELUPDATE: %r" % [r.render() for r in u])
    a.logout()
    b.logout()


def main():
    for name, fn in (("updates during IDLE, REMOVEFROM before EXPUNGE, CANCELUPDATE", idle_order),
                     ("random appends/deliveries/stores/expunges: contexts equal fresh results", random_walk)):
        def run(fn=fn):
            with dt.server_with_user() as s:
                return fn(s)
        R.run(name, run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
