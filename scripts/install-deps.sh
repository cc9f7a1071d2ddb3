#!/usr/bin/env bash
# Install the Debian packages a task needs, only those missing. Usage: install-deps.sh test|bench
set -euo pipefail
case "${1:-test}" in
  test)  packages=(curl openssl chromium python3 python3-jwt python3-cryptography redis-server dnsmasq pebble) ;;  # curl --http2, certificates, browser tests, the Airflow-side assertion check, shared limits, DNS discovery, the ACME test server
  bench) packages=(wrk haproxy nginx-light) ;;   # the load generator and the reference proxies
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx-light and nginx both provide /usr/sbin/nginx
if [[ " ${missing[*]-} " == *" nginx-light "* ]] && command -v nginx >/dev/null; then
  missing=("${missing[@]/nginx-light}")
fi
missing=($(printf '%s\n' "${missing[@]-}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
