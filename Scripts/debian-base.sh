#!/usr/bin/env bash
# debian-base.sh -- a Debian 12 (bookworm) minbase root filesystem as a tarball, made once with
# debootstrap from Debian's mirror and cached; prints the tarball's path. The build tests and the
# README's main job import it as their Debian base image (`swcompose image import`).
#
#   Scripts/debian-base.sh            make (or find) the tarball and print its path
#
# Cache: $SWCOMPOSE_CACHE (default /var/tmp/swcompose-cache), ~60 MB compressed; first run ~2 min.
set -euo pipefail
cache=${SWCOMPOSE_CACHE:-/var/tmp/swcompose-cache}
mirror=${SWCOMPOSE_GUEST_MIRROR:-http://deb.debian.org/debian}
tarball=$cache/debian-bookworm-minbase.tar.gz
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi
mkdir -p "$cache"
if ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap; } >&2
fi
exec 9>"$cache/debian-base.lock"
flock 9
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi
root=$cache/debian-root.tmp
rm -rf "$root"
echo "debian-base: debootstrap bookworm (once, a few minutes)" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
  { echo "debian-base: debootstrap failed, see $cache/debootstrap.log" >&2; exit 1; }
# As Debian's docker images: no apt caches, the package lists removed, a sources list that works.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/dev/*
printf 'deb %s bookworm main\n' "$mirror" >"$root/etc/apt/sources.list"
tar -C "$root" --numeric-owner -czf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
rm -rf "$root"
echo "$tarball"
