#!/usr/bin/env bash
# bench/fetch_peers.sh DIR - the other relays of the part `real` (bench/compare_real.sh), made
# ready under DIR without installing them: Exim (exim4-daemon-heavy) and OpenSMTPD (+ its
# filter-dkimsign) conflict with postfix, so their .debs are unpacked (apt-get download +
# dpkg-deb -x) and run from there; Haraka comes from npm into DIR/haraka (no global install).
# Their libraries (libmariadb3, libspf2-2, libopensmtpd0) and nodejs/npm are BENCH_PACKAGES in
# dev.sh. The system users the packages' postinst scripts would make are made here.
set -euo pipefail
dir=${1:?usage: fetch_peers.sh DIR}
mkdir -p "$dir/deb"
for p in exim4-daemon-heavy opensmtpd opensmtpd-filter-dkimsign; do
  [ -d "$dir/root-$p" ] && continue
  rm -f "$dir/deb/${p}"_*.deb
  # apt-get download needs the package lists; fetch them once if it cannot find it.
  (cd "$dir/deb" && apt-get download -q "$p") || { apt-get update -q && (cd "$dir/deb" && apt-get download -q "$p"); }
  rm -rf "$dir/root.tmp"
  dpkg-deb -x "$dir/deb/${p}"_*.deb "$dir/root.tmp"
  mv "$dir/root.tmp" "$dir/root-$p"
done
user() {  # user NAME HOME: a system user with its own group, as the package's postinst makes it
  getent passwd "$1" >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir "$2" --shell /usr/sbin/nologin "$1"
}
user Debian-exim /var/spool/exim4
user opensmtpd /var/lib/opensmtpd/empty
user opensmtpq /var/lib/opensmtpd/empty
user _dkimsign /nonexistent
mkdir -p /var/lib/opensmtpd/empty
if [ ! -x "$dir/haraka/node_modules/.bin/haraka" ]; then
  mkdir -p "$dir/haraka"
  (cd "$dir/haraka" && npm install --no-audit --no-fund --loglevel=error Haraka)
fi
# Haraka's tls plugin makes config/dhparams.pem at start when it is missing (openssl dhparam
# 2048: about a minute of CPU, inside a cell); made once here and copied into each config.
[ -s "$dir/haraka/dhparams.pem" ] || openssl dhparam -out "$dir/haraka/dhparams.pem" 2048 2>/dev/null
"$dir/root-exim4-daemon-heavy/usr/sbin/exim4" -C /dev/null -bV >/dev/null
