#!/usr/bin/env bash
# powercut_rounds.sh - power-cut rounds (issue 25): Hato's data_dir on powercut_fs
# (tests/powercut), SIGKILL and a cut at random moments under submission load, then the tally.
#
#   bench/powercut_rounds.sh                                  10 rounds, 4 clients
#   bench/powercut_rounds.sh --rounds 200 --clients 8 --mode reorder --seed 42
#   bench/powercut_rounds.sh --rounds 50 --deliver        delivering to a sink meanwhile
#   bench/powercut_rounds.sh --rounds 200 --deliver --inbound   submission and inbound load,
#                                                         delivering to the sink and a Maildir
#   bench/powercut_rounds.sh --rounds 3 --planted-bug     commits unsynced: must report lost > 0
#
# Needs root, /dev/fuse and fusermount3, and `ninja -C build hato powercut_fs`.
# Prints per round and in total: acknowledged (250), found (in the queue or, with --deliver,
# at the sink), duplicated (at the sink more than once), lost, corrupted (of --compare N
# messages per round compared byte for byte, default 200); exits non-zero if anything
# acknowledged was lost or corrupted, or Hato did not start on the surviving state.
# Without --deliver, DNS never answers and everything stays queued (the commit alone).
# --local delivers into a Maildir on the mount; --inbound adds clients on an inbound (MX)
# listener. CI runs ten rounds (ctest powercut); long rounds are for this script only.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/hato build/tests/powercut/powercut_fs; do
  [ -x "$b" ] || { echo "powercut_rounds.sh: $b not built (ninja -C build hato powercut_fs)" >&2; exit 2; }
done
exec /usr/bin/python3 bench/powercut_rounds.py "$@"
