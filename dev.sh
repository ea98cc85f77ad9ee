#!/usr/bin/env bash
# dev.sh - the two commands of the README's quick start.
#   ./dev.sh serve   install what is missing, build, run `hato serve` on the embedded default
#   ./dev.sh test    install what is missing, build (plain and ASan/UBSan), run every test
#   ./dev.sh bench   install what bench/compare.sh runs beside Hato, build (bench/README.md)
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

BUILD_PACKAGES="build-essential cmake ninja-build ccache pkg-config libevent-dev libssl-dev
  librocksdb-dev libc-ares-dev libyaml-cpp-dev libboost-test-dev libcrypt-dev openssl publicsuffix
  zlib1g-dev scdoc libfuse3-dev libxml2-dev"
TEST_PACKAGES="swaks python3 clang-format dnsmasq-base python3-aiosmtpd python3-dkim python3-nacl
  libsisimai-perl libmail-deliverystatus-bounceparser-perl
  opendkim opendkim-tools python3-prometheus-client python3-spf python3-yaml dovecot-imapd
  dovecot-lmtpd clamav-daemon rspamd unbound ldnsutils redis-server pebble clang libclang-rt-14-dev
  postfix libsasl2-modules nodejs node-nodemailer curl python3-requests
  chromium chromium-driver python3-selenium
  libidn12 libgnutls-dane0 libgnutls30 libdb5.3 libpcre2-8-0 libnsl2 libidn2-0
  libpython3.11-testsuite slowhttptest mandoc groff-base zsh fuse3"
# test_clients.py runs real peers: a private Postfix (postfix, libsasl2-modules for its SASL
# client), nodemailer under node, curl, and Exim unpacked from its .deb by
# tests/integration/fetch_exim.sh (exim4 conflicts with postfix; the lib* above are its
# libraries).
# scdoc makes the man pages (docs/); the ctest man_pages lints them with groff and mandoc;
# test_completion.py checks the zsh completion with zsh -n.
# The peers of bench/compare.sh (no test needs them beyond TEST_PACKAGES): Postfix with
# OpenDKIM, Dovecot for Postfix's SASL in the part `real`, python3-dkim for the checks.
# Exim, OpenSMTPD and Haraka of the part `real` are not installed (exim4 and opensmtpd
# conflict with postfix): bench/fetch_peers.sh unpacks their .debs and runs npm; what the
# unpacked binaries link to and node are installed here.
BENCH_PACKAGES="postfix opendkim dovecot-core python3-dkim curl
  libmariadb3 libspf2-2 libperl5.36 libpq5 libldap-2.5-0 libsqlite3-0 libgnutls-dane0 libidn12
  libevent-2.1-7 libopensmtpd0 nodejs"
EXIM_DIR=${HATO_EXIM_DIR:-/var/tmp/hato-test-exim}

install_missing() {
  local missing=()
  for p in $*; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    # Postfix is only a test peer, started privately by the tests: no system mailer
    # configuration, so its postinst writes no main.cf and starts nothing on :25.
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

build() {  # build DIR [cmake options...]
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  ninja -C "$dir"
}

case "${1:-}" in
  serve)
    install_missing $BUILD_PACKAGES
    build build
    exec ./build/hato serve
    ;;
  test)
    install_missing $BUILD_PACKAGES $TEST_PACKAGES
    tests/integration/fetch_exim.sh "$EXIM_DIR"
    build build
    ctest --test-dir build --output-on-failure
    # The same suite again with AddressSanitizer and UndefinedBehaviorSanitizer, built by
    # clang in one tree with the libFuzzer targets (one sanitizer build instead of two).
    CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DHATO_SANITIZE=ON -DHATO_FUZZ=ON >/dev/null
    ninja -C build-san
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-san --output-on-failure
    # Every libFuzzer target for a bounded time, seeds (regress-* inputs) first; any
    # crash fails the run (fuzz/README.md).
    # yaml-cpp 0.7 (Debian) hangs on some inputs (regress-yaml-cpp-hang): stepped over.
    HATO_FUZZ_KNOWN=yaml-cpp fuzz/run.sh --build-dir build-san --no-build \
      --seconds "${FUZZ_SECONDS:-10}"
    ;;
  bench)
    install_missing $BUILD_PACKAGES $BENCH_PACKAGES
    # Debian's nodejs comes without npm (a nodejs from elsewhere may bundle it and conflict).
    command -v npm >/dev/null || install_missing npm
    build build
    ;;
  *)
    echo "usage: $0 serve|test|bench" >&2
    exit 2
    ;;
esac
