#!/usr/bin/env bash
# Runs the fuzz targets under fuzz/ with cargo-fuzz (libFuzzer, AddressSanitizer), each for
# SECONDS (default 60), starting from the committed seeds. Installs cargo-fuzz when missing.
# cargo-fuzz needs nightly Rust; without a nightly toolchain the stable one is told to accept
# nightly flags (RUSTC_BOOTSTRAP=1). A crash stops the run and leaves its input under
# fuzz/artifacts/TARGET/; docs/fuzzing.md says what to do with it.
#
# usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(target_url token pem mqtt_frames config_file mqtt_session); fi

if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked || {
    echo "fuzz.sh: cannot install cargo-fuzz (is crates.io reachable?); nothing was fuzzed" >&2
    exit 1
  }
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && rustc +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  # cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=sancov-module);
  # RUSTC_BOOTSTRAP=1 makes the stable compiler accept them. The sanitizer runtime ships with
  # stable's x86_64 Linux toolchain, so this builds the same instrumented binaries.
  echo "fuzz.sh: no working nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
fi
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  # -malloc_limit_mb: no single allocation may come near what a peer could ask for; the
  # doctor's largest is one frame (256 KiB) or a capped file (4 MiB).
  cargo "${toolchain[@]}" fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -malloc_limit_mb=64 -max_len=8192 -timeout=10
done
