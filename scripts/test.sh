#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what the tests need,
# checks formatting and lints, then runs every test. Tests start real Mosquitto brokers, a DNS
# server and other peers on loopback, and use network and mount namespaces: run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets --all-features -- -D warnings
# The crate as `cargo install mqtt-doctor` would get it: packaged, and built from the package.
cargo package --locked --allow-dirty --quiet

# --all-targets: unit and integration tests (the crate has no doc tests). --all-features: the
# `fuzzing` feature builds the paused-clock fuzz entry point that tests/fuzz_regressions.rs
# replays. --no-fail-fast: a failing binary does not hide the ones after it, so the last
# line, which totals every test binary, speaks for the whole suite.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --no-fail-fast --all-targets --all-features 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "all tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
