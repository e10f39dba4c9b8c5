# ldprof — top-level Makefile. Read top to bottom; `make V=1` shows the commands.
#
#   make demo    install missing Debian packages, build, profile a sample, show the result
#   make check   install missing Debian packages, build, run every test ("N passed, N failed")
#   make bench   overhead table (medians of repeated runs, see tests/bench.sh)
#   make fuzz    run every fuzz target with libFuzzer for FUZZ_SECONDS each

B        := build
CC       ?= gcc
PYTHON   := /usr/bin/python3
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP -Icommon -Ishim -fno-strict-aliasing

# Debian packages the build and the tests need; `make deps` installs the missing ones (and
# Debian's nodejs and npm when the machine has no node and npm of its own: the tests' browser
# driver and second pprof reader run on Node.js, see tests/js/).
DEB_PKGS := build-essential pkg-config libunwind-dev zlib1g-dev clang libclang-rt-14-dev \
            golang-go google-perftools python3 python3-pytest musl-tools binutils procps \
            libinih-dev libzstd-dev libcurl4-openssl-dev openssl zstd \
            rpm shellcheck systemd libcap2-bin git util-linux \
            llvm bpftool libbpf-dev libelf-dev linux-perf gcc-multilib \
            openssh-server openssh-client libpython3.11-testsuite libc6-dbg lintian rpmlint \
            liblzma-dev xz-utils \
            chromium

# Libraries of the common modules. inih is linked statically; libcurl is never linked: http.c
# dlopen()s it when needed. liblzma is debuginfo.c's (MiniDebugInfo).
COMMON_LIBS := -Wl,-Bstatic -linih -Wl,-Bdynamic -lzstd -lz -ldl -llzma

