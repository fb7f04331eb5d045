#!/bin/sh
# test.sh - the whole suite (what `make test` runs).
#   1. normal build in build/: unit, CLI, protocol/system/interop tests
#   2. ASan+UBSan build in build-san/: the same; the protocol runner also
#      fails when a sanitizer report appears in a server's stderr
#   2b. ThreadSanitizer build in build-tsan/: the job pool's unit tests and
#      the system tests of the off-loop paths (tools/test-tsan.sh)
#   3. layer dependency check (tools/check-layers.sh)
#   4. clang -Werror compile check in build-clang/
#   5. libFuzzer smoke run: `make fuzz` in build-fuzz/, then every target
#      a few seconds over its checked-in corpus (tools/fuzz-smoke.sh)
#   6. slow tests (tests/slow/), started in the background after step 1
# Last line: "N passed, N failed" over everything. Exit non-zero on any
# failure or build failure.
cd "$(dirname "$0")/.." || exit 2
JOBS=${JOBS:-2}
# Build directories (overridable so the suite can run outside the tree's
# official build dirs, e.g. while others build there).
B=${DARIUS_TEST_BUILD:-build}
BSAN=${DARIUS_TEST_BUILD_SAN:-build-san}
BCLANG=${DARIUS_TEST_BUILD_CLANG:-build-clang}
BFUZZ=${DARIUS_TEST_BUILD_FUZZ:-build-fuzz}
TOTAL_P=0
TOTAL_F=0
STATUS=0
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/darius-test-XXXXXX")

fail() { TOTAL_F=$((TOTAL_F + 1)); STATUS=1; echo "FAIL: $*"; }

# add_counts FILE PREFIX: add the last "PREFIX N passed, N failed" line.
add_counts() {
    line=$(grep -E "^$2[0-9]+ passed, [0-9]+ failed" "$1" | tail -n 1)
    if [ -z "$line" ]; then
        fail "$3: no summary line"
        return
    fi
    nums=$(echo "$line" | sed -E 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*$/\2 \3/')
    set -- $nums
    TOTAL_P=$((TOTAL_P + $1))
    TOTAL_F=$((TOTAL_F + $2))
}

# suite NAME BUILD: unit + cli + protocol tests against one build dir.
suite() {
    name=$1
    b=$2
    echo "=== [$name] unit tests"
    sh tools/run-unit.sh "$b" > "$LOGDIR/unit-$name.log" 2>&1 || STATUS=1
    cat "$LOGDIR/unit-$name.log"
    add_counts "$LOGDIR/unit-$name.log" "unit total: " "unit ($name)"

    if [ -f tests/cli/test-cli.sh ]; then
        echo "=== [$name] CLI tests"
        DARIUS_BUILD=$b sh tests/cli/test-cli.sh > "$LOGDIR/cli-$name.log" 2>&1 || STATUS=1
        cat "$LOGDIR/cli-$name.log"
        add_counts "$LOGDIR/cli-$name.log" "(cli: )?" "cli ($name)"
    fi

    echo "=== [$name] protocol, system and interop tests"
    DARIUS_BIN_DIR=$b python3 tests/run-protocol-tests.py $3 > "$LOGDIR/protocol-$name.log" 2>&1 || STATUS=1
    cat "$LOGDIR/protocol-$name.log"
    add_counts "$LOGDIR/protocol-$name.log" "protocol: " "protocol ($name)"
}

build() {
    echo "=== build: make $*"
    if ! make -j"$JOBS" "$@" > "$LOGDIR/build.log" 2>&1; then
        tail -n 40 "$LOGDIR/build.log"
        fail "build: make $*"
        return 1
    fi
    return 0
}

# 1. normal build
unit_bins() { ls tests/unit/test-*.c 2>/dev/null | sed "s|tests/unit/\(.*\)\.c|$1/tests/\1|"; }

SLOW_PID=""
if build BUILD="$B" all && build BUILD="$B" $(unit_bins "$B"); then
    # Tests that take minutes by nature (the RFC 1939 ten-minute POP3
    # autologout) run in the background against the normal build while
    # everything else runs, and are collected at the end.
    for t in tests/slow/*.py; do
        [ -f "$t" ] || continue
        DARIUS_BIN_DIR=$B PYTHONPATH=tests/lib python3 "$t" > "$LOGDIR/slow-$(basename "$t").log" 2>&1 &
        SLOW_PID="$SLOW_PID $!"
    done
    suite normal "$B" ""
fi

# 2. sanitizers
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if build SAN=1 BUILD="$BSAN" all && build SAN=1 BUILD="$BSAN" $(unit_bins "$BSAN"); then
    suite sanitize "$BSAN" "--sanitizer"
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

# 2b. the threaded parts under ThreadSanitizer (tools/test-tsan.sh)
echo "=== ThreadSanitizer (tools/test-tsan.sh)"
JOBS=$JOBS sh tools/test-tsan.sh > "$LOGDIR/tsan.log" 2>&1 || STATUS=1
cat "$LOGDIR/tsan.log"
add_counts "$LOGDIR/tsan.log" "tsan: " "tsan"

# 3. one-way layer dependencies (docs/architecture.md)
echo "=== layer dependencies"
sh tools/check-layers.sh > "$LOGDIR/layers.log" 2>&1 || STATUS=1
grep -v '^layers:' "$LOGDIR/layers.log" || true
add_counts "$LOGDIR/layers.log" "layers: " "layers"
tail -n 1 "$LOGDIR/layers.log"

# 4. clang -Werror compile check
if build CC=clang BUILD="$BCLANG" all; then
    TOTAL_P=$((TOTAL_P + 1))
    echo "clang build: ok"
fi

# 5. libFuzzer targets: build, then a few seconds each (a crash, leak or
#    hang fails the target and prints the input that did it)
if build FUZZ_BUILD="$BFUZZ" fuzz; then
    echo "=== fuzz smoke (tools/fuzz-smoke.sh)"
    FUZZ_JOBS=$JOBS sh tools/fuzz-smoke.sh "$BFUZZ" > "$LOGDIR/fuzz.log" 2>&1 || STATUS=1
    cat "$LOGDIR/fuzz.log"
    add_counts "$LOGDIR/fuzz.log" "fuzz: " "fuzz"
fi

# 6. collect the slow background tests
for pid in $SLOW_PID; do
    wait "$pid" || STATUS=1
done
for log in "$LOGDIR"/slow-*.log; do
    [ -f "$log" ] || continue
    echo "=== slow: $(basename "$log" .log | sed 's/^slow-//')"
    cat "$log"
    add_counts "$log" "slow: " "slow ($(basename "$log"))"
done

rm -rf "$LOGDIR"
# a step that exited non-zero without counting a failure still fails the run
if [ "$STATUS" -ne 0 ] && [ "$TOTAL_F" -eq 0 ]; then
    echo "FAIL: a test step exited with an error"
    TOTAL_F=1
fi
echo "$TOTAL_P passed, $TOTAL_F failed"
[ "$STATUS" -eq 0 ] && [ "$TOTAL_F" -eq 0 ]
