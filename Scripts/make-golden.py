#!/usr/bin/env python3
"""Records docker compose's answers for config fixtures (development aid; tests never need docker).

usage: Scripts/make-golden.py SWCOMPOSE FIXTURE_DIR... [--oracle docker-compose]

For each fixture (a compose project with optional `args` and `env` files) it writes:
  expected.yaml / expected.json   what `docker compose config` printed (paths as ${CASE_DIR},
                                  its parent as ${CASE_PARENT})
  expected-error.txt              what docker compose printed when it refused the project
  expect-error                    for refused projects: the location and message swcompose gives,
                                  as regular expressions (review them: they pin our wording)
"""
import os, re, shutil, subprocess, sys, tempfile

def run(cli, work, args, env, fmt):
    cmd = cli + args + ["config"] + (["--format", "json"] if fmt == "json" else [])
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)

argv = sys.argv[1:]
oracle = ["docker-compose"]
if "--oracle" in argv:
    i = argv.index("--oracle"); oracle = [argv[i + 1]]; del argv[i:i + 2]
ours = [os.path.abspath(argv[0])]
for fx in argv[1:]:
    if not os.path.isdir(fx): continue
    name = os.path.basename(fx.rstrip("/"))
    for f in ("expected.yaml", "expected.json", "expected-error.txt", "expect-error"):
        if os.path.exists(os.path.join(fx, f)): os.remove(os.path.join(fx, f))
    tmp = tempfile.mkdtemp(prefix="golden.")
    work = os.path.join(tmp, name)
    shutil.copytree(fx, work, symlinks=True)
    args = open(os.path.join(fx, "args")).read().split() if os.path.exists(os.path.join(fx, "args")) else []
    env = {"PATH": os.environ["PATH"], "HOME": "/root"}
    if os.path.exists(os.path.join(fx, "env")):
        for line in open(os.path.join(fx, "env")):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1); env[k] = v
    y = run(oracle, work, args, env, "yaml")
    if y.returncode == 0:
        j = run(oracle, work, args, env, "json")
        for fname, p in (("expected.yaml", y), ("expected.json", j)):
            if p.returncode == 0:
                open(os.path.join(fx, fname), "w").write(p.stdout.replace(work, "${CASE_DIR}").replace(tmp, "${CASE_PARENT}"))
        print(f"ok      {name}")
    else:
        open(os.path.join(fx, "expected-error.txt"), "w").write(y.stderr.replace(work, "${CASE_DIR}").replace(tmp, "${CASE_PARENT}"))
        o = run(ours, work, args, env, "yaml")
        first = next((l for l in o.stderr.splitlines() if ": error: " in l or l.startswith("error: ")), "")
        lines = []
        m = re.match(r"^(\S+?):(\d+):(\d+): error: (.*)$", first)
        if m:
            lines.append(re.escape(f"{m.group(1)}:{m.group(2)}:{m.group(3)}: error:"))
            lines.append(re.escape(m.group(4)))
        elif first:
            lines.append(re.escape(first[len("error: "):] if first.startswith("error: ") else first))
        open(os.path.join(fx, "expect-error"), "w").write("\n".join(lines) + "\n")
        print(f"refused {name}: {first}")
    shutil.rmtree(tmp, ignore_errors=True)
