#!/usr/bin/env bash
# record.sh SWCOMPOSE [STACK...] -- docker compose's answers for the stacks (all, or those named):
# each stack run with run-stack.sh under docker compose, written to expected/STACK.txt, which the
# tests compare swcompose's answers with. Needs what the tests never need: dockerd running with
# `--registry-mirror http://127.0.0.1:5099 --insecure-registry 127.0.0.1:5099` and docker compose v2
# (without buildx it builds with the classic builder: the stacks' Dockerfiles keep to what that
# takes). SWCOMPOSE builds the stand-in images (build-images.sh) served on 127.0.0.1:5099.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
swcompose=${1:?usage: record.sh SWCOMPOSE [STACK...]}
shift
docker info 2>/dev/null | grep -q 'http://127.0.0.1:5099/' ||
  { echo "record.sh: dockerd must run with --registry-mirror http://127.0.0.1:5099 --insecure-registry 127.0.0.1:5099" >&2; exit 1; }
store=$("$here/build-images.sh" "$swcompose")
registry=
if ! python3 -c "import socket; socket.create_connection(('127.0.0.1', 5099), 1)" 2>/dev/null; then
  config=$(mktemp)
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:5099}\n' "$store" >"$config"
  docker-registry serve "$config" >/dev/null 2>&1 &
  registry=$!
  trap 'kill $registry 2>/dev/null' EXIT
  sleep 1
fi
stacks=("$@")
[ ${#stacks[@]} -gt 0 ] || stacks=($(ls "$here/stacks"))
mkdir -p "$here/expected"
for stack in "${stacks[@]}"; do
  echo "record.sh: $stack" >&2
  DOCKER_BUILDKIT=0 "$here/run-stack.sh" docker "$stack" >"$here/expected/$stack.txt"
  # dockerd (its runc) turns on hugetlb in the unified hierarchy's subtree_control: leave the host as it was.
  echo -hugetlb >/sys/fs/cgroup/unified/cgroup.subtree_control 2>/dev/null || true
done
