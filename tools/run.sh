#!/bin/sh
# run.sh - start build/dariusd in the foreground on the embedded default
# configuration (no -C). exec, so Ctrl-C reaches dariusd directly.
cd "$(dirname "$0")/.." || exit 1
exec ./build/dariusd "$@"
