#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and
# runs each for a bounded time, starting from the checked-in seeds.
#
#   fuzz/run.sh                    every target, 20 s each (the CI budget)
#   fuzz/run.sh --seconds 600 dkim_canon server_session
#   fuzz/run.sh --build-only | --no-build | --build-dir DIR
#   HATO_FUZZ_KNOWN=helo-controls,yaml-cpp fuzz/run.sh --seconds 600   (step over
#       bugs already reported; see fuzz/fuzz_util.h)
#
# Seeds (fuzz/corpus/<target>/) run first, so a crash input kept there is a
# regression test. What a run finds new goes to DIR/corpus/<target>/, crash
# inputs to DIR/crashes/<target>/. Exits non-zero if any target crashed (or
# broke an invariant, or leaked, or timed out on one input). The last lines are
# a table of executions per target and the plain "N passed, N failed" line.
# Needs clang and libclang-rt-14-dev (Debian 12).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=20
build_dir=build-fuzz
build=1
run=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --build-only) run=0; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=($(ls fuzz/corpus))

if [ $build = 1 ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DHATO_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
  ninja -C "$build_dir" -j "${FUZZ_JOBS:-2}" fuzz || exit 1  # shared machines: 2 jobs unless told
fi
[ $run = 1 ] || exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# HATO_FUZZ_KNOWN lists reported bugs to step over in long campaigns (fuzz_util.h).
known() { case ",${HATO_FUZZ_KNOWN:-}," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

passed=0
failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$build_dir/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "run.sh: no fuzz target $t ($bin)" >&2
    failed=$((failed + 1)); summary+=("$t - - missing"); continue
  fi
  work="$build_dir/corpus/$t"
  crashes="$build_dir/crashes/$t"
  log="$build_dir/logs/$t.log"
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  echo "== fuzz_$t for ${seconds}s"
  # New inputs go to the first directory (the build tree); the seeds stay as they are.
  extra=()
  if [ "$t" = config ] && known yaml-cpp; then
    # yaml-cpp 0.7 hangs or runs out of memory on some inputs (reported): fork mode
    # steps over those and goes on looking for other bugs.
    extra=(-fork=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  # The outer timeout bounds a run whose crash report hangs (symbolizing a deep stack).
  timeout -k 10 $((seconds + 120)) "$bin" "$work" "fuzz/corpus/$t" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${extra[@]}" >"$log" 2>&1
  status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then  # fork mode: the last "#N" status line
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  note=""
  if [ ${#extra[@]} -gt 0 ] && [ $status -ne 0 ]; then
    # Fork mode exits non-zero after any timeout or OOM, even ignored ones: only a
    # crash counts then. The ignored inputs are kept in $crashes for the record.
    last=$(grep -o 'oom/timeout/crash: [0-9]*/[0-9]*/[0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ -n "$last" ] && [ "${last##*/}" = 0 ]; then
      status=0
      note="(ignored-oom/timeout:${last%/*})"
    fi
  fi
  if [ $status -eq 0 ]; then
    passed=$((passed + 1)); summary+=("$t ${execs:-?} ${cov:-?} ok$note")
  else
    failed=$((failed + 1)); summary+=("$t ${execs:-?} ${cov:-?} CRASH")
    echo "-- fuzz_$t failed (status $status); input in $crashes/, log $log:"
    grep -E "invariant broken|ERROR: |runtime error|SUMMARY|Test unit written|^    #[0-9] " "$log" | head -30
  fi
done
echo
printf '%-16s %14s %8s  %s\n' target executions cov result
for line in "${summary[@]}"; do printf '%-16s %14s %8s  %s\n' $line; done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
