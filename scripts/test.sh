#!/usr/bin/env bash
# The test command (README). Installs what the tests need on a fresh machine (redis-server from apt for
# the cluster and process tests; python3-torch/onnx from apt for the export parity tests; docker-compose
# and npm packages for the deployment validation), validates the deployment files, restores, runs every
# test project once, and ends with the line CI reads: "N passed, N failed", summed from the TRX results
# dotnet test writes plus the deployment validation as one check.
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

# The export parity tests (tests/TStitch.Export.Tests) run PyTorch from Debian's python3-torch.
bash tools/export/install.sh || echo "warning: could not install python3-torch/onnx; the export parity tests will fail" >&2

# Deployment files (compose, kustomize, Kubernetes schemas): one check, counted with the tests below.
deploy_passed=0; deploy_failed=0
if bash scripts/validate-deploy.sh > deploy-validation.log 2>&1; then deploy_passed=1; else
  deploy_failed=1; echo "deployment validation FAILED:"; tail -30 deploy-validation.log
fi

results="TestResults"
rm -rf "$results"
dotnet restore TStitch.sln --nologo -v q || { echo "0 passed, 1 failed"; exit 1; }
# The console logger named explicitly prints each failure's message and stack, which "-v q" alone leaves out.
# A test that runs past 5 minutes (the longest take about a minute) has its test host stopped: the run fails
# naming the tests that were running, instead of hanging CI.
dotnet test TStitch.sln --no-restore --nologo -v q --logger "trx" --logger "console;verbosity=minimal" \
  --blame-hang-timeout 5m --blame-hang-dump-type none --results-directory "$results" "$@"
status=$?

passed=$deploy_passed; failed=$deploy_failed
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  p=$(grep -o '<UnitTestResult [^>]*outcome="Passed"' "$trx" | wc -l)
  f=$(grep -o '<UnitTestResult [^>]*outcome="Failed"' "$trx" | wc -l)
  passed=$((passed + p)); failed=$((failed + f))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a build error or crashed host counts
if [ "$deploy_failed" -ne 0 ] && [ "$status" -eq 0 ]; then status=1; fi
echo "$passed passed, $failed failed"
exit "$status"
