#!/bin/sh
# fuzz-smoke.sh [BUILD] - run every libFuzzer target of BUILD/fuzz/ (default
# build-fuzz, made by `make fuzz`) for a few seconds over its checked-in
# corpus (tests/fuzz/corpus/NAME/, with tests/fuzz/NAME.dict or, for
# imap-session, mime-header, ..., the protocol's imap.dict, mime.dict):
# a smoke test that the targets build, start, replay the corpus and survive
# some mutation. A target passes when libFuzzer exits 0; a crash, leak,
# timeout or out-of-memory fails it and the input that did it is kept (its
# path is printed). Last line: "fuzz: N passed, N failed".
#
#   FUZZ_SECONDS   seconds of fuzzing per target (default 5)
#   FUZZ_JOBS      targets run at the same time (default 2)
#   FUZZ_KEEP      directory for crash inputs (default a new one in $TMPDIR)
#
# New inputs found during the run go to a temporary directory, never into
# the checked-in corpus. Long sessions: tests/README.md, "Fuzzing".
cd "$(dirname "$0")/.." || exit 2
BUILD=${1:-build-fuzz}
SECS=${FUZZ_SECONDS:-5}
JOBS=${FUZZ_JOBS:-2}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/darius-fuzz-smoke-XXXXXX") || exit 2
KEEP=${FUZZ_KEEP:-$TMP/crashes}
mkdir -p "$KEEP"
# the session targets' stores: on tmpfs when there is one (their fsyncs
# cost nothing there), removed at the end
if [ -w /dev/shm ]; then
    DATA=$(mktemp -d /dev/shm/darius-fuzz-smoke-XXXXXX) || exit 2
else
    DATA=$TMP/data
fi

targets=$(ls "$BUILD"/fuzz/fuzz-* 2>/dev/null | grep -v '\.[od]$')
if [ -z "$targets" ]; then
    echo "FAIL: no fuzz targets in $BUILD/fuzz (make fuzz)"
    echo "fuzz: 0 passed, 1 failed"
    rm -rf "$TMP"
    exit 1
fi

# run_one BIN: fuzz one target; writes TMP/NAME.rc and TMP/NAME.log
run_one() {
    bin=$1
    name=$(basename "$bin" | sed 's/^fuzz-//')
    corpus=tests/fuzz/corpus/$name
    work=$TMP/work-$name
    mkdir -p "$work" "$DATA/$name"
    set -- -max_total_time="$SECS" -runs=1000000 -timeout=30 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=0 -artifact_prefix="$KEEP/$name-"
    # NAME.dict, else the protocol's (imap.dict for imap-session)
    dict=tests/fuzz/$name.dict
    [ -f "$dict" ] || dict=tests/fuzz/${name%%-*}.dict
    [ -f "$dict" ] && set -- "$@" -dict="$dict"
    [ -d "$corpus" ] || corpus=
    DARIUS_FUZZ_TMPDIR=$DATA/$name "$bin" "$@" "$work" $corpus > "$TMP/$name.log" 2>&1
    echo $? > "$TMP/$name.rc"
}

running=0
for bin in $targets; do
    run_one "$bin" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait
        running=0
    fi
done
wait

passed=0
failed=0
for bin in $targets; do
    name=$(basename "$bin" | sed 's/^fuzz-//')
    rc=$(cat "$TMP/$name.rc" 2>/dev/null || echo 1)
    runs=$(grep -E '^#[0-9]+' "$TMP/$name.log" | tail -n 1 | sed -E 's/^#([0-9]+).*/\1/')
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS fuzz-$name: ${runs:-?} runs"
    else
        failed=$((failed + 1))
        crash=$(ls "$KEEP/$name-"* 2>/dev/null | head -n 1)
        grep -E 'ERROR|runtime error|^fuzz|SUMMARY' "$TMP/$name.log" | head -n 20
        echo "FAIL fuzz-$name: exit $rc, input: ${crash:-none kept} (reproduce: $bin ${crash:-INPUT})"
    fi
done
rm -rf "$DATA"
# crash inputs stay (in TMP/crashes unless FUZZ_KEEP) when something failed
if [ -n "$FUZZ_KEEP" ] || [ "$failed" -eq 0 ]; then
    rm -rf "$TMP"
else
    find "$TMP" -mindepth 1 -maxdepth 1 ! -name crashes -exec rm -rf {} +
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
