# The cost of translation (bench/translate.sh): compat/chat/completions to an
# Anthropic-format nginx against aigw's pass-through and LiteLLM's own
# translation. Part of `make bench` (its section of BENCHMARKS.md);
# `make bench-translate` runs it alone and prints the section (figures in
# build/bench/out/translate.txt). Not part of `make test`.

.PHONY: bench-translate
bench-translate: bench-deps bench-clients
	@echo "==> bench-translate: compat vs pass-through vs LiteLLM against nginx on 127.0.0.1"
	@$(BENCH_ENV) bench/run.sh translate
