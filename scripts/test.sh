#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what the tests need,
# checks formatting and lints, then runs every test. Tests start real Mosquitto brokers, a DNS
# server and other peers on loopback, and use network and mount namespaces: run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
