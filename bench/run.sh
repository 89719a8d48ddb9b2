#!/usr/bin/env bash
# Benchmarks mqtt-doctor against the tools people reach for today, side by side in one run:
# mosquitto_pub (connect, publish at QoS 1, disconnect) and a paho-mqtt script doing the same
# (bench/paho_pub.py). Everything talks to loopback only; the DNS case runs in a network and
# mount namespace of its own, so that every tool's resolver asks a silent server on 127.0.0.1.
#
# Scenarios: a healthy broker (plain and TLS), the doctor's healthy TLS check against the bare
# protocol (examples/floor.rs: TCP + TLS + CONNECT/CONNACK only), three TLS nodes behind one
# name against one, a refused port, a TCP connect nobody answers
# (a listener whose accept queue is full), a DNS server that never answers, MQTT over WebSocket
# (no mosquitto_pub: it has no WebSocket), plain MQTT through a SOCKS5 proxy; peak memory;
# release binary size; 200 targets in one run against the same checks one after another; peak
# memory and time of 1,000 and 10,000 targets in one run, in each report format; the exporter
# (`mqtt-doctor serve`): probes per second under 50 concurrent scrapes (wrk) against
# blackbox_exporter's tcp_connect, and its resident memory after 1,000 and 100,000 probes.
#
# usage: bash bench/run.sh [--quick]      (results: target/bench/results.md)
# Needs root for the DNS namespace (as on the CI machine); installs its peers itself.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=30
FAIL_RUNS=5
MANY=200
SCALE="1000 10000"   # targets in one run, for peak memory
TIMEOUT=2   # seconds: the doctor's --timeout, the peers' resolver timeout
EXPORTER_SECONDS=20       # each exporter load run (wrk -c 50)
EXPORTER_MARKS="1000 100000"   # probes served before each reading of the exporter's memory
if [ "${1:-}" = "--quick" ]; then
  RUNS=5; FAIL_RUNS=2; MANY=50; SCALE="1000 2000"; EXPORTER_SECONDS=5; EXPORTER_MARKS="1000 10000"
fi

# --- peers and tools -------------------------------------------------------------------------
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v openssl >/dev/null || need+=(openssl)
command -v unshare >/dev/null || need+=(util-linux)
command -v microsocks >/dev/null || need+=(microsocks)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "bench: installing ${need[*]} from Debian's packages" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -c 'import paho.mqtt, sys; sys.exit(not paho.mqtt.__version__.startswith("2."))' 2>/dev/null \
  || { echo "bench: installing paho-mqtt 2.1.0 from PyPI" >&2; python3 -m pip install --quiet 'paho-mqtt==2.1.0'; }
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

cargo build --release --quiet
cargo build --release --quiet --example floor
# Where cargo put them: CARGO_TARGET_DIR when set, else ./target.
BUILT=${CARGO_TARGET_DIR:-$PWD/target}
DOCTOR=$BUILT/release/mqtt-doctor
FLOOR=$BUILT/release/examples/floor
PAHO="python3 $PWD/bench/paho_pub.py"
OUT=$PWD/target/bench
rm -rf "$OUT"; mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- a broker with a plain and a TLS listener, certificates made here ------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
PLAIN=$(free_port); TLS=$(free_port); WS=$(free_port); SOCKS=$(free_port)
cat > "$work/mosquitto.conf" <<CONF
user root
persistence false
log_dest none
allow_anonymous true
# A healthy broker: without it every CONNACK after a TLS 1.3 handshake waits ~40 ms for the
# client's delayed ACK (the doctor's mqtt.nagle_delay).
set_tcp_nodelay true
listener $PLAIN 127.0.0.1
listener $TLS 127.0.0.1
cafile $work/ca.pem
certfile $work/server.pem
keyfile $work/server.key
listener $WS 127.0.0.1
protocol websockets
CONF
microsocks -i 127.0.0.1 -p "$SOCKS" >/dev/null 2>&1 & pids+=($!)
"$MOSQUITTO" -c "$work/mosquitto.conf" & pids+=($!)
for _ in $(seq 100); do mosquitto_pub -h 127.0.0.1 -p "$PLAIN" -t up -m x 2>/dev/null && break; sleep 0.05; done

