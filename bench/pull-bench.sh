#!/usr/bin/env bash
# Pull throughput of a large image from a local registry (Debian's docker-registry on 127.0.0.1),
# against the tools a user would otherwise pull with, in the same run:
#
#   swcompose image pull   download, verify, unpack (into a fresh state root each run)
#   skopeo copy … dir:     download and verify only (into a fresh directory each run)
#   docker pull            download, verify, unpack (after `docker rmi` each run), when dockerd answers
#
# The image: LAYERS layers of 48 MiB each (16 MiB random, 32 MiB of text), gzip-compressed, pushed as
# docker schema 2 by skopeo.
#
# usage: bench/pull-bench.sh [RUNS] [LAYERS]      (defaults 5 and 4)
# Needs root, hyperfine, python3, skopeo and docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
runs=${1:-5}
layers=${2:-4}
work=$(mktemp -d /var/tmp/swcompose-pull-bench.XXXXXX)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  if [ -n "${DOCKER_READY:-}" ]; then docker rmi -f "$image" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

build_swcompose
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done
image=127.0.0.1:$port/bench/big:1

python3 - "$work/layout" "$layers" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data, media):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}
text = b"".join(b"line %08d of a rather ordinary file in a container image\n" % i for i in range(600000))[: 32 << 20]
layers, diff_ids = [], []
for i in range(n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in ((f"layer{i}/random.bin", os.urandom(16 << 20)), (f"layer{i}/text.txt", text)):
            info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 1600000000
            t.addfile(info, io.BytesIO(data))
    plain = buf.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(plain).hexdigest())
    layers.append(blob(gzip.compress(plain, 6, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"))
config = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode(), "application/vnd.oci.image.config.v1+json")
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": config, "layers": layers}).encode(), "application/vnd.oci.image.manifest.v1+json")
manifest["annotations"] = {"org.opencontainers.image.ref.name": "1"}
open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [manifest]}))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(sum(l["size"] for l in layers))
PY
skopeo copy --quiet --format v2s2 --dest-tls-verify=false "oci:$work/layout:1" "docker://$image"
compressed=$(du -cb "$work"/layout/blobs/sha256/* | tail -1 | cut -f1)
rm -rf "$work/layout"

cases=(swcompose skopeo)
if docker info >/dev/null 2>&1; then
  DOCKER_READY=1
  cases+=(docker)
else
  echo "(docker is not reachable: no docker pull reference)"
fi

machine
echo "image: $layers layers, $((compressed / 1048576)) MiB compressed, $((layers * 48)) MiB unpacked; runs per tool: $runs (hyperfine, 1 warm-up)"
export SWCOMPOSE_ROOT=$work/state
args=(--prepare "rm -rf $work/state" -n swcompose "$bin image pull -q $image >/dev/null"
      --prepare "rm -rf $work/skopeo" -n skopeo "skopeo copy --quiet --src-tls-verify=false docker://$image dir:$work/skopeo")
if [ -n "${DOCKER_READY:-}" ]; then
  args+=(--prepare "docker rmi -f $image >/dev/null 2>&1 || true" -n docker "docker pull -q $image >/dev/null")
fi
hyperfine --shell=bash --warmup 1 --runs "$runs" "${args[@]}" --export-json "$work/pull.json" >/dev/null

python3 - "$work/pull.json" "$compressed" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
size = int(sys.argv[2]) / 1e6
ours = r["swcompose"]["mean"]
print(f"{'':34s} {'mean':>9s} {'MB/s':>8s} {'swcompose is':>14s}")
labels = {"swcompose": "swcompose image pull (+ unpack)", "skopeo": "skopeo copy to dir (no unpack)", "docker": "docker pull (+ unpack)"}
for k in ("swcompose", "skopeo", "docker"):
    if k not in r: continue
    m = r[k]["mean"]
    ratio = "" if k == "swcompose" else f"{m/ours:12.2f}x"
    print(f"{labels[k]:34s} {m*1000:7.0f}ms {size/m:8.1f} {ratio:>14s}")
PY
