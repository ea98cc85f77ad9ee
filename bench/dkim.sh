#!/usr/bin/env bash
# bench/dkim.sh - DKIM signatures per second per core for a 4 KiB message, next to
# `openssl speed` on the same machine.
#
#   bench/dkim.sh [--seconds N] [--build DIR]
#
# Prints, for rsa-sha256 (2048 bits) and ed25519-sha256, one thread each:
#   sign/s        Hato's Signer::sign() end to end (split, canonicalize, hash, build, sign)
#   canon+hash/s  the same without the public-key operation
#   canon share   the time canonicalization and hashing take of a signature
# for an ordinary message and for a whitespace-heavy one (relaxed canonicalization's worst
# case), then `openssl speed -seconds N rsa2048 ed25519`: the ceiling for the signature alone.
# Needs the dkim_bench target (ninja -C build dkim_bench) and openssl(1).
set -euo pipefail

SECONDS_EACH=3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$HERE/../build"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dkim.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

BENCH="$BUILD/policy/dkim/dkim_bench"
[ -x "$BENCH" ] || { echo "dkim.sh: no $BENCH (ninja -C $BUILD dkim_bench)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "dkim.sh: openssl missing" >&2; exit 2; }

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH" --seconds "$SECONDS_EACH"
echo
"$BENCH" --seconds "$SECONDS_EACH" --whitespace-heavy
echo
echo "== openssl speed -seconds $SECONDS_EACH rsa2048 ed25519 ($(openssl version))"
openssl speed -seconds "$SECONDS_EACH" rsa2048 ed25519 2>/dev/null |
  awk '/^rsa 2048 bits/ { printf "rsa2048   sign/s %10s\n", $6 }
       /Ed25519/        { printf "ed25519   sign/s %10s\n", $(NF-1) }'
