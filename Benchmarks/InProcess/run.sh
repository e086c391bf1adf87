#!/usr/bin/env bash
# Builds and runs the in-process benchmarks (ordo-one/benchmark) and writes Docs/perf/inprocess.md:
# a summary of p50/p99 per benchmark, then the full percentile tables the benchmark tool printed.
#
#   Benchmarks/InProcess/run.sh                      # all benchmarks
#   Benchmarks/InProcess/run.sh --filter 'fork.*'    # extra arguments go to `swift package benchmark`
#   OUT=/tmp/x.md Benchmarks/InProcess/run.sh        # write elsewhere
#
# The build lives in Benchmarks/InProcess/.build (a package of its own; the root package never builds it).
# Scratch stores go under $AFS_BENCH_WORK (default /var/tmp: keep it on a real disk, not tmpfs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${OUT:-$root/Docs/perf/inprocess.md}"
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
cd "$here"
swift package --allow-writing-to-package-directory benchmark \
    --no-progress --format markdown --path stdout "$@" > "$raw"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$(dirname "$out")"
python3 - "$raw" "$out" "$started" "$load_start" "$load_end" "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" "$*" <<'PY'
import re, sys, platform, os
raw, out, started, load_start, load_end, commit, extra = sys.argv[1:8]
text = open(raw, encoding="utf-8", errors="replace").read()
text = re.sub(r"\x1b\[[0-9;]*m", "", text)
body = text[text.find("## AetherBenchmarks"):] if "## AetherBenchmarks" in text else text

# Parse "### name" sections and their "| Metric | p0 | ... |" rows.
sections, name = {}, None
for line in body.splitlines():
    if line.startswith("### "):
        name = line[4:].strip(); sections[name] = {}
    elif name and line.startswith("|") and not line.startswith("| Metric") and not line.startswith("|:"):
        cells = [c.strip() for c in line.strip("|").split("|")]
        sections[name][cells[0]] = cells[1:]

def cell(rows, prefix, col):
    for metric, values in rows.items():
        if metric.startswith(prefix):
            unit = re.search(r"\(([^)#]+)\)", metric[len(prefix):])
            return f"{values[col]} {unit.group(1)}" if unit else values[col]
    return "—"

cpu = "?"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"): cpu = l.split(":", 1)[1].strip(); break
except OSError: pass

lines = [
    "# In-process figures (ordo-one/benchmark)",
    "",
    "<!-- Written by Benchmarks/InProcess/run.sh. Do not edit: the next run rewrites it. -->",
    "",
    f"Run {started} on commit {commit}: `Benchmarks/InProcess/run.sh{(' ' + extra) if extra else ''}`"
    f" (`swift package --allow-writing-to-package-directory benchmark` in `Benchmarks/InProcess`, release build).",
    f"Machine: {os.cpu_count()} cores, {cpu}, Linux {platform.release()}; scratch stores in "
    f"`{os.environ.get('AFS_BENCH_WORK', '/var/tmp')}`. Load average (1/5/15 min) at start {load_start}, at end {load_end}: "
    "on a shared VM, absolute times move with load.",
    "",
    "Setup (building trees, imports, the writes before a checkpoint, opening a fresh store for each ingest) is outside the measured region.",
    "Each benchmark runs in its own process, so *peak RSS* is that process's resident peak (runtime, fixture and store included).",
    "",
    "| benchmark | wall p50 | wall p99 | MB/s p50 | mallocs p50 | peak RSS p50 | ops/s p50 | samples |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]
for n, rows in sections.items():
    samples = next(iter(rows.values()))[-1] if rows else "—"
    lines.append(f"| {n} | {cell(rows, 'Time (wall clock)', 2)} | {cell(rows, 'Time (wall clock)', 5)} | "
                 f"{cell(rows, 'MB/s', 2)} | {cell(rows, 'Malloc (total)', 2)} | {cell(rows, 'Memory (resident peak)', 2)} | "
                 f"{cell(rows, 'Throughput', 2)} | {samples} |")
lines += [
    "",
    "- *MB/s* is the payload (1 MiB read, 64 MiB ingested) over the measured time of each iteration. *ops/s* is the tool's throughput metric (iterations per second).",
    "- *mallocs*: `malloc` calls per iteration, counted by the MallocInterposer trait. A `K` unit means thousands.",
    "- *Time (total CPU)* in the tables below comes from the kernel's per-process CPU time, which ticks in 10 ms steps here: operations shorter than that read 0 or 10 ms. Use the wall clock, and `Docs/perf/profiles.md` for instruction counts.",
    "- In the tool's tables the throughput row is ordered like the wall clock (its p0 is the fastest iteration).",
    "",
    "## Full tables",
    "",
]
lines.append(re.sub(r"^## AetherBenchmarks\s*", "", body).strip())  # its "### name" sections sit under "## Full tables"
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
print(f"wrote {out}")
PY
