#!/usr/bin/env bash
# guest.sh -- runs a command as root in a throwaway Linux guest with pure cgroup v2: the kernel matrix.
#
#   Scripts/guest.sh [--kernel 6.1|5.10] [--share DIR]... [--share-ro DIR]... [--env NAME=VALUE]...
#                    [--mem SIZE] [--timeout SECONDS] [--systemd] [--console] -- COMMAND [ARG...]
#   Scripts/guest.sh [--kernel K] --build        build (or check) the cached guest and exit
#
# The guest is user-mode Linux (Debian's `user-mode-linux`: a Linux kernel that runs as an ordinary
# process, ~3 s to boot here) on a Debian 12 root made once with debootstrap. Kernels:
#   6.1   Debian 12's user-mode-linux package (installed on the host if missing);
#   5.10  Debian 11's (bullseye) user-mode-linux 5.10, fetched with `apt-get download` through a
#         private apt configuration (the host's sources are not touched) and unpacked, not installed.
# It boots with `cgroup_no_v1=all` and no systemd: a small init mounts cgroup2 on /sys/fs/cgroup
# (nsdelegate), enables every controller the kernel offers (cpu io memory pids on these kernels),
# mounts the shares (hostfs: DIR at the same path in the guest), runs COMMAND as root with the
# caller's working directory, streams its output back, and powers off. The exit status is
# COMMAND's (124 on timeout, 125 when the guest reported none). The guest has no network interface
# but lo; iptables is left as Debian configures it (the nft backend, which these kernels lack), so
# swcompose's own choice of backend is what is tested.
#
# With --systemd the guest boots systemd as PID 1 instead (a systemd host, cgroups managed by it) and
# runs COMMAND as a oneshot service once the system is up.
#
# Every run starts from the same root (a copy-on-write file over the cached image, removed after
# the run). Keep state that overlayfs needs as an upper directory on the guest's disk or /tmp
# (tmpfs), not on a share.
#
# Cache: $SWCOMPOSE_GUEST_CACHE (default /var/tmp/swcompose-guests, ~700 MB; first build ~3 min).
set -euo pipefail

CACHE=${SWCOMPOSE_GUEST_CACHE:-/var/tmp/swcompose-guests}
KERNEL=${SWCOMPOSE_GUEST_KERNEL:-6.1}
MEM=2G
TIMEOUT=1800
MIRROR=${SWCOMPOSE_GUEST_MIRROR:-http://deb.debian.org/debian}
RECIPE=3 # bump when the root recipe changes: a cache built with another value is rebuilt
PACKAGES=iproute2,iptables,procps,busybox-static,kmod,ca-certificates,libyaml-0-2,libarchive13,libseccomp2,libcurl4,libxml2,libsqlite3-0,iputils-ping,python3,systemd

die() { echo "guest: $*" >&2; exit 125; }
log() { echo "guest: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

shares=() shares_ro=() envs=() build_only=0 console=0 systemd=0
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) KERNEL=${2:?}; shift 2 ;;
    --share) shares+=("${2:?}"); shift 2 ;;
    --share-ro) shares_ro+=("${2:?}"); shift 2 ;;
    --env) envs+=("${2:?}"); shift 2 ;;
    --mem) MEM=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --console) console=1; shift ;;
    --systemd) systemd=1; shift ;;
    --build) build_only=1; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "guest: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || [ $build_only = 1 ] || usage
[ "$(id -u)" = 0 ] || die "must run as root"
case $KERNEL in
  6.1) suite='' ;;
  5.10) suite=bullseye ;;
  *) die "unknown kernel $KERNEL (6.1 or 5.10)" ;;
esac

# ---------------------------------------------------------------------------------------------
# The cache: the root (debootstrap), the kernels and their modules, the disk image.
# ---------------------------------------------------------------------------------------------
need_host_packages() {
  local need=() pair
  for pair in linux.uml:user-mode-linux debootstrap:debootstrap mkfs.ext4:e2fsprogs dpkg-deb:dpkg; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]}"
  apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed (continuing)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
}

