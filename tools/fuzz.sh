#!/usr/bin/env bash
# Coverage-guided fuzzing of Dyadic's input readers with libFuzzer (AddressSanitizer on).
#   tools/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS...]      (default 60 s; onnx npy run)
# FUZZ_RUNS=N stops each harness after N inputs instead (with FUZZ_SEED, the same inputs
# on every run of the same build).
# Builds the dyadic-fuzz product with -sanitize=fuzzer into .build-fuzz, seeds each
# harness from the committed models (and their .npy files), runs it for the given time
# and prints libFuzzer's execution count. Exits 1 on any finding; the crashing input is
# left in $FUZZ_OUT/<harness>/ (default /tmp/dyadic-fuzz) and can be replayed with a
# normal build: DYADIC_FUZZ_TARGET=<harness> swift run dyadic-fuzz FILE.
# FUZZ_SEED fixes libFuzzer's random seed (CI uses one, so a run can be repeated);
# FUZZ_CORPUS_KEEP=1 keeps what earlier runs learnt in $FUZZ_OUT/<harness>/corpus.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(onnx npy run)
out=${FUZZ_OUT:-/tmp/dyadic-fuzz}

swift build --product dyadic-fuzz --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz \
  -Xswiftc -DDYADIC_FUZZING -Xswiftc -parse-as-library 2>&1 | grep -E "error|warning: " | grep -v "ld.gold" || true
bin=$(swift build --product dyadic-fuzz --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz \
  -Xswiftc -DDYADIC_FUZZING -Xswiftc -parse-as-library --show-bin-path)/dyadic-fuzz
[ -x "$bin" ] || { echo "error: the fuzzing build failed"; exit 1; }

status=0
for h in "${harnesses[@]}"; do
  seeds="$out/$h/seeds" corpus="$out/$h/corpus" artifacts="$out/$h/findings/"
  [ "${FUZZ_CORPUS_KEEP:-0}" = 1 ] || rm -rf "$corpus"
  mkdir -p "$seeds" "$corpus" "$artifacts"
  # Seeds: the small committed models (the .npy harness: the committed arrays).
  if [ "$h" = npy ]; then
    find models -name '*.npy' -size -256k -exec cp {} "$seeds/" \; 2>/dev/null || true
    dict=()
  else
    find models -name '*.onnx' -size -256k | while read -r f; do cp "$f" "$seeds/$(echo "$f" | tr / _)"; done
    dict=(-dict=tools/fuzz/onnx.dict)
  fi
  echo "== $h: $seconds s"
  log="$out/$h/log.txt"
  # rss_limit/malloc_limit: a single allocation above 2 GiB is a finding (the runtime
  # must refuse such sizes with an error before allocating).
  if DYADIC_FUZZ_TARGET=$h ASAN_OPTIONS=detect_leaks=0 "$bin" "$corpus" "$seeds" "${dict[@]}" \
       -max_total_time="$seconds" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=2048 -max_len=262144 \
       -artifact_prefix="$artifacts" -print_final_stats=1 ${FUZZ_SEED:+-seed=$FUZZ_SEED} > "$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "$log" | tail -n 2
  else
    status=1
    grep -E "ERROR|SUMMARY|Fatal error|==[0-9]+==|Test unit written|Done" "$log" | head -n 12
  fi
done
exit $status
