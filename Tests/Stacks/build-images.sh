#!/usr/bin/env bash
# build-images.sh SWCOMPOSE -- the stand-in images of Tests/Stacks/images, built with swcompose from
# Debian's packages (and PyPI's) on the Debian base (Scripts/debian-base.sh), pushed under their
# Docker Hub names to a registry store kept in the cache; prints the store's directory. A test
# serves it with Debian's docker-registry as a Docker Hub mirror (SWCOMPOSE_REGISTRY_MIRRORS).
# Built once per content of images/ (a few minutes); $SWCOMPOSE_CACHE (default
# /var/tmp/swcompose-cache) keeps it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
swcompose=${1:?usage: build-images.sh SWCOMPOSE}
cache=${SWCOMPOSE_CACHE:-/var/tmp/swcompose-cache}
order=(python fastapi redis mariadb postgres nginx php-apache wordpress pgadmin)
# The host's extra certificate authorities go into the python image (pip reaches PyPI through them
# where a proxy inspects TLS): part of what the images are made of.
extra_ca=$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
hash=$( (cd "$here/images" && find . -type f | LC_ALL=C sort | xargs sha256sum; [ -z "$extra_ca" ] || sha256sum $extra_ca) | sha256sum | cut -c1-16)
store=$cache/stack-registry-$hash
if [ -e "$store/.complete" ]; then echo "$store"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/stack-registry.lock"
flock 9
if [ -e "$store/.complete" ]; then echo "$store"; exit 0; fi
rm -rf "$store" "$cache"/stack-registry-*
mkdir -p "$store"
work=$(mktemp -d /var/tmp/stack-images.XXXXXX)
registry=
cleanup() {
  [ -n "$registry" ] && kill "$registry" 2>/dev/null && wait "$registry" 2>/dev/null
  SWCOMPOSE_ROOT=$work/state "$swcompose" image prune -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export SWCOMPOSE_ROOT=$work/state
log=$work/build.log
echo "stack images: building ${order[*]} (once, a few minutes; $log)" >&2
base=$("$here/../../Scripts/debian-base.sh")
"$swcompose" image import "$base" swcompose/debian:bookworm --change 'CMD ["bash"]' >>"$log" 2>&1
# The contexts, copied, with the certificates beside the python image's Dockerfile.
cp -r "$here/images" "$work/images"
mkdir -p "$work/images/python/extra-ca-certificates"
[ -z "$extra_ca" ] || cp $extra_ca "$work/images/python/extra-ca-certificates/"
for image in "${order[@]}"; do
  args=()
  for tag in $(cat "$here/images/$image/tags"); do args+=(-t "$tag"); done
  start=$SECONDS
  if ! "$swcompose" image build --progress plain "${args[@]}" "$work/images/$image" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "stack images: building $image failed" >&2
    exit 1
  fi
  echo "stack images: $image built in $((SECONDS - start)) s" >&2
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<CONFIG
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $store}}
http: {addr: 127.0.0.1:$port}
CONFIG
docker-registry serve "$work/registry.yml" >>"$log" 2>&1 &
registry=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.1; done
for image in "${order[@]}"; do
  for tag in $(cat "$here/images/$image/tags"); do
    repository=${tag%%:*}
    case "$repository" in */*) ;; *) repository=library/$repository ;; esac
    target=127.0.0.1:$port/$repository:${tag#*:}
    "$swcompose" image tag "$tag" "$target" >>"$log" 2>&1
    "$swcompose" image push --quiet "$target" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "stack images: pushing $tag failed" >&2; exit 1; }
  done
done
touch "$store/.complete"
echo "$store"
