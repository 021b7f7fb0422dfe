# runvm: one GNU Makefile for the runtime, the guest agent, the guest kernel and the tests.
# `make help` lists the targets.

ARCH ?= $(shell uname -m | sed -e 's/aarch64.*/arm64/' -e 's/amd64/x86_64/')
KARCH_x86_64 := x86_64
KARCH := $(KARCH_$(ARCH))

PREFIX ?= /usr/local
DATADIR ?= $(PREFIX)/share/runvm
BUILD ?= build

WERROR ?= 1

PKGS := glib-2.0 json-glib-1.0 libseccomp libcap libnl-route-3.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -DRUNVM_DATADIR='"$(DATADIR)"'

# Everything of the host side but main(): tests link it too.
LIB_SRCS := \
	runtime/lib/error.c runtime/lib/log.c runtime/lib/spec.c runtime/lib/config.c runtime/lib/state.c runtime/lib/util.c \
	runtime/monitor.c runtime/ctl.c runtime/vmconfig.c runtime/container.c runtime/run.c runtime/create.c \
	runtime/start.c runtime/exec.c runtime/state-cmd.c runtime/kill.c runtime/delete.c runtime/pause.c \
	runtime/ps.c runtime/update.c runtime/events.c runtime/hooks.c runtime/seccomp.c runtime/cgroup.c runtime/check.c runtime/spec-cmd.c \
	runtime/network.c runtime/arch.c \
	hypervisor-backends/registry.c hypervisor-backends/hostcaps.c \
	qemu-lite/qemu-lite.c qemu-lite/qmp.c \
	protocol/agent-proto.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
