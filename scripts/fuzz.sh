#!/bin/sh
# Builds and runs the libFuzzer targets in fuzz/ on stable Rust.
#
#   scripts/fuzz.sh build            instrumented build of every target
#   scripts/fuzz.sh smoke [SECONDS]  replay fuzz/corpus and fuzz/regressions,
#                                    then fuzz each target SECONDS (default 5)
#   scripts/fuzz.sh run [SECONDS]    fuzz each target SECONDS (default 180),
#                                    growing build/fuzz/corpus/<target>
#
# FUZZ_TARGETS picks targets (default: all); FUZZ_JOBS runs that many targets
# at once in `run`; FUZZ_SEED is the smoke's libFuzzer seed (default 1).
# fuzz/known-defects lists the defects still open: their oracles are turned
# off while fuzzing (AIGW_FUZZ_KNOWN_DEFECTS), so a run looks for new bugs,
# and their regression inputs in fuzz/regressions/ are expected to fail
# until the defect is fixed.
#
# What `cargo fuzz build -s none` does, without cargo-fuzz (which wants
# nightly): rustc's SanitizerCoverage pass with libFuzzer's counters, PC
# table and comparison tracing, --cfg fuzzing, debug assertions and overflow
# checks. --target keeps the flags off build scripts and proc macros.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ=$ROOT/fuzz
CARGO=${CARGO:-cargo}
HOST=$(rustc -vV | sed -n 's/^host: //p')
# The main target directory: host-side build dependencies are shared with
# the ordinary build; the instrumented ones live under target/$HOST/.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/$HOST/release
WORK=$ROOT/build/fuzz
ALL_TARGETS="universal config controls sse url redact compat_request compat_answer"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

SANCOV="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"

# Defect numbers still open, from fuzz/known-defects ("N  description").
KNOWN=$(sed -n 's/^\([0-9][0-9]*\)[[:space:]].*/\1/p' "$FUZZ/known-defects" | paste -sd, -)

build() {
    echo "==> fuzz: instrumented build ($HOST, $(rustc --version))"
    RUSTFLAGS="${RUSTFLAGS:-} $SANCOV" $CARGO build --release \
        --manifest-path "$FUZZ/Cargo.toml" --target "$HOST" --target-dir "$TARGET_DIR" --bins
}

# libFuzzer's -dict for a target: the tokens its input format is made of.
dict() {
    if [ -f "$FUZZ/dict/$1.dict" ]; then echo "-dict=$FUZZ/dict/$1.dict"; fi
}

# Prints a one-line summary from a libFuzzer log: executions, coverage.
summary() {
    awk -v t="$1" '
        /^#[0-9]+/ && / cov: / { line = $0 }
        /^stat::number_of_executed_units:/ { execs = $2 }
        END {
            n = split(line, f, " "); cov = "?"; ft = "?"; corp = "?"
            for (i = 1; i < n; i++) {
                if (f[i] == "cov:") cov = f[i + 1]
                if (f[i] == "ft:") ft = f[i + 1]
                if (f[i] == "corp:") corp = f[i + 1]
            }
            printf "%-10s execs %-10s cov %-6s ft %-6s corpus %s\n", t, execs, cov, ft, corp
        }' "$2"
}

# Runs every input of fuzz/regressions/<target> with all oracles on.
# "defectN-..." inputs of a defect in known-defects must still fail.
replay_regressions() {
    t=$1
    [ -d "$FUZZ/regressions/$t" ] || return 0
    for f in "$FUZZ/regressions/$t"/*; do
        [ -f "$f" ] || continue
        name=$(basename "$f")
        defect=$(echo "$name" | sed -n 's/^defect\([0-9][0-9]*\)-.*/\1/p')
        if AIGW_FUZZ_KNOWN_DEFECTS= "$BIN/$t" "$f" >"$WORK/$t.replay.log" 2>&1; then
            if [ -n "$defect" ] && echo ",$KNOWN," | grep -q ",$defect,"; then
                echo "note: $t: $name passes now: defect $defect looks fixed;" \
                    "remove it from fuzz/known-defects so its oracle is on while fuzzing"
            fi
        elif [ -n "$defect" ] && echo ",$KNOWN," | grep -q ",$defect,"; then
            echo "$t: $name fails as expected (known defect $defect, still open)"
        else
            cat "$WORK/$t.replay.log" >&2
            echo "error: $t: regression input $name fails" >&2
            return 1
        fi
    done
}

