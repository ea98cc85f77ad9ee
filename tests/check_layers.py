#!/usr/bin/python3
"""check_layers.py - fails on an #include that goes up the layers (README, "Architecture").

    common -> conf, queue -> net -> policy -> inbound -> relay -> cli

A file may include headers of its own folder and of the layers below it, never of a layer
above it. conf/ and queue/ sit side by side and include neither each other. Sub-folders
belong to their top folder (policy/dkim is policy/). Every `#include "..."` of a product
folder is read; a quoted include must name its folder (`"net/resolver.h"`), and product code
never includes tests/, fuzz/ or bench/. Each violation is printed as FILE:LINE: the rule.

    check_layers.py [--self-test] [ROOT]

ROOT is the source tree (default: the one this script is in). --self-test first runs the
check on synthetic trees, one per rule, and fails unless each broken rule is reported and a
clean tree passes, so the check cannot pass by reading nothing. Python stdlib only; ctest
runs it as the test `layers` (tests/CMakeLists.txt).
"""

import check_common
import os
import re
import sys
import tempfile

# The rank of each product folder: a file may include a folder of lower or equal rank, but
# of equal rank only its own folder.
LAYERS = {
    "common": 0,
    "conf": 1,
    "queue": 1,
    "net": 2,
    "policy": 3,
    "inbound": 4,
    "relay": 5,
    "cli": 6,
}
NOT_PRODUCT = ("tests", "fuzz", "bench")
SOURCE_SUFFIXES = (".h", ".cc")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def check_file(root, path, folder):
    """Returns the violations of one file as "path:line: rule" strings."""
    problems = []
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            where = f"{rel}:{number}"
            top = target.split("/", 1)[0] if "/" in target else None
            if top is None:
                problems.append(f'{where}: "{target}" does not name its folder; '
                                f'include it as "<folder>/{target}"')
            elif top in NOT_PRODUCT:
                problems.append(f'{where}: {folder}/ includes "{target}": product code never '
                                f"includes {top}/")
            elif top not in LAYERS:
                problems.append(f'{where}: "{target}" is in no known folder '
                                f"({', '.join(LAYERS)})")
            elif LAYERS[top] > LAYERS[folder]:
                problems.append(f'{where}: {folder}/ includes "{target}" from {top}/, a higher '
                                f"layer ({folder}/ may include only {allowed(folder)})")
            elif LAYERS[top] == LAYERS[folder] and top != folder:
                problems.append(f'{where}: {folder}/ includes "{target}" from {top}/, which '
                                f"sits beside it ({folder}/ may include only {allowed(folder)})")
    return problems


def allowed(folder):
    """The folders that `folder` may include, in words."""
    names = [n for n, r in LAYERS.items() if r < LAYERS[folder]] + [folder]
    return ", ".join(n + "/" for n in names)


def check_tree(root):
    """Returns (files read, includes read, violations) for the product folders under root."""
    files = includes = 0
    problems = []
    for folder in LAYERS:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            problems.append(f"{folder}/: missing; is {root} the source tree?")
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                files += 1
                with open(path, encoding="utf-8", errors="replace") as f:
                    includes += sum(1 for line in f if INCLUDE.match(line))
                problems += check_file(root, path, folder)
    return files, includes, problems


def self_test():
    """Each rule broken in a synthetic tree must be reported; a clean tree must pass."""
    clean = {
        "common/log.h": "",
        "conf/config.h": '#include "common/log.h"\n',
        "queue/store.h": '#include "common/log.h"\n',
        "net/resolver.h": '#include "common/log.h"\n',
        "policy/dkim/signer.h": '#include "net/resolver.h"\n#include "conf/config.h"\n',
        "inbound/checks.h": '#include "policy/dkim/signer.h"\n',
        "relay/delivery.h": '#include "inbound/checks.h"\n#include "queue/store.h"\n',
        "cli/serve.cc": '#include "relay/delivery.h"\n// #include "cli/nothing.h" a comment\n',
    }
    # (file, line that breaks a rule, words the report must hold)
    broken = [
        ("policy/blacklist_monitor.h", '#include "relay/delivery.h"', "from relay/, a higher layer"),
        ("policy/spf/spf.h", '  #  include "relay/delivery.h"', "from relay/, a higher layer"),
        ("common/loop.h", '#include "conf/config.h"', "from conf/, a higher layer"),
        ("net/tls.h", '#include "policy/dkim/signer.h"', "from policy/, a higher layer"),
        ("relay/x.cc", '#include "cli/serve.h"', "from cli/, a higher layer"),
        ("conf/units.cc", '#include "queue/store.h"', "sits beside it"),
        ("inbound/y.cc", '#include "tests/temp_dir.h"', "never includes tests/"),
        ("queue/z.cc", '#include "store.h"', "does not name its folder"),
    ]
    failures = []
    with tempfile.TemporaryDirectory() as root:
        for folder in LAYERS:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        for rel, text in clean.items():
            write(root, rel, text)
        files, _, problems = check_tree(root)
        if problems or files != len(clean):
            failures.append(f"clean tree: read {files} of {len(clean)} files, "
                            f"reported {problems}")
        for rel, line, words in broken:
            write(root, rel, "// a planted violation\n" + line + "\n")
            _, _, problems = check_tree(root)
            expected = f"{rel}:2: "
            if not any(p.startswith(expected) and words in p for p in problems):
                failures.append(f"{rel}: {line!r} not reported as {words!r}; got {problems}")
            os.remove(os.path.join(root, rel))
    return failures


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv):
    root, status = check_common.start(argv, __doc__, "check_layers", self_test,
                                      "miss upward includes")
    if root is None:
        return status
    files, includes, problems = check_tree(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} upward include(s) in {files} files; the layers are "
              "common -> conf, queue -> net -> policy -> inbound -> relay -> cli")
        return 1
    if files == 0 or includes == 0:
        print(f"check_layers: read {files} files and {includes} includes under {root}: nothing "
              "to check")
        return 1
    print(f"check_layers: {files} files, {includes} includes, no upward include")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
