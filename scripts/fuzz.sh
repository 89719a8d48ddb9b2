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
if [ ${#targets[@]} -eq 0 ]; then targets=(target_url token pem mqtt_frames config_file); fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  cargo "${toolchain[@]}" fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=8192 -timeout=10
done
