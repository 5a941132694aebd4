#!/usr/bin/env bash
# The development loop: time from a file write on the host to its content being visible inside the
# running container, over EDITS edits (one file, rewritten each time, the next edit once the last
# one arrived), with `swcompose watch` and — when a dockerd and docker compose are reachable —
# `docker compose watch` on the same busybox image and compose file (develop.watch: action sync).
# Visibility is read the same way for both: the file through /proc/PID/root of the container's
# first process, polled every 0.2 ms. Prints median, 90th percentile and worst, and the ratio.
#
# usage: bench/watch-bench.sh [EDITS]
# Needs root and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
edits=${1:-50}
work=$(mktemp -d /var/tmp/swcompose-watch-bench.XXXXXX)
export SWCOMPOSE_ROOT=$work/state
project=$work/project
watcher=
cleanup() {
  [ -n "$watcher" ] && kill -INT "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
  (cd "$project" && "$bin" down -t 0 >/dev/null 2>&1) || true
  if docker info >/dev/null 2>&1; then
    (cd "$project" && docker compose down -t 0 >/dev/null 2>&1) || true
    docker rmi -f swcompose-bench/busybox >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

build_swcompose
make_busybox_tar "$work/busybox.tar"
"$bin" image import "$work/busybox.tar" swcompose-bench/busybox --change 'ENV PATH=/bin' --change 'CMD ["sh"]' >/dev/null
mkdir -p "$project/src"
echo start > "$project/src/page.txt"
cat > "$project/compose.yaml" <<'YAML'
name: watchbench
services:
  web:
    image: swcompose-bench/busybox
    command: ["sleep", "100000"]
    develop:
      watch:
        - action: sync
          path: ./src
          target: /app
YAML

# EDITS writes of src/page.txt, each timed until /proc/PID/root/app/page.txt holds it; prints the
# times in milliseconds, one per line.
measure() { # PID
  python3 - "$1" "$project/src/page.txt" "$edits" <<'PY'
import os, sys, time
pid, source, edits = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = f"/proc/{pid}/root/app/page.txt"
for i in range(edits):
    text = f"edit {i} {time.time()}\n"
    start = time.monotonic()
    with open(source, "w") as f:
        f.write(text)
    while True:
        try:
            with open(seen) as f:
                if f.read() == text:
                    break
        except OSError:
            pass
        if time.monotonic() - start > 20:
            sys.exit(f"edit {i} never arrived")
        time.sleep(0.0002)
    print(f"{(time.monotonic() - start) * 1000:.2f}", flush=True)
    time.sleep(0.05)
PY
}

summary() { # LABEL FILE
  sort -n "$2" | awk -v label="$1" '{ a[NR] = $1 } END { printf "%-16s median %8.1f ms   p90 %8.1f ms   worst %8.1f ms\n", label, a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)], a[NR] }'
}

median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Waits for a line in a log file (up to 60 s).
wait_for() { # FILE TEXT
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "never saw \"$2\" in $1:" >&2; cat "$1" >&2; return 1
}

cd "$project"
"$bin" watch > "$work/sw.log" 2>&1 &
watcher=$!
wait_for "$work/sw.log" "Watch enabled"
pid=$(cat "$SWCOMPOSE_ROOT"/containers/*/state.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
measure "$pid" > "$work/sw.times"
kill -INT "$watcher"; wait "$watcher" || true; watcher=
"$bin" down -t 0 >/dev/null 2>&1

have_docker=
if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  have_docker=1
  docker import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' "$work/busybox.tar" swcompose-bench/busybox >/dev/null
  docker compose watch > "$work/docker.log" 2>&1 &
  watcher=$!
  for _ in $(seq 600); do id=$(docker compose ps -q web 2>/dev/null || true); [ -n "$id" ] && break; sleep 0.1; done
  wait_for "$work/docker.log" "Watch enabled"
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  measure "$pid" > "$work/docker.times"
  kill -INT "$watcher"; wait "$watcher" || true; watcher=
  docker compose down -t 0 >/dev/null 2>&1
else
  echo "(docker compose with a running dockerd is not reachable: no docker reference)"
fi

machine
echo "write on the host -> visible in the container, $edits edits of one file"
summary "swcompose watch" "$work/sw.times"
if [ -n "$have_docker" ]; then
  summary "docker compose" "$work/docker.times"
  echo "docker compose watch / swcompose watch (medians): $(echo "scale=1; $(median "$work/docker.times") / $(median "$work/sw.times")" | bc)x"
fi
