"""Turns bench/run.sh's measurements (hyperfine JSON, GNU time readings, sizes) into the
Markdown tables of docs/benchmarks.md, with the machine they came from and each target checked.

usage: report.py OUT_DIR TIMEOUT_SECONDS MANY
"""
import csv
import json
import os
import platform
import subprocess
import sys

out, timeout, many = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])


def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return {r["command"]: r for r in json.load(f)["results"]}


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def version(command):
    try:
        text = subprocess.run(command, capture_output=True, text=True, timeout=10)
        lines = (text.stdout or text.stderr).strip().splitlines()
        return lines[0] if lines else "?"
    except OSError:
        return "not found"


def cpu():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def outcome(result):
    codes = set(result.get("exit_codes") or [])
    if codes == {0}:
        return "ok"
    if 124 in codes:
        return "killed at 10 s"
    return "fails (exit " + ",".join(str(c) for c in sorted(c for c in codes if c is not None)) + ")"


print("## Machine\n")
print(f"- CPU: {cpu()}, {os.cpu_count()} cores")
print(f"- Kernel: {platform.release()}; {version(['sh', '-c', '. /etc/os-release; echo $PRETTY_NAME'])}")
# run.sh says which binary it timed (cargo's target dir may be elsewhere than ./target).
doctor = os.environ.get("DOCTOR", out + "/../release/mqtt-doctor")
print(f"- {version([doctor, '--version'])} (release build), {version(['rustc', '--version'])}")
print(f"- {version(['sh', '-c', 'mosquitto_pub --help | grep -m1 version'])}")
print(f"- paho-mqtt {version(['python3', '-c', 'import paho.mqtt; print(paho.mqtt.__version__)'])} on {version(['python3', '--version'])}")
print(f"- {version(['hyperfine', '--version'])}; every command run with `hyperfine -N`, medians shown")
print(f"- {version(['wrk', '--version'])}; {version(['prometheus-blackbox-exporter', '--version'])}")
print()

