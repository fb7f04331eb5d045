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
# It prints a line to stdout and one to stderr, so output capture shows.
dir=$(dirname "$0")
n=$(cat "$dir/sendmail.count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/sendmail.count"
: > "$dir/sendmail.$n.args"
for a in "$@"; do
    printf '%s\n' "$a" >> "$dir/sendmail.$n.args"
done
env > "$dir/sendmail.$n.env"
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
