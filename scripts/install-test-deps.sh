#!/usr/bin/env bash
# Installs what the test suite needs and a fresh machine lacks: Mosquitto (Debian package) for the
# broker tests, util-linux's unshare, mount and setpriv for the namespace and permission tests,
# openssl to generate the RSA keys the JWT tests sign with (ring cannot generate RSA keys). Idempotent and quiet when
# everything is already there.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
have unshare || missing+=(util-linux)
have mount || missing+=(mount)
have setpriv || missing+=(util-linux)
have openssl || missing+=(openssl)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "install-test-deps: installing ${missing[*]} from Debian's packages" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
