# Shared by the benchmark scripts: the release build, a busybox root filesystem, machine facts.

# Builds the release binary (statically linked Swift runtime: faster to exec) into $bin.
build_swcompose() {
  swift build -c release --static-swift-stdlib --product swcompose >/dev/null
  swift build -c release --static-swift-stdlib --product swcompose-runtime >/dev/null
  bin=$PWD/.build/release/swcompose
}

# A root filesystem of Debian's busybox-static as a tarball at $1 (with /etc/passwd, /etc/group).
make_busybox_tar() {
  local out=$1 dir
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root"
  cp /bin/busybox "$dir/bin/"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar -C "$dir" -cf "$out" .
  rm -rf "$dir"
}

machine() {
  echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), cgroup $( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1)"
}