COMMON_SRC := $(wildcard common/*.c)
CLI_SRC    := $(wildcard injector/*.c)
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/obj/cli/%.o) $(COMMON_SRC:%.c=$(B)/obj/cli/%.o)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
AGENT_SAN  := $(B)/tests/san/ldprof-agent
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/fuzz/%)
FUZZ_REPLAY:= $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/fuzz/%-replay)
PROG_SRC   := $(wildcard tests/progs/*.c)

SHIM       := $(B)/lib/libldprof.so
CLI        := $(B)/bin/ldprof
# The folder `ldprof install` names with $LIB (packaging/layout.sh, docs/install.md): the shim
# at the 64-bit loader's expansion, a do-nothing 32-bit stub at the 32-bit ones (x86_64 only).
TRIPLET    := $(shell $(CC) -print-multiarch)
LAYOUT     := $(B)/lib/ldprof/.layout
ifeq ($(TRIPLET),x86_64-linux-gnu)
STUB32     := $(B)/lib/stub32/libldprof.so
MAN5       := $(B)/man/ldprof.ini.5
LAYOUT_32  := $(STUB32) i386-linux-gnu
endif

.PHONY: all deps demo check test bench fuzz clean
all: $(SHIM) $(CLI) $(B)/sbin/ldprof-agent $(LAYOUT)

deps:
	$(Q)missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# --- the preloaded first stage: no libc, no DT_NEEDED, only raw syscalls and weak references ---
# Every process on a host pays for loading it: -Os and -z noseparate-code give two PT_LOAD
# segments instead of four, which measured (tests/bench/spawn, 500 paired runs of /bin/true)
# 11 us cheaper than the default layout: as cheap as an empty preloaded object.
FIRST_STAGE_SRC := shim/preload.c shim/select.c shim/agentreq.c shim/ringsamp.c shim/cfi.c shim/mapsline.c \
	shim/exechdr.c
$(SHIM): $(FIRST_STAGE_SRC) shim/select.h shim/agentreq.h shim/rawsys.h shim/state.h shim/hooks.h shim/exechdr.h \
	shim/ringsamp.h shim/cfi.h common/ring.h common/agentproto.h shim/preload.map
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -Os -g -fPIC -shared -nostdlib -ffreestanding -fno-stack-protector \
		-fno-builtin -fvisibility=hidden -fno-plt -Wl,-z,now -Wl,-z,nodelete -Wl,-z,noseparate-code \
		-Wl,--version-script=shim/preload.map -Wl,-soname,libldprof.so -o $@ $(FIRST_STAGE_SRC) -lgcc
	$(Q)if readelf -d $@ | grep -q NEEDED; then echo "$@ must need no library"; rm -f $@; exit 1; fi

# --- the 32-bit stub: what 32-bit loaders find at their $LIB; empty, nothing runs (shim/stub.c) ---
$(STUB32): shim/stub.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) -m32 -Os -fPIC -shared -nostdlib -ffreestanding -fno-stack-protector \
		-fvisibility=hidden -Wl,-z,noseparate-code -Wl,--hash-style=both -Wl,-soname,libldprof.so -o $@ shim/stub.c
	$(Q)if readelf -d $@ | grep -q NEEDED || ! readelf -r $@ | grep -q 'no relocations'; then \
		echo "$@ must need no library and have no relocation"; rm -f $@; exit 1; fi

$(LAYOUT): packaging/layout.sh $(SHIM) $(STUB32)
	$(Q)sh packaging/layout.sh $(B)/lib/ldprof $(TRIPLET) $(SHIM) $(LAYOUT_32)
	$(Q)touch $@

# --- the ldprof command ---
$(CLI): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -o $@ $(CLI_OBJ) $(COMMON_LIBS)

$(B)/obj/cli/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Iinjector -c -o $@ $<
# the HTML report's page is taken in by .incbin, which -MMD does not see
$(B)/obj/cli/injector/htmlview.o: injector/report.html

# --- unit tests: each links the common modules, built with ASan/UBSan ---
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
$(B)/tests/unit/%: tests/unit/%.c $(COMMON_SRC) $(wildcard common/*.h) $(wildcard injector/*.[ch]) injector/report.html
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -Iinjector -o $@ $< $(COMMON_SRC) \
		$(filter-out injector/main.c,$(wildcard injector/*.c)) $(COMMON_LIBS)

# --- fuzz targets: libFuzzer binaries (clang) and a replay driver (gcc, ASan) for make check ---
$(B)/tests/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(wildcard common/*.h) $(wildcard injector/*.[ch]) injector/report.html
	@mkdir -p $(dir $@)
	$(Q)clang $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -Iinjector -o $@ $< $(COMMON_SRC) \
		$(filter-out injector/main.c,$(wildcard injector/*.c)) $(COMMON_LIBS)
$(B)/tests/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c $(COMMON_SRC) $(wildcard common/*.h) $(wildcard injector/*.[ch]) injector/report.html
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -Iinjector -o $@ $< tests/fuzz/replay.c $(COMMON_SRC) \
		$(filter-out injector/main.c,$(wildcard injector/*.c)) $(COMMON_LIBS)

# --- test tools: small drivers of the common modules that the pytest suite runs ---
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/tools/%)
$(B)/tests/tools/%: tests/tools/%.c $(COMMON_SRC) $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(COMMON_SRC) $(COMMON_LIBS)

# --- test programs (the real processes the tests profile) ---
$(B)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -pthread -ldl $(PROG_CFLAGS_$*) -o $@ $< $(PROG_LIBS_$*)

PROG_BIN := $(PROG_SRC:tests/progs/%.c=$(B)/tests/progs/%)
-include tests/progs/progs.mk

# --- Node.js side of the tests: a headless Chromium driver and a second pprof reader ---
# The scripts and their locked npm packages (playwright-core, pprof-format) are copied into
# build/js and installed there with `npm ci`; the browser is Debian's chromium (make deps).
JS_SRC   := $(wildcard tests/js/*.mjs) tests/js/package.json tests/js/package-lock.json
JS_STAMP := $(B)/js/node_modules/.installed
$(JS_STAMP): $(JS_SRC)
	@mkdir -p $(B)/js
	$(Q)cp $(JS_SRC) $(B)/js/
	$(Q)cd $(B)/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	$(Q)touch $@

# The ring's producer side must build into the libc-free sampler: no symbol may be left undefined.
RING_FREESTANDING := $(B)/tests/unit/ring_freestanding.o
$(RING_FREESTANDING): tests/unit/ring_freestanding.c common/ring.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -Os -fPIC -nostdlib -ffreestanding -fno-builtin -fno-stack-protector \
		-c -o $@ tests/unit/ring_freestanding.c
	$(Q)if [ -n "$$(nm -u $@)" ]; then echo "$@ needs:" $$(nm -u $@); rm -f $@; exit 1; fi

test-bins: all $(MAN5) $(RING_FREESTANDING) $(UNIT_BIN) $(FUZZ_REPLAY) $(PROG_BIN) $(TOOL_BIN) $(AGENT_SAN) $(JS_STAMP)

# The suite's progress (a dot per test, a percentage per line) shows as it runs; the same
# output, failures in full, stays in build/pytest.log.
check: deps
	$(Q)$(MAKE) --no-print-directory test-bins
	@echo "make check: running the tests (about 10 minutes on 2 cores); full output in $(B)/pytest.log"
	$(Q)$(PYTHON) -u -m pytest -q -p no:cacheprovider --junitxml=$(B)/junit.xml tests/ 2>&1 \
		| tee $(B)/pytest.log; \
	$(PYTHON) tests/summary.py $(B)/junit.xml

test: check

demo: deps
	$(Q)$(MAKE) --no-print-directory all $(B)/tests/progs/demo
	$(Q)rm -rf $(B)/demo-profiles
	$(CLI) run -o $(B)/demo-profiles -- $(B)/tests/progs/demo
	$(CLI) report --top 10 $(B)/demo-profiles

bench: deps
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)bash tests/bench.sh

FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BIN)
	$(Q)for f in $(FUZZ_BIN); do mkdir -p $(B)/corpus/$$(basename $$f); \
		$$f -max_total_time=$(FUZZ_SECONDS) $(B)/corpus/$$(basename $$f) tests/fuzz/corpus/$$(basename $$f) || exit 1; done

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# The first stage's [select] rules: pure functions, tested and fuzzed like any parser.
$(B)/tests/unit/test_select: tests/unit/test_select.c shim/select.c shim/select.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ tests/unit/test_select.c shim/select.c

# The first stage's ldprof-agent client, against a real socket server thread.
$(B)/tests/unit/test_agentreq: tests/unit/test_agentreq.c shim/agentreq.c shim/agentreq.h shim/rawsys.h \
		common/agentproto.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ tests/unit/test_agentreq.c shim/agentreq.c -lpthread

# The unwinder's fast path, checked against libunwind on the test's own stacks.
$(B)/tests/unit/test_cfi: tests/unit/test_cfi.c shim/cfi.c shim/cfi.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ tests/unit/test_cfi.c shim/cfi.c -lunwind -ldl

# The first stage's parsers of hostile bytes, each fuzzed on its own with its module alone:
# the [select] rules and config scan, the fast path's .eh_frame reader (any loaded object),
# the /proc/self/maps reader (the deferred activation), the look at a file a waiting process
# execs (is it static?).
SHIM_FUZZ := select cfi mapsline exechdr
$(SHIM_FUZZ:%=$(B)/tests/fuzz/fuzz_%): $(B)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c shim/%.c shim/%.h
	@mkdir -p $(dir $@)
	$(Q)clang $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< shim/$*.c
$(SHIM_FUZZ:%=$(B)/tests/fuzz/fuzz_%-replay): $(B)/tests/fuzz/fuzz_%-replay: tests/fuzz/fuzz_%.c tests/fuzz/replay.c \
		shim/%.c shim/%.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ $< tests/fuzz/replay.c shim/$*.c

# ======================================================================================
# --- eBPF agent: build/sbin/ldprof-agent (libbpf, CO-RE, BPF skeleton) ---
# sampler.bpf.c is compiled for the BPF target against vmlinux.h, which is generated from the
# running kernel's BTF (never committed), stripped of DWARF, and turned into a skeleton header
# that embeds the object; the agent links libbpf and the common modules (CLI objects).
AGENT       := $(B)/sbin/ldprof-agent
AGENT_B     := $(B)/agent
AGENT_SRC   := $(filter-out %.bpf.c,$(wildcard agent/*.c)) shim/select.c
AGENT_OBJ   := $(AGENT_SRC:%.c=$(B)/obj/agent/%.o)

$(AGENT_B)/vmlinux.h:
	@mkdir -p $(dir $@)
	$(Q)test -r /sys/kernel/btf/vmlinux || { echo "$@: missing kernel BTF (/sys/kernel/btf/vmlinux)"; exit 1; }
	$(Q)bpftool btf dump file /sys/kernel/btf/vmlinux format c >$@.tmp && mv $@.tmp $@

$(AGENT_B)/sampler.bpf.o: agent/sampler.bpf.c agent/sampler.h $(AGENT_B)/vmlinux.h
	@mkdir -p $(dir $@)
	$(Q)clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(AGENT_B) -Iagent -c -o $@ $<
	$(Q)llvm-strip -g $@

$(AGENT_B)/sampler.skel.h: $(AGENT_B)/sampler.bpf.o
	$(Q)bpftool gen skeleton $< name sampler >$@.tmp && mv $@.tmp $@

$(B)/obj/agent/%.o: %.c $(AGENT_B)/sampler.skel.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Iagent -I$(AGENT_B) -c -o $@ $<

$(AGENT): $(AGENT_OBJ) $(COMMON_SRC:%.c=$(B)/obj/cli/%.o)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -o $@ $^ -lbpf -lelf $(COMMON_LIBS)

# The same agent under AddressSanitizer and UBSan: tests/test_agent_host.py runs it (the
# registration socket's parsing of what any user sends, the per-process tables).
$(AGENT_SAN): $(AGENT_SRC) $(COMMON_SRC) $(wildcard agent/*.h common/*.h) $(AGENT_B)/sampler.skel.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -Iagent -I$(AGENT_B) -o $@ $(AGENT_SRC) $(COMMON_SRC) \
		-lbpf -lelf $(COMMON_LIBS)

# ======================================================================================
# --- packaging: make install [DESTDIR=... PREFIX=/usr], make deb, make rpm ---
# Everything about it is in packaging/README.md. Neither `install` nor a package ever puts the
# shim into /etc/ld.so.preload: the admin runs `ldprof install`; removing a package takes it out.
# The shim reads /etc/ldprof/ldprof.ini whatever PREFIX is; `ldprof install` names
# /usr/lib/ldprof/$LIB/libldprof.so when it is there, else PREFIX/lib/ldprof/$LIB/libldprof.so
# next to the ldprof that runs. PREFIX=/usr is the layout the packages use.

PREFIX      ?= /usr
DESTDIR     ?=
PKG         ?= $(B)/pkg
RPM_RELEASE ?= 1
# (expanded only where used: reading the Makefile runs none of these commands)
PKG_VERSION  = $(shell sed -n 's/^\#define LDPROF_VERSION "\(.*\)"$$/\1/p' injector/main.c)
DEB_ARCH     = $(shell dpkg --print-architecture 2>/dev/null)
RPM_ARCH     = $(shell uname -m)
PKG_DOCS    := README.md $(wildcard docs/*.md)
PKG_SCRIPTS := $(addprefix $(PKG)/scripts/deb/,postinst prerm postrm) \
               $(addprefix $(PKG)/scripts/rpm/,post preun postun)

.PHONY: install deb rpm pkg-stage man
install: all $(MAN5)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/systemd/system \
		$(DESTDIR)/var/lib
	install -d -m 0755 $(DESTDIR)$(PREFIX)/lib/ldprof $(DESTDIR)$(PREFIX)/share/doc/ldprof \
		$(DESTDIR)/etc/ldprof $(DESTDIR)/var/lib/ldprof
	install -d -m 1733 $(DESTDIR)/var/lib/ldprof/profiles $(DESTDIR)/var/lib/ldprof/spool
	@# root's own folders, made before any user can make them first (docs/security.md)
	install -d -m 0700 $(DESTDIR)/var/lib/ldprof/profiles/0 $(DESTDIR)/var/lib/ldprof/spool/0
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/ldprof
	install -m 0755 $(AGENT) $(DESTDIR)$(PREFIX)/sbin/ldprof-agent
	sh packaging/layout.sh $(DESTDIR)$(PREFIX)/lib/ldprof $(TRIPLET) $(SHIM) $(LAYOUT_32)
	@# an existing configuration is the admin's: never overwritten
	if [ -e $(DESTDIR)/etc/ldprof/ldprof.ini ]; then echo "kept $(DESTDIR)/etc/ldprof/ldprof.ini"; \
	else install -m 0644 config/ldprof.ini $(DESTDIR)/etc/ldprof/ldprof.ini; fi
	for u in ldprof-flush.service ldprof-flush.timer ldprof-agent.service; do \
		sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SBINDIR@|$(PREFIX)/sbin|g' \
			-e 's|@DOCDIR@|$(PREFIX)/share/doc/ldprof|g' packaging/systemd/$$u \
			>$(DESTDIR)$(PREFIX)/lib/systemd/system/$$u && chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$$u || exit 1; done
	install -m 0644 $(PKG_DOCS) packaging/copyright $(DESTDIR)$(PREFIX)/share/doc/ldprof/
	install -m 0644 packaging/README.md $(DESTDIR)$(PREFIX)/share/doc/ldprof/packaging.md
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 docs/man/ldprof.1 $(DESTDIR)$(PREFIX)/share/man/man1/ldprof.1
	install -m 0644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/ldprof.ini.5
	install -m 0644 docs/man/ldprof-agent.8 $(DESTDIR)$(PREFIX)/share/man/man8/ldprof-agent.8
	gzip -9nf $(DESTDIR)$(PREFIX)/share/man/man1/ldprof.1 $(DESTDIR)$(PREFIX)/share/man/man5/ldprof.ini.5 \
		$(DESTDIR)$(PREFIX)/share/man/man8/ldprof-agent.8
	install -m 0644 packaging/completion/ldprof.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ldprof

# ldprof.ini(5): its KEYS section is made from config/ldprof.ini, so the two never disagree.
man: $(MAN5)
$(MAN5): docs/man/ldprof.ini.5.in docs/man/ini2man.awk config/ldprof.ini
	@mkdir -p $(dir $@)
	$(Q){ cat docs/man/ldprof.ini.5.in; awk -f docs/man/ini2man.awk config/ldprof.ini; \
		printf '.SH SEE ALSO\n.BR ldprof (1),\n.BR ldprof\\-agent (8)\n'; } >$@.tmp && mv $@.tmp $@

# The tree both packages hold: `install` into $(PKG)/stage, binaries stripped as Debian policy
# wants them (.dynsym stays: `ldprof status` finds the shim's state by it; ldprof's own static
# functions show as ldprof+0x... in profiles), the changelog compressed.
pkg-stage: all
	$(Q)rm -rf $(PKG)/stage
	$(Q)umask 022 && $(MAKE) --no-print-directory -s install DESTDIR=$(abspath $(PKG)/stage) PREFIX=/usr
	$(Q)strip --strip-unneeded --remove-section=.comment --remove-section=.note \
		$(PKG)/stage/usr/bin/ldprof $(PKG)/stage/usr/sbin/ldprof-agent $$(find $(PKG)/stage/usr/lib/ldprof -type f -name '*.so')
	$(Q)gzip -9n <packaging/changelog >$(PKG)/stage/usr/share/doc/ldprof/changelog.gz && \
		chmod 0644 $(PKG)/stage/usr/share/doc/ldprof/changelog.gz

# Maintainer scripts: each with packaging/scripts/functions.sh in place of "#@LDPROF_FUNCTIONS@".
$(PKG)/scripts/deb/%: packaging/deb/% packaging/scripts/functions.sh
	@mkdir -p $(dir $@)
	$(Q)sed -e '/^#@LDPROF_FUNCTIONS@$$/{r packaging/scripts/functions.sh' -e 'd;}' $< >$@ && chmod 0755 $@
$(PKG)/scripts/rpm/%: packaging/rpm/% packaging/scripts/functions.sh
	@mkdir -p $(dir $@)
	$(Q)sed -e '/^#@LDPROF_FUNCTIONS@$$/{r packaging/scripts/functions.sh' -e 'd;}' $< >$@

deb: pkg-stage $(PKG_SCRIPTS)
	$(Q)rm -rf $(PKG)/deb && cp -a $(PKG)/stage $(PKG)/deb && mkdir -m 0755 $(PKG)/deb/DEBIAN
	$(Q)cp $(addprefix $(PKG)/scripts/deb/,postinst prerm postrm) $(PKG)/deb/DEBIAN/
	$(Q)echo /etc/ldprof/ldprof.ini >$(PKG)/deb/DEBIAN/conffiles
	$(Q)cd $(PKG)/deb && md5sum $$(find usr var -type f | LC_ALL=C sort) >DEBIAN/md5sums
	$(Q)glibc=$$(objdump -T $(CLI) $(AGENT) $(SHIM) | grep -o 'GLIBC_2\.[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1); \
	size=$$(du -sk --exclude=DEBIAN $(PKG)/deb | cut -f1); \
	sed -e 's/@VERSION@/$(PKG_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' -e "s/@INSTALLED_SIZE@/$$size/" \
		-e "s/@GLIBC_MIN@/$$glibc/" packaging/deb/control.in >$(PKG)/deb/DEBIAN/control
	$(Q)chmod 0644 $(PKG)/deb/DEBIAN/control $(PKG)/deb/DEBIAN/conffiles $(PKG)/deb/DEBIAN/md5sums
	$(Q)dpkg-deb --root-owner-group --build $(PKG)/deb $(PKG)/ldprof_$(PKG_VERSION)_$(DEB_ARCH).deb >/dev/null
	@echo "$(PKG)/ldprof_$(PKG_VERSION)_$(DEB_ARCH).deb"

# rpm: its own database in build/ (rpm on Debian would otherwise make one in ~/.rpmdb).
rpm: pkg-stage $(PKG_SCRIPTS)
	$(Q)rm -rf $(PKG)/rpmbuild && mkdir -p $(PKG)/rpmbuild/tmp
	$(Q)glibc=$$(objdump -T $(CLI) $(AGENT) $(SHIM) | grep -o 'GLIBC_2\.[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1); \
	rpmbuild -bb --quiet --target $(RPM_ARCH) \
		--define "_topdir $(abspath $(PKG)/rpmbuild)" --define "_tmppath $(abspath $(PKG)/rpmbuild/tmp)" \
		--define "_dbpath $(abspath $(PKG)/rpmbuild/db)" \
		--define "ldprof_version $(PKG_VERSION)" --define "ldprof_release $(RPM_RELEASE)" \
		--define "ldprof_glibc $$glibc" --define "ldprof_stage $(abspath $(PKG)/stage)" \
		--define "ldprof_scripts $(abspath $(PKG)/scripts/rpm)" packaging/rpm/ldprof.spec
	$(Q)cp $(PKG)/rpmbuild/RPMS/$(RPM_ARCH)/ldprof-$(PKG_VERSION)-$(RPM_RELEASE).$(RPM_ARCH).rpm $(PKG)/
	@echo "$(PKG)/ldprof-$(PKG_VERSION)-$(RPM_RELEASE).$(RPM_ARCH).rpm"
