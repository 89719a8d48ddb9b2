#!/usr/bin/env bash
# Installs what the test suite needs and a fresh machine lacks, from Debian's packages:
# - Mosquitto and its clients, for the broker tests;
# - util-linux's unshare and setpriv and mount, for the namespace and permission tests;
# - openssl, to make the RSA keys the JWT tests sign with (ring cannot generate RSA keys);
# - xmllint, with the common JUnit XML schema (Jenkins' junit-10.xsd, MIT, as shipped in
#   pytest's source distribution on PyPI), to validate the JUnit report;
# - GNU time, whose peak-memory reading bounds the doctor's memory against hostile peers;
# - tinyproxy (HTTP CONNECT) and microsocks (SOCKS5), the real proxies the proxy tests go
#   through, and nginx, the reverse proxy in front of Mosquitto's websockets listener that
#   answers the WebSocket tests' 404, 401, 403 and 502;
# - HAProxy, the load balancer whose PROXY protocol, idle timeout and SNI routing the
#   load-balancer tests put between the doctor and Mosquitto.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
have mosquitto_sub || missing+=(mosquitto-clients)
have unshare || missing+=(util-linux)
have mount || missing+=(mount)
have setpriv || missing+=(util-linux)
have openssl || missing+=(openssl)
have xmllint || missing+=(libxml2-utils)
[ -x /usr/bin/time ] || missing+=(time)
have tinyproxy || missing+=(tinyproxy)
have microsocks || missing+=(microsocks)
have nginx || missing+=(nginx-light)
have haproxy || missing+=(haproxy)
have haproxy || missing+=(haproxy)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "install-test-deps: installing ${missing[*]} from Debian's packages" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tests/ci.rs reads the schema from here (target/ is not committed).
xsd=target/test-deps/junit-10.xsd
if [ ! -s "$xsd" ]; then
  echo "install-test-deps: fetching junit-10.xsd from pytest's source distribution (PyPI)" >&2
  work=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" "pytest==8.3.4"
  mkdir -p "$(dirname "$xsd")"
  tar -xzf "$work"/pytest-8.3.4.tar.gz -O pytest-8.3.4/testing/example_scripts/junit-10.xsd > "$xsd.tmp"
  mv "$xsd.tmp" "$xsd"
  rm -rf "$work"
fi
