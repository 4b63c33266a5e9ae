#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster (docs/operations.md):
#   1. docker-compose.yml with `docker-compose config` (Debian's docker-compose, installed from apt if missing),
#   2. `kubectl kustomize` of k8s/base and every overlay under k8s/overlays,
#   3. every rendered object against the Kubernetes schemas (deploy/validate, npm packages installed
#      into deploy/validate/node_modules from its package-lock.json).
# Exits non-zero on any failure. The drift test (tests/TStitch.Deploy.Tests) checks ports and keys.
set -uo pipefail
cd "$(dirname "$0")/.."
failures=0
step() { echo; echo "== $*"; }
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

step "tools"
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "installing docker-compose (apt)"
  (as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker-compose) >/dev/null 2>&1 \
    || fail "could not install docker-compose (apt-get install docker-compose)"
fi
command -v kubectl >/dev/null 2>&1 || fail "kubectl not found (needed for kubectl kustomize)"
command -v node >/dev/null 2>&1 || fail "node not found (needed for the schema validation)"
if [ ! -d deploy/validate/node_modules/kubernetes-models ]; then
  echo "installing deploy/validate's npm packages"
  (cd deploy/validate && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in deploy/validate"
fi
command -v docker-compose >/dev/null 2>&1 && docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /'
command -v kubectl >/dev/null 2>&1 && kubectl version --client 2>/dev/null | head -2

step "docker-compose -f docker-compose.yml config -q"
if command -v docker-compose >/dev/null 2>&1; then
  if docker-compose -f docker-compose.yml config -q; then
    echo "ok   docker-compose.yml ($(docker-compose -f docker-compose.yml config --services | tr '\n' ' '))"
  else
    fail "docker-compose.yml"
  fi
fi

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
for dir in k8s/base k8s/overlays/*/; do
  dir=${dir%/}
  name=$(echo "$dir" | tr '/' '-')
  step "kubectl kustomize $dir"
  if ! kubectl kustomize "$dir" > "$rendered/$name.yaml"; then
    fail "kubectl kustomize $dir"
    continue
  fi
  echo "rendered $(grep -c '^kind:' "$rendered/$name.yaml") objects"
  if [ -d deploy/validate/node_modules/kubernetes-models ]; then
    node deploy/validate/validate.mjs "$rendered/$name.yaml" || fail "schema validation of $dir"
  fi
done

step "k8s/base/secret.example.yaml (not in the kustomization)"
[ -d deploy/validate/node_modules/kubernetes-models ] && { node deploy/validate/validate.mjs k8s/base/secret.example.yaml || fail "schema validation of secret.example.yaml"; }

echo
if [ "$failures" -gt 0 ]; then echo "validate-deploy: $failures step(s) failed"; exit 1; fi
echo "validate-deploy: all checks passed"
