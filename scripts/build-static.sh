#!/usr/bin/env bash
# Builds a fully static musl release binary of mqtt-doctor for this machine's architecture, or
# cross-builds it for the other one (x86_64 or aarch64), and checks it.
#
# Why static: the binary then needs no libc, loader or shared library from where it runs, so it
# works in any pod, distroless and scratch images included, whether baked into an image (see the
# Containerfile) or dropped into a running container with `kubectl cp`.
#
# Installs what it needs when missing (idempotent, quiet when everything is there): the Rust
# musl target (rustup), a C compiler for ring's C and assembly parts (Debian's musl-tools for
# this machine's architecture, gcc-aarch64-linux-gnu to cross-build for arm64), and `file`.
# Then builds with the release profile from Cargo.toml, checks that `file` calls the result
# statically linked, runs `--version` as a smoke test (under qemu-aarch64-static for a cross
# build, when installed), and prints the binary's path and size.
#
# Usage: bash scripts/build-static.sh [x86_64|aarch64]   (default: this machine's architecture)
# Honours CARGO_TARGET_DIR (default: target); the binary is at
#   $CARGO_TARGET_DIR/<x86_64 or aarch64>-unknown-linux-musl/release/mqtt-doctor
set -euo pipefail
cd "$(dirname "$0")/.."

# The architecture: this machine's (x86_64, or aarch64 under `docker buildx --platform
# linux/arm64`), or the one given: `bash scripts/build-static.sh aarch64` cross-builds for arm64
# gateways, Raspberry-class devices and Graviton from an x86_64 machine.
arch=${1:-$(uname -m)}
case "$arch" in
  x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
  *)
    echo "build-static: FAILED: no static build for $arch (x86_64 and aarch64 only)" >&2
    exit 1
    ;;
esac
case "$(uname -m)" in
  x86_64) host=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) host=aarch64-unknown-linux-musl ;;
  *) host=other ;;
esac
start=$SECONDS
rustup_log=$(mktemp)
trap 'rm -f "$rustup_log"' EXIT

have() { command -v "$1" >/dev/null 2>&1; }

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

# Rust standard library for the musl target (for the toolchain this directory selects).
if ! command -v rustup >/dev/null 2>&1; then
  echo "build-static: FAILED: rustup is not installed, and it is how the $target standard" >&2
  echo "  library is added. Install Rust with rustup (https://rustup.rs), or build in the" >&2
  echo "  Containerfile, which brings its own toolchain." >&2
  exit 1
fi
if ! rustup target list --installed | grep -qx "$target"; then
  echo "build-static: adding the Rust target $target" >&2
  if ! rustup target add "$target" 2>"$rustup_log"; then
    echo "build-static: FAILED: rustup could not add the $target standard library:" >&2
    sed 's/^/  /' "$rustup_log" >&2
    echo "  rustup downloads it from static.rust-lang.org: check this machine's network or" >&2
    echo "  proxy (https_proxy), or run \`rustup target add $target\` where it can, then again." >&2
    exit 1
  fi
fi

# A C compiler for ring's C and assembly parts, and `file` to check the result. For this
# machine's own architecture that is musl-gcc (Debian's musl-tools); for the other one, Debian's
# cross gcc (gcc-aarch64-linux-gnu), which also links: Rust's musl targets bring their own C
# runtime, so the result is static all the same.
missing=()
have file || missing+=(file)
cross=()
if [ "$target" = "$host" ]; then
  have musl-gcc || missing+=(musl-tools)
  cc=musl-gcc
else
  case "$target" in
    aarch64-unknown-linux-musl)
      have aarch64-linux-gnu-gcc || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
      cc=aarch64-linux-gnu-gcc
      cross=("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=$cc")
      ;;
    *)
      echo "build-static: FAILED: no cross build to $target from $(uname -m); build on an" >&2
      echo "  $target machine, or with docker buildx --platform" >&2
      exit 1
      ;;
  esac
fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! have apt-get; then
    echo "build-static: FAILED: install ${missing[*]} (Debian's names), then run this again" >&2
    exit 1
  fi
  echo "build-static: installing ${missing[*]} from Debian's packages" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The C compiler through the target's own CC variable (cc-rs reads it).
env "CC_${target//-/_}=$cc" "${cross[@]}" cargo build --locked --release --target "$target"

bin="${CARGO_TARGET_DIR:-target}/$target/release/mqtt-doctor"
if [ ! -x "$bin" ]; then
  echo "build-static: FAILED: no binary at $bin" >&2
  exit 1
fi

# `file` says "static-pie linked" for a static PIE (Rust's default on musl) and "statically
# linked" otherwise; anything else ("dynamically linked") means the binary would need a loader.
info=$(file -b "$bin")
echo "build-static: file: $info"
case "$info" in
  *"statically linked"* | *"static-pie linked"*) ;;
  *)
    echo "build-static: FAILED: $bin is not statically linked" >&2
    exit 1
    ;;
esac

# The smoke test runs the binary: natively, or for the other architecture under QEMU's user
# emulation when it is installed (Debian's qemu-user-static).
if [ "$target" = "$host" ]; then
  echo "build-static: smoke test: $("$bin" --version)"
elif have qemu-aarch64-static && [ "$target" = aarch64-unknown-linux-musl ]; then
  echo "build-static: smoke test (qemu-aarch64-static): $(qemu-aarch64-static "$bin" --version)"
else
  echo "build-static: no smoke test: $target does not run here (install qemu-user-static)"
fi

bytes=$(stat -c %s "$bin")
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
echo "build-static: built $bin"
echo "build-static: size: $bytes bytes ($mib MiB), in $((SECONDS - start)) s"
