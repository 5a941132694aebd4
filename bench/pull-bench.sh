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
  down_runs
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
ours_pull() { SWCOMPOSE_ROOT=$work/root-$1 "$bin" image pull -q "$repo:$1"; }
time_to_first_container "$work/ours" ours_pull swcompose_first_run
first_container_row "swcompose image pull + run --rm:" pull "$work/ours"

skopeo_copy() { skopeo copy --quiet --src-tls-verify=false "docker://$repo:$1" "dir:$work/skopeo-$1"; }
no_run() { :; }
time_to_first_container "$work/skopeo" skopeo_copy no_run
first_container_row "skopeo copy to a directory (no unpack):" pull "$work/skopeo"

if docker info >/dev/null 2>&1; then
  DOCKER_READY=1
  docker_pull() { docker pull -q "$repo:$1"; }
  docker_first_run() { docker run --rm "$repo:$1" true; }
  time_to_first_container "$work/theirs" docker_pull docker_first_run
  first_container_row "docker pull + docker run --rm:" pull "$work/theirs"
  first_container_goal "$work/ours" "$work/theirs" || exit 1
else
  echo "docker is not reachable: no reference to compare with"
fi