scenarios = [
    ("healthy_plain", "Healthy broker, plain (`mqtt://127.0.0.1`)"),
    ("healthy_tls", "Healthy broker, TLS (`mqtts://localhost`, private CA)"),
    ("healthy_ws", "Healthy broker, WebSocket (`ws://127.0.0.1/mqtt`; mosquitto_pub has no WebSocket)"),
    ("healthy_socks", "Healthy broker, plain, through a SOCKS5 proxy (microsocks)"),
    ("refused", "Refused port"),
    ("unanswered", f"TCP connect nobody answers (doctor --timeout {timeout:g}s)"),
    ("dns_timeout", f"DNS server that never answers (resolver timeout {timeout:g}s)"),
]
checks = []
print("## Time to verdict\n")
print("| Scenario | mqtt-doctor | mosquitto_pub | paho script | doctor ÷ mosquitto_pub | doctor ÷ paho |")
print("|---|---|---|---|---|---|")
for name, title in scenarios:
    try:
        r = load(name)
    except FileNotFoundError:
        continue
    # Not every peer can do every scenario (mosquitto_pub has no WebSocket): "—" then.
    d, m, p = r["mqtt-doctor"], r.get("mosquitto_pub"), r.get("paho")
    cells = [f"{ms(x['median'])} ms ({outcome(x)})" if x else "—" for x in (d, m, p)]
    ratios = [f"{d['median'] / x['median']:.2f}" if x else "—" for x in (m, p)]
    print(f"| {title} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    if name.startswith("healthy"):
        peer, label = (m, "mosquitto_pub") if m else (p, "paho")
        ratio = d["median"] / peer["median"]
        checks.append((f"{title}: ≤ 1.5 × {label}", f"{ratio:.2f} ×", ratio <= 1.5))
    if name in ("unanswered", "dns_timeout"):
        bound = timeout * 1.1
        checks.append((f"{title}: within timeout + 10 % ({bound:.1f} s)", f"max {max(d['times']):.3f} s", max(d["times"]) <= bound))
    if name == "refused":
        checks.append((f"{title}: within timeout + 10 %", f"max {max(d['times']) * 1000:.1f} ms", max(d["times"]) <= timeout * 1.1))
print()

# The physical floor (bench/run.sh `floor`): the doctor's healthy TLS check against a client
# doing only TCP + TLS + CONNECT/CONNACK (examples/floor.rs), same listener, same run.
try:
    r = load("floor")
except FileNotFoundError:
    r = None
if r:
    d, f = r["mqtt-doctor"], r["floor"]
    print("## Against the physical floor\n")
    print("| Client | Time (median) | min | max |")
    print("|---|---|---|---|")
    for label, x in (("mqtt-doctor, full healthy TLS check", d), ("floor: TCP + TLS + CONNECT/CONNACK only", f)):
        print(f"| {label} | {ms(x['median'])} ms ({outcome(x)}) | {ms(x['min'])} ms | {ms(x['max'])} ms |")
    ratio = d["median"] / f["median"]
    gap = d["median"] - f["median"]
    print(f"\nThe doctor takes {ratio:.2f} × the floor ({ms(abs(gap))} ms {'more' if gap >= 0 else 'less'}).\n")

# Three TLS nodes behind one name (bench/run.sh `nodes`): the whole chain runs against each node
# at once, so the three-node target should cost little more than a one-node target.
try:
    r = load("nodes")
except FileNotFoundError:
    r = None
if r:
    one, three, first = r["one node"], r["three nodes"], r["three nodes, --nodes 1"]
    print("## Three nodes behind one name\n")
    print("| Target | Time (median) | ÷ one node |")
    print("|---|---|---|")
    for label, x in (("one.bench.test (1 address)", one), ("three.bench.test (3 addresses, each checked)", three), ("three.bench.test with `--nodes 1`", first)):
        print(f"| {label} | {ms(x['median'])} ms ({outcome(x)}) | {x['median'] / one['median']:.2f} |")
    ratio = three["median"] / one["median"]
    print()
    checks.append(("three-node target: ≤ 2 × a one-node target", f"{ratio:.2f} ×", ratio <= 2))

print("## Peak memory (resident set, GNU time)\n")
print("| Scenario | mqtt-doctor | mosquitto_pub | paho script |")
print("|---|---|---|---|")
with open(os.path.join(out, "memory.csv")) as f:
    rows = list(csv.reader(f))[1:]
for row in rows:
    cells = [c if c == "-" else f"{int(c) / 1024:.1f} MiB" for c in row[1:]]
    print(f"| {row[0]} | {' | '.join(cells)} |")
    kb = int(row[1])
    checks.append((f"peak memory, {row[0]}: < 20 MiB", f"{kb / 1024:.1f} MiB", kb < 20 * 1024))
print()

print(f"## {many} targets against one broker\n")
r = load("many")
one, seq = r["one run"], r["one after another"]
print("| How | Time (median) |")
print("|---|---|")
print(f"| {many} targets in one run | {ms(one['median'])} ms |")
print(f"| {many} runs one after another | {ms(seq['median'])} ms |")
speedup = seq["median"] / one["median"]
print(f"\nOne run is {speedup:.1f} × faster." if speedup >= 1 else f"\nOne run is {1 / speedup:.1f} × slower.")
print()
checks.append((f"{many} targets: one run faster than one after another", f"{speedup:.1f} ×", speedup > 1))

# Peak memory of thousands of targets in one run, in each report format (bench/run.sh `scale`).
scale_rows = []
scale_file = os.path.join(out, "scale.csv")
if os.path.exists(scale_file):
    with open(scale_file) as f:
        for line in f.read().splitlines()[1:]:
            # The verdict is last and may hold commas.
            n, fmt, kb, secs, code, size, verdict = line.split(",", 6)
            scale_rows.append((int(n), fmt, int(kb), float(secs), int(code), int(size), verdict))
if scale_rows:
    counts = sorted({r[0] for r in scale_rows})
    print(f"## {' and '.join(f'{n:,}' for n in counts)} targets in one run\n")
    print("| Targets | Format | Peak memory | Wall time | Report size | Exit | Verdict |")
    print("|---|---|---|---|---|---|---|")
    for n, fmt, kb, secs, code, size, verdict in scale_rows:
        print(f"| {n:,} | {fmt} | {kb / 1024:.1f} MiB | {secs:.2f} s | {size / 2**20:.1f} MiB | {code} | {verdict} |")
        if n == counts[-1]:
            checks.append((f"{n:,} targets in one run, {fmt}: peak memory < 100 MiB", f"{kb / 1024:.1f} MiB", kb < 100 * 1024))
        checks.append((f"{n:,} targets in one run, {fmt}: every target healthy (exit 0)", f"exit {code}", code == 0))
    lo, hi = counts[0], counts[-1]
    if hi > lo:
        peak = {(r[0], r[1]): r[2] for r in scale_rows}
        growth = []
        for fmt in ("json", "text", "junit"):
            if (lo, fmt) in peak and (hi, fmt) in peak:
                per = (peak[(hi, fmt)] - peak[(lo, fmt)]) * 1024 / (hi - lo)
                growth.append(f"{fmt} {per:,.0f} bytes")
        print(f"\nPeak memory grows, from {lo:,} to {hi:,} targets, per target: {'; '.join(growth)}.")
    print()

# The exporter (bench/run.sh `exporter`): `mqtt-doctor serve` under 50 concurrent scrapes of one
# /probe URL, with --max-concurrent 16 and 50, against blackbox_exporter's tcp_connect.
def load_exporter(name):
    try:
        with open(os.path.join(out, f"exporter_{name}.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


runs = [(n, load_exporter(n)) for n in ("doctor_16", "doctor_50", "blackbox")]
runs = [(n, r) for n, r in runs if r]
if runs:
    seconds = runs[0][1]["duration_us"] / 1e6
    print("## The exporter: probes per second under 50 concurrent scrapes\n")
    print("| Exporter | Probes/s | p50 | p90 | p99 | max | 200 with `probe_success 1` | other answers | socket errors | exporter's success counter, after − before | 5 answers sampled after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rate = {}
    for name, r in runs:
        label = {
            "doctor_16": "mqtt-doctor serve, `--max-concurrent 16` (default): full MQTT check",
            "doctor_50": "mqtt-doctor serve, `--max-concurrent 50`: full MQTT check",
            "blackbox": f"blackbox_exporter `tcp_connect` ({r.get('version', '?').split(' (')[0]})",
        }[name]
        rate[name] = r["requests"] / (r["duration_us"] / 1e6)
        lat = r["latency_us"]
        errors = sum(r["errors"].values())
        other = r["failure"] + r["non200"]
        counted = "—"
        if r.get("counter_after") is not None:
            delta = r["counter_after"] - r["counter_before"]
            counted = f"{delta:,.0f}"
            # wrk stops with up to 50 requests in flight, whose probes the exporter still counts.
            checks.append((f"{label}: success counter matches wrk's count (± 100)", f"{delta:,.0f} against {r['success']:,}", abs(delta - r["success"]) <= 100))
        print(f"| {label} | {rate[name]:,.0f} | {ms(lat['p50'] / 1e6)} ms | {ms(lat['p90'] / 1e6)} ms | {ms(lat['p99'] / 1e6)} ms | {ms(lat['max'] / 1e6)} ms | {r['success']:,} of {r['requests']:,} | {other} | {errors} | {counted} | {r['samples_ok']} of 5 |")
        checks.append((f"{label}: every answer HTTP 200 with probe_success 1", f"{r['success']:,} of {r['requests']:,}, {errors} socket errors, {r['samples_ok']}/5 sampled", other == 0 and errors == 0 and r["samples_ok"] == 5 and r["success"] == r["requests"]))
    print(f"\nEach row: `wrk -t 2 -c 50 -d {seconds:.0f}s` on one `/probe` URL (keep-alive), after a 2 s warm-up; latency is wrk's, from request to answer, waiting for a turn included.")
    if "blackbox" in rate:
        ratios = [f"{rate[n] / rate['blackbox']:.2f} with `--max-concurrent {n.split('_')[1]}`" for n in ("doctor_16", "doctor_50") if n in rate]
        print(f"Doctor probes/s ÷ blackbox tcp_connect probes/s: {'; '.join(ratios)}.")
    print()

memory_file = os.path.join(out, "exporter_memory.csv")
if os.path.exists(memory_file):
    with open(memory_file) as f:
        rows = list(csv.DictReader(f))
    if rows:
        print("## The exporter's memory\n")
        print("| After | Probes counted | VmRSS (/proc) | process_resident_memory_bytes | peak (VmHWM) |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {int(row['mark']):,} probes | {float(row['probes']):,.0f} | {int(row['vmrss_kb']) / 1024:.1f} MiB | {float(row['process_resident_memory_bytes']) / 2**20:.1f} MiB | {int(row['vmhwm_kb']) / 1024:.1f} MiB |")
        first, last = rows[0], rows[-1]
        ratio = int(last["vmrss_kb"]) / int(first["vmrss_kb"])
        own = float(last["process_resident_memory_bytes"]) / float(first["process_resident_memory_bytes"])
        print(f"\nResident memory after {int(last['mark']):,} probes ÷ after {int(first['mark']):,}: {ratio:.2f} (VmRSS), {own:.2f} (process_resident_memory_bytes).\n")
        checks.append((f"exporter memory flat: RSS after {int(last['mark']):,} probes ≤ 1.5 × after {int(first['mark']):,}", f"{ratio:.2f} ×", ratio <= 1.5))

print("## Binary size\n")
size = int(open(os.path.join(out, "binary_size")).read())
print(f"- release build (glibc, LTO, stripped): {size:,} bytes ({size / 2**20:.2f} MiB)")
checks.append(("release binary < 6 MB", f"{size / 1e6:.2f} MB", size < 6e6))
static = os.path.join(out, "static_size")
if os.path.exists(static):
    s = int(open(static).read())
    print(f"- static musl build (scripts/build-static.sh): {s:,} bytes ({s / 2**20:.2f} MiB)")
    checks.append(("static binary < 6 MB", f"{s / 1e6:.2f} MB", s < 6e6))
print()

print("## Targets\n")
print("| Target | Measured | Met |")
print("|---|---|---|")
for what, measured, met in checks:
    print(f"| {what} | {measured} | {'yes' if met else '**no**'} |")
