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
  down_runs
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

ours_load() { SWCOMPOSE_ROOT=$work/root-$1 "$bin" image load -i "$work/image-$1.tar"; }
time_to_first_container "$work/ours" ours_load swcompose_first_run
first_container_row "swcompose image load + run --rm:" load "$work/ours"

if docker info >/dev/null 2>&1; then
  DOCKER_READY=1
  docker_load() { docker load -i "$work/image-$1.tar"; }
  docker_first_run() { docker run --rm "bench/large:$1" true; }
  time_to_first_container "$work/theirs" docker_load docker_first_run
  first_container_row "docker load + docker run --rm:" load "$work/theirs"
  first_container_goal "$work/ours" "$work/theirs" || exit 1
else
  echo "docker is not reachable: no reference to compare with"
fi
