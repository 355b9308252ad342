# Sourced by scripts/test.sh and scripts/demo.sh: makes sure the Python venv with the pinned
# third-party servers (moto for S3/SQS, osmem for OpenSearch) exists, and exports its path.
# The venv lives in .venv at the repository root (override with TRAILSHIP_TEST_VENV).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TRAILSHIP_TEST_VENV:-$root/.venv}"
req="$root/scripts/requirements-test.txt"
stamp="$venv/.trailship-requirements"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "creating test servers venv in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
export TRAILSHIP_TEST_VENV="$venv"
