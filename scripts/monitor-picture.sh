#!/usr/bin/env bash
# Makes docs/guide/monitor-prometheus.png from a real run: a real Prometheus (Debian's, its own
# config and storage in a temp dir, loopback only) scrapes `mqtt-doctor serve` every 2 s for
# about 5 minutes, probing three real Mosquitto brokers on loopback, while this script breaks two
# of them on purpose:
#   - broker-b is stopped at 1:00 and started again on the same port at 2:00;
#   - the `login` module's password file is given a wrong password at 2:45 and the right one
#     back at 3:45 (the exporter reads it at every probe: no restart).
# Then headless Chromium screenshots Prometheus' own graph page (Debian's Prometheus serves the
# classic UI, /classic/graph) of `probe_success` and of
# `probe_mqtt_duration_seconds{phase="connack"}`, and Pillow crops and shrinks it.
#
# usage: bash scripts/monitor-picture.sh [OUTPUT.png]   (default docs/guide/monitor-prometheus.png)
# Installs its peers itself (Debian's packages). Honours CARGO_TARGET_DIR. Takes about 6 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTPUT=${1:-docs/guide/monitor-prometheus.png}

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null || need+=(mosquitto)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v curl >/dev/null || need+=(curl)
# Pillow: the python3 on PATH may be another than Debian's (pyenv), which python3-pil serves.
if python3 -c 'import PIL' 2>/dev/null; then PILPY=python3; else
  PILPY=/usr/bin/python3; "$PILPY" -c 'import PIL' 2>/dev/null || need+=(python3-pil)
fi
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "monitor-picture: installing ${need[*]} from Debian's packages" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

cargo build --release --quiet
DOCTOR=${CARGO_TARGET_DIR:-$PWD/target}/release/mqtt-doctor

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
log() { echo "monitor-picture: $(date -u +%H:%M:%S) $*" >&2; }

# --- three brokers: a, b (plain, anonymous) and login (a password file) ----------------------
A=$(free_port); B=$(free_port); L=$(free_port)
broker() { # name, port, extra config lines
  printf 'persistence false\nlog_dest none\nset_tcp_nodelay true\nlistener %s 127.0.0.1\n%s\n' "$2" "$3" > "$work/$1.conf"
  [ "$(id -u)" -eq 0 ] && echo "user root" >> "$work/$1.conf"
  "$MOSQUITTO" -c "$work/$1.conf" 2>>"$work/mosquitto.log" & pids+=($!)
  eval "PID_$1=$!"
  wait_port "$2"
}
mosquitto_passwd -c -b "$work/passwd" monitor right-password
broker a "$A" "allow_anonymous true"
broker b "$B" "allow_anonymous true"
broker login "$L" "allow_anonymous false
password_file $work/passwd"
echo right-password > "$work/password"

# --- the exporter ----------------------------------------------------------------------------
EXPORTER=$(free_port)
cat > "$work/mqtt-doctor.toml" <<TOML
timeout = "1s"
[profiles.plain]
targets = ["mqtt://127.0.0.1:$A", "mqtt://127.0.0.1:$B"]
[profiles.login]
targets = ["mqtt://127.0.0.1:$L"]
username = "monitor"
password-file = "$work/password"
TOML
"$DOCTOR" serve --config "$work/mqtt-doctor.toml" --listen "127.0.0.1:$EXPORTER" 2>"$work/serve.log" & pids+=($!)
wait_port "$EXPORTER"

# --- Prometheus ------------------------------------------------------------------------------
PROM=$(free_port)
job() { # name, module, target
  cat <<YML
  - job_name: $1
    metrics_path: /probe
    params:
      module: [$2]
    static_configs:
      - targets: ['$3']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:$EXPORTER
YML
}
{
  printf 'global:\n  scrape_interval: 2s\n  scrape_timeout: 1500ms\nscrape_configs:\n'
  job broker-a plain "mqtt://127.0.0.1:$A"
  job broker-b plain "mqtt://127.0.0.1:$B"
  job login login "mqtt://127.0.0.1:$L"
} > "$work/prometheus.yml"
/usr/bin/prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$PROM" >"$work/prometheus.log" 2>&1 & pids+=($!)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PROM/-/ready" >/dev/null && break; sleep 0.1; done

# --- the run: 4:45 of scrapes with two failures ------------------------------------------------
log "scraping every 2 s; broker-b 127.0.0.1:$B, login 127.0.0.1:$L, broker-a 127.0.0.1:$A"
sleep 60
log "stopping broker-b"
kill "$PID_b"; wait "$PID_b" 2>/dev/null || true
sleep 60
log "starting broker-b again on port $B"
broker b "$B" "allow_anonymous true"
sleep 45
log "login module: wrong password"
echo wrong-password > "$work/password"
sleep 60
log "login module: right password again"
echo right-password > "$work/password"
sleep 60

# What Prometheus stored, as a check that the picture shows what the caption says.
curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode 'query=count_over_time(probe_success[5m]) - sum_over_time(probe_success[5m])' \
  | python3 -c 'import json,sys; [print("monitor-picture: failed scrapes of", r["metric"]["job"], r["value"][1], file=sys.stderr) for r in json.load(sys.stdin)["data"]["result"]]'

# --- the screenshot ----------------------------------------------------------------------------
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
URL="http://127.0.0.1:$PROM/classic/graph?g0.expr=$(enc probe_success)&g0.tab=0&g0.range_input=5m"
URL+="&g1.expr=$(enc 'probe_mqtt_duration_seconds{phase="connack"}')&g1.tab=0&g1.range_input=5m"
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1400,1900 \
  --virtual-time-budget=15000 --screenshot="$work/shot.png" "$URL" >/dev/null 2>&1
rm -rf "$profile"
"$PILPY" - "$work/shot.png" "$OUTPUT" <<'PY'
import sys
from PIL import Image
shot = Image.open(sys.argv[1]).convert("RGB")
# Trim the empty page below the second graph: the last row that is not plain white, plus a margin.
width, height = shot.size
gray = shot.convert("L")
bottom = height
for y in range(height - 1, 0, -1):
    if min(gray.crop((0, y, width, y + 1)).getdata()) < 250:
        bottom = min(height, y + 20)
        break
shot = shot.crop((0, 0, width, bottom))
shot = shot.resize((width * 3 // 4, bottom * 3 // 4), Image.LANCZOS)
shot = shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
shot.save(sys.argv[2], optimize=True)
print(f"monitor-picture: wrote {sys.argv[2]} ({shot.size[0]}x{shot.size[1]})", file=sys.stderr)
PY
