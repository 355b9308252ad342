#!/usr/bin/env bash
# Checks deploy/ (Kubernetes manifests, IAM policies) with validators from the registries:
# kubernetes-validate and parliament (PyPI, pinned in requirements-deploy.txt) and the KEDA CRD
# models (npm, pinned in scripts/deploy-check/package-lock.json). Used by .ci/run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${TRAILSHIP_DEPLOY_CHECK_DIR:-$root/target/deploy-check}"
mkdir -p "$work"
req="$root/scripts/requirements-deploy.txt"
if [ ! -x "$work/venv/bin/python" ] || ! cmp -s "$req" "$work/venv/.requirements"; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$work/venv/.requirements"
fi
node_dir="$work/node"
mkdir -p "$node_dir"
cp "$root/scripts/deploy-check/package.json" "$root/scripts/deploy-check/package-lock.json" \
   "$root/scripts/deploy-check/validate-keda.mjs" "$node_dir/"
(cd "$node_dir" && npm ci --silent --no-audit --no-fund)
binary="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/trailship"
cargo build --quiet --locked --bin trailship
"$work/venv/bin/python" "$root/scripts/check-deploy.py" "$node_dir" "$binary"
