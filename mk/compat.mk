# The unified API (src/compat) against the official Python SDKs.
#
#   make compat-sdk   1. the mock's Anthropic, Gemini and OpenAI dialects,
#                        driven by the openai, anthropic and google-genai SDKs
#                        (so the mock cannot drift from the real formats);
#                     2. aigw's translated bodies and streams, written by
#                        tests/compat.rs, parsed by the same SDKs with strict
#                        response validation.
#
# The SDKs come from PyPI, installed once (only when missing): into the
# Python in use, or, where that one is externally managed (PEP 668), into
# build/compat-py.

COMPAT_SAMPLES := $(abspath $(BUILD))/compat-samples
COMPAT_PY      := python3
COMPAT_PYDIR   := $(abspath $(BUILD))/compat-py
COMPAT_RUN     := PYTHONPATH=$(COMPAT_PYDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(COMPAT_PY)
COMPAT_SDKS    := openai anthropic google-genai

.PHONY: compat-sdk
EXTRA_TESTS += compat-sdk

compat-sdk: lib
	@echo "==> compat: the mock and aigw's translations against the official SDKs"
	@$(COMPAT_RUN) -c "import openai, anthropic, google.genai" 2>/dev/null || \
	    $(COMPAT_PY) -m pip install --quiet $(COMPAT_SDKS) || \
	    $(COMPAT_PY) -m pip install --quiet --target $(COMPAT_PYDIR) $(COMPAT_SDKS)
	@rm -rf $(COMPAT_SAMPLES)
	AIGW_COMPAT_SAMPLES=$(COMPAT_SAMPLES) $(CARGO) test --quiet --test compat
	@$(WITH_MOCK) sh -c '$(COMPAT_RUN) tests/compat/sdk_check.py mock "$$AIGW_MOCK_URL"'
	$(COMPAT_RUN) tests/compat/sdk_check.py samples $(COMPAT_SAMPLES)
