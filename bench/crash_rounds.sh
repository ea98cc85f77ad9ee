#!/usr/bin/env bash
# crash_rounds.sh - the long version of tests/integration/test_crash.py: many rounds
# of SIGKILL under load, then the tally.
#
#   bench/crash_rounds.sh                         100 kills, 4 clients
#   bench/crash_rounds.sh --rounds 300 --clients 8 --runs 3 --hato build/hato
#
# Each run starts dnsmasq, an aiosmtpd sink and `hato serve`, submits continuously
# from several clients, kills the daemon at random moments (0.3-2 s apart) and
# restarts it, then waits until every acknowledged message reached the sink. It
# prints per run and in total: rounds survived, messages acknowledged (250) /
# delivered / duplicated (delivered more than once: in flight at a kill) / missing
# (acknowledged, never delivered: must be 0). Exits non-zero if any run lost mail.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=100
clients=4
runs=1
hato=build/hato
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --hato) hato=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "crash_rounds.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$hato" ] || { echo "crash_rounds.sh: $hato not built (ninja -C build hato)" >&2; exit 2; }

report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
for run in $(seq 1 "$runs"); do
  echo "== run $run: $rounds rounds, $clients clients"
  if ! HATO_CRASH_ROUNDS=$rounds HATO_CRASH_CLIENTS=$clients HATO_CRASH_REPORT=$report \
       HATO_CRASH_DRAIN=$((60 + rounds)) \
       /usr/bin/python3 tests/integration/run.py --hato "$hato" -q -k test_crash; then
    status=1
  fi
done
echo
cat "$report"
awk '{
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] }
} END {
  printf "total: runs=%d rounds survived=%d acknowledged=%d delivered=%d duplicated=%d missing=%d\n",
         NR, v["rounds"], v["acknowledged"], v["delivered"], v["duplicated"], v["missing"]
}' "$report"
exit $status
