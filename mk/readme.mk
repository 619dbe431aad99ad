# README's own C program and link lines, compiled and run as printed.
#
#   make readme-test   tests/readme/readme-test.sh under the mock

.PHONY: readme-test
EXTRA_TESTS += readme-test

readme-test: lib
	@echo "==> README's C program and link lines"
	@$(WITH_MOCK) tests/readme/readme-test.sh

# The examples say what happened when nothing served the request (an HTTP
# error answer is not "served by step N"; a refused stream names its status).
.PHONY: example-failures
EXTRA_TESTS += example-failures

example-failures: examples cpp-examples
	@echo "==> examples report failures as failures"
	@$(WITH_MOCK) sh -c 'set -u; \
	    out=$$($(BUILD)/examples/universal_fallback "$$AIGW_MOCK_URL/_mock/status=400" 2>/dev/null); rc=$$?; \
	    echo "$$out" | head -n 1; \
	    test $$rc -ne 0 || { echo "error: universal_fallback exited 0 for an HTTP 400" >&2; exit 1; }; \
	    echo "$$out" | grep -q "^HTTP 400: every step failed" || { echo "error: universal_fallback did not say every step failed" >&2; exit 1; }; \
	    echo "$$out" | grep -q "served by" && { echo "error: universal_fallback claims a step served an HTTP 400" >&2; exit 1; }; \
	    out=$$($(BUILD)/examples/cpp/chat "$$AIGW_MOCK_URL/_mock/status=400/v1" 2>&1); rc=$$?; \
	    echo "$$out" | grep "HTTP 400"; \
	    test $$rc -ne 0 || { echo "error: chat exited 0 for an HTTP 400" >&2; exit 1; }; \
	    echo "$$out" | grep -q "^send: HTTP 400 from the provider: .*mock status 400" || { echo "error: chat hid the provider answer" >&2; exit 1; }; \
	    echo "$$out" | grep -q "the provider answered HTTP 400" || { echo "error: chat hid the stream status" >&2; exit 1; }; \
	    echo "example-failures: ok"'
