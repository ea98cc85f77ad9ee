"""check_common.py - the command line the tree checks share (check_layers.py, check_sizes.py):
an optional root and --self-test, which runs the check's own self-test first."""

import os
import sys


def start(argv, doc, name, self_test, would):
    """Reads `argv` and runs `self_test` when asked. Returns (root, None) to go on, or
    (None, exit status). `would` says what a failed self-test means ("miss upward includes")."""
    args = [a for a in argv if a != "--self-test"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(doc, file=sys.stderr)
        return None, 2
    if "--self-test" in argv:
        failures = self_test()
        for f in failures:
            print(f"self-test: {f}")
        if failures:
            print(f"{name}: FAILED its self-test: it would {would}")
            return None, 1
        print(f"{name}: self-test passed")
    return (args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            None)
