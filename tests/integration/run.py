#!/usr/bin/python3
"""Runs Hato's integration tests against a built `hato` binary.

    /usr/bin/python3 tests/integration/run.py --hato build/hato [-k PATTERN]...

Discovers test_*.py beside this file (unittest, Python stdlib only, plus swaks
and openssl; the delivery tests also need python3-aiosmtpd and dnsmasq-base). -k selects tests whose full name (module.Class.test_name)
contains PATTERN (or matches it as a glob when it has a '*'). The last line of
output is `N passed, N failed` (plus `, N skipped` when any were skipped);
the exit status is non-zero when anything failed. HATO_KEEP=1 keeps the temp
dirs (config, data, daemon log) for inspection.
"""

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self.failed_ids = []
        self.durations = {}
        self._t0 = {}

    def _note_failure(self, test, entries):
        name = test.id()
        parent = getattr(test, "test_case", None)  # a subTest
        if parent is not None:
            name = parent.id()
        if name not in self.failed_ids:
            self.failed_ids.append(name)
        daemons = getattr(parent or test, "_daemons", None) or []
        if daemons and entries:
            t, text = entries[-1]
            tails = "\n".join(d.log_tail() for d in daemons if d.log_path not in text)
            if tails:
                entries[-1] = (t, text + "\n" + tails)

    def startTest(self, test):
        self._t0[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        t0 = self._t0.pop(test.id(), None)
        if t0 is not None:
            self.durations[test.id()] = time.monotonic() - t0
        super().stopTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._note_failure(test, self.failures)

    def addError(self, test, err):
        super().addError(test, err)
        self._note_failure(test, self.errors)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._note_failure(test, [])

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            lst = self.failures if issubclass(err[0], test.failureException) else self.errors
            self._note_failure(subtest, lst)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hato", required=True, help="path to the hato binary")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="run only tests whose name contains PATTERN (repeatable)")
    ap.add_argument("-q", "--quiet", action="store_true", help="one character per test")
    args = ap.parse_args()

    # One stream, so that the summary really is the last line.
    sys.stderr = sys.stdout
    hato = os.path.abspath(args.hato)
    if not (os.path.isfile(hato) and os.access(hato, os.X_OK)):
        print(f"run.py: {hato} is not an executable file")
        print("0 passed, 1 failed")
        return 1
    os.environ["HATO_BIN"] = hato
    sys.path.insert(0, HERE)
    import hatotest
    hatotest.HATO = hato

    loader = unittest.TestLoader()
    if args.k:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in args.k]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=1 if args.quiet else 2,
                                     resultclass=Result, warnings="ignore")
    t0 = time.monotonic()
    try:
        result = runner.run(suite)
    finally:
        hatotest.cleanup_cert()
    slow = sorted(result.durations.items(), key=lambda kv: -kv[1])[:5]
    print("slowest: " + ", ".join(f"{name.split('.', 1)[-1]} {d:.1f}s" for name, d in slow))
    print(f"total {time.monotonic() - t0:.1f}s")
    if result.failed_ids:
        print("failed: " + " ".join(result.failed_ids))
    failed = len(result.failed_ids)
    summary = f"{result.passed} passed, {failed} failed"
    if result.skipped:
        summary += f", {len(result.skipped)} skipped"
    sys.stdout.flush()
    print(summary, flush=True)
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
