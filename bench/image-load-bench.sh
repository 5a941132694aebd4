#!/usr/bin/env bash
# What a user waits for after receiving an image archive: `image load` of it, then a first container
# of it run (`run --rm probe true` in a project whose service uses the image), against `docker load` +
# `docker run --rm` of the same docker-save archive, in the same run on the same machine.
#
# The image: bench/common.sh's large image (Debian minbase and two COPY layers, three uncompressed
# layers, ~190 MB, ~9,000 files), saved by `swcompose image save` (docker's own archive layout).
#
# Each run loads a variant of its own (no layer shared with another run), swcompose into a state root
# of its own: every run is a first load, for both, and nothing is removed until the end (see
# let_file_system_forget in bench/common.sh for why removals would skew the runs after them).
#
# usage: bench/image-load-bench.sh [RUNS]      (default 5; medians)
# Goal (issue 23): at least 3x docker's total. Needs root; docker is used when `docker info` answers.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
runs=${1:-5}
work=$(mktemp -d /var/tmp/swcompose-load-bench.XXXXXX)
cleanup() {
  for i in $(seq "$runs"); do [ -d "$work/root-$i" ] && (cd "$work/project-$i" && SWCOMPOSE_ROOT=$work/root-$i "$bin" down >/dev/null 2>&1) || true; done
  if [ -n "${DOCKER_READY:-}" ]; then for i in $(seq "$runs"); do docker rmi -f "bench/large:$i" >/dev/null 2>&1 || true; done; fi
  rm -rf "$work"
}
trap cleanup EXIT

build_swcompose
for i in $(seq "$runs"); do
  make_large_image_archive "$work/image-$i.tar" "$work/setup" "$i"
  mkdir -p "$work/project-$i"
  printf 'services:\n  probe:\n    image: bench/large:%s\n    command: ["true"]\n' "$i" > "$work/project-$i/compose.yaml"
done
size=$(stat -c %s "$work/image-1.tar")
let_file_system_forget "$work"

machine
echo "image: 3 layers, archive $((size / 1000000)) MB; median of $runs runs; page cache warm, dirty pages flushed before each run"

now() { date +%s%N; }

: > "$work/ours"
for i in $(seq "$runs"); do
  root=$work/root-$i
  sync
  a=$(now); SWCOMPOSE_ROOT=$root "$bin" image load -i "$work/image-$i.tar" >/dev/null
  b=$(now); (cd "$work/project-$i" && SWCOMPOSE_ROOT=$root "$bin" run --rm probe true >/dev/null 2>&1)
  c=$(now)
  echo "$(ms "$a" "$b") $(ms "$b" "$c") $(ms "$a" "$c")" >> "$work/ours"
done
ours_load=$(cut -d' ' -f1 "$work/ours" | median); ours_run=$(cut -d' ' -f2 "$work/ours" | median); ours=$(cut -d' ' -f3 "$work/ours" | median)
printf '%-44s load %6s ms  first run %5s ms  total %6s ms\n' "swcompose image load + run --rm:" "$ours_load" "$ours_run" "$ours"

if docker info >/dev/null 2>&1; then
  DOCKER_READY=1
  : > "$work/theirs"
  for i in $(seq "$runs"); do
    sync
    a=$(now); docker load -i "$work/image-$i.tar" >/dev/null
    b=$(now); docker run --rm "bench/large:$i" true
    c=$(now)
    echo "$(ms "$a" "$b") $(ms "$b" "$c") $(ms "$a" "$c")" >> "$work/theirs"
  done
  theirs_load=$(cut -d' ' -f1 "$work/theirs" | median); theirs_run=$(cut -d' ' -f2 "$work/theirs" | median); theirs=$(cut -d' ' -f3 "$work/theirs" | median)
  printf '%-44s load %6s ms  first run %5s ms  total %6s ms\n' "docker load + docker run --rm:" "$theirs_load" "$theirs_run" "$theirs"
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
