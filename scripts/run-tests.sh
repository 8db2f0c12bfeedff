#!/usr/bin/env bash
# `make test`: bring the servers up (remembering which this run started), build (dist/, which the engine processes of
# the integration tests run), run lint, typecheck, unit and integration tests, then stop exactly the servers this run
# started — on success, failure or interrupt. Exits non-zero if any step failed; every step runs regardless, so one
# run shows every failure.
set -uo pipefail
cd "$(dirname "$0")/.."
# `long` (make test-long): the same servers and build, then only the long suites (test/long: minutes each).
suite=${1:-all}

tsx=node_modules/.bin/tsx
started_file=".data/started-by-make-test.$$"
mkdir -p .data

cleanup() {
  local rc=$?
  if [[ -s "$started_file" ]]; then
    echo "==> stopping the servers this run started: $(cat "$started_file")"
    "$tsx" scripts/servers.ts down --only "$(cat "$started_file")" || rc=1
  fi
  rm -f "$started_file"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

secs() { echo "$(( $(date +%s) - $1 ))s"; }
t_all=$(date +%s)

if [[ "${TEST_SERVERS:-local}" == "testcontainers" ]]; then
  echo "==> TEST_SERVERS=testcontainers: the integration tests start their own containers"
else
  echo "==> servers up"
  t=$(date +%s)
  if ! "$tsx" scripts/servers.ts up --started-file "$started_file"; then
    echo "make test: servers failed to start" >&2
    exit 1
  fi
  echo "    (servers ready in $(secs "$t"))"
  # Every test reads its endpoints from the environment (config/env.ts); point them at the servers just checked,
  # which matters when BSI_KAFKA_PORT / BSI_TEMPORAL_PORT moved the local servers off the default ports.
  export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${BSI_KAFKA_PORT:-9092}}"
  export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:${BSI_TEMPORAL_PORT:-7233}}"
fi

# Headless Chromium (Debian's package, /usr/bin/chromium): the console's browser test
# (test/integration/dashboard-browser.test.ts, driven by playwright-core, which never downloads a browser) needs it,
# and the replay report test renders the HTML postmortem in it. Install it when it is missing and we may (root, as in
# CI); otherwise say what to install: without it the browser test fails and the report check is skipped.
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (console browser test, HTML report check)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
      echo "    chromium could not be installed: the console's browser test will fail" >&2
  else
    echo "==> chromium is missing and this is not root: install Debian's chromium package" \
      "(sudo apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary;" \
      "until then the console's browser test fails and the report rendering check is skipped" >&2
  fi
fi

results=()
failed=0
step() {
  local name=$1
  shift
  echo "==> $name: $*"
  local t
  t=$(date +%s)
  if "$@"; then
    results+=("$name ok ($(secs "$t"))")
  else
    results+=("$name FAILED ($(secs "$t"))")
    failed=1
  fi
}

step build npm run --silent build
built=$failed
if [[ $suite == long ]]; then
  integration=(long test:long)
else
  step lint npm run --silent lint
  step typecheck npm run --silent typecheck
  step unit npm run --silent test:unit
  integration=(integration test:integration)
fi
# --forceExit: a test that leaks a handle must fail loudly elsewhere, not hang CI until its time limit.
if [[ $built -eq 0 ]]; then
  step "${integration[0]}" npm run --silent "${integration[1]}" -- --forceExit
else
  # The engine processes the integration tests start run dist/, which the failed build did not make.
  results+=("${integration[0]} SKIPPED (no build)")
fi

echo "==> make test$([[ $suite == long ]] && echo -long) in $(secs "$t_all"): $(IFS=,; echo "${results[*]}" | sed 's/,/, /g')"
exit "$failed"
