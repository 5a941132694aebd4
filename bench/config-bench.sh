#!/usr/bin/env bash
# Times `swcompose config -q` on a generated 500-service project against `docker compose config -q`
# (when docker compose is installed), in the same run on the same machine. Goal: at least 3x faster.
#
# usage: bench/config-bench.sh [SERVICES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-500}
runs=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

swift build -c release --product swcompose >/dev/null
bin=$PWD/.build/release/swcompose
python3 bench/gen-large-project.py "$work/bench" "$services" >/dev/null

# Median wall time of a command, in milliseconds.
median_ms() {
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "command failed: $*" >&2; return 1; }
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'
}

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "project: $services services, median of $runs runs"
cd "$work/bench"
ours=$(median_ms "$bin" config -q)
echo "swcompose config -q:       ${ours} ms"

oracle=""
if docker compose version >/dev/null 2>&1; then oracle="docker compose"; elif command -v docker-compose >/dev/null; then oracle="docker-compose"; fi
if [ -n "$oracle" ]; then
  theirs=$(median_ms $oracle config -q)
  echo "$oracle config -q: ${theirs} ms"
  awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "ratio: swcompose is %.1fx faster (goal: 3x)\n", a / b }'
  "$bin" config > "$work/ours.yaml"; $oracle config > "$work/theirs.yaml"
  if cmp -s "$work/ours.yaml" "$work/theirs.yaml"; then echo "output: identical"; else echo "output: DIFFERENT"; fi
else
  echo "docker compose is not installed: no reference to compare with"
fi