build_root() {
  [ -e "$CACHE/root/.ok" ] && return 0
  log "debootstrap bookworm into $CACHE/root (a few minutes, once)"
  rm -rf "$CACHE/root.tmp"
  nice debootstrap --variant=minbase --include="$PACKAGES" bookworm "$CACHE/root.tmp" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed, see $CACHE/debootstrap.log"
  local r=$CACHE/root.tmp
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/man/* \
         "$r"/usr/share/locale/* "$r"/usr/share/info/*
  echo guest >"$r/etc/hostname"
  printf '127.0.0.1\tlocalhost guest\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
  : >"$r/etc/resolv.conf"
  : >"$r/etc/fstab"
  mkdir -p "$r/guest"
  # No initramfs under UML: mount the run's directory (hostfs) and hand over to its init.
  cat >"$r/sbin/guest-boot" <<'EOF'
#!/bin/busybox sh
mount -t hostfs -o "$GUEST_RUN" none /guest || echo "guest-boot: cannot mount $GUEST_RUN"
exec /guest/init
EOF
  chmod 755 "$r/sbin/guest-boot"
  # --systemd: the same share, then systemd, which runs the command as a service.
  cat >"$r/sbin/guest-boot-systemd" <<'EOF'
#!/bin/busybox sh
mount -t hostfs -o "$GUEST_RUN" none /guest || echo "guest-boot: cannot mount $GUEST_RUN"
exec /lib/systemd/systemd
EOF
  chmod 755 "$r/sbin/guest-boot-systemd"
  cat >"$r/etc/systemd/system/guest-command.service" <<'EOF'
[Unit]
Description=The guest's command
Requires=sysinit.target
After=sysinit.target local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/busybox sh /guest/init-systemd
StandardOutput=null
StandardError=null
EOF
  touch "$r/.ok"
  mv "$r" "$CACHE/root"
}

# 6.1: the host's package; 5.10: bullseye's, unpacked into $CACHE/uml-5.10.
fetch_kernel() {
  if [ -z "$suite" ]; then
    umlbin=$(command -v linux.uml)
    umlmodules=/usr/lib/uml/modules/$(ls /usr/lib/uml/modules | head -n1)
    return 0
  fi
  local d=$CACHE/uml-$KERNEL t=$CACHE/uml-$KERNEL.tmp a v deb
  if [ ! -e "$d/.ok" ]; then
    rm -rf "$t"; mkdir -p "$t/apt/lists/partial" "$t/apt/cache/archives/partial"
    echo "deb $MIRROR $suite main" >"$t/apt/sources.list"
    a=(-o Dir::Etc::sourcelist="$t/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
       -o Dir::State::Lists="$t/apt/lists" -o Dir::Cache="$t/apt/cache" -o APT::Sandbox::User=root)
    log "fetching user-mode-linux from $suite (private apt configuration)"
    apt-get "${a[@]}" update >"$t/apt.log" 2>&1 || die "apt-get update for $suite failed, see $t/apt.log"
    # The suite's own version (the host's installed package would otherwise be the candidate).
    v=$(apt-cache "${a[@]}" madison user-mode-linux 2>>"$t/apt.log" | awk -v s="$suite" '$0 ~ s"/main" {print $3; exit}')
    [ -n "$v" ] || die "no user-mode-linux in $suite, see $t/apt.log"
    (cd "$t" && apt-get "${a[@]}" download "user-mode-linux=$v") >>"$t/apt.log" 2>&1 ||
      die "apt-get download user-mode-linux=$v ($suite) failed, see $t/apt.log"
    deb=$(ls "$t"/user-mode-linux_*.deb)
    dpkg-deb -x "$deb" "$t/x" || die "dpkg-deb -x $deb failed"
    v=$(ls "$t/x/usr/lib/uml/modules")
    [ -n "$v" ] && [ -x "$t/x/usr/bin/linux.uml" ] || die "$deb has no linux.uml or no modules"
    mkdir -p "$t/modules"
    mv "$t/x/usr/bin/linux.uml" "$t/linux.uml"
    mv "$t/x/usr/lib/uml/modules/$v" "$t/modules/$v"
    rm -rf "$t/x" "$t/apt" "$deb"
    touch "$t/.ok"
    rm -rf "$d"; mv "$t" "$d"
  fi
  umlbin=$d/linux.uml
  umlmodules=$d/modules/$(ls "$d/modules")
}

# One disk image per kernel: the root with that kernel's modules, depmod'ed.
build_image() {
  local image=$CACHE/root-$KERNEL.img v
  v=$(basename "$umlmodules")
  [ -e "$image" ] && [ "$(cat "$image.ok" 2>/dev/null)" = "$RECIPE $v" ] && return 0
  log "making $image"
  rm -rf "$CACHE/root/usr/lib/modules"; mkdir -p "$CACHE/root/usr/lib/modules"
  cp -a "$umlmodules" "$CACHE/root/usr/lib/modules/"
  chroot "$CACHE/root" /sbin/depmod -a "$v" || die "depmod $v failed"
  truncate -s 8G "$image.tmp"
  mkfs.ext4 -q -F -O ^has_journal -E root_owner=0:0 -d "$CACHE/root" "$image.tmp" >/dev/null || die "mkfs.ext4 failed"
  mv "$image.tmp" "$image"
  echo "$RECIPE $v" >"$image.ok"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ "$(cat "$CACHE/.recipe" 2>/dev/null)" != "$RECIPE" ]; then
  rm -rf "$CACHE/root" "$CACHE"/root-*.img*
fi
need_host_packages
build_root
fetch_kernel
build_image
echo "$RECIPE" >"$CACHE/.recipe"
flock -u 9
exec 9>&-
[ $build_only = 1 ] && { echo "$CACHE/root-$KERNEL.img ($("$umlbin" --version 2>/dev/null | head -n1 || echo "$KERNEL"))"; exit 0; }

# ---------------------------------------------------------------------------------------------
# A run
# ---------------------------------------------------------------------------------------------
mkdir -p "$CACHE/runs"
run=$(mktemp -d "$CACHE/runs/run.XXXXXX")
guest_pid='' tails=()
cleanup() {
  [ -n "$guest_pid" ] && kill "$guest_pid" 2>/dev/null
  for t in ${tails[@]+"${tails[@]}"}; do kill "$t" 2>/dev/null; done
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What both inits do once the system is up: mount the shares, run the command, leave its status.
cat >"$run/command" <<'EOF'
while IFS='	' read -r src path opts; do
  [ -n "$src" ] || continue
  mkdir -p "$path"
  mount -t hostfs -o "${opts}${opts:+,}$src" none "$path" || echo "guest: cannot mount share $path" >>$G/stderr
done <$G/shares
cd /
env -i PATH="$PATH" HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
  bash $G/cmd </dev/null >>$G/stdout 2>>$G/stderr
echo $? >$G/rc.tmp
sync
mv $G/rc.tmp $G/rc
sync
EOF
# The guest's PID 1. busybox sh runs its applets without exec (each exec costs tens of ms here).
cat >"$run/init" <<'EOF'
#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
G=/guest
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
grep -q '^[^ ]* /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
[ -e /dev/ptmx ] || ln -sfn pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
read -r controllers </sys/fs/cgroup/cgroup.controllers
for c in $controllers; do echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control; done
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ip link set lo up
hostname guest
. $G/command
poweroff -f
EOF
chmod 755 "$run/init"
# Under systemd: the mounts are systemd's; shares, the command, the status, power off.
cat >"$run/init-systemd" <<'EOF'
G=/guest
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
. $G/command
systemctl poweroff --force --force
EOF

{
  for e in ${envs[@]+"${envs[@]}"}; do
    case $e in [A-Za-z_]*=*) printf 'export %s=%q\n' "${e%%=*}" "${e#*=}" ;; *) die "--env wants NAME=VALUE, got $e" ;; esac
  done
  printf 'cd -- %q 2>/dev/null || cd /\n' "$PWD"
  printf 'exec'; printf ' %q' "$@"; printf '\n'
} >"$run/cmd"
: >"$run/stdout"; : >"$run/stderr"; : >"$run/shares"
add_share() { # DIR OPTIONS
  local d
  d=$(realpath -e "$1" 2>/dev/null) || die "share $1: no such directory"
  case $d in *,*|*$'\t'*|*' '*) die "share $d: commas and blanks are not supported" ;; esac
  printf '%s\t%s\t%s\n' "$d" "$d" "$2" >>"$run/shares"
}
for d in ${shares[@]+"${shares[@]}"}; do add_share "$d" ""; done
for d in ${shares_ro[@]+"${shares_ro[@]}"}; do add_share "$d" ro; done

# timeout signals its whole process group: every UML process (one per guest process's address space).
boot=(init=/sbin/guest-boot)
[ $systemd = 1 ] && boot=(init=/sbin/guest-boot-systemd systemd.unit=guest-command.service systemd.show_status=0)
timeout -k 5 "$TIMEOUT" "$umlbin" "mem=$MEM" "ubd0=$run/root.cow,$CACHE/root-$KERNEL.img" root=/dev/ubda rw \
  "GUEST_RUN=$run" "${boot[@]}" con=null ssl=null con0=null,fd:3 panic=-1 quiet loglevel=4 \
  cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 </dev/null >"$run/guest.log" 2>&1 3>"$run/console.log" &
guest_pid=$!
tail -n +1 -f --pid=$guest_pid -s 0.2 "$run/stdout" & tails+=($!)
tail -n +1 -f --pid=$guest_pid -s 0.2 "$run/stderr" >&2 & tails+=($!)
set +e
wait $guest_pid; status=$?
guest_pid=''
wait "${tails[@]}"
tails=()
set -e
[ $console = 1 ] && { echo "----- guest console -----"; cat "$run/console.log" "$run/guest.log"; echo "-----"; } >&2
[ -s "$run/rc" ] && exit "$(cat "$run/rc")"
if [ $status = 124 ] || [ $status = 137 ]; then
  log "timed out after ${TIMEOUT}s"; tail -n 20 "$run/console.log" >&2; exit 124
fi
log "the guest stopped ($status) without an exit status; console:"
tail -n 30 "$run/console.log" "$run/guest.log" >&2
exit 125