# A port nobody listens on, and a listener whose accept queue is full (connects get no answer).
REFUSED=$(free_port)
SILENT=$(free_port)
python3 - "$SILENT" <<'PY' & pids+=($!)
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(0)
fillers = []
for _ in range(8):
    c = socket.socket(); c.settimeout(0.2)
    try: c.connect(("127.0.0.1", int(sys.argv[1]))); fillers.append(c)
    except OSError: break
time.sleep(3600)
PY
sleep 0.5

hf() { # name, runs, then commands as "label=command"
  local name=$1 runs=$2; shift 2
  local args=() labels=()
  for pair in "$@"; do labels+=(-n "${pair%%=*}"); args+=("${pair#*=}"); done
  hyperfine -N -i --style none --warmup 2 --runs "$runs" "${labels[@]}" \
    --export-json "$OUT/$name.json" "${args[@]}" >/dev/null 2>&1
}

D="$DOCTOR doctor --timeout ${TIMEOUT}s --format json"
echo "bench: healthy broker" >&2
hf healthy_plain "$RUNS" \
  "mqtt-doctor=$D mqtt://127.0.0.1:$PLAIN" \
  "mosquitto_pub=mosquitto_pub -h 127.0.0.1 -p $PLAIN -q 1 -t bench/pub -m hello" \
  "paho=$PAHO 127.0.0.1 $PLAIN"
hf healthy_tls "$RUNS" \
  "mqtt-doctor=$D mqtts://localhost:$TLS --cafile $work/ca.pem" \
  "mosquitto_pub=mosquitto_pub -h localhost -p $TLS --cafile $work/ca.pem -q 1 -t bench/pub -m hello" \
  "paho=$PAHO localhost $TLS $work/ca.pem"
# The physical floor: examples/floor.rs does only TCP + TLS + CONNECT/CONNACK + DISCONNECT on
# the same listener; the doctor's full healthy TLS check is timed against it in the same run.
hf floor "$RUNS" \
  "mqtt-doctor=$D mqtts://localhost:$TLS --cafile $work/ca.pem" \
  "floor=$FLOOR localhost $TLS $work/ca.pem"
echo "bench: WebSocket, SOCKS5 proxy" >&2
hf healthy_ws "$RUNS" \
  "mqtt-doctor=$D ws://127.0.0.1:$WS/mqtt" \
  "paho=env PAHO_WS_PATH=/mqtt $PAHO 127.0.0.1 $WS"
hf healthy_socks "$RUNS" \
  "mqtt-doctor=$D mqtt://127.0.0.1:$PLAIN --proxy socks5h://127.0.0.1:$SOCKS" \
  "mosquitto_pub=mosquitto_pub -h 127.0.0.1 -p $PLAIN --proxy socks5h://127.0.0.1:$SOCKS -q 1 -t bench/pub -m hello"
