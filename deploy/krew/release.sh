#!/usr/bin/env bash
# Builds the krew archives of `kubectl mqtt-doctor` and fills the manifest's placeholders.
#
# One archive per platform, named kubectl-mqtt_doctor-vVERSION-linux-ARCH.tar.gz, holding at its
# top level exactly what the manifest's `files` name:
#   kubectl-mqtt_doctor   the static musl binary (scripts/build-static.sh) under the plugin's name
#   README.md             the project's README
# The manifest (deploy/krew/mqtt-doctor.yaml) is a template: OWNER in its URLs becomes the
# repository given here, SHA256_LINUX_AMD64 and SHA256_LINUX_ARM64 become the archives' SHA-256.
# The result goes to OUT_DIR: the archives, to upload as the release's assets, and the filled
# mqtt-doctor.yaml, for `kubectl krew install --manifest=... --archive=...` or a krew index.
#
# Usage: bash deploy/krew/release.sh OWNER
#   OWNER       the GitHub owner of the repository that hosts the release (github.com/OWNER/mqtt-doctor)
# Environment:
#   OUT_DIR     where the archives and the filled manifest go (default: dist)
#   AMD64_BIN   the x86-64 binary (default: $CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/mqtt-doctor)
#   ARM64_BIN   the arm64 binary  (default: $CARGO_TARGET_DIR/aarch64-unknown-linux-musl/release/mqtt-doctor)
# Build them first: bash scripts/build-static.sh && bash scripts/build-static.sh aarch64
set -euo pipefail
cd "$(dirname "$0")/../.."

owner=${1:?usage: release.sh OWNER (the GitHub owner of the repository hosting the release)}
case "$owner" in
  *[!A-Za-z0-9-]* | "") echo "release: FAILED: $owner is not a GitHub owner name" >&2; exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}
out=${OUT_DIR:-dist}
amd64=${AMD64_BIN:-$target_dir/x86_64-unknown-linux-musl/release/mqtt-doctor}
arm64=${ARM64_BIN:-$target_dir/aarch64-unknown-linux-musl/release/mqtt-doctor}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
manifest=deploy/krew/mqtt-doctor.yaml
if ! grep -q "^  version: v$version\$" "$manifest"; then
  echo "release: FAILED: $manifest's spec.version is not v$version (Cargo.toml's)" >&2
  exit 1
fi

mkdir -p "$out"
filled=$(sed "s#github.com/OWNER/#github.com/$owner/#g" "$manifest")
for arch in amd64 arm64; do
  bin=$amd64
  [ "$arch" = arm64 ] && bin=$arm64
  [ -f "$bin" ] || { echo "release: FAILED: no $arch binary at $bin" >&2; exit 1; }
  stage=$(mktemp -d)
  install -m 0755 "$bin" "$stage/kubectl-mqtt_doctor"
  install -m 0644 README.md "$stage/README.md"
  archive="$out/kubectl-mqtt_doctor-v$version-linux-$arch.tar.gz"
  # Fixed owner, order and times: the same binaries give the same archive and checksum.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -C "$stage" -czf "$archive" kubectl-mqtt_doctor README.md
  rm -r "$stage"
  sum=$(sha256sum "$archive" | cut -d ' ' -f 1)
  upper=$(echo "$arch" | tr '[:lower:]' '[:upper:]')
  filled=${filled//SHA256_LINUX_$upper/$sum}
  echo "release: $archive sha256 $sum"
done
printf '%s\n' "$filled" > "$out/mqtt-doctor.yaml"
echo "release: $out/mqtt-doctor.yaml"
