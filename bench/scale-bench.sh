#!/usr/bin/env bash
# Large stacks: flat stacks of 20 and 200 services, `up -d` then `down`, and `ps` of the 200, against
# docker compose when a docker daemon answers (same busybox image, same machine, same run). Exits 1
# when a goal of issue 23 is missed: the cost per service at 200 within 1.3x of that at 20, `ps` of
# 200 under 300 ms, and (with the reference) `up -d` + `down` at least 10x docker compose at 20 and 8x
# at 200.
#
# usage: bench/scale-bench.sh [RUNS]      (default 3)
# Needs root, hyperfine, python3 and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
runs=${1:-3}
work=$(mktemp -d /var/tmp/swcompose-scale-bench.XXXXXX)
export SWCOMPOSE_ROOT=$work/state
sizes=(20 200)
cleanup() {
  for n in "${sizes[@]}"; do
    (cd "$work/p$n" 2>/dev/null && "$bin" down -t 0 >/dev/null 2>&1) || true
    if [ -n "${DOCKER_READY:-}" ]; then (cd "$work/p$n" 2>/dev/null && docker compose down -t 0 >/dev/null 2>&1) || true; fi
  done
  if [ -n "${DOCKER_READY:-}" ]; then docker rmi -f swcompose-bench/busybox >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

build_swcompose
make_busybox_tar "$work/busybox.tar"
"$bin" image import "$work/busybox.tar" swcompose-bench/busybox --change 'ENV PATH=/bin' --change 'CMD ["sh"]' >/dev/null
for n in "${sizes[@]}"; do
  mkdir -p "$work/p$n"
  {
    echo "name: scale$n"
    echo "services:"
    for i in $(seq 1 "$n"); do
      printf '  s%03d:\n    image: swcompose-bench/busybox\n    pull_policy: never\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 100000 & wait"]\n' "$i"
    done
  } > "$work/p$n/compose.yaml"
done

tools=(swcompose)
if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  DOCKER_READY=1
  docker import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' "$work/busybox.tar" swcompose-bench/busybox >/dev/null
  tools+=(docker)
  echo "reference: docker compose $(docker compose version --short)"
else
  echo "(docker is not reachable: no docker compose reference, the ratios to it are not checked)"
fi
machine
echo "runs per case: $runs (hyperfine, 1 warm-up; docker: 1 run)"
run_tool() { if [ "$1" = swcompose ]; then echo "$bin"; else echo "docker compose"; fi; }
for t in "${tools[@]}"; do
  c=$(run_tool "$t")
  r=$runs; [ "$t" = docker ] && r=1
  for n in "${sizes[@]}"; do
    hyperfine --shell=bash --warmup 1 --runs "$r" --prepare "cd $work/p$n && $c down -t 0 >/dev/null 2>&1; true" \
      -n "$t $n up" "cd $work/p$n && $c up -d >/dev/null 2>&1" --export-json "$work/$t-$n-up.json" >/dev/null
    hyperfine --shell=bash --warmup 1 --runs "$r" --prepare "cd $work/p$n && $c up -d >/dev/null 2>&1; true" \
      -n "$t $n down" "cd $work/p$n && $c down >/dev/null 2>&1" --export-json "$work/$t-$n-down.json" >/dev/null
  done
  (cd "$work/p200" && $c up -d >/dev/null 2>&1)
  hyperfine --shell=bash --warmup 1 --runs 10 -n "$t 200 ps" "cd $work/p200 && $c ps >/dev/null" --export-json "$work/$t-200-ps.json" >/dev/null
  (cd "$work/p200" && $c down -t 0 >/dev/null 2>&1)
done

python3 - "$work" <<'PY'
import glob, json, os, sys
r = {}
for f in glob.glob(os.path.join(sys.argv[1], '*.json')):
    for x in json.load(open(f))['results']:
        r[x['command']] = x['median']
def total(t, n):
    return r[f'{t} {n} up'] + r[f'{t} {n} down'] if f'{t} {n} up' in r else None
print(f"{'':34s} {'swcompose':>11s} {'docker compose':>15s} {'ratio':>7s}")
for n in (20, 200):
    for what in ('up', 'down'):
        ours, ref = r[f'swcompose {n} {what}'], r.get(f'docker {n} {what}')
        print(f"{n:3d} flat services: {what:15s} {ours*1000:8.0f} ms" + (f" {ref*1000:12.0f} ms {ref/ours:6.1f}x" if ref else ""))
    ours, ref = total('swcompose', n), total('docker', n)
    print(f"{n:3d} flat services: up -d + down   {ours*1000:8.0f} ms" + (f" {ref*1000:12.0f} ms {ref/ours:6.1f}x" if ref else "")
          + f"   ({ours/n*1000:.1f} ms per service)")
print(f"ps of 200 containers               {r['swcompose 200 ps']*1000:8.0f} ms")
goals = [("per service at 200 within 1.3x of at 20", (total('swcompose', 200) / 200) / (total('swcompose', 20) / 20), 1.3, False),
         ("ps of 200 under 300 ms", r['swcompose 200 ps'] * 1000, 300, False)]
if total('docker', 20):
    goals += [("20 flat up -d + down >= 10x docker compose", total('docker', 20) / total('swcompose', 20), 10, True),
              ("200 flat up -d + down >= 8x docker compose", total('docker', 200) / total('swcompose', 200), 8, True)]
missed = 0
for name, value, goal, at_least in goals:
    ok = value >= goal if at_least else value <= goal
    missed += not ok
    print(f"{'met   ' if ok else 'MISSED'} {name}: {value:.2f}")
sys.exit(1 if missed else 0)
PY
