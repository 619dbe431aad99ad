# Swift / Clang module support: include/module.modulemap and the Swift
# package's system-library module (bindings/swift/Sources/CAigw).
#
#   make modulemap-test   builds tests/modulemap/import_module.c with
#                         clang -fmodules in several ways (C, C++ and
#                         Objective-C; @import, #pragma clang module import,
#                         #include turned into an import; explicit
#                         -fmodule-map-file and implicit lookup), links each
#                         against libaigw and runs it.
#
# No Swift toolchain is used (none is available here): the Swift sources
# under bindings/swift are not compiled by this target.

CLANG        ?= clang
MODMAP_BUILD := $(BUILD)/modulemap
MODMAP_SRC   := tests/modulemap/import_module.c
MODMAP_FLAGS := -Wall -Wextra -Werror -pedantic -fmodules \
                -fmodules-cache-path=$(MODMAP_BUILD)/cache -Iinclude
SWIFT_MODMAP := bindings/swift/Sources/CAigw/module.modulemap
# Each case: a name and the clang flags that select language and import form.
MODMAP_CASES := c-import c-include c-explicit-map cxx-import objc-import objc-include \
                swift-caigw-c swift-caigw-objc
modmap_c-import         := -x c -std=c11
modmap_c-include        := -x c -std=c11 -DAIGW_TEST_INCLUDE
modmap_c-explicit-map   := -x c -std=c11 -fno-implicit-module-maps -fmodule-map-file=include/module.modulemap
modmap_cxx-import       := -x c++ -std=c++17
modmap_objc-import      := -x objective-c
modmap_objc-include     := -x objective-c -DAIGW_TEST_INCLUDE
modmap_swift-caigw-c    := -x c -std=c11 -DAIGW_TEST_MODULE=CAigw -fmodule-map-file=$(SWIFT_MODMAP)
modmap_swift-caigw-objc := -x objective-c -DAIGW_TEST_MODULE=CAigw -fmodule-map-file=$(SWIFT_MODMAP)

.PHONY: modulemap-test
EXTRA_TESTS += modulemap-test

modulemap-test: lib
	@command -v $(CLANG) >/dev/null || { echo "error: clang is not installed (apt-get install clang)" >&2; exit 1; }
	@echo "==> module map: $$($(CLANG) --version | head -n 1)"
	@rm -rf $(MODMAP_BUILD) && mkdir -p $(MODMAP_BUILD)
	@set -e; $(foreach n,$(MODMAP_CASES), \
	    echo "$(CLANG) $(modmap_$(n)) $(MODMAP_FLAGS) $(MODMAP_SRC) -o $(MODMAP_BUILD)/$(n)"; \
	    $(CLANG) $(modmap_$(n)) $(MODMAP_FLAGS) -DMODULEMAP_TEST_NAME='"$(n)"' $(MODMAP_SRC) \
	        -o $(MODMAP_BUILD)/$(n) $(AIGW_LIBS); \
	    $(MODMAP_BUILD)/$(n);)
	@ls $(MODMAP_BUILD)/cache/*/aigw-*.pcm >/dev/null 2>&1 || { echo "error: no aigw module was built" >&2; exit 1; }
	@echo "==> modulemap-test: ok"
