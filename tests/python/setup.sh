#!/usr/bin/env bash
# The Python clients the client tests run unmodified against a real fanout cluster
# (tests/tests/elastic_clients.rs, tests/tests/reflection_clients.rs), each in its own
# virtual environment under target/ci-tools/ (elasticsearch 8 and 9 cannot share one):
#   python8/: elasticsearch 8.x, opensearch-py, grpcio-reflection (gRPC reflection v1alpha)
#   python9/: elasticsearch 9.x
# Idempotent: an environment whose pins are already installed is left as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

make_env() {
  local dir="$1"; shift
  local stamp="$dir/.pins"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then
    return 0
  fi
  echo "== python clients: $dir ($*)"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$stamp"
}

make_env target/ci-tools/python8 'elasticsearch==8.19.3' 'opensearch-py==3.2.0' 'grpcio-reflection==1.85.1'
make_env target/ci-tools/python9 'elasticsearch==9.5.1'
