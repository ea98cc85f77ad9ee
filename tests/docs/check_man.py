#!/usr/bin/python3
"""check_man.py - the man pages are clean roff and hato.yaml(5) documents every key.

    check_man.py --hato BUILD/hato --man-dir BUILD/man --source-dir SRC/docs

1. hato.8 and hato.yaml.5 exist in --man-dir (made by scdoc at build time; missing scdoc
   fails here, it is never skipped), and `groff -man -ww -z` and `mandoc -T lint -W error`
   print nothing for either.
2. The keys `hato config keys` prints (the loader's own tables, conf/config_keys.h) and the
   keys hato.yaml.5.scd documents (a line that is only *a.key.path*) are the same set: a key
   the loader takes and the page lacks fails, and so does a page entry the loader refuses.
Python stdlib only; ctest runs it as the test `man_pages`.
"""

import argparse
import os
import re
import subprocess
import sys

PAGES = ("hato.8", "hato.yaml.5")
# A documented key: a line holding only *path*, e.g. *delivery.retry.first* or
# *listeners[].address*.
ENTRY = re.compile(r"^\*([a-z_][a-z0-9_.\[\]]*)\*$")


def lint(man_dir):
    problems = []
    for page in PAGES:
        path = os.path.join(man_dir, page)
        if not os.path.exists(path):
            problems.append(f"{path}: missing (is scdoc installed? dev.sh installs it)")
            continue
        for cmd in (["groff", "-man", "-ww", "-z", path], ["mandoc", "-T", "lint", "-W", "error", path]):
            run = subprocess.run(cmd, capture_output=True, text=True)
            out = (run.stdout + run.stderr).strip()
            if out or run.returncode != 0:
                problems.append(f"{' '.join(cmd)} (exit {run.returncode}):\n{out}")
    return problems


def documented_keys(scd):
    keys = set()
    with open(scd, encoding="utf-8") as f:
        for line in f:
            m = ENTRY.match(line.rstrip("\n"))
            if m:
                keys.add(m.group(1))
    return keys


def accepted_keys(hato):
    run = subprocess.run([hato, "config", "keys"], capture_output=True, text=True)
    if run.returncode != 0 or not run.stdout.strip():
        sys.exit(f"FAIL: `{hato} config keys` exit {run.returncode}: {run.stderr.strip()}")
    return set(run.stdout.split())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hato", required=True)
    p.add_argument("--man-dir", required=True)
    p.add_argument("--source-dir", required=True)
    a = p.parse_args()
    problems = lint(a.man_dir)
    accepted = accepted_keys(a.hato)
    documented = documented_keys(os.path.join(a.source_dir, "hato.yaml.5.scd"))
    for key in sorted(accepted - documented):
        problems.append(f"hato.yaml(5) lacks the key {key} (accepted by `hato config check`)")
    for key in sorted(documented - accepted):
        problems.append(f"hato.yaml(5) documents {key}, which `hato config check` refuses")
    for line in problems:
        print("FAIL:", line)
    if problems:
        return 1
    print(f"ok: {len(accepted)} keys documented, {len(PAGES)} pages lint-clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
