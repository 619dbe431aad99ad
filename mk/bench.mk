# Benchmarks side by side (bench/): aigw against plain libcurl, the LiteLLM
# SDK and Portkey's open-source gateway, all against one nginx on 127.0.0.1.
#
#   make bench        install what is missing (nginx, libcurl4-openssl-dev,
#                     litellm, @portkey-ai/gateway), build the C clients, run
#                     every figure (about 5 minutes on 2 cores) and write
#                     BENCHMARKS.md. Not part of `make test`.
#   make bench-smoke  a few requests per C contender (libcurl and aigw: provider,
#                     Universal, fallback, stream, memory) against nginx; no
#                     peers. Part of `make test`; needs nginx and
#                     libcurl4-openssl-dev (.ci/apt-packages).
#
# bench/run.sh does the work; see its header for the knobs (BENCH_DURATION,
# BENCH_ROUNDS, BENCH_PIN, BENCH_PEERS).

BENCH_BIN     := $(BUILD)/bench
BENCH_CFLAGS  := -std=c11 -Wall -Wextra -Werror -O2 -g -pthread
BENCH_CLIENTS := $(BENCH_BIN)/curl_client $(BENCH_BIN)/aigw_client
BENCH_ENV     := BENCH_BIN=$(abspath $(BENCH_BIN)) AIGW_LIBDIR=$(abspath $(RELEASE))

.PHONY: bench bench-smoke bench-clients bench-clients-bin bench-deps
EXTRA_TESTS += bench-smoke

$(BENCH_BIN)/curl_client: bench/curl_client.c bench/bench_common.h
	@mkdir -p $(@D)
	@command -v curl-config >/dev/null || { echo "error: libcurl headers missing (apt-get install libcurl4-openssl-dev)" >&2; exit 1; }
	$(CC) $(BENCH_CFLAGS) $$(curl-config --cflags) $< -o $@ $$(curl-config --libs)

$(BENCH_BIN)/aigw_client: bench/aigw_client.c bench/bench_common.h $(HEADER) $(LIBSO)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(CPPFLAGS) $< -o $@ $(AIGW_LIBS)

# As for the C tests, the recursive make re-reads what cargo just rebuilt.
bench-clients: lib
	@$(MAKE) --no-print-directory bench-clients-bin
bench-clients-bin: $(BENCH_CLIENTS)
	@:

bench-deps:
	@bench/run.sh deps

bench-smoke: bench-clients
	@echo "==> bench-smoke: libcurl and aigw against nginx on 127.0.0.1"
	@$(BENCH_ENV) bench/run.sh smoke

bench: bench-deps bench-clients
	@echo "==> bench: full run (writes BENCHMARKS.md)"
	@$(BENCH_ENV) bench/run.sh full
