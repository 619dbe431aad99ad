# Go binding (bindings/go): vet, tests against the mock, and the demo.
#
#   make go-test   gofmt check, go vet, go test (and go test -race) against
#                  aigw-mock; also builds the package the pkg-config way
#                  (-tags aigw_pkgconfig) against a throwaway aigw.pc
#   make go-demo   runs bindings/go/examples/chat against the mock, then
#                  interrupts it (SIGINT) on a stalled stream: exit 130
#
# Go comes from Debian's golang-go (.ci/apt-packages). The package uses only
# the standard library, so nothing is downloaded (GOPROXY=off).

GO        ?= go
GOFMT     ?= gofmt
GO_DIR    := bindings/go
GO_BUILD  := $(abspath $(BUILD))/go
GO_LIBDIR := $(abspath $(RELEASE))
# The package's own #cgo flags point at ../../target/release; these come
# first, so a CARGO_TARGET_DIR build is found too.
GO_ENV    := CGO_ENABLED=1 GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-count=1 \
             CGO_LDFLAGS="-g -O2 -L$(GO_LIBDIR) -Wl,-rpath,$(GO_LIBDIR)" \
             $(if $(or $(GOCACHE),$(XDG_CACHE_HOME),$(HOME)),,GOCACHE=$(GO_BUILD)/cache)
GO_PC_DIR := $(GO_BUILD)/pkgconfig

.PHONY: go-test go-demo go-check-tool
EXTRA_TESTS += go-test go-demo

go-check-tool:
	@command -v $(GO) >/dev/null || { echo "error: go is not installed (apt-get install golang-go)" >&2; exit 1; }

go-test: lib go-check-tool
	@echo "==> Go binding: $$($(GO) version)"
	@bad=$$(cd $(GO_DIR) && $(GOFMT) -l .); test -z "$$bad" || { echo "error: not gofmt-ed: $$bad" >&2; exit 1; }
	cd $(GO_DIR) && $(GO_ENV) $(GO) vet ./...
	cd $(GO_DIR) && $(GO_ENV) $(GO) test ./...
	cd $(GO_DIR) && $(GO_ENV) $(GO) test -race ./...
	@echo "==> Go binding with -tags aigw_pkgconfig (a throwaway aigw.pc for this tree)"
	@mkdir -p $(GO_PC_DIR)
	@printf 'Name: aigw\nDescription: aigw (build tree)\nVersion: 0\nCflags: -I%s\nLibs: -L%s -laigw\n' \
	    "$(abspath include)" "$(GO_LIBDIR)" > $(GO_PC_DIR)/aigw.pc
	cd $(GO_DIR) && $(GO_ENV) PKG_CONFIG_PATH=$(GO_PC_DIR) $(GO) vet -tags aigw_pkgconfig ./...
	cd $(GO_DIR) && $(GO_ENV) PKG_CONFIG_PATH=$(GO_PC_DIR) $(GO) test -tags aigw_pkgconfig -run 'TestVersion|TestSend$$|TestStream$$' ./...
	@echo "==> go-test: ok"

go-demo: lib go-check-tool
	@echo "==> Go demo: bindings/go/examples/chat against the mock"
	cd $(GO_DIR) && $(GO_ENV) $(GO) build -o $(GO_BUILD)/chat ./examples/chat
	@$(WITH_MOCK) $(GO_BUILD)/chat
	@echo "=== $(GO_BUILD)/chat: Ctrl-C (SIGINT after 1 s) on a stalled stream -> exit 130"
	@$(WITH_MOCK) sh -c 'rc=0; timeout --preserve-status -s INT 1 $(GO_BUILD)/chat \
	    -base "$$AIGW_MOCK_URL/_mock/stall_after=2/v1" || rc=$$?; \
	    test $$rc -eq 130 || { echo "error: chat exited $$rc, want 130" >&2; exit 1; }'
	@echo "==> go-demo: ok"