HEADERS := $(wildcard runtime/*.h runtime/lib/*.h hypervisor-backends/*.h qemu-lite/*.h protocol/*.h)

AGENT_SRCS := guest/agent.c protocol/agent-proto.c

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

KERNEL_DIR := $(BUILD)/kernel-$(KARCH)
KERNEL := $(KERNEL_DIR)/vmlinux
INITRD := $(BUILD)/initramfs.cpio

.PHONY: all runtime agent kernel deps check check-unit check-integration check-fuzz check-docker check-podman demo bench fuzz install \
	clean format format-check help

all: runtime agent kernel $(BUILD)/runvm.conf

help:
	@echo "make deps               install build and test dependencies (Debian, as root)"
	@echo "make                    runvm, the guest agent, the initramfs, the guest kernel (cached)"
	@echo "make demo               deps + build + run a busybox container in a VM"
	@echo "make check              deps + build + unit and integration tests"
	@echo "make bench              start-time and memory figures against runc and bare QEMU"
	@echo "make fuzz               run the agent-protocol fuzz target for a while (clang)"
	@echo "make install            install to PREFIX=$(PREFIX)"

runtime: $(BUILD)/runvm
agent: $(INITRD)

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/libruntime.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/runvm: $(BUILD)/obj/runtime/cli.o $(BUILD)/libruntime.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS)

# The agent is PID 1 of an initramfs that holds nothing else: static, no GLib.
$(BUILD)/runvm-agent: $(AGENT_SRCS) protocol/agent-proto.h $(wildcard guest/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -Iprotocol -o $@ $(AGENT_SRCS)

# Uncompressed: unpacking a gzip initramfs costs ~0.3 s of boot under TCG.
$(INITRD): $(BUILD)/runvm-agent
	rm -rf $(BUILD)/initramfs && mkdir -p $(BUILD)/initramfs
	cp $< $(BUILD)/initramfs/init
	cd $(BUILD)/initramfs && echo init | cpio --quiet -o -H newc -R 0:0 > ../initramfs.cpio.tmp
	mv $(BUILD)/initramfs.cpio.tmp $@

# The kernel build is cached outside the tree (guest/build-kernel.sh); this only links it.
kernel:
	guest/build-kernel.sh $(KARCH) configs/kernel-$(KARCH).config $(KERNEL_DIR)

# A configuration pointing at this build tree, for the demo and the tests.
$(BUILD)/runvm.conf: configs/runvm.conf
	@mkdir -p $(dir $@)
	sed -e 's|^#kernel = .*|kernel = $(abspath $(KERNEL))|' \
	    -e 's|^#initrd = .*|initrd = $(abspath $(INITRD))|' $< > $@

DEB_PKGS := build-essential pkg-config libglib2.0-dev libjson-glib-dev libnl-3-dev libnl-route-3-dev linux-source-6.1 flex bison bc \
	libelf-dev libssl-dev cpio lz4 qemu-system-x86 busybox-static runc python3 procps bsdutils bc clang \
	libclang-rt-14-dev docker.io podman debootstrap libseccomp-dev libcap-dev nftables
deps:
	@if dpkg-query -W -f '$${Status}\n' $(DEB_PKGS) 2>/dev/null | grep -vq 'install ok installed' || \
	   ! dpkg-query -W $(DEB_PKGS) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS); \
	else echo "deps: all installed"; fi

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(BUILD)/libruntime.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libruntime.a $(PKG_LIBS)

# deps first, in its own step: the sub-make then finds the -dev packages' pkg-config files.
check: deps
	$(MAKE) all
	$(MAKE) check-unit check-fuzz check-integration check-docker check-podman

check-unit: $(UNIT_TESTS)
	tests/unit/run.sh $(UNIT_TESTS)

check-integration: all
	RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(BUILD)/runvm.conf) tests/integration/run.sh

# Docker end to end: starts its own dockerd (runvm registered as a runtime) and stops it.
# run.sh with networking off, then net.sh with a bridge and iptables (it restores the host's
# networking after itself); both run, and either failing fails the target.
check-docker: all
	rc=0; \
	RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(BUILD)/runvm.conf) tests/docker/run.sh || rc=1; \
	RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(BUILD)/runvm.conf) tests/docker/net.sh || rc=1; \
	exit $$rc

check-podman: all
	RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(BUILD)/runvm.conf) tests/podman/run.sh

demo: deps
	$(MAKE) all
	RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(BUILD)/runvm.conf) tests/demo.sh

# The bare-boot baseline: the same kernel, with an init that ends the VM at once.
$(BUILD)/bench/bare.cpio: bench/bare-init.c
	rm -rf $(BUILD)/bench/bare && mkdir -p $(BUILD)/bench/bare
	$(CC) -O2 -static -o $(BUILD)/bench/bare/init $<
	cd $(BUILD)/bench/bare && echo init | cpio --quiet -o -H newc -R 0:0 > ../bare.cpio

BENCH_ROUNDS ?= 10
bench: all $(BUILD)/bench/bare.cpio
	bench/start.py --runvm $(BUILD)/runvm --config $(BUILD)/runvm.conf --kernel $(KERNEL) \
		--bare-initrd $(BUILD)/bench/bare.cpio --rounds $(BENCH_ROUNDS)
	RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(BUILD)/runvm.conf) bench/docker.sh $(BENCH_ROUNDS)

FUZZ_SECONDS ?= 30
FUZZ_SRCS := runtime/monitor.c runtime/ctl.c runtime/lib/spec.c runtime/lib/error.c runtime/lib/log.c protocol/agent-proto.c
$(BUILD)/fuzz/fuzz_agent_stream: tests/fuzz/fuzz_agent_stream.c $(FUZZ_SRCS) $(HEADERS)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE $(PKG_CFLAGS) -o $@ $< $(FUZZ_SRCS) $(PKG_LIBS)

fuzz: $(BUILD)/fuzz/fuzz_agent_stream
	mkdir -p $(BUILD)/fuzz/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $(BUILD)/fuzz/corpus

# A short fuzzing run as part of `make check`: a crash found fails the check.
check-fuzz:
	$(MAKE) fuzz FUZZ_SECONDS=20

install: all
	install -D -m 0755 $(BUILD)/runvm $(DESTDIR)$(PREFIX)/bin/runvm
	install -D -m 0644 $(INITRD) $(DESTDIR)$(DATADIR)/initramfs.cpio
	install -D -m 0644 $(KERNEL) $(DESTDIR)$(DATADIR)/vmlinux
	install -D -m 0644 configs/runvm.conf $(DESTDIR)$(DATADIR)/runvm.conf.example

format:
	clang-format -i $(LIB_SRCS) runtime/cli.c guest/*.c $(HEADERS)

format-check:
	clang-format --dry-run --Werror $(LIB_SRCS) runtime/cli.c guest/*.c $(HEADERS)

clean:
	rm -rf $(BUILD)
