#!/usr/bin/env bash
# make-image.sh BIN OUT.tar -- the runtime-conformance image, busybox:local, as a docker-save archive made
# by swcompose itself (no docker needed): Debian's busybox-static as /bin/busybox with a link per applet,
# nothing else, imported with ENV PATH=/bin and CMD ["/bin/sh"] -- the same root docker imported for
# the recorded answers (`docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' root.tar busybox:local`).
set -euo pipefail
bin=$1 out=$2
work=$(mktemp -d /tmp/rtc-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin"
cp /bin/busybox "$work/root/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/root/bin/$a"; done
tar -C "$work/root" -cf "$work/root.tar" .
export SWCOMPOSE_ROOT=$work/state
"$bin" image import "$work/root.tar" busybox:local --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' >/dev/null
"$bin" image save -o "$out" busybox:local
rm -rf "$work/state"
