#!/bin/sh
# test-tsan.sh - the threaded parts under ThreadSanitizer (`make test-tsan`,
# also step 2b of tools/test.sh).
#
# Builds everything with TSAN=1 (clang -fsanitize=thread) in build-tsan/
# and runs the unit tests of threaded code and the system tests whose
# servers run jobs on the pool (password checks, searches, appends,
# deliveries). A data race in a server makes it print "WARNING:
# ThreadSanitizer" to its stderr, which fails the test (the protocol runner
# searches every server's stderr with --sanitizer).
# Last line: "tsan: N passed, N failed".
cd "$(dirname "$0")/.." || exit 2
JOBS=${JOBS:-2}
B=${DARIUS_TEST_BUILD_TSAN:-build-tsan}
# Unit binaries and system tests that exercise threads.
UNITS="test-jobs test-auth-cache test-delivery-sendmail"
SYSTEM_FILTERS=${DARIUS_TSAN_FILTERS:-"test_offload test_auth_cache test_group_commit test_expunge_retained test_sieve_delivery test_context_content test_notify test_urlauth_oracle test_catenate_offload"}
P=0
F=0
if ! make -j"$JOBS" TSAN=1 BUILD="$B" all $(for u in $UNITS; do echo "$B/tests/$u"; done) > "$B.log" 2>&1; then
    tail -n 40 "$B.log"
    echo "tsan: 0 passed, 1 failed"
    exit 1
fi
rm -f "$B.log"
# halt_on_error: the first race fails the binary; second_deadlock_stack
# gives both stacks of a lock-order inversion.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66"
for u in $UNITS; do
    if "$B/tests/$u" > "$B-$u.log" 2>&1 && ! grep -q "WARNING: ThreadSanitizer" "$B-$u.log"; then
        P=$((P + 1))
        echo "PASS tsan unit $u"
    else
        F=$((F + 1))
        echo "FAIL tsan unit $u"
        tail -n 60 "$B-$u.log"
    fi
    rm -f "$B-$u.log"
done
OUT=$(mktemp)
# shellcheck disable=SC2086
DARIUS_BIN_DIR=$B DARIUS_TSAN=1 python3 tests/run-protocol-tests.py --sanitizer $SYSTEM_FILTERS > "$OUT" 2>&1
cat "$OUT"
line=$(grep -E "^protocol: [0-9]+ passed, [0-9]+ failed" "$OUT" | tail -n 1)
rm -f "$OUT"
if [ -n "$line" ]; then
    set -- $(echo "$line" | sed -E 's/^protocol: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
    P=$((P + $1))
    F=$((F + $2))
else
    F=$((F + 1))
fi
echo "tsan: $P passed, $F failed"
[ "$F" -eq 0 ]
