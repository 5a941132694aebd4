#!/usr/bin/env bash
# Orchestration against docker compose, same busybox image, same machine, same run:
#
#   wide   20 independent services: `up -d`, then `down`
#   chain  20 services in a chain, each gated by `service_healthy` on the one before (healthcheck
#          interval 200 ms): `up -d`
#   stop   `down` of 5 containers whose PID 1 does not handle SIGTERM (docker compose's default
#          10 s grace period applies to both tools; neither is given -t)
#
# Each measurement starts from the state the command expects (hyperfine --prepare brings the stack up
# or takes it down first). docker compose is measured when a docker daemon answers.
#
# usage: bench/orchestration-bench.sh [RUNS]      (default 5; the docker "stop" case takes 10 s a run)
# Needs root, hyperfine, python3 and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
runs=${1:-5}
work=$(mktemp -d /var/tmp/swcompose-orchestration-bench.XXXXXX)
export SWCOMPOSE_ROOT=$work/state
scenarios=(wide chain stop)
cleanup() {
  for s in "${scenarios[@]}"; do
    (cd "$work/$s" 2>/dev/null && "$bin" down -v -t 0 >/dev/null 2>&1) || true
    if [ -n "${DOCKER_READY:-}" ]; then (cd "$work/$s" 2>/dev/null && docker compose down -v -t 0 >/dev/null 2>&1) || true; fi
  done
  if [ -n "${DOCKER_READY:-}" ]; then docker rmi -f swcompose-bench/busybox >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

build_swcompose
make_busybox_tar "$work/busybox.tar"
"$bin" image import "$work/busybox.tar" swcompose-bench/busybox --change 'ENV PATH=/bin' --change 'CMD ["sh"]' >/dev/null

# A service that stops promptly on SIGTERM (busybox sh runs the trap while `wait`ing).
polite='["sh", "-c", "trap \"exit 0\" TERM; sleep 100000 & wait"]'
mkdir -p "$work/wide" "$work/chain" "$work/stop"
{
  echo "name: bench-wide"
  echo "services:"
  for i in $(seq 1 20); do
    printf '  s%02d:\n    image: swcompose-bench/busybox\n    pull_policy: never\n    command: %s\n' "$i" "$polite"
  done
} > "$work/wide/compose.yaml"
{
  echo "name: bench-chain"
  echo "services:"
  for i in $(seq 1 20); do
    printf '  s%02d:\n    image: swcompose-bench/busybox\n    pull_policy: never\n    command: %s\n' "$i" "$polite"
    printf '    healthcheck:\n      test: ["CMD", "true"]\n      interval: 200ms\n      timeout: 1s\n      retries: 30\n'
    if [ "$i" -gt 1 ]; then printf '    depends_on:\n      s%02d:\n        condition: service_healthy\n' $((i - 1)); fi
  done
} > "$work/chain/compose.yaml"
{
  echo "name: bench-stop"
  echo "services:"
  for i in $(seq 1 5); do
    # PID 1 of a pid namespace without a SIGTERM handler: the kernel drops the signal.
    printf '  s%02d:\n    image: swcompose-bench/busybox\n    pull_policy: never\n    command: ["sleep", "100000"]\n' "$i"
  done
} > "$work/stop/compose.yaml"

tools=(swcompose)
run_tool() { if [ "$1" = swcompose ]; then echo "$bin"; else echo "docker compose"; fi; }
if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  DOCKER_READY=1
  docker import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' "$work/busybox.tar" swcompose-bench/busybox >/dev/null
  tools+=(docker)
  reference="docker compose $(docker compose version --short)"
else
  reference=""
  echo "(docker is not reachable: no docker compose reference)"
fi

machine
echo "runs per case: $runs (hyperfine, 1 warm-up)"
[ -n "$reference" ] && echo "reference: $reference"
measure() { # name directory prepare command
  local name=$1 dir=$2 prepare=$3 cmd=$4
  hyperfine --shell=bash --warmup 1 --runs "$runs" --prepare "cd $dir && $prepare >/dev/null 2>&1" \
    -n "$name" "cd $dir && $cmd >/dev/null 2>&1" --export-json "$work/$(echo "$name" | tr ' /' '__').json" >/dev/null
}
for t in "${tools[@]}"; do
  c=$(run_tool "$t")
  measure "$t wide up" "$work/wide" "$c down -t 0" "$c up -d"
  measure "$t wide down" "$work/wide" "$c up -d" "$c down"
  measure "$t chain up" "$work/chain" "$c down -t 0" "$c up -d"
  measure "$t stop down" "$work/stop" "$c up -d" "$c down"
  (cd "$work/wide" && $c down -t 0 >/dev/null 2>&1; cd "$work/chain" && $c down -t 0 >/dev/null 2>&1; cd "$work/stop" && $c down -t 0 >/dev/null 2>&1) || true
done

python3 - "$work" <<'PY'
import glob, json, os, sys
r = {}
for f in glob.glob(os.path.join(sys.argv[1], '*.json')):
    for x in json.load(open(f))['results']:
        r[x['command']] = x
def mean(k): return r[k]['mean'] if k in r else None
rows = [
    ('20 independent services: up -d', 'wide up'),
    ('20 independent services: down', 'wide down'),
    ('20 independent services: up -d + down', None),
    ('20-deep service_healthy chain: up -d', 'chain up'),
    ('down of 5 SIGTERM-ignoring containers', 'stop down'),
]
print(f"{'':42s} {'swcompose':>12s} {'docker compose':>15s} {'ratio':>8s}")
for label, key in rows:
    if key is None:
        ours = (mean('swcompose wide up') or 0) + (mean('swcompose wide down') or 0)
        ref = (mean('docker wide up') or 0) + (mean('docker wide down') or 0) if 'docker wide up' in r else None
        dev = ''
    else:
        ours, ref = mean('swcompose ' + key), mean('docker ' + key)
    line = f"{label:42s} {ours*1000:9.0f} ms"
    if ref:
        line += f" {ref*1000:12.0f} ms {ref/ours:7.1f}x"
    print(line)
PY
