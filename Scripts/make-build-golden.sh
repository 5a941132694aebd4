#!/usr/bin/env bash
# Records what docker's own builder makes of the build fixtures (Tests/CLITests/Fixtures/build/*):
# the image Config `docker image inspect` shows, as <fixture>/docker-config.json. Needs a running
# dockerd (its classic builder: DOCKER_BUILDKIT=0); the tests compare swcompose's builds with these
# files and never need docker.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=0
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# The tests' base: busybox with PATH=/bin:/usr/bin and CMD ["sh"] (ProjectFixture imports the same).
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
tar -C "$root" -cf - . | docker import --change 'ENV PATH=/bin:/usr/bin' --change 'CMD ["sh"]' - swcompose/busybox:latest >/dev/null
for dir in Tests/CLITests/Fixtures/build/*/; do
  name=$(basename "$dir")
  docker build -q -t "swcompose-golden-$name" "$dir" >/dev/null
  docker image inspect --format '{{json .Config}}' "swcompose-golden-$name" | python3 -m json.tool --sort-keys > "$dir/docker-config.json"
  docker image rm "swcompose-golden-$name" >/dev/null
  echo "recorded $dir/docker-config.json"
done
