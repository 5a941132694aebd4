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

# The "large image" of the load and pull benches, as a docker-save archive at $1, named
# bench/large:$3: Debian bookworm minbase (Scripts/debian-base.sh, cached) plus two COPY layers (this
# machine's /usr/lib/python3.11 and /usr/share/perl) — three uncompressed layers, ~190 MB, ~9,000
# files. Variant $3 has a file of its own in the base layer, so that no two variants share a layer:
# each is a first load for docker too, with nothing removed in between. Scratch state goes to $2.
make_large_image_archive() {
  local out=$1 scratch=$2 variant=$3 base
  base=$(Scripts/debian-base.sh)
  mkdir -p "$scratch/context" "$scratch/variant/etc"
  [ -f "$scratch/context/Dockerfile" ] || {
    cp -a /usr/lib/python3.11 "$scratch/context/py"
    cp -a /usr/share/perl "$scratch/context/perl"
  }
  zcat "$base" > "$scratch/base.tar"
  echo "$variant" > "$scratch/variant/etc/bench-variant"
  tar -rf "$scratch/base.tar" -C "$scratch/variant" ./etc/bench-variant
  SWCOMPOSE_ROOT=$scratch/root "$bin" image import "$scratch/base.tar" "bench/debian:$variant" >/dev/null
  rm "$scratch/base.tar"
  printf 'FROM bench/debian:%s\nCOPY py /usr/lib/python3.11\nCOPY perl /usr/share/perl\n' "$variant" > "$scratch/context/Dockerfile"
  SWCOMPOSE_ROOT=$scratch/root "$bin" image build -q -t "bench/large:$variant" "$scratch/context" >/dev/null
  SWCOMPOSE_ROOT=$scratch/root "$bin" image save -o "$out" "bench/large:$variant"
}

# After setup removed files: an ext4 without a journal (this VM's) scans past every inode freed in the
# last minute — six, while the inode table's block is dirty — each time it allocates one
# (fs/ext4/ialloc.c, recently_deleted), so a run right after a removal of thousands of files (setup,
# or another bench's cleanup) measures the removal. On such a file system the benches wait
# SWCOMPOSE_BENCH_SETTLE seconds (default 61; 360 to be sure after another bench) once, after setup.
let_file_system_forget() {
  sync
  local dev
  dev=$(basename "$(df --output=source "$1" | tail -1)")
  if [ "$(cat "/sys/fs/ext4/$dev/journal_task" 2>/dev/null)" = "<none>" ]; then
    echo "(ext4 without a journal: waiting ${SWCOMPOSE_BENCH_SETTLE:-61} s for the inodes setup freed to stop being 'recently deleted')"
    sleep "${SWCOMPOSE_BENCH_SETTLE:-61}"
  fi
}

# Milliseconds between two `date +%s%N` readings, and the median of numbers on standard input.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Time to a first container, run by run ($runs of them, the page cache flushed before each): `$2 i`
# fetches variant i (load or pull), `$3 i` runs a first container of it; "fetch run total" in ms per
# line to $1. `first_container_row LABEL FETCH-WORD FILE` prints the medians;
# `first_container_goal OURS THEIRS` the ratio of the totals' medians against the 3x goal (exit 1
# when missed). `down_runs` takes the swcompose runs' projects ($work/project-i, root $work/root-i) down.
time_to_first_container() {
  local out=$1 fetch=$2 run=$3 i a b c
  : > "$out"
  for i in $(seq "$runs"); do
    sync
    a=$(date +%s%N); "$fetch" "$i" >/dev/null
    b=$(date +%s%N); "$run" "$i" >/dev/null 2>&1
    c=$(date +%s%N)
    echo "$(ms "$a" "$b") $(ms "$b" "$c") $(ms "$a" "$c")" >> "$out"
  done
}
first_container_row() {
  printf '%-44s %s %6s ms  first run %5s ms  total %6s ms\n' "$1" "$2" \
    "$(cut -d' ' -f1 "$3" | median)" "$(cut -d' ' -f2 "$3" | median)" "$(cut -d' ' -f3 "$3" | median)"
}
first_container_goal() {
  local ratio
  ratio=$(awk -v a="$(cut -d' ' -f3 "$2" | median)" -v b="$(cut -d' ' -f3 "$1" | median)" 'BEGIN { printf "%.1f", a / b }')
  if awk -v r="$ratio" 'BEGIN { exit !(r >= 3) }'; then
    echo "swcompose is ${ratio}x faster to a first container: goal >= 3x met"
  else
    echo "swcompose is ${ratio}x faster to a first container: goal >= 3x MISSED"
    return 1
  fi
}
# A first container of variant $1 in its project, on its own state root.
swcompose_first_run() { (cd "$work/project-$1" && SWCOMPOSE_ROOT=$work/root-$1 "$bin" run --rm --pull never probe true); }
down_runs() {
  local i
  for i in $(seq "$runs"); do
    [ -d "$work/root-$i" ] && (cd "$work/project-$i" && SWCOMPOSE_ROOT=$work/root-$i "$bin" down >/dev/null 2>&1) || true
  done
}
