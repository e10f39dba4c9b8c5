# tests/progs/progs.mk — extra build rules for the test programs (included by the Makefile).
# Every tests/progs/X.c is a program built by the Makefile's pattern rule; this file adds the libraries,
# link flags, the musl and Go builds (libraries live in lib/, musl/ and go/ so the Makefile's
# wildcard does not take them for programs) and the per-program flags those need.

PROGS_B := $(B)/tests/progs

# early: linked against libearly.so (its constructor starts threads before the shim activates)
PROG_CFLAGS_early := -L$(PROGS_B) -Wl,-rpath,'$$ORIGIN'
PROG_LIBS_early   := -learly
$(PROGS_B)/early: $(PROGS_B)/libearly.so

$(PROGS_B)/libearly.so: tests/progs/lib/libearly.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fPIC -shared -pthread -o $@ $<

# dlchurn: dlopen()s/dlclose()s libchurn.so in a loop
$(PROGS_B)/libchurn.so: tests/progs/lib/libchurn.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -fPIC -shared -o $@ $<
$(PROGS_B)/dlchurn: $(PROGS_B)/libchurn.so

# dlfresh: dlopen()s libfresh.so (no frame pointers) by its bare name, found through dlfresh's
# RUNPATH ($ORIGIN: glibc takes it from dlopen's caller), and spends its first moments in it
PROG_CFLAGS_dlfresh := -Wl,--enable-new-dtags,-rpath,'$$ORIGIN'
$(PROGS_B)/libfresh.so: tests/progs/lib/libfresh.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -fPIC -shared -o $@ $<
$(PROGS_B)/dlfresh: $(PROGS_B)/libfresh.so

# musl: a hello world linked with Debian's musl-gcc (dynamically, so the shim is preloaded)
$(PROGS_B)/hello_musl: tests/progs/musl/hello_musl.c
	@mkdir -p $(dir $@)
	$(Q)musl-gcc -O2 -g -o $@ $<

# Go: one program with cgo (dynamically linked against glibc), one PIE with no libc at all.
# CGO_ENABLED=0 -buildmode=pie on go 1.19 gives an ELF with PT_INTERP (ld-linux) and no
# DT_NEEDED entry at all (checked with readelf -d in test_compat.py).
GO_ENV := GOCACHE=$(abspath $(B))/gocache GOPATH=$(abspath $(B))/gopath GO111MODULE=off GOFLAGS= GOTOOLCHAIN=local
$(PROGS_B)/go_cgo: tests/progs/go/cgo.go
	@mkdir -p $(dir $@)
	$(Q)$(GO_ENV) CGO_ENABLED=1 go build -o $(abspath $@) $(abspath $<)
$(PROGS_B)/go_nolibc: tests/progs/go/nolibc.go
	@mkdir -p $(dir $@)
	$(Q)$(GO_ENV) CGO_ENABLED=0 go build -buildmode=pie -o $(abspath $@) $(abspath $<)

