#!/usr/bin/env bash
# `swcompose image load` (verify + unpack every layer, durable) against `docker load` of the same
# docker-save archive, in the same run on the same machine. Reports throughput in MB/s of archive.
#
# usage: bench/image-load-bench.sh [ROOTFS_DIR] [RUNS]
#   ROOTFS_DIR  a root filesystem to image (default: a Debian bookworm minbase made with debootstrap,
#               or, when that cannot run, a copy of this machine's /usr/share)
# Needs root. docker is used when `docker info` answers (DOCKER_HOST is honoured).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${2:-3}
work=$(mktemp -d /var/tmp/swcompose-bench.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

rootfs=${1:-}
if [ -z "$rootfs" ]; then
  if command -v debootstrap >/dev/null && debootstrap --variant=minbase bookworm "$work/debian" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1; then
    rootfs="$work/debian"; what="Debian bookworm minbase (debootstrap)"
  else
    mkdir -p "$work/usr"; cp -a /usr/share "$work/usr/"; rootfs="$work/usr"; what="a copy of /usr/share"
  fi
else
  what="$rootfs"
fi

swift build -c release --product swcompose >/dev/null
bin=$PWD/.build/release/swcompose
tar -C "$rootfs" -cf "$work/rootfs.tar" .
SWCOMPOSE_ROOT="$work/build" "$bin" image import "$work/rootfs.tar" bench/large:1 >/dev/null
SWCOMPOSE_ROOT="$work/build" "$bin" image save -o "$work/image.tar" bench/large:1
rm -rf "$work/build" "$work/rootfs.tar"
size=$(stat -c %s "$work/image.tar")
mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "image: $what, archive ${mb} MB, best of $runs runs, page cache warm, dirty pages flushed before each run"

seconds() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
best() { sort -n | head -1; }

ours=$(for _ in $(seq "$runs"); do rm -rf "$work/store"; sync; seconds env SWCOMPOSE_ROOT="$work/store" "$bin" image load -i "$work/image.tar"; echo; done | best)
awk -v t="$ours" -v m="$mb" 'BEGIN { printf "swcompose image load: %.3f s  (%.0f MB/s)\n", t, m / t }'

if docker info >/dev/null 2>&1; then
  theirs=$(for _ in $(seq "$runs"); do docker rmi -f bench/large:1 >/dev/null 2>&1 || true; docker image prune -f >/dev/null 2>&1 || true; sync
           seconds docker load -i "$work/image.tar"; echo; done | best)
  docker rmi -f bench/large:1 >/dev/null 2>&1 || true
  awk -v t="$theirs" -v m="$mb" 'BEGIN { printf "docker load:          %.3f s  (%.0f MB/s)\n", t, m / t }'
  awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "ratio: swcompose is %.1fx faster\n", a / b }'
else
  echo "docker is not reachable: no reference to compare with"
fi
