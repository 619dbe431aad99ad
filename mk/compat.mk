# The unified API (src/compat) against the official Python SDKs.
#
#   make compat-sdk   1. the mock's Anthropic, Gemini and OpenAI dialects,
#                        driven by the openai, anthropic and google-genai SDKs
#                        (so the mock cannot drift from the real formats);
#                     2. aigw's translated bodies and streams, written by
#                        tests/compat.rs, parsed by the same SDKs with strict
#                        response validation.
#
# The SDKs come from PyPI, installed once (only when missing).

COMPAT_SAMPLES := $(abspath $(BUILD))/compat-samples
COMPAT_PY      := python3
COMPAT_SDKS    := openai anthropic google-genai

.PHONY: compat-sdk
EXTRA_TESTS += compat-sdk

compat-sdk: lib
	@echo "==> compat: the mock and aigw's translations against the official SDKs"
	@$(COMPAT_PY) -c "import openai, anthropic, google.genai" 2>/dev/null || \
	    $(COMPAT_PY) -m pip install --quiet $(COMPAT_SDKS)
	@rm -rf $(COMPAT_SAMPLES)
	AIGW_COMPAT_SAMPLES=$(COMPAT_SAMPLES) $(CARGO) test --quiet --test compat
	@$(WITH_MOCK) sh -c '$(COMPAT_PY) tests/compat/sdk_check.py mock "$$AIGW_MOCK_URL"'
	$(COMPAT_PY) tests/compat/sdk_check.py samples $(COMPAT_SAMPLES)
