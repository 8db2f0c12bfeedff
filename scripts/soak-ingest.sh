#!/usr/bin/env bash
# `make soak-ingest`: the ingest integration files (recovery, hostile, chaos-short) together in one Jest process
# (--runInBand, as `make test` runs them: the broker-restart failure of issue #13 showed up only in that
# combination), SOAK_ROUNDS times in a row (default 10). Prints one JSON line per round and a summary line; exits
# non-zero if any round failed. A failing round keeps its Jest output and result file under out/soak-ingest/<run>/
# and the member logs the tests wrote under out/test-logs/ are listed in its line; a passing round's Jest output is
# deleted. Ctrl-C (or SIGTERM) stops after the round that runs, which is reported.
#
# Servers: brought up like `make test` does (reused if this clone started them, started if nothing runs) and the
# ones this run started are stopped at the end. The broker-restart test restarts Kafka through the pid file of the
# clone that started it, so Kafka answering on the port without this clone's pid file is refused: point
# BSI_DATA_DIR at the data directory of the clone that started it (e.g. BSI_DATA_DIR=../main/.data).
set -uo pipefail
cd "$(dirname "$0")/.."

tsx=node_modules/.bin/tsx
jest=node_modules/.bin/jest
rounds=${SOAK_ROUNDS:-10}
files=(test/integration/ingest-recovery.test.ts test/integration/ingest-hostile.test.ts test/integration/chaos-short.test.ts)
run_dir="out/soak-ingest/$(date -u +%Y%m%dT%H%M%SZ)"
test_logs=out/test-logs
data_dir="${BSI_DATA_DIR:-.data}"
# Not under the data directory: that may belong to another clone (BSI_DATA_DIR).
started_file="out/soak-ingest/.started.$$"
mkdir -p out/soak-ingest "$test_logs"

if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "soak-ingest: SOAK_ROUNDS=$rounds: expected a positive integer" >&2
  exit 2
fi

cleanup() {
  local rc=$?
  if [[ -s "$started_file" ]]; then
    echo "==> stopping the servers this run started: $(cat "$started_file")" >&2
    "$tsx" scripts/servers.ts down --only "$(cat "$started_file")" >&2 || rc=1
  fi
  rm -f "$started_file"
  exit "$rc"
}
trap cleanup EXIT
# Before the rounds start, an interrupt exits at once; during them, the round that runs is reported first.
interrupted=
trap 'exit 130' INT
trap 'exit 143' TERM

# Progress goes to stderr; stdout carries only the JSON lines.
echo "==> servers up" >&2
if ! "$tsx" scripts/servers.ts up --only kafka,temporal --started-file "$started_file" >&2; then
  echo "soak-ingest: servers failed to start" >&2
  exit 1
fi
kafka_pid=$("$tsx" scripts/servers.ts status --only kafka |
  node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s)[0].pid ?? ""))')
if [[ -z "$kafka_pid" ]]; then
  echo "soak-ingest: Kafka answers but was not started from $data_dir (no live pid file there), so" \
    "the broker-restart test could not restart it. Set BSI_DATA_DIR to the data directory of the clone that" \
    "started it, or stop it and let this run start its own." >&2
  exit 2
fi
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${BSI_KAFKA_PORT:-9092}}"
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:${BSI_TEMPORAL_PORT:-7233}}"
mkdir -p "$run_dir"
# The members' own logs at info (partition assignments, consumer replacements), for the diagnosis of a failure.
export INGEST_TEST_LOG_LEVEL="${INGEST_TEST_LOG_LEVEL:-info}"

# Names of the failed tests in a Jest --json result file, as a JSON array.
failed_tests() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const failed = r.testResults.flatMap((f) =>
      f.assertionResults.length === 0 && f.status === "failed"
        ? [f.name.replace(process.cwd() + "/", "") + ": " + (f.message.split("\n").find((l) => l.trim()) ?? "failed")]
        : f.assertionResults.filter((a) => a.status === "failed").map((a) => a.fullName));
    console.log(JSON.stringify(failed));
  ' "$1" 2>/dev/null || echo '["(no Jest result file)"]'
}

passed=0
t_all=$(date +%s)
trap 'interrupted=130' INT
trap 'interrupted=143' TERM
for ((round = 1; round <= rounds; round++)); do
  marker="$run_dir/.round-$round-start"
  touch "$marker"
  jest_log="$run_dir/round-$round.jest.log"
  result="$run_dir/round-$round.json"
  echo "==> round $round/$rounds: jest --runInBand ${files[*]} (output: $jest_log)" >&2
  t=$(date +%s)
  # --forceExit as in `make test`: a leaked handle must not hang the soak.
  "$jest" -c jest.config.js --runInBand --forceExit --json --outputFile="$result" "${files[@]}" >"$jest_log" 2>&1
  rc=$?
  seconds=$(($(date +%s) - t))
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    rm -f "$jest_log" "$result"
    printf '{"round":%d,"passed":true,"seconds":%d}\n' "$round" "$seconds"
  else
    logs=$(find "$test_logs" -type f -newer "$marker" | sort |
      node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.stringify(s.split("\n").filter(Boolean))))')
    printf '{"round":%d,"passed":false,"seconds":%d,"exitCode":%d,"failed":%s,"jestLog":"%s","memberLogs":%s}\n' \
      "$round" "$seconds" "$rc" "$(failed_tests "$result")" "$jest_log" "$logs"
  fi
  rm -f "$marker"
  if [[ -n $interrupted ]]; then
    rounds=$round
    break
  fi
done

failed=$((rounds - passed))
kept=null
if [[ $failed -eq 0 ]]; then rmdir "$run_dir"; else kept="\"$run_dir\""; fi
printf '{"summary":true,"rounds":%d,"passed":%d,"failed":%d,"seconds":%d,"kept":%s,"interrupted":%s}\n' \
  "$rounds" "$passed" "$failed" "$(($(date +%s) - t_all))" "$kept" "$([[ -n $interrupted ]] && echo true || echo false)"
[[ -n $interrupted ]] && exit "$interrupted"
[[ $failed -eq 0 ]]