echo "bench: three nodes behind one name against one node" >&2
# Mosquitto on 127.0.0.1, .2 and .3, one port, the same certificate; a DNS server on loopback
# answers three.bench.test with all three addresses and one.bench.test with the first. The
# doctor runs its whole chain against every node of three.bench.test at once, then compares
# them: what that costs against a one-node name is the ratio this case measures.
NODES=$(python3 -c 'import socket
for _ in range(50):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    try:
        for last in (2, 3): t = socket.socket(); t.bind((f"127.0.0.{last}", p)); t.close()
    except OSError: continue
    print(p); break')
ZONE=$(free_port)
printf 'subjectAltName=DNS:three.bench.test,DNS:one.bench.test\nextendedKeyUsage=serverAuth\n' > "$work/ext-nodes"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext-nodes" -out "$work/nodes.pem" 2>/dev/null
for last in 1 2 3; do
  printf 'user root\npersistence false\nlog_dest none\nallow_anonymous true\nset_tcp_nodelay true\nlistener %s 127.0.0.%s\ncertfile %s\nkeyfile %s\n' \
    "$NODES" "$last" "$work/nodes.pem" "$work/server.key" > "$work/node$last.conf"
  "$MOSQUITTO" -c "$work/node$last.conf" & pids+=($!)
done
python3 bench/zone_dns.py "$ZONE" three.bench.test=127.0.0.1,127.0.0.2,127.0.0.3 \
  one.bench.test=127.0.0.1 & pids+=($!)
for _ in $(seq 100); do
  $D mqtts://three.bench.test:$NODES --cafile "$work/ca.pem" --dns-server "127.0.0.1:$ZONE" >/dev/null 2>&1 && break
  sleep 0.05
done
hf nodes "$RUNS" \
  "one node=$D mqtts://one.bench.test:$NODES --cafile $work/ca.pem --dns-server 127.0.0.1:$ZONE" \
  "three nodes=$D mqtts://three.bench.test:$NODES --cafile $work/ca.pem --dns-server 127.0.0.1:$ZONE" \
  "three nodes, --nodes 1=$D mqtts://three.bench.test:$NODES --nodes 1 --cafile $work/ca.pem --dns-server 127.0.0.1:$ZONE"

echo "bench: refused port, unanswered connect" >&2
hf refused "$RUNS" \
  "mqtt-doctor=$D mqtt://127.0.0.1:$REFUSED" \
  "mosquitto_pub=mosquitto_pub -h 127.0.0.1 -p $REFUSED -q 1 -t bench/pub -m hello" \
  "paho=$PAHO 127.0.0.1 $REFUSED"
hf unanswered "$FAIL_RUNS" \
  "mqtt-doctor=$D mqtt://127.0.0.1:$SILENT" \
  "mosquitto_pub=timeout 10 mosquitto_pub -h 127.0.0.1 -p $SILENT -q 1 -t bench/pub -m hello" \
  "paho=timeout 10 $PAHO 127.0.0.1 $SILENT"

echo "bench: silent DNS server (in a namespace of its own)" >&2
cat > "$work/dns.sh" <<NS
set -e
ip link set lo up
printf 'nameserver 127.0.0.1\noptions timeout:$TIMEOUT attempts:1\n' > $work/resolv.conf
mount --bind $work/resolv.conf /etc/resolv.conf
python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",53)); time.sleep(3600)' &
sleep 0.3
$(declare -f hf)
OUT=$OUT
hf dns_timeout $FAIL_RUNS \
  "mqtt-doctor=$D mqtt://broker.bench.test:1883" \
  "mosquitto_pub=timeout 10 mosquitto_pub -h broker.bench.test -p 1883 -q 1 -t bench/pub -m hello" \
  "paho=timeout 10 $PAHO broker.bench.test 1883"
kill \$!
NS
unshare --net --mount bash "$work/dns.sh"

echo "bench: peak memory" >&2
peak() { /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>&1 || true; cat "$work/rss" | tail -1; }
{
  echo "scenario,mqtt-doctor,mosquitto_pub,paho"
  echo "healthy plain,$(peak $D mqtt://127.0.0.1:$PLAIN),$(peak mosquitto_pub -h 127.0.0.1 -p $PLAIN -q 1 -t b -m x),$(peak $PAHO 127.0.0.1 $PLAIN)"
  echo "healthy TLS,$(peak $D mqtts://localhost:$TLS --cafile $work/ca.pem),$(peak mosquitto_pub -h localhost -p $TLS --cafile $work/ca.pem -q 1 -t b -m x),$(peak $PAHO localhost $TLS $work/ca.pem)"
  echo "unanswered connect,$(peak $D mqtt://127.0.0.1:$SILENT),-,-"
  many=(); for _ in $(seq "$MANY"); do many+=("mqtt://127.0.0.1:$PLAIN"); done
  echo "$MANY targets in one run,$(peak $D "${many[@]}"),-,-"
} > "$OUT/memory.csv"

echo "bench: $(echo $SCALE | sed 's/ / and /') targets in one run (peak memory, time)" >&2
# Each target's report is written as the target finishes (src/report/stream.rs), so memory
# should barely grow with the number of targets. One broker, its loopback URL repeated: the
# doctor checks at most 64 targets at a time (limits::MAX_CONCURRENT_TARGETS), inside
# Mosquitto's listen backlog of 100, and Linux reuses loopback ports in TIME_WAIT
# (net.ipv4.tcp_tw_reuse=2, its default), so 10,000 connections in a row do not exhaust them.
scale() { # targets, format -> targets,format,peak KiB,seconds,exit code,report bytes,verdict
  local n=$1 format=$2 code=0 verdict targets=()
  for _ in $(seq "$n"); do targets+=("mqtt://127.0.0.1:$PLAIN"); done
  /usr/bin/time -f "%M %e" -o "$work/scale" "$DOCTOR" doctor --timeout "${TIMEOUT}s" \
    --format "$format" "${targets[@]}" > "$work/scale.out" 2>/dev/null || code=$?
  # Every format ends (JSON, text) or opens (JUnit) with the verdict over all targets.
  case $format in
    json) verdict=$(tail -c 400 "$work/scale.out" | grep -o '"summary": "[^"]*"' | tail -1 | cut -d'"' -f4) ;;
    text) verdict=$(tail -n 1 "$work/scale.out") ;;
    junit) verdict=$(sed -n 2p "$work/scale.out" | grep -o 'tests="[0-9]*" failures="[0-9]*"') ;;
  esac
  echo "$n,$format,$(tail -1 "$work/scale" | tr ' ' ','),$code,$(wc -c < "$work/scale.out"),$verdict"
}
{
  echo "targets,format,peak_kb,seconds,exit,bytes,verdict"
  for n in $SCALE; do for format in json text junit; do scale "$n" "$format"; done; done
} > "$OUT/scale.csv"
rm -f "$work/scale.out"

