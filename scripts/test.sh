#!/usr/bin/env bash
# The test command (README). Installs what the tests need on a fresh machine (redis-server from apt,
# used by the cluster tests' fixture), restores, runs every test project once, and ends with the
# line CI reads: "N passed, N failed" summed from the TRX results dotnet test writes.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 \
      || echo "warning: could not install redis-server; cluster tests will fail" >&2
  else
    echo "warning: redis-server not found (apt-get install redis-server); cluster tests will fail" >&2
  fi
fi

results="TestResults"
rm -rf "$results"
dotnet restore TStitch.sln --nologo -v q || { echo "0 passed, 1 failed"; exit 1; }
dotnet test TStitch.sln --no-restore --nologo -v q --logger "trx" --results-directory "$results" "$@"
status=$?

passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  p=$(grep -o 'outcome="Passed"' "$trx" | wc -l)
  f=$(grep -o 'outcome="Failed"' "$trx" | wc -l)
  passed=$((passed + p)); failed=$((failed + f))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a build error or crashed host counts
echo "$passed passed, $failed failed"
exit "$status"
