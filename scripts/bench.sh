#!/usr/bin/env bash
# npm run bench: install the tools the bench needs, build, and run the bench on the newest Node:
# Node 24 through scripts/with-node.sh (official binary from the npm registry, cached in
# node_modules/.cache) when the machine's Node is older, else the machine's own.
# BENCH_NODE=22 (a major) runs it on another Node; BENCH_NODE=system on whatever `node` is.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh bench
npm run build --silent
want=${BENCH_NODE:-24}
if [[ $want == system ]]; then exec node dist/bench/run.js; fi
if ! [[ $want =~ ^[0-9]+$ ]]; then
  echo "$0: BENCH_NODE must be a Node major version or 'system', found '$want'" >&2
  exit 2
fi
have=$(node -p 'process.versions.node.split(".")[0]')
if [[ -z ${BENCH_NODE:-} ]] && ((have >= want)); then exec node dist/bench/run.js; fi
if ((have == want)); then exec node dist/bench/run.js; fi
exec bash scripts/with-node.sh "$want" node dist/bench/run.js
