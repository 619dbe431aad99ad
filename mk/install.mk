# Install like a C library: `make install [PREFIX=/usr/local] [DESTDIR=...]`.
#
# Why by hand and not cargo-c (measured here: 2 cores, Debian 12, rustc 1.95):
# - Debian 12's packaged cargo-c 0.9.14 embeds cargo 0.66 (Rust 1.63) and
#   stops at once on our Cargo.toml: "this version of Cargo is older than
#   the `2024` edition".
# - cargo-c from crates.io links cargo itself, so it follows the toolchain:
#   the newest (0.10.26) refuses rustc 1.95 (needs 1.97); CI would pin a
#   version and re-pin at every toolchain bump. `cargo install cargo-c
#   --version 0.10.24 --locked` compiled 348 crates (cargo, gix, and the C
#   of libgit2, curl, sqlite, openssl-sys, which needs libssl-dev): 9 min 05 s
#   wall, 630 s user + 55 s sys CPU (at least ~6 min on 2 idle cores), 1.9 GB
#   peak RSS, 979 MB of target/. CI machines start clean, so every run would
#   pay that: more than building and testing all of aigw.
# - It also fights the project: it wants a `capi` feature in Cargo.toml; its
#   own cbindgen pass over the whole crate panics ("Response is not
#   generic"; build.rs feeds cbindgen src/ffi only), so header generation has
#   to be switched off; it builds into its own target dir (a second full
#   build); and its 0.x SONAME policy (symlink libaigw.so.0.1) disagrees with
#   build.rs's (SONAME libaigw.so.0): the install it made had no
#   libaigw.so.0, so programs linked against it would not load.
# - What we need is a symlink chain for the SONAME build.rs already sets, a
#   .pc file whose Libs.private is rustc's own --print native-static-libs,
#   and `install`: the ~60 lines below.
#
# Variables: PREFIX (default /usr/local), DESTDIR (staging root, not written
# into aigw.pc), LIBDIR, INCLUDEDIR, PKGCONFIGDIR.
#
# Layout:  $(LIBDIR)/libaigw.so.X.Y.Z, libaigw.so.X -> libaigw.so.X.Y.Z,
#          libaigw.so -> libaigw.so.X, libaigw.a, pkgconfig/aigw.pc;
#          $(INCLUDEDIR)/aigw.h, aigw.hpp (and module.modulemap if present).

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install

