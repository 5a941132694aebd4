#!/usr/bin/env bash
# What a user waits for when a service's image is not there yet: pulling it from a registry, then a
# first container of it run — `swcompose image pull` + `run --rm probe true` against `docker pull` +
# `docker run --rm`, from Debian's docker-registry on 127.0.0.1, in the same run. `skopeo copy` to a
# directory (download and verify only, no unpack) is shown for scale.
#
# The image: bench/common.sh's large image (Debian minbase and two COPY layers, ~190 MB, ~9,000
# files), pushed by skopeo with gzip-compressed layers (docker schema 2), as registries serve them.
#
# Each run pulls a variant of its own (no layer shared with another run), swcompose into a state root
# of its own: every run is a first pull, for both, and nothing is removed until the end (see
# let_file_system_forget in bench/common.sh).
#
# usage: bench/pull-bench.sh [RUNS]      (default 5; medians)
# Goal (issue 23): at least 3x docker's total. Needs root, python3, skopeo and docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
runs=${1:-5}
work=$(mktemp -d /var/tmp/swcompose-pull-bench.XXXXXX)
registry_pid=""
cleanup() {
  for i in $(seq "$runs"); do [ -d "$work/root-$i" ] && (cd "$work/project-$i" && SWCOMPOSE_ROOT=$work/root-$i "$bin" down >/dev/null 2>&1) || true; done
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  if [ -n "${DOCKER_READY:-}" ]; then for i in $(seq "$runs"); do docker rmi -f "$repo:$i" >/dev/null 2>&1 || true; done; fi
  rm -rf "$work"
}
trap cleanup EXIT

build_swcompose
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done
repo=127.0.0.1:$port/bench/large

for i in $(seq "$runs"); do
  make_large_image_archive "$work/image.tar" "$work/setup" "$i"
  skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/image.tar" "docker://$repo:$i"
  mkdir -p "$work/project-$i"
  printf 'services:\n  probe:\n    image: %s\n    command: ["true"]\n' "$repo:$i" > "$work/project-$i/compose.yaml"
done
compressed=$(( $(du -cb "$work"/registry/docker/registry/v2/blobs | tail -1 | cut -f1) / runs ))
unpacked=$(stat -c %s "$work/image.tar")
rm "$work/image.tar"
let_file_system_forget "$work"

machine
echo "image: 3 layers, $((compressed / 1000000)) MB gzip-compressed, $((unpacked / 1000000)) MB unpacked; median of $runs runs"
now() { date +%s%N; }

: > "$work/ours"
for i in $(seq "$runs"); do
  root=$work/root-$i
  sync
  a=$(now); SWCOMPOSE_ROOT=$root "$bin" image pull -q "$repo:$i" >/dev/null
  b=$(now); (cd "$work/project-$i" && SWCOMPOSE_ROOT=$root "$bin" run --rm --pull never probe true >/dev/null 2>&1)
  c=$(now)
  echo "$(ms "$a" "$b") $(ms "$b" "$c") $(ms "$a" "$c")" >> "$work/ours"
done
row() { printf '%-40s pull %6s ms  first run %5s ms  total %6s ms\n' "$1" "$(cut -d' ' -f1 "$2" | median)" "$(cut -d' ' -f2 "$2" | median)" "$(cut -d' ' -f3 "$2" | median)"; }
row "swcompose image pull + run --rm:" "$work/ours"

: > "$work/skopeo"
for i in $(seq "$runs"); do
  a=$(now); skopeo copy --quiet --src-tls-verify=false "docker://$repo:$i" "dir:$work/skopeo-$i"; b=$(now)
  echo "$(ms "$a" "$b") 0 $(ms "$a" "$b")" >> "$work/skopeo"
done
row "skopeo copy to a directory (no unpack):" "$work/skopeo"

if docker info >/dev/null 2>&1; then
  DOCKER_READY=1
  : > "$work/theirs"
  for i in $(seq "$runs"); do
    sync
    a=$(now); docker pull -q "$repo:$i" >/dev/null
    b=$(now); docker run --rm "$repo:$i" true
    c=$(now)
    echo "$(ms "$a" "$b") $(ms "$b" "$c") $(ms "$a" "$c")" >> "$work/theirs"
  done
  row "docker pull + docker run --rm:" "$work/theirs"
  ours=$(cut -d' ' -f3 "$work/ours" | median); theirs=$(cut -d' ' -f3 "$work/theirs" | median)
  ratio=$(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.1f", a / b }')
  if awk -v r="$ratio" 'BEGIN { exit !(r >= 3) }'; then
    echo "swcompose is ${ratio}x faster to a first container: goal >= 3x met"
  else
    echo "swcompose is ${ratio}x faster to a first container: goal >= 3x MISSED"
    exit 1
  fi
else
  echo "docker is not reachable: no reference to compare with"
fi
