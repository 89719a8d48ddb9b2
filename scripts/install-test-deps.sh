#!/usr/bin/env bash
# Installs what the test suite needs and a fresh machine lacks, from Debian's packages:
# - Mosquitto and its clients, for the broker tests;
# - util-linux's unshare and setpriv and mount, for the namespace and permission tests;
# - procps's kill, which sends SIGINT and SIGTERM to a running watch (tests/watch.rs);
# - openssl, to make the RSA keys the JWT tests sign with (ring cannot generate RSA keys);
# - xmllint, with the common JUnit XML schema (Jenkins' junit-10.xsd, MIT, as shipped in
#   pytest's source distribution on PyPI), to validate the JUnit report;
# - GNU time, whose peak-memory reading bounds the doctor's memory against hostile peers;
# - tinyproxy (HTTP CONNECT) and microsocks (SOCKS5), the real proxies the proxy tests go
#   through, and nginx, the reverse proxy in front of Mosquitto's websockets listener that
#   answers the WebSocket tests' 404, 401, 403 and 502;
# - HAProxy, the load balancer whose PROXY protocol, idle timeout and SNI routing the
#   load-balancer tests put between the doctor and Mosquitto;
# - four more broker families for the broker tests (tests/brokers.rs), each started by the tests
#   in the foreground with their own configuration: RabbitMQ with its MQTT plugin and ejabberd
#   with mod_mqtt (Debian's packages), aedes (npm, pinned by tests/brokers/aedes/package-lock.json,
#   into target/test-deps/aedes) and amqtt (PyPI, pinned, into the venv
#   target/test-deps/amqtt-venv);
# - Prometheus (with promtool), which the exporter tests (tests/serve.rs) start on loopback to
#   scrape `mqtt-doctor serve`, and whose promtool checks the exporter's metrics and checks and
#   unit-tests the alert rules of deploy/kubernetes (tests/deploy.rs).
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
have mosquitto_sub || missing+=(mosquitto-clients)
have unshare || missing+=(util-linux)
have mount || missing+=(mount)
# `command -v kill` finds the shell's builtin; the tests run the program.
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || missing+=(procps)
have setpriv || missing+=(util-linux)
have openssl || missing+=(openssl)
have xmllint || missing+=(libxml2-utils)
[ -x /usr/bin/time ] || missing+=(time)
have tinyproxy || missing+=(tinyproxy)
have microsocks || missing+=(microsocks)
have nginx || missing+=(nginx-light)
have haproxy || missing+=(haproxy)
{ have prometheus && have promtool; } || missing+=(prometheus)
have rabbitmq-server || missing+=(rabbitmq-server)
have ejabberdctl || missing+=(ejabberd)
have node || missing+=(nodejs)
have npm || missing+=(npm)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]} from Debian's packages" >&2
  # The brokers' packages would start system-wide instances (RabbitMQ on 5672 and 25672,
  # ejabberd on 5222, 5269 and 5280, epmd on 4369): the tests start their own, so a policy-rc.d
  # that forbids starting services stands in for the length of the install when the machine
  # has none of its own.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # A machine running systemd ignores policy-rc.d, and the packages' scripts may have started
  # their daemons all the same: stop the system-wide brokers so that nothing but the tests' own
  # instances holds a port. The tests never talk to these.
  if pgrep -f 'beam.*-s rabbit' >/dev/null 2>&1 && [ -x /usr/sbin/rabbitmqctl ]; then
    "${sudo[@]}" /usr/sbin/rabbitmqctl stop >/dev/null 2>&1 || true
  fi
  if pgrep -f 'beam.*ejabberd' >/dev/null 2>&1 && [ -x /usr/sbin/ejabberdctl ]; then
    "${sudo[@]}" /usr/sbin/ejabberdctl stop >/dev/null 2>&1 || true
  fi
  # Debian's Prometheus (and its node exporter) as system services would hold 9090 and 9100.
  for service in prometheus prometheus-node-exporter; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
      "${sudo[@]}" systemctl stop "$service" >/dev/null 2>&1 || true
    fi
  done
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

# aedes and ws, as tests/brokers/aedes/package-lock.json pins them; `npm ci` again only when the
# lock file changed since the last install.
aedes=target/test-deps/aedes
if ! cmp -s tests/brokers/aedes/package-lock.json "$aedes/package-lock.json" \
  || [ ! -d "$aedes/node_modules/aedes" ]; then
  echo "install-test-deps: installing aedes from npm into $aedes" >&2
  rm -rf "$aedes"
  mkdir -p "$aedes"
  cp tests/brokers/aedes/package.json tests/brokers/aedes/package-lock.json "$aedes/"
  (cd "$aedes" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
fi

# amqtt in a venv of Debian's Python (not whatever python3 comes first on PATH); the tests hash
# its passwords with the pwdlib (argon2) it depends on.
amqtt_version=0.12.1
venv=target/test-deps/amqtt-venv
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "amqtt==$amqtt_version" ]; then
  echo "install-test-deps: installing amqtt $amqtt_version from PyPI into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "amqtt==$amqtt_version"
  echo "amqtt==$amqtt_version" > "$venv/.installed"
fi
