#!/usr/bin/env python3
"""Writes a compose project with N services (default 500) that exercises most of the loader:
interpolation, anchors and merge keys, ports, volumes, networks, depends_on, healthchecks, deploy.

usage: bench/gen-large-project.py DIR [N]
"""
import os, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
os.makedirs(out, exist_ok=True)
lines = ["name: bench", "x-common: &common", "  restart: unless-stopped", "  logging:", "    driver: json-file",
         "    options: {max-size: 10m}", "  environment: &env", "    LOG_LEVEL: ${LOG_LEVEL:-info}", "    REGION: eu", "services:"]
for i in range(n):
    deps = f"[svc{i-1}]" if i % 10 else "[]"
    lines += [
        f"  svc{i}:",
        "    <<: *common",
        f"    image: registry.example.com/team/app{i % 7}:${{TAG:-1.{i}}}",
        f"    command: [\"/bin/server\", \"--port\", \"{8000 + i}\", \"--name\", \"svc{i}\"]",
        "    environment:",
        "      <<: *env",
        f"      INDEX: \"{i}\"",
        f"      PEER: svc{(i + 1) % n}",
        f"    ports: [\"{10000 + i}:{8000 + i}\", \"127.0.0.1:{20000 + i}:9000/udp\"]",
        f"    volumes: [\"data{i % 20}:/var/lib/data\", \"./conf/svc{i}:/etc/conf:ro\", \"/cache\"]",
        f"    networks: [front, back]",
        f"    depends_on: {deps}",
        "    healthcheck:",
        f"      test: [\"CMD-SHELL\", \"wget -qO- http://localhost:{8000 + i}/health || exit 1\"]",
        "      interval: 10s",
        "      timeout: 2s",
        "      retries: 3",
        "    deploy:",
        "      resources:",
        "        limits: {cpus: '0.5', memory: 128M}",
        "    labels:",
        f"      com.example.index: \"{i}\"",
        "      com.example.team: bench",
    ]
lines += ["networks:", "  front: {}", "  back: {internal: true}", "volumes:"]
lines += [f"  data{k}: {{}}" for k in range(20)]
open(os.path.join(out, "compose.yaml"), "w").write("\n".join(lines) + "\n")
print(f"wrote {out}/compose.yaml with {n} services")
