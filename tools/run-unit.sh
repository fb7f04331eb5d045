#!/bin/sh
# run-unit.sh BUILD - run every BUILD/tests/test-* binary and add up their
# "unit: <name>: N passed, N failed" lines. Exit 1 on any failure, including
# a binary that crashed or printed no summary line.
BUILD=${1:-build}
passed=0
failed=0
status=0
found=0
for t in "$BUILD"/tests/test-*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    found=1
    out=$("$t" 2>&1)
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^unit: .*: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        printf '%s\n' "$out"
        echo "unit: $(basename "$t"): no summary line (exit $rc), counted as 1 failed"
        failed=$((failed + 1))
        status=1
        continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
        printf '%s\n' "$out" | grep -v '^unit: '
        status=1
        # a crash after a clean summary is still a failure
        [ "$f" -eq 0 ] && f=1
    fi
    echo "$line"
    passed=$((passed + p))
    failed=$((failed + f))
done
[ "$found" -eq 1 ] || echo "unit: no test binaries in $BUILD/tests"
echo "unit total: $passed passed, $failed failed"
exit $status
