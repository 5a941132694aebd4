#!/usr/bin/env bash
# Memory spent supervising running containers, per container, with N (default 20) busybox containers
# sleeping: swcompose's per-project supervisor against conmon (podman's per-container monitor, run here
# with runc exactly as podman runs it) and, when a docker daemon answers, containerd-shim-runc-v2.
# Reported: RSS and PSS (proportional: shared pages divided among the processes mapping them) per
# container, from /proc/<pid>/smaps_rollup, after `sync` so that no page counts as dirty page cache.
#
# usage: bench/supervision-memory.sh [N]
# Needs root, runc, conmon (Debian: conmon) and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
n=${1:-20}
work=$(mktemp -d /var/tmp/swcompose-mem-bench.XXXXXX)
export SWCOMPOSE_ROOT=$work/state
cleanup() {
  (cd "$work/project" 2>/dev/null && "$bin" down -t 0 >/dev/null 2>&1) || true
  for i in $(seq "$n"); do runc kill "membench-$i" KILL >/dev/null 2>&1 || true; done
  sleep 0.5
  for i in $(seq "$n"); do runc delete -f "membench-$i" >/dev/null 2>&1 || true; done
  if [ -n "${DOCKER_READY:-}" ]; then
    docker rm -f $(docker ps -aq --filter label=swcompose-membench) >/dev/null 2>&1 || true
    docker rmi -f swcompose-bench/busybox >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Sums Rss and Pss (kB) of the given pids.
measure() { local rss=0 pss=0 r p; for pid in "$@"; do
  r=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup"); p=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
  rss=$((rss + r)); pss=$((pss + p)); done; echo "$rss $pss"; }
report() { awk -v name="$1" -v rss="$2" -v pss="$3" -v n="$n" -v procs="$4" \
  'BEGIN { printf "%-28s %6.2f MB RSS  %6.2f MB PSS per container  (%d process%s)\n", name, rss / n / 1024, pss / n / 1024, procs, procs == 1 ? "" : "es" }'; }

build_swcompose
make_busybox_tar "$work/busybox.tar"
"$bin" image import "$work/busybox.tar" swcompose-bench/busybox --change 'ENV PATH=/bin' >/dev/null
mkdir -p "$work/project"
{ echo "name: membench"; echo "services:"
  for i in $(seq "$n"); do printf '  s%d:\n    image: swcompose-bench/busybox\n    network_mode: none\n    command: sleep 1000000\n' "$i"; done
} > "$work/project/compose.yaml"

machine
echo "$n busybox containers running \`sleep\`"
(cd "$work/project" && "$bin" up -d >/dev/null 2>&1)
# Steady state: the spare start helper kept after a burst of starts is gone after 10 s, and the
# supervisor has handed back the pages of its executable it touched only while starting.
sync; sleep 12
sup=$(pgrep -f "__supervise $SWCOMPOSE_ROOT membench")
spares=$(pgrep -P "$sup" -f "__init --join" || true)
read -r rss pss < <(measure $sup $spares)
report "swcompose supervisor" "$rss" "$pss" "$(echo $sup $spares | wc -w)"
ours_rss=$rss

# conmon + runc, as podman runs them: one conmon per container.
mkdir -p "$work/bundle/rootfs" "$work/conmon"
tar -C "$work/bundle/rootfs" -xf "$work/busybox.tar"
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
d = json.load(open('config.json'))
d['process'].update(args=['sleep', '1000000'], terminal=False, env=['PATH=/bin'])
d['root']['readonly'] = True
json.dump(d, open('config.json', 'w'))
PY
)
for i in $(seq "$n"); do
  conmon --cid "membench-$i" --cuuid "$(cat /proc/sys/kernel/random/uuid)" --name "membench-$i" --runtime "$(command -v runc)" \
    --bundle "$work/bundle" --log-path "$work/conmon/$i.log" --container-pidfile "$work/conmon/$i.pid" \
    --exit-dir "$work/conmon" --socket-dir-path "$work/conmon" --conmon-pidfile "$work/conmon/conmon-$i.pid" --syslog=false >/dev/null 2>&1
  for _ in $(seq 100); do [ -s "$work/conmon/$i.pid" ] && break; sleep 0.05; done
  runc start "membench-$i"
done
sync; sleep 1
read -r rss pss < <(measure $(for f in "$work"/conmon/conmon-*.pid; do cat "$f"; echo; done))
report "conmon" "$rss" "$pss" "$n"

if docker info >/dev/null 2>&1; then
  DOCKER_READY=1
  docker import --change 'ENV PATH=/bin' "$work/busybox.tar" swcompose-bench/busybox >/dev/null
  for i in $(seq "$n"); do docker run -d --network none --label swcompose-membench swcompose-bench/busybox sleep 1000000 >/dev/null; done
  sync; sleep 1
  shims=$(pgrep -f containerd-shim || true)
  read -r rss pss < <(measure $shims)
  report "containerd-shim-runc-v2" "$rss" "$pss" "$(echo $shims | wc -w)"
else
  echo "(docker is not reachable: no containerd-shim reference)"
fi

# The goal of issue 23: under 0.5 MB RSS per container (run with 20 and with 200).
if [ "$ours_rss" -lt $((n * 512)) ]; then
  echo "met    supervision under 0.5 MB RSS per container: $((ours_rss / n)) kB"
else
  echo "MISSED supervision under 0.5 MB RSS per container: $((ours_rss / n)) kB"
  exit 1
fi