# go/hot: the agent's Go workload, static (no cgo) and dynamic (cgo), from one package.
$(PROGS_B)/go_static_hot: $(wildcard tests/progs/go/hot/*.go)
	@mkdir -p $(dir $@)
	$(Q)cd tests/progs/go/hot && $(GO_ENV) CGO_ENABLED=0 go build -o $(abspath $@) .
# go_static_hot_stripped: the same static build with -ldflags='-s -w' (no .symtab, no .dynsym),
# as production Go programs often ship: the agent names its functions from .gopclntab. Same
# flags otherwise, so its text is laid out as go_static_hot's (tests/unit/test_elfsym.c checks).
$(PROGS_B)/go_static_hot_stripped: $(wildcard tests/progs/go/hot/*.go)
	@mkdir -p $(dir $@)
	$(Q)cd tests/progs/go/hot && $(GO_ENV) CGO_ENABLED=0 go build -ldflags='-s -w' -o $(abspath $@) .
	$(Q)if readelf -SW $@ | grep -q '\.symtab' || ! readelf -SW $@ | grep -q ' \.gopclntab '; then \
		echo "$@ must have .gopclntab and no .symtab"; rm -f $@; exit 1; fi
$(PROGS_B)/go_cgo_hot: $(wildcard tests/progs/go/hot/*.go)
	@mkdir -p $(dir $@)
	$(Q)cd tests/progs/go/hot && $(GO_ENV) CGO_ENABLED=1 go build -tags cgo_dyn -o $(abspath $@) .

PROGS_EXTRA := $(PROGS_B)/libearly.so $(PROGS_B)/libchurn.so $(PROGS_B)/libfresh.so $(PROGS_B)/hello_musl \
               $(PROGS_B)/go_cgo $(PROGS_B)/go_nolibc $(PROGS_B)/go_static_hot $(PROGS_B)/go_cgo_hot \
               $(PROGS_B)/go_static_hot_stripped

test-bins: $(PROGS_EXTRA)

# bench: the process driver of `make bench` (tests/bench.sh): it starts and times every measured
# process. It lives in tests/bench/ so the pattern rule above does not take it for a test program.
$(B)/tests/bench/spawn: tests/bench/spawn.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $<

# bench: libempty.so, an empty preload: the floor under the inactive shim's start-up cost
$(B)/tests/bench/libempty.so: tests/bench/empty.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -fPIC -shared -nostdlib -o $@ $<

# bench: libwaiter.so, a preload that only starts one sleeping thread: a reference row of
# what a thread per process costs (sections 4 and 5; the shim starts none)
$(B)/tests/bench/libwaiter.so: tests/bench/waiter.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -lpthread

# bench: libthread0.so, a preload that only makes one raw kernel thread, which ends at once: the
# floor under any thread at all (sections 4 and 5)
$(B)/tests/bench/libthread0.so: tests/bench/thread0.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -fPIC -shared -nostdlib -o $@ $<

# bench: a program that times its own fork()s once the shim it carries has started (section 5)
$(B)/tests/bench/forker: tests/bench/forker.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

# bench: a small dynamically linked program (libc + libz + libm) for the start-up rows
$(B)/tests/bench/small: tests/bench/small.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -o $@ $< -lz -lm

test-bins: $(B)/tests/bench/spawn $(B)/tests/bench/libempty.so $(B)/tests/bench/libwaiter.so \
	   $(B)/tests/bench/libthread0.so $(B)/tests/bench/small $(B)/tests/bench/forker

# static_fp: the eBPF agent's known-answer workload: static (no interpreter, so the shim can never
# load), clang so that leaf functions keep their frame pointer too (gcc 12 omits it in leaves).
$(PROGS_B)/static_fp: tests/progs/static_fp.c
	@mkdir -p $(dir $@)
	$(Q)clang -static -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -o $@ $<

# bench_work_static: `make bench`'s fixed-work workload (bench_work.c, 4 threads) built like static_fp,
# for the eBPF agent's rows (section 6): static, so only the agent can sample it, and frame pointers
# in every function (leaves too) for the kernel's frame-pointer walk.
$(PROGS_B)/bench_work_static: tests/progs/bench_work.c
	@mkdir -p $(dir $@)
	$(Q)clang -static -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -pthread -o $@ $<

test-bins: $(PROGS_B)/bench_work_static

# nsmove, selfseccomp, dropuid, threadchurn, minijit: share tests/progs/cpuburn.h
$(PROGS_B)/nsmove $(PROGS_B)/selfseccomp $(PROGS_B)/dropuid $(PROGS_B)/musl/dropuid $(PROGS_B)/threadchurn $(PROGS_B)/musl/threadchurn $(PROGS_B)/musl/rawthread $(PROGS_B)/minijit: tests/progs/cpuburn.h

# musl builds of the sampler's test programs, for the ring sampler (tests/test_ring.py). Linked
# with --eh-frame-hdr, as a musl-native gcc (Alpine's) links by default: Debian's musl-gcc
# specs leave the option out, and without .eh_frame_hdr the fast path finds no unwind rule.
MUSL_PROGS := hot2 lastthread forkexec burn ownprof selfview dlfresh dropuid libcwork sleepers rawthread threadchurn
$(PROGS_B)/musl/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(Q)musl-gcc -O2 -g -fomit-frame-pointer -pthread -Wl,--eh-frame-hdr $(MUSL_LDFLAGS) -o $@ $<
$(PROGS_B)/musl/libfresh.so: tests/progs/lib/libfresh.c
	@mkdir -p $(dir $@)
	$(Q)musl-gcc -O2 -g -fomit-frame-pointer -fPIC -shared -Wl,--eh-frame-hdr -o $@ $<
$(PROGS_B)/musl/dlfresh: $(PROGS_B)/musl/libfresh.so
$(PROGS_B)/musl/dlfresh: MUSL_LDFLAGS := -Wl,--enable-new-dtags,-rpath,'$$ORIGIN'
PROG_BIN += $(MUSL_PROGS:%=$(PROGS_B)/musl/%)

# ... and hot2 as Debian's musl-gcc links it by default: no .eh_frame_hdr (the ring sampler
# indexes its .eh_frame itself).
$(PROGS_B)/musl-plain/hot2: tests/progs/hot2.c
	@mkdir -p $(dir $@)
	$(Q)musl-gcc -O2 -g -fomit-frame-pointer -pthread -o $@ $<
PROG_BIN += $(PROGS_B)/musl-plain/hot2
