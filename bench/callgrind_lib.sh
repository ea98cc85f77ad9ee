# bench/callgrind_lib.sh - what the callgrind cost scripts (event_cost.sh, auth_tls_cost.sh)
# share; sourced after their options are read.
#
#   require_tools NAME HINT TOOL...   exits 2 naming the first TOOL missing (HINT: how to get it)
#   make_workdir NAME                 W=a fresh directory, removed at exit unless KEEP is set;
#                                     PIDS (started processes) are killed at exit
#   free_port                         prints a free loopback port
#   self_signed FILE_STEM [CN]        FILE_STEM.key and FILE_STEM.crt, RSA 2048, one day

require_tools() {
  local name=$1 hint=$2 tool
  shift 2
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool missing${hint:+ ($hint)}" >&2; exit 2; }
  done
}

make_workdir() {
  W=$(mktemp -d "${TMPDIR:-/tmp}/hato-$1.XXXXXX")
  chmod 755 "$W"
  PIDS=()
  trap callgrind_lib_cleanup EXIT
}

callgrind_lib_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

self_signed() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=${2:-localhost}" \
    -keyout "$1.key" -out "$1.crt" >/dev/null 2>&1
}
