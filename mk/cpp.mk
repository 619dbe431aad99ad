# The C++ wrapper include/aigw.hpp: its tests (tests/cpp/, also under
# valgrind) and its example (examples/cpp/chat.cpp).
#
#   make cpp-test   build tests/cpp/test_*.cpp, run them against the mock,
#                   then again under valgrind; compile them with clang++ too
#                   when it is installed
#   make cpp-demo   build examples/cpp/chat.cpp, run it against the mock, and
#                   Ctrl-C it on a stalled stream (exit 130)

CXX       ?= g++
CXXSTRICT := -std=c++17 -Wall -Wextra -Werror -pedantic
CXXFLAGS  ?= -O1 -g

CPPTEST_SRCS := $(wildcard tests/cpp/test_*.cpp)
CPPTESTS     := $(patsubst tests/cpp/%.cpp,$(BUILD)/cpp/%,$(CPPTEST_SRCS))
CPP_EXAMPLE_SRCS := $(wildcard examples/cpp/*.cpp)
CPP_EXAMPLES     := $(patsubst examples/cpp/%.cpp,$(BUILD)/examples/cpp/%,$(CPP_EXAMPLE_SRCS))
CPP_DEPS     := include/aigw.hpp $(HEADER) $(LIBSO)

.PHONY: cpp-tests cpp-tests-bin cpp-examples cpp-examples-bin cpp-test cpp-demo

# As for the C targets, the recursive make re-reads what cargo just rebuilt.
cpp-tests: lib
	@$(MAKE) --no-print-directory cpp-tests-bin
cpp-examples: lib
	@$(MAKE) --no-print-directory cpp-examples-bin
cpp-tests-bin: $(CPPTESTS)
	@:
cpp-examples-bin: $(CPP_EXAMPLES)
	@:

$(BUILD)/cpp/%: tests/cpp/%.cpp tests/cpp/check.hpp $(CPP_DEPS)
	@mkdir -p $(@D)
	$(CXX) $(CXXSTRICT) -pthread $(CXXFLAGS) $(CPPFLAGS) $< -o $@ $(AIGW_LIBS)

$(BUILD)/examples/cpp/%: examples/cpp/%.cpp $(CPP_DEPS)
	@mkdir -p $(@D)
	$(CXX) $(CXXSTRICT) $(CXXFLAGS) $(CPPFLAGS) $< -o $@ $(AIGW_LIBS)

cpp-test: cpp-tests cpp-examples
	@if command -v clang++ >/dev/null 2>&1; then \
	    echo "==> clang++ $(CXXSTRICT) -fsyntax-only (tests and examples)"; \
	    for f in $(CPPTEST_SRCS) $(CPP_EXAMPLE_SRCS); do \
	        clang++ $(CXXSTRICT) -fsyntax-only $(CPPFLAGS) $$f || exit 1; \
	    done; \
	fi
	@echo "==> C++ tests against the mock"
	@$(WITH_MOCK) $(RUN_TESTS) $(CPPTESTS)
	@command -v valgrind >/dev/null || { echo "error: valgrind is not installed" >&2; exit 1; }
	@echo "==> C++ tests and example under valgrind"
	@$(WITH_MOCK) $(RUN_TESTS) --valgrind $(CPPTESTS) $(CPP_EXAMPLES)

cpp-demo: cpp-examples
	@echo "==> C++ example against the mock"
	@$(WITH_MOCK) sh -c 'set -e; for e in $(CPP_EXAMPLES); do echo "=== $$e"; "$$e"; done'
	@echo "=== $(BUILD)/examples/cpp/chat: Ctrl-C (SIGINT after 1 s) on a stalled stream -> exit 130"
	@$(WITH_MOCK) sh -c 'rc=0; timeout --preserve-status -s INT 1 $(BUILD)/examples/cpp/chat \
	    "$$AIGW_MOCK_URL/_mock/stall_after=2/v1" || rc=$$?; \
	    test $$rc -eq 130 || { echo "error: chat exited $$rc, want 130" >&2; exit 1; }'
	@echo "==> cpp-demo: ok"

EXTRA_TESTS += cpp-test cpp-demo