echo "bench: $MANY targets in one run vs one after another" >&2
targets=""; for _ in $(seq "$MANY"); do targets+=" mqtt://127.0.0.1:$PLAIN"; done
printf '#!/bin/sh\nfor i in $(seq %s); do %s mqtt://127.0.0.1:%s >/dev/null || exit 1; done\n' "$MANY" "$D" "$PLAIN" > "$work/sequential.sh"
hf many 3 \
  "one run=$D$targets" \
  "one after another=sh $work/sequential.sh"

# --- the exporter ----------------------------------------------------------------------------
# `mqtt-doctor serve` under 50 concurrent scrapes of one /probe URL (wrk, keep-alive
# connections), with --max-concurrent 16 (the default) and 50; then, as the peer under the same
# load, blackbox_exporter's tcp_connect module against the same broker: a TCP connect and close,
# the least any probe does. bench/probe_count.lua counts the answers that are HTTP 200 with
# `probe_success 1`; the exporter's own success counter, read before and after, must agree.
echo "bench: the exporter (mqtt-doctor serve, blackbox_exporter) under 50 concurrent scrapes" >&2
BLACKBOX=$(command -v prometheus-blackbox-exporter || echo /usr/bin/prometheus-blackbox-exporter)
LUA=$PWD/bench/probe_count.lua
cat > "$work/serve.toml" <<TOML
timeout = "${TIMEOUT}s"
[profiles.bench]
targets = ["mqtt://127.0.0.1:$PLAIN"]
TOML
printf 'modules:\n  tcp_connect:\n    prober: tcp\n    timeout: %ss\n' "$TIMEOUT" > "$work/blackbox.yml"
DOCTOR_PROBE="/probe?module=bench&target=mqtt%3A%2F%2F127.0.0.1%3A$PLAIN"
BLACKBOX_PROBE="/probe?module=tcp_connect&target=127.0.0.1:$PLAIN"

