#!/usr/bin/env bash
# Runs every fuzz target for a short while: ./fuzz/smoke.sh [SECONDS] (default 20).
# Needs a nightly toolchain; installs cargo-fuzz when it is missing. Each target
# starts from a scratch copy of its seeds (fuzz/corpus/, ignored by git), so
# fuzz/seeds/ stays as committed. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

status=0
for target in $(cargo +nightly fuzz list); do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    if [ -d "fuzz/seeds/$target" ]; then
        cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    dict="fuzz/dicts/$target.dict"
    [ -f "$dict" ] || dict=fuzz/dicts/protocol.dict
    echo "== $target for ${secs}s"
    if ! cargo +nightly fuzz run "$target" "$corpus" -- \
        -max_total_time="$secs" -dict="$dict" -print_final_stats=1; then
        echo "!! $target failed; see fuzz/artifacts/$target/"
        status=1
    fi
done
exit "$status"