AIGW_VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
AIGW_DESCRIPTION := $(shell sed -n 's/^description = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
AIGW_HEADERS     := $(wildcard include/aigw.h include/aigw.hpp include/module.modulemap)
# rustc's list of system libraries a static libaigw.a needs (Libs.private).
NATIVE_LIBS_FILE := $(RELEASE)/aigw-native-static-libs.txt
# In aigw.pc, paths under PREFIX are written relative to ${prefix}.
pc_rel = $(patsubst $(PREFIX)%,$${prefix}%,$(1))

.PHONY: install uninstall install-test native-static-libs

# Recomputed when the dependencies change. `cargo rustc` replays the note
# from its cache when nothing needs compiling.
$(NATIVE_LIBS_FILE): Cargo.toml $(wildcard Cargo.lock)
	@mkdir -p $(@D)
	@echo "==> rustc --print native-static-libs"
	@$(CARGO) rustc --release --lib --crate-type staticlib -- --print native-static-libs \
	    2>$@.log >/dev/null || { cat $@.log >&2; exit 1; }
	@sed -n 's/^note: native-static-libs: //p' $@.log | tail -n 1 >$@.tmp
	@test -s $@.tmp || { echo "error: no native-static-libs note in:" >&2; cat $@.log >&2; exit 1; }
	@mv $@.tmp $@; rm -f $@.log
native-static-libs: $(NATIVE_LIBS_FILE)
	@cat $<

install: $(NATIVE_LIBS_FILE) lib
	@echo "==> install aigw $(AIGW_VERSION) into $(DESTDIR)$(PREFIX)"
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(LIBSO) $(DESTDIR)$(LIBDIR)/libaigw.so.$(AIGW_VERSION)
	ln -sfn libaigw.so.$(AIGW_VERSION) $(DESTDIR)$(LIBDIR)/libaigw.so.$(SOMAJOR)
	ln -sfn libaigw.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libaigw.so
	$(INSTALL) -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/libaigw.a
	$(INSTALL) -m 644 $(AIGW_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	@{ echo 'prefix=$(PREFIX)'; \
	   echo 'libdir=$(call pc_rel,$(LIBDIR))'; \
	   echo 'includedir=$(call pc_rel,$(INCLUDEDIR))'; \
	   echo '# What libaigw.a needs besides itself (rustc --print native-static-libs).'; \
	   echo "native_static_libs=$$(cat $(NATIVE_LIBS_FILE))"; \
	   echo; \
	   echo 'Name: aigw'; \
	   echo 'Description: $(AIGW_DESCRIPTION)'; \
	   echo 'Version: $(AIGW_VERSION)'; \
	   echo 'Cflags: -I$${includedir}'; \
	   echo 'Libs: -L$${libdir} -laigw'; \
	   echo 'Libs.private: $${native_static_libs}'; \
	} >$(DESTDIR)$(PKGCONFIGDIR)/aigw.pc
	@chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/aigw.pc
	@echo "==> installed; pkg-config: PKG_CONFIG_PATH=$(DESTDIR)$(PKGCONFIGDIR)"
	@# The dynamic loader finds libaigw.so.$(SOMAJOR) through its cache: refresh
	@# it for a real install (not a DESTDIR staging), and say when LIBDIR is
	@# not a directory the loader searches.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null 2>&1; then \
	    echo "==> ldconfig"; ldconfig; \
	fi
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null 2>&1 && \
	    ! ldconfig -p 2>/dev/null | grep -q " => $(LIBDIR)/libaigw.so.$(SOMAJOR)$$"; then \
	    echo "note: $(LIBDIR) is not on the loader's path: link with -Wl,-rpath,$(LIBDIR), or add it"; \
	    echo "      to /etc/ld.so.conf.d/aigw.conf and run ldconfig, or set LD_LIBRARY_PATH"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libaigw.so.$(AIGW_VERSION) $(DESTDIR)$(LIBDIR)/libaigw.so.$(SOMAJOR) \
	    $(DESTDIR)$(LIBDIR)/libaigw.so $(DESTDIR)$(LIBDIR)/libaigw.a \
	    $(DESTDIR)$(PKGCONFIGDIR)/aigw.pc $(DESTDIR)$(INCLUDEDIR)/aigw.h \
	    $(DESTDIR)$(INCLUDEDIR)/aigw.hpp $(DESTDIR)$(INCLUDEDIR)/module.modulemap

# Installs into temporary prefixes and builds examples/provider_call.c with
# nothing but pkg-config (shared and static), runs both against the mock,
# and checks the version macros, aigw_version() and Cargo.toml agree.
install-test: lib
	@echo "==> install-test: make install into a temporary prefix, build with pkg-config"
	@AIGW_VERSION=$(AIGW_VERSION) AIGW_SOMAJOR=$(SOMAJOR) MAKE="$(MAKE)" \
	    $(WITH_MOCK) tests/install/install-test.sh

EXTRA_TESTS += install-test

# aigw.h compiles as C11/C17 and C++11/C++17 (gcc, and clang if installed),
# included twice, with -Wall -Wextra -Werror -pedantic; aigw.hpp as C++17/20;
# every declaration in aigw.h has a doc comment.
.PHONY: header-test
header-test: lib
	@echo "==> header-test: $(HEADER) and include/aigw.hpp compile cleanly and are documented"
	@tests/install/header-test.sh

EXTRA_TESTS += header-test