ready() { # port: wait until it answers /-/healthy
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/-/healthy" >/dev/null && return 0; sleep 0.05; done
  echo "bench: nothing answers on 127.0.0.1:$1" >&2; return 1
}
start_serve() { # max-concurrent: sets SERVE_PID and SERVE_PORT
  SERVE_PORT=$(free_port)
  "$DOCTOR" serve --config "$work/serve.toml" --listen "127.0.0.1:$SERVE_PORT" --max-concurrent "$1" \
    2>>"$work/serve.log" & SERVE_PID=$!; pids+=("$SERVE_PID")
  ready "$SERVE_PORT"
}
successes() { # the exporter's mqtt_doctor_probes_total{result="success"}
  curl -sf "http://127.0.0.1:$SERVE_PORT/metrics" | awk '/^mqtt_doctor_probes_total\{.*result="success"/ {print $2}'
}
samples() { # port, path: how many of 5 answers after the run are 200 with probe_success 1
  local n=0
  for _ in 1 2 3 4 5; do
    curl -sf "http://127.0.0.1:$1$2" | grep -qx 'probe_success 1' && n=$((n + 1))
  done
  echo "$n"
}
drive() { # name, port, path, extra JSON: 50 scrapes at once for EXPORTER_SECONDS -> OUT/exporter_NAME.json
  local name=$1 port=$2 path=$3 extra=$4
  # A short warm-up, then the measured run.
  wrk -t 2 -c 50 -d 2s --timeout 10s -s "$LUA" "http://127.0.0.1:$port$path" >/dev/null
  local before=""; [ "$name" = blackbox ] || before=$(successes)
  wrk -t 2 -c 50 -d "${EXPORTER_SECONDS}s" --timeout 10s -s "$LUA" "http://127.0.0.1:$port$path" > "$work/wrk.out"
  local after=""; [ "$name" = blackbox ] || after=$(successes)
  local sampled; sampled=$(samples "$port" "$path")
  grep '^WRK_JSON ' "$work/wrk.out" | cut -d' ' -f2- | python3 -c '
import json, sys
r = json.load(sys.stdin)
before, after, sampled, extra = sys.argv[1:5]
r["counter_before"] = float(before) if before else None
r["counter_after"] = float(after) if after else None
r["samples_ok"] = int(sampled)
r.update(json.loads(extra))
print(json.dumps(r))' "$before" "$after" "$sampled" "$extra" > "$OUT/exporter_$name.json"
}

for concurrent in 16 50; do
  start_serve "$concurrent"
  drive "doctor_$concurrent" "$SERVE_PORT" "$DOCTOR_PROBE" "{\"max_concurrent\": $concurrent}"
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
done
BLACKBOX_PORT=$(free_port)
"$BLACKBOX" --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$BLACKBOX_PORT" \
  >/dev/null 2>&1 & BLACKBOX_PID=$!; pids+=("$BLACKBOX_PID")
ready "$BLACKBOX_PORT"
drive blackbox "$BLACKBOX_PORT" "$BLACKBOX_PROBE" \
  "{\"version\": \"$("$BLACKBOX" --version 2>&1 | head -1 | sed 's/"//g')\"}"
kill "$BLACKBOX_PID"; wait "$BLACKBOX_PID" 2>/dev/null || true

# Memory: a fresh exporter (--max-concurrent 50), driven at 50 scrapes at once until its success
# counter passes each mark; then its resident set from the kernel and from its own metric.
echo "bench: the exporter's memory after $(echo $EXPORTER_MARKS | sed 's/ / and /') probes" >&2
start_serve 50
{
  echo "mark,probes,vmrss_kb,process_resident_memory_bytes,vmhwm_kb"
  for mark in $EXPORTER_MARKS; do
    for _ in $(seq 20); do
      done_so_far=$(successes); done_so_far=${done_so_far%.*}
      [ "$done_so_far" -ge "$mark" ] && break
      # Each of wrk's two threads stops after its share of what is left; wrk itself waits out
      # -d, so it is interrupted (SIGINT: it stops and reports) once the counter passes the mark.
      wrk -t 2 -c 50 -d 600s --timeout 10s -s "$LUA" "http://127.0.0.1:$SERVE_PORT$DOCTOR_PROBE" \
        -- $(( (mark - done_so_far + 1) / 2 )) >/dev/null & wrk_pid=$!
      while kill -0 "$wrk_pid" 2>/dev/null; do
        now=$(successes); [ "${now%.*}" -ge "$mark" ] && kill -INT "$wrk_pid" 2>/dev/null
        sleep 0.2
      done
      wait "$wrk_pid" || true
    done
    sleep 1   # the last probes' buffers are given back
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVE_PID/status")
    own=$(curl -sf "http://127.0.0.1:$SERVE_PORT/metrics" | awk '/^process_resident_memory_bytes / {print $2}')
    echo "$mark,$(successes),$rss,$own,$hwm"
  done
} > "$OUT/exporter_memory.csv"
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true

ls -l "$DOCTOR" | awk '{print $5}' > "$OUT/binary_size"
static=$BUILT/x86_64-unknown-linux-musl/release/mqtt-doctor
[ -f "$static" ] && ls -l "$static" | awk '{print $5}' > "$OUT/static_size" || true

DOCTOR="$DOCTOR" python3 bench/report.py "$OUT" "$TIMEOUT" "$MANY" > "$OUT/results.md"
cat "$OUT/results.md"
