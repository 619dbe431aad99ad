# The loopback server with real clients (tests/server-sdk/run.sh): `aigw
# serve` against the mock, driven by the seed's curl commands, the openai,
# anthropic and google-genai Python SDKs (the unified API at /compat and the
# pass-through paths), the openai npm package and @huggingface/inference 4.x.
#
#   make server-test   installs the SDKs if missing (pip: openai, anthropic,
#                      google-genai; npm: openai, @huggingface/inference@4
#                      into build/server-sdk/),
#                      then runs the suite
#
# Node and npm come from Debian (.ci/apt-packages); the packages from PyPI
# and the npm registry, installed once and reused.

AIGW_BIN   := $(RELEASE)/aigw
SERVER_SDK := $(BUILD)/server-sdk

.PHONY: server-test server-sdk-install
EXTRA_TESTS += server-test

server-sdk-install:
	@command -v node >/dev/null || { echo "error: node is needed (apt-get install nodejs)" >&2; exit 1; }
	@# Debian splits npm out of nodejs; other node builds bring their own, which
	@# a Debian npm would conflict with, so it is not in .ci/apt-packages.
	@command -v npm >/dev/null || { echo "==> apt-get install npm"; \
	    apt-get install -y --no-install-recommends npm </dev/null; }
	@python3 -c 'import openai, anthropic, google.genai' 2>/dev/null || { \
	    echo "==> pip install openai anthropic google-genai"; \
	    python3 -m pip install --quiet openai anthropic google-genai; }
	@mkdir -p $(SERVER_SDK)
	@test -f $(SERVER_SDK)/package.json || echo '{"private":true}' > $(SERVER_SDK)/package.json
	@if [ ! -d $(SERVER_SDK)/node_modules/openai ] || \
	    [ ! -d $(SERVER_SDK)/node_modules/@huggingface/inference ]; then \
	    echo "==> npm install openai @huggingface/inference@4 (into $(SERVER_SDK))"; \
	    cd $(SERVER_SDK) && npm install --silent --no-audit --no-fund openai '@huggingface/inference@4'; \
	fi

server-test: lib server-sdk-install
	@test -x $(AIGW_BIN) || { echo "error: $(AIGW_BIN) was not built" >&2; exit 1; }
	@echo "==> server: aigw serve with curl, openai (Python, Node), anthropic, google-genai and @huggingface/inference"
	@AIGW_BIN=$(abspath $(AIGW_BIN)) SDK_DIR=$(abspath $(SERVER_SDK)) $(WITH_MOCK) tests/server-sdk/run.sh
	@echo "==> server-test: ok"
