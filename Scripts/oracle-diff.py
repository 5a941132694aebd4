#!/usr/bin/env python3
"""Development aid: compares `swcompose config` with docker compose's, byte for byte.

usage: Scripts/oracle-diff.py SWCOMPOSE CASE_DIR... [--oracle docker-compose] [--show]
Each CASE_DIR is a compose project (with optional `args` and `env` files as in the conformance
fixtures). Both CLIs run on the same copy, in YAML and in JSON; outputs and exit codes must match.
docker compose itself is only needed here, never by the tests: golden files record its answers.
"""
import os, shutil, subprocess, sys, tempfile, difflib

def run(cli, work, args, env, fmt):
    cmd = cli + args + ["config"] + (["--format", "json"] if fmt == "json" else [])
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr

def main():
    argv = sys.argv[1:]
    oracle = ["docker-compose"]
    show = "--show" in argv
    argv = [a for a in argv if a != "--show"]
    if "--oracle" in argv:
        i = argv.index("--oracle"); oracle = [argv[i + 1]]; del argv[i:i + 2]
    ours = [os.path.abspath(argv[0])]
    bad = 0
    for case in [c for c in argv[1:] if os.path.isdir(c)]:
        name = os.path.basename(case.rstrip("/"))
        tmp = tempfile.mkdtemp(prefix="oracle.")
        work = os.path.join(tmp, name)
        shutil.copytree(case, work, symlinks=True)
        args = open(os.path.join(case, "args")).read().split() if os.path.exists(os.path.join(case, "args")) else []
        env = {"PATH": os.environ["PATH"], "HOME": "/root"}
        if os.path.exists(os.path.join(case, "env")):
            for line in open(os.path.join(case, "env")):
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1); env[k] = v
        for fmt in ("yaml", "json"):
            rc1, out1, err1 = run(oracle, work, args, env, fmt)
            rc2, out2, err2 = run(ours, work, args, env, fmt)
            if (rc1 == 0) != (rc2 == 0):
                bad += 1
                print(f"FAIL {name} [{fmt}]: oracle rc={rc1} ours rc={rc2}\n  oracle: {err1.strip()[:300]}\n  ours: {err2.strip()[:600]}")
                break
            if rc1 != 0:
                if show: print(f"both refuse {name}:\n  oracle: {err1.strip()[:300]}\n  ours: {err2.strip()[:600]}")
                break
            if out1 != out2:
                bad += 1
                diff = "".join(list(difflib.unified_diff(out1.splitlines(True), out2.splitlines(True), "oracle", "ours", n=2))[:60])
                print(f"FAIL {name} [{fmt}]:\n{diff}")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(argv) - 1 - bad} identical, {bad} different")
    sys.exit(1 if bad else 0)

main()
