#!/usr/bin/env bash
# The main job, on a fresh machine: installs what is needed, builds swcompose, and brings a stack of
# examples/ up with `swcompose up -d --wait`, then shows the page it serves.
#
#   Scripts/demo.sh [flask-redis]   Flask counting visits in Redis, both images built by swcompose
#                                   from their Dockerfiles on a Debian base (debootstrap, once, cached;
#                                   the builds apt-get install from Debian's mirror); WEB_PORT=8000
#   Scripts/demo.sh quickstart      offline: db, a migrate job and web on Debian's busybox-static
#                                   (`swcompose image import`); WEB_PORT=8080
#   Scripts/demo.sh down [EXAMPLE]  take it down again (volumes too)
#
# SWCOMPOSE_BIN=PATH uses that swcompose as it is (no packages, build or installation): the kernel
# matrix's guests run the quickstart so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bin=${SWCOMPOSE_BIN:-$PWD/.build/release/swcompose}
if [ "${1:-}" = "down" ]; then
  [ -z "${SWCOMPOSE_BIN:-}" ] && command -v swcompose >/dev/null && bin=$(command -v swcompose)
  cd "examples/${2:-flask-redis}" && exec "$bin" down -v
fi
example=${1:-flask-redis}
[ -f "examples/$example/compose.yaml" ] || { echo "demo: no example $example (flask-redis, quickstart)" >&2; exit 2; }
if [ -z "${SWCOMPOSE_BIN:-}" ]; then
  Scripts/setup.sh
  swift build -c release --static-swift-stdlib --product swcompose 2>&1 | tail -1
  swift build -c release --static-swift-stdlib --product swcompose-runtime 2>&1 | tail -1
  # On PATH, so that the next command is just `swcompose ps` (swcompose-runtime goes beside it).
  prefix=${PREFIX:-/usr/local}
  if install -D -m 0755 "$bin-runtime" "$prefix/bin/swcompose-runtime" 2>/dev/null && install -D -m 0755 "$bin" "$prefix/bin/swcompose"; then
    bin=$prefix/bin/swcompose
    echo "installed $bin"
  else
    echo "note: could not install into $prefix/bin (run as root, or set PREFIX); using $bin" >&2
  fi
fi

if [ "$example" = flask-redis ]; then
  # The base image: Debian 12 made once with debootstrap (cached), imported.
  if ! "$bin" image inspect swcompose/debian:bookworm >/dev/null 2>&1; then
    "$bin" image import "$(Scripts/debian-base.sh)" swcompose/debian:bookworm --change 'CMD ["bash"]' >/dev/null
  fi
  cd examples/flask-redis
  "$bin" up -d --wait
  port=${WEB_PORT:-8000}
  echo
  echo "Flask and Redis are up, both built from their Dockerfiles:"
  echo "  http://127.0.0.1:$port/"
  echo
  fetch() { if command -v curl >/dev/null; then curl -fsS "$1"; elif command -v wget >/dev/null; then wget -qO- "$1"; else busybox wget -qO- "$1"; fi; }
  fetch "http://127.0.0.1:$port/"
  fetch "http://127.0.0.1:$port/"
  echo
  echo "Try: cd examples/flask-redis && swcompose ps; edit web/app.py and run swcompose up -d --build"
  echo "Take it down with: Scripts/demo.sh down    (or: cd examples/flask-redis && swcompose down -v)"
  exit 0
fi

# The image: Debian's busybox-static as a root filesystem (nothing is downloaded).
if ! "$bin" image inspect quickstart/busybox:latest >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  cp /bin/busybox "$rootfs/bin/"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  tar -C "$rootfs" -cf - . | "$bin" image import - quickstart/busybox:latest --change 'ENV PATH=/bin' --change 'CMD ["sh"]'
fi

cd examples/quickstart
"$bin" up -d --wait
port=${WEB_PORT:-8080}
echo
echo "The quickstart is up. Its page, served by the web service from what it fetched from db:"
echo "  http://127.0.0.1:$port/"
echo
if command -v curl >/dev/null; then
  curl -fsS "http://127.0.0.1:$port/" | sed 's/<[^>]*>//g'
elif command -v wget >/dev/null; then
  wget -qO- "http://127.0.0.1:$port/" | sed 's/<[^>]*>//g'
else
  busybox wget -qO- "http://127.0.0.1:$port/" | sed 's/<[^>]*>//g'
fi
echo
echo "Try: cd examples/quickstart && swcompose ps"
echo "Take it down with: Scripts/demo.sh down quickstart    (or: cd examples/quickstart && swcompose down -v)"
