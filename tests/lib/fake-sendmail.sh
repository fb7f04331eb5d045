#!/bin/sh
# fake-sendmail.sh - a stand-in for the MTA's sendmail(1) in tests.
#
# Use it through a symlink named in the test's `sendmail` key
# (DIR/sendmail -> tests/lib/fake-sendmail.sh); the files next to the link
# control and record each call:
#   DIR/sendmail.exit    exit status to use (default 0)
#   DIR/sendmail.hang    when present: do not exit until killed (timeout tests)
#   DIR/sendmail.linger  when present: leave a background process holding
#                        stdout/stderr for that many seconds (as an MTA's
#                        background delivery may), then exit
#   DIR/sendmail.count   number of calls so far
#   DIR/sendmail.N.args  argv of call N (1, 2, ...), one argument a line
#   DIR/sendmail.N.msg   stdin of call N, byte for byte
#   DIR/sendmail.N.env   its environment (`env` output)
#   DIR/sendmail.N.fds   its open descriptors (Linux: /proc/PID/fd)
#   DIR/sendmail.N.sig   its blocked and ignored signal masks (Linux)
# It prints a line to stdout and one to stderr, so output capture shows.
dir=$(dirname "$0")
# Concurrent calls (threaded tests) take their numbers in turn.
exec 9>>"$dir/sendmail.lock"
flock 9
n=$(cat "$dir/sendmail.count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/sendmail.count"
exec 9>&-
: > "$dir/sendmail.$n.args"
for a in "$@"; do
    printf '%s\n' "$a" >> "$dir/sendmail.$n.args"
done
env > "$dir/sendmail.$n.env"
if [ -d /proc/$$ ]; then
    ls /proc/$$/fd > "$dir/sendmail.$n.fds"
    # With the read builtin: the shell's own masks, not those it has
    # while starting a command (dash blocks signals around vfork).
    while read -r k v; do
        case "$k" in SigBlk: | SigIgn:) printf '%s\t%s\n' "$k" "$v" ;; esac
    done < /proc/$$/status > "$dir/sendmail.$n.sig"
fi
cat > "$dir/sendmail.$n.msg"
echo "fake-sendmail: call $n"
echo "fake-sendmail: to stderr" >&2
if [ -e "$dir/sendmail.linger" ]; then
    sleep "$(cat "$dir/sendmail.linger")" &
fi
if [ -e "$dir/sendmail.hang" ]; then
    # A child that holds stdout too: the runner must kill the group.
    while :; do sleep 1; done
fi
exit "$(cat "$dir/sendmail.exit" 2>/dev/null || echo 0)"
