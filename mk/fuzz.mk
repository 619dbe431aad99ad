# Coverage-guided fuzzing of the Rust core (fuzz/, libFuzzer through
# libfuzzer-sys, instrumented with rustc's sancov passes on stable Rust).
#
#   make fuzz         fuzz each target FUZZ_SECONDS (default 180); the
#                     corpus grows in build/fuzz/corpus/, failing inputs land
#                     in fuzz/artifacts/ (FUZZ_TARGETS, FUZZ_JOBS to narrow
#                     or parallelise). Not part of `make test`.
#   make fuzz-smoke   replay fuzz/corpus and fuzz/regressions, then fuzz each
#                     target FUZZ_SMOKE_RUNS times (default 50000, fixed seed;
#                     FUZZ_SMOKE_SECONDS caps each, default 20). Part of
#                     `make test`.
#
# libfuzzer-sys compiles libFuzzer from C++ (build-essential, in .ci/apt-packages).

FUZZ_SECONDS       ?= 180
FUZZ_SMOKE_SECONDS ?= 20

.PHONY: fuzz fuzz-smoke
EXTRA_TESTS += fuzz-smoke

fuzz:
	@CARGO="$(CARGO)" scripts/fuzz.sh run $(FUZZ_SECONDS)

fuzz-smoke:
	@CARGO="$(CARGO)" scripts/fuzz.sh smoke $(FUZZ_SMOKE_SECONDS)