smoke() {
    seconds=${1:-5}
    mkdir -p "$WORK"
    echo "==> fuzz-smoke: replay the corpus, then ${seconds}s per target (known defects off: ${KNOWN:-none})"
    for t in $TARGETS; do
        replay_regressions "$t"
        # A scratch corpus: the run must not grow the one in the repo.
        rm -rf "$WORK/smoke/$t" && mkdir -p "$WORK/smoke/$t" "$WORK/artifacts/$t"
        # A fixed seed and a fixed number of runs: the same binary makes the
        # same mutations, run after run, so the smoke does not turn red by
        # chance on a faster machine; the time is only a cap.
        if ! AIGW_FUZZ_KNOWN_DEFECTS=$KNOWN "$BIN/$t" -max_total_time="$seconds" $(dict "$t") \
            -runs="${FUZZ_SMOKE_RUNS:-50000}" \
            -seed="${FUZZ_SEED:-1}" -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t/" \
            "$WORK/smoke/$t" "$FUZZ/corpus/$t" >"$WORK/$t.smoke.log" 2>&1; then
            tail -n 40 "$WORK/$t.smoke.log" >&2
            echo "error: fuzz target $t failed; the input is in $WORK/artifacts/$t/" >&2
            return 1
        fi
        summary "$t" "$WORK/$t.smoke.log"
    done
    echo "==> fuzz-smoke: ok"
}

run_one() {
    t=$1 seconds=$2
    mkdir -p "$WORK/corpus/$t" "$FUZZ/artifacts/$t"
    # -print_final_stats: executions; the log keeps the coverage as it grew.
    AIGW_FUZZ_KNOWN_DEFECTS=${AIGW_FUZZ_KNOWN_DEFECTS-$KNOWN} "$BIN/$t" \
        -max_total_time="$seconds" -print_final_stats=1 $(dict "$t") \
        -artifact_prefix="$FUZZ/artifacts/$t/" \
        "$WORK/corpus/$t" "$FUZZ/corpus/$t" >"$WORK/$t.run.log" 2>&1 || {
        echo "$t: FOUND A FAILURE: see $WORK/$t.run.log and $FUZZ/artifacts/$t/"
        tail -n 30 "$WORK/$t.run.log"
    }
    init=$(grep -m1 'INITED' "$WORK/$t.run.log" | sed 's/.*\(cov: [0-9]* ft: [0-9]*\).*/\1/')
    printf '%s  (at start: %s)\n' "$(summary "$t" "$WORK/$t.run.log")" "$init"
}

run() {
    seconds=${1:-180}
    jobs=${FUZZ_JOBS:-1}
    mkdir -p "$WORK"
    echo "==> fuzz: ${seconds}s per target, $jobs at a time" \
        "(oracles off for known defects: ${AIGW_FUZZ_KNOWN_DEFECTS-$KNOWN})"
    set -- $TARGETS
    while [ $# -gt 0 ]; do
        i=0
        while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
            run_one "$1" "$seconds" &
            shift
            i=$((i + 1))
        done
        wait
    done
    echo "==> fuzz: logs in $WORK/, inputs that failed in $FUZZ/artifacts/"
}

case "${1:-}" in
    build) build ;;
    smoke) build && smoke "${2:-}" ;;
    run) build && run "${2:-}" ;;
    *) echo "usage: $0 build | smoke [SECONDS] | run [SECONDS]" >&2; exit 2 ;;
esac
