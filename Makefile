# runvm: one GNU Makefile for the runtime, the guest agent, the guest kernel and the tests.
# `make help` lists the targets.

ARCH ?= $(shell uname -m | sed -e 's/aarch64.*/arm64/' -e 's/amd64/x86_64/')
KARCH_x86_64 := x86_64
KARCH_arm64 := arm64
KARCH := $(KARCH_$(ARCH))

PREFIX ?= /usr/local
BENCH_ROUNDS ?= 10
FUZZ_SECONDS ?= 30
DATADIR ?= $(PREFIX)/share/runvm
MANDIR ?= $(PREFIX)/share/man
BUILD ?= build

WERROR ?= 1

PKGS := glib-2.0 json-glib-1.0 libseccomp libcap libnl-route-3.0 libvirt libxml-2.0
# A cross compiler (CC=aarch64-linux-gnu-gcc) brings its triplet's pkg-config, which finds
# that architecture's -dev packages (Debian's pkgconf:arm64 has aarch64-linux-gnu-pkg-config).
CROSS := $(patsubst %gcc,%,$(filter %-gcc,$(notdir $(CC))))
PKG_CONFIG ?= $(CROSS)pkg-config
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
CFLAGS ?= -O2 -g
# Includes are written from the repository root (-I.); header dependencies come from the
# compiler (-MMD -MP: a .d file beside each object).
# CPPFLAGS and LDFLAGS are empty unless given: the package build (debian/rules) passes
# dpkg-buildflags' hardening ones.
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(CPPFLAGS) -I. -D_GNU_SOURCE -DRUNVM_DATADIR='"$(DATADIR)"'
DEPFLAGS = -MMD -MP

# Everything of the host side but main(): tests link it too.
# The ground floor (base/): error object, logging, cleanup, monotonic time, architectures.
# It includes nothing else of ours; every other folder may include it.
BASE_SRCS := base/error.c base/log.c base/arch.c base/bpf.c
LIB_SRCS := $(BASE_SRCS) \
	runtime/lib/spec.c runtime/lib/config.c runtime/lib/state.c runtime/lib/util.c runtime/lib/engine-config.c \
	runtime/monitor.c runtime/ctl.c runtime/vmconfig.c runtime/container.c runtime/run.c runtime/create.c \
	runtime/start.c runtime/exec.c runtime/state-cmd.c runtime/kill.c runtime/delete.c runtime/pause.c \
	runtime/ps.c runtime/update.c runtime/events.c runtime/hooks.c runtime/install.c runtime/template.c runtime/seccomp.c runtime/cgroup.c runtime/check.c runtime/spec-cmd.c \
	runtime/network.c runtime/arch.c runtime/blockroot.c \
	hypervisor-backends/registry.c hypervisor-backends/hostcaps.c hypervisor-backends/settings.c \
	hypervisor-backends/procstats.c hypervisor-backends/jail.c \
	hypervisor-backends/template-store.c \
	qemu-lite/qemu-lite.c qemu-lite/qmp.c qemu-lite/template.c \
	hypervisor-backends/libvirt/libvirt-backend.c hypervisor-backends/libvirt/domain-xml.c \
	hypervisor-backends/libvirt/tap.c \
	protocol/agent-proto.c
# runvm's own VMM (the kvm backend): the core, the saved-state format, the backend glue, and the
# architecture hooks (kvm/arch.h): x86_64's (kvm/x86/), or a stub that refuses where the VMM has
# no port yet. The layout hooks are apart: the virtio tests link them with the test double.
KVM_LAYOUT_SRCS_x86_64 := kvm/x86/layout.c
KVM_ARCH_SRCS_x86_64 := kvm/x86/arch.c kvm/x86/boot.c kvm/x86/legacy.c $(KVM_LAYOUT_SRCS_x86_64)
KVM_ARCH_SRCS_arm64 := kvm/arch-stub.c
LIB_SRCS += kvm/vmm.c kvm/memory.c kvm/vcpu.c kvm/state.c kvm/kvm-backend.c kvm/template.c $(KVM_ARCH_SRCS_$(KARCH))
# The 9P2000.L server behind virtio-9p (arch-neutral).
LIB_SRCS += kvm/virtio/p9.c
# The virtio-mmio transport, the split virtqueue and the devices (arch-neutral).
VIRTIO_SRCS := kvm/virtio/virtqueue.c kvm/virtio/mmio.c kvm/virtio/console.c kvm/virtio/net.c kvm/virtio/rng.c \
	kvm/virtio/blk.c kvm/virtio/9p.c
LIB_SRCS += $(VIRTIO_SRCS)
# Confidential guests (tdx/): the modes, what the host offers, the hypervisors' options and
# the launch measurements, one place per technology.
LIB_SRCS += $(wildcard tdx/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)

# The guest agent, one file per job (guest/agent/main.c says which); config.c, the RUN parser,
# makes no system call and is also built on the host, for its unit test and its fuzzer.
AGENT_CONFIG_SRCS := guest/agent/config.c protocol/agent-proto.c
AGENT_SRCS := $(wildcard guest/agent/*.c) protocol/agent-proto.c

# Unit tests, one binary per tests/unit/test_*.c. Some need what exists for one host
# architecture only: test_kvm_run runs a tiny x86 guest on /dev/kvm, and the virtio tests place
# their devices with the VMM's x86_64 layout (kvm/x86/layout.c; no arm64 port yet). They are
# listed per architecture; elsewhere check-unit says SKIP with the reason.
UNIT_TESTS_ONLY_x86_64 := test_kvm_run test_virtqueue test_virtio_devices
UNIT_TESTS_ONLY := $(UNIT_TESTS_ONLY_x86_64)
UNIT_TESTS_HERE := $(filter-out $(filter-out $(UNIT_TESTS_ONLY_$(KARCH)),$(UNIT_TESTS_ONLY)), \
	$(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c)))
UNIT_TESTS := $(UNIT_TESTS_HERE:%=$(BUILD)/tests/%)
UNIT_TESTS_SKIPPED := $(filter-out $(UNIT_TESTS_HERE),$(UNIT_TESTS_ONLY))

# Guest artifacts per guest architecture (kernel ARCH names): a kernel in build/kernel-A/ and
# the static agent alone in an initramfs; the x86_64 ones keep their original names. The host's
# own architecture is compiled with $(CC), a foreign one cross-compiled. On an x86_64 host `make`
# also cross-builds the arm64 ones (`make guest-arm64` builds only those): linux/arm64
# containers run in an arm64 TCG guest. An arm64 host builds its own only.
GUEST_ARCHES_x86_64 := x86_64 arm64
GUEST_ARCHES_arm64 := arm64
GUEST_ARCHES ?= $(GUEST_ARCHES_$(KARCH))
GUEST_CC_x86_64 := $(if $(filter x86_64,$(KARCH)),$(CC),x86_64-linux-gnu-gcc)
GUEST_CC_arm64 := $(if $(filter arm64,$(KARCH)),$(CC),aarch64-linux-gnu-gcc)
# x86_64: vmlinux with the PVH entry; arm64: the uncompressed Image QEMU -M virt boots.
GUEST_KERNEL_x86_64 := $(BUILD)/kernel-x86_64/vmlinux
GUEST_KERNEL_arm64 := $(BUILD)/kernel-arm64/Image
GUEST_AGENT_x86_64 := $(BUILD)/runvm-agent
GUEST_AGENT_arm64 := $(BUILD)/runvm-agent-arm64
GUEST_INITRD_x86_64 := $(BUILD)/initramfs.cpio
GUEST_INITRD_arm64 := $(BUILD)/initramfs-arm64.cpio

# The host architecture's guest.
KERNEL_DIR := $(BUILD)/kernel-$(KARCH)
KERNEL := $(GUEST_KERNEL_$(KARCH))
INITRD := $(GUEST_INITRD_$(KARCH))

.PHONY: all runtime agent kernel deps deb check check-unit check-cross check-integration check-integration-cold check-docker-cold check-faults check-fuzz check-docker check-build check-podman check-package check-nested demo bench bench-nested bench-multiarch bench-density bench-fileio bench-libvirt check-libvirt fuzz install \
	clean format format-check help

# make, make demo and make check say one line per phase (mk/phase.sh) and keep everything the
# phases print in $(LOG), started afresh by the make that the user typed; V=1 shows it all.
LOG := $(BUILD)/build.log
PHASE = V=$(V) mk/phase.sh $(LOG)
LOG_RESET = $(if $(filter 0,$(MAKELEVEL)),@mkdir -p $(BUILD) && : >$(LOG))
SUBMAKE = $(MAKE) --no-print-directory
# A first build of each guest kernel here (2 cores); later builds take it from the cache.
KERNEL_ABOUT_x86_64 := a first build takes about 6 min on 2 cores
KERNEL_ABOUT_arm64 := a first build takes about 11 min on 2 cores

all:
	$(LOG_RESET)
	@$(PHASE) "runtime" -- $(SUBMAKE) runtime $(BUILD)/runvm.conf
	@$(foreach a,$(GUEST_ARCHES),$(PHASE) "guest agent and initramfs, $(a)" -- $(SUBMAKE) $(GUEST_INITRD_$(a)) && ) true
	@$(foreach a,$(GUEST_ARCHES),$(PHASE) "guest kernel, $(a)" --about "$(KERNEL_ABOUT_$(a))" --kernel -- \
		$(SUBMAKE) kernel-$(a) && ) true

# Every target, in the order a newcomer meets them (tests/README.md says which suite covers what).
help:
	@echo "Build (as root on Debian 12; \`make deps\` first on a new machine):"
	@echo "  make deps             install build and test dependencies (apt-get)"
	@echo "  make / make all       runvm, the guest agents and initramfs images, the guest kernels"
	@echo "                        (built once, cached in /var/cache/runvm), build/runvm.conf"
	@echo "  make runtime          build/runvm only"
	@echo "  make agent            the guest agents and initramfs images only"
	@echo "  make kernel           the guest kernels of every guest architecture ($(GUEST_ARCHES))"
	@echo "  make kernel-A         one architecture's kernel (A: x86_64, arm64; a foreign one cross-built)"
	@echo "  make guest-A          one architecture's kernel, agent and initramfs"
	@echo "  make install          install to PREFIX=$(PREFIX) (DESTDIR honoured), manual pages in MANDIR"
	@echo "  make deb              the Debian package, $(BUILD)/deb/runvm_VERSION_ARCH.deb (dpkg-buildpackage)"
	@echo "  make clean            remove $(BUILD)/ (the cached kernels stay)"
	@echo "Run:"
	@echo "  make demo             deps + build + run a busybox container in a VM"
	@echo "Test (make check runs every one of them, after deps and all):"
	@echo "  make check            deps, build, and every suite below"
	@echo "  make format-check     every C file follows .clang-format (make format rewrites them)"
	@echo "  make check-unit       C unit tests (TAP), x86_64-only ones skipped elsewhere"
	@echo "  make check-cross      runvm cross-compiled for arm64"
	@echo "  make check-fuzz       every fuzz target for 10 s"
	@echo "  make fuzz             every fuzz target for FUZZ_SECONDS (default $(FUZZ_SECONDS)) each, corpora in FUZZ_CORPUS"
	@echo "  make check-integration  real VMs booted by runvm (IT_ONLY=NAME: tests/integration/t_NAME.sh)"
	@echo "  make check-faults     only the fault tests of check-integration (t_faults.sh)"
	@echo "  make check-docker     a private dockerd with runvm: run.sh, net.sh (bridge networking), build.sh"
	@echo "  make check-build      arm64 builds with no binfmt: docker build, buildah bud (build.sh;"
	@echo "                        RUNVM_TEST_DEBOOTSTRAP=1 adds an arm64 debootstrap, about 9 min)"
	@echo "  make check-podman     podman with runvm"
	@echo "  make check-libvirt    the libvirt backend against a private libvirtd: its own checks, the integration suite's run, lifecycle, exec, net, oom parts, a Docker subset"
	@echo "  make check-package    the Debian package installed, run from /usr alone, removed and purged"
	@echo "  make check-nested     the kvm backend and QEMU+KVM inside a nested TCG host VM"
	@echo "Measure:"
	@echo "  make bench            start time and memory against runc and a bare QEMU boot, docker, net, multiarch,"
	@echo "                        density, fileio and nested (BENCH_ROUNDS=N rounds, default $(BENCH_ROUNDS))"
	@echo "  make bench-nested     the kvm backend against QEMU in the nested host VM only"
	@echo "  make bench-fileio     file I/O in the container (reads, find, ls -lR, untar, compile) against runc"
	@echo "  make bench-libvirt    the libvirt backend against the qemu backend: start time, QEMU's Pss, libvirtd per domain"
	@echo "  make bench-multiarch  arm64 work: runvm against runc with qemu-user (binfmt_misc, registered for the bench alone)"
	@echo "  make bench-density    DENSITY_N containers (default 50) created DENSITY_P at a time (default 8), then idle: start"
	@echo "                        times, host Pss and idle CPU (DENSITY_WINDOW s, default 30) per container, exec latency;"
	@echo "                        DENSITY_MAX_N=1: the largest N this host holds (slow)"
	@echo "  V=1                   with make, demo, check: every line of every phase (else in $(LOG))"
	@echo "  make help             this list"

runtime: $(BUILD)/runvm
agent: $(foreach a,$(GUEST_ARCHES),$(GUEST_INITRD_$(a)))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/libruntime.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/runvm: $(BUILD)/obj/runtime/cli.o $(BUILD)/libruntime.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# One template for each guest architecture A's artifacts:
# - the agent, PID 1 of an initramfs that holds nothing else: static, no GLib, its objects in
#   $(BUILD)/guest-A/ (compiled one by one, so -MMD records each one's headers);
# - the initramfs, uncompressed (unpacking a gzip initramfs costs ~0.3 s of boot under TCG);
# - kernel-A: the kernel, whose build is cached outside the tree (guest/build-kernel.sh; a
#   foreign architecture's is cross-compiled): this target only links it, after the first time;
# - guest-A: all of that architecture's guest.
define GUEST_RULES
$$(BUILD)/guest-$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(GUEST_CC_$(1)) -std=gnu11 $$(WARN) -O2 -I. -D_GNU_SOURCE $$(DEPFLAGS) -c -o $$@ $$<

$$(GUEST_AGENT_$(1)): $$(AGENT_SRCS:%.c=$$(BUILD)/guest-$(1)/%.o)
	$$(GUEST_CC_$(1)) -static -o $$@ $$^

$$(GUEST_INITRD_$(1)): $$(GUEST_AGENT_$(1))
	rm -rf $$(BUILD)/guest-$(1)/root && mkdir -p $$(BUILD)/guest-$(1)/root
	cp $$< $$(BUILD)/guest-$(1)/root/init
	cd $$(BUILD)/guest-$(1)/root && echo init | cpio --quiet -o -H newc -R 0:0 > $$(abspath $$@).tmp
	mv $$@.tmp $$@

.PHONY: kernel-$(1) guest-$(1)
kernel-$(1):
	guest/build-kernel.sh $(1) configs/kernel-$(1).config $$(BUILD)/kernel-$(1)

guest-$(1): kernel-$(1) $$(GUEST_INITRD_$(1))
endef
$(foreach a,x86_64 arm64,$(eval $(call GUEST_RULES,$(a))))
kernel: $(foreach a,$(GUEST_ARCHES),kernel-$(a))

# A configuration pointing at this build tree, for the demo and the tests.
$(BUILD)/runvm.conf: configs/runvm.conf
	@mkdir -p $(dir $@)
	sed -e 's|^#kernel = .*|kernel = $(abspath $(KERNEL))|' \
	    -e 's|^#initrd = .*|initrd = $(abspath $(INITRD))|' \
	    -e 's|^#template_dir = .*|template_dir = $(abspath $(BUILD))/templates|' \
	    $(if $(filter arm64,$(GUEST_ARCHES)),-e 's|^#kernel_aarch64 = .*|kernel_aarch64 = $(abspath $(GUEST_KERNEL_arm64))|' \
	    -e 's|^#initrd_aarch64 = .*|initrd_aarch64 = $(abspath $(GUEST_INITRD_arm64))|') $< > $@

# The cross toolchain for the arm64 guest kernel and agent on x86_64 hosts, and for
# check-cross the arm64 -dev packages of the runtime's libraries with their pkg-config
# (co-installed with the amd64 ones; deps adds the arm64 architecture to dpkg first).
DEB_PKGS_x86_64 := gcc-aarch64-linux-gnu libc6-dev-arm64-cross pkgconf:arm64 libglib2.0-dev:arm64 \
	libjson-glib-dev:arm64 libseccomp-dev:arm64 libcap-dev:arm64 libnl-3-dev:arm64 libnl-route-3-dev:arm64 \
	libvirt-dev:arm64 libxml2-dev:arm64
DEB_PKGS := build-essential pkg-config libglib2.0-dev libjson-glib-dev libnl-3-dev libnl-route-3-dev linux-source-6.1 flex bison bc \
	libelf-dev libssl-dev cpio lz4 qemu-system-x86 busybox-static runc python3 procps iproute2 bsdutils bc clang \
	libclang-rt-14-dev clang-format docker.io podman buildah debootstrap libseccomp-dev libcap-dev nftables file \
	qemu-system-arm debhelper dpkg-dev man-db psmisc libvirt-dev libxml2-dev libvirt-daemon-system libvirt-clients \
	erofs-utils cryptsetup-bin \
	$(DEB_PKGS_$(KARCH))
# The daemons' packages (docker.io, libvirt-daemon-system) would start their services from their
# postinst: a policy-rc.d that says no, for the install only, unless the host has its own.
deps:
	$(if $(filter x86_64,$(KARCH)),@dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64)
	@if dpkg-query -W -f '$${Status}\n' $(DEB_PKGS) 2>/dev/null | grep -vq 'install ok installed' || \
	   ! dpkg-query -W $(DEB_PKGS) >/dev/null 2>&1; then \
		policy=; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && \
			chmod 755 /usr/sbin/policy-rc.d && policy=1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS); \
		rc=$$?; [ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	else echo "deps: all installed"; fi

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libruntime.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS_$*) $(DEPFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libruntime.a $(PKG_LIBS)

# test_measure's synthetic firmware, kernel, initrd and initdata: written by gen.py (never
# committed), deterministic, so that the committed expected.txt is of them.
MEASURE_INPUTS := $(BUILD)/tests/measure
$(MEASURE_INPUTS)/fw.bin: tests/unit/measure/gen.py
	python3 $< $(@D)
TEST_CFLAGS_test_measure := -DMEASURE_INPUTS='"$(MEASURE_INPUTS)/"'
$(BUILD)/tests/test_measure: | $(MEASURE_INPUTS)/fw.bin

# The virtio devices run in their tests against a test double of the VMM core
# (tests/unit/fake-vmm.c: guest RAM is a buffer), without KVM, so the objects given here win over
# libruntime.a's vmm.o.
VIRTIO_TEST_SRCS := tests/unit/fake-vmm.c $(VIRTIO_SRCS) kvm/virtio/p9.c kvm/state.c $(KVM_LAYOUT_SRCS_$(KARCH))
VIRTIO_TESTS := $(BUILD)/tests/test_virtqueue $(BUILD)/tests/test_virtio_devices
$(VIRTIO_TESTS): $(BUILD)/tests/%: tests/unit/%.c $(VIRTIO_TEST_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libruntime.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) -o $@ $< $(VIRTIO_TEST_SRCS:%.c=$(BUILD)/obj/%.o) \
		$(BUILD)/libruntime.a $(PKG_LIBS) -lpthread

# The agent's RUN parser makes no system call and needs no GLib: its test builds just that.
$(BUILD)/tests/test_agent_run: tests/unit/test_agent_run.c $(AGENT_CONFIG_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -o $@ $^

# The device cgroup program's builder, run by the test's own interpreter (and the host's verifier).
$(BUILD)/tests/test_devcg: tests/unit/test_devcg.c $(BUILD)/obj/guest/agent/devcg.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -o $@ $^

# deps first, in its own step: the sub-makes then find the -dev packages' pkg-config files.
# Every suite runs even when an earlier one failed; the check fails if any did.
CHECK_SUITES := unit cross fuzz integration integration-cold docker docker-cold podman libvirt package nested
check:
	$(LOG_RESET)
	@$(PHASE) "dependencies (apt-get)" -- $(SUBMAKE) deps
	@$(SUBMAKE) all
	@rc=0; $(PHASE) "format-check" -- $(SUBMAKE) format-check || rc=1; \
	for t in $(CHECK_SUITES); do $(PHASE) "tests: $$t" -- $(SUBMAKE) check-$$t || rc=1; done; exit $$rc

# The shell unit tests drive the built binary (no VM, no root): `check --format json` against
# the text form, the manual pages against --help and configs/runvm.conf.
UNIT_SCRIPTS := $(wildcard tests/unit/test_*.sh)
check-unit: $(UNIT_TESTS) $(BUILD)/runvm
	$(foreach t,$(UNIT_TESTS_SKIPPED),@echo "# SKIP $(t): needs an x86_64 host (its guest or the VMM's layout is x86_64's)"$(newline))
	RUNVM=$(abspath $(BUILD)/runvm) tests/unit/run.sh $(UNIT_TESTS) $(UNIT_SCRIPTS)

# runvm itself cross-compiled for arm64: the runtime binary only (an arm64 host builds its
# own guest artifacts), checked to be an aarch64 executable.
check-cross:
	$(MAKE) BUILD=$(BUILD)/cross-arm64 ARCH=arm64 CC=aarch64-linux-gnu-gcc PKG_CONFIG=aarch64-linux-gnu-pkg-config runtime
	file $(BUILD)/cross-arm64/runvm
	file $(BUILD)/cross-arm64/runvm | grep -q 'ELF 64-bit LSB .*ARM aarch64'

# What every test suite, the demo and the bench are told: the binary and a configuration that
# points at this build tree's kernels and initramfs; the nested harness also gets the x86_64
# guest it boots inside its host VM.
# TEST_CONF: the configuration the suites get; the -cold suites give them runvm-cold.conf.
TEST_CONF = $(BUILD)/runvm.conf
TEST_ENV = RUNVM=$(abspath $(BUILD)/runvm) RUNVM_CONFIG=$(abspath $(TEST_CONF))
NESTED_ENV = RUNVM=$(abspath $(BUILD)/runvm) NESTED_KERNEL=$(abspath $(GUEST_KERNEL_x86_64)) \
	NESTED_INITRD=$(abspath $(GUEST_INITRD_x86_64)) NESTED_FAULT_INITRD=$(abspath $(FAULT_INITRD))

# The fault tests' guest: see the block below.
FAULT_INITRD := $(BUILD)/faults/initramfs.cpio
check-integration: all $(FAULT_INITRD)
	$(TEST_ENV) tests/integration/run.sh

# The integration and Docker suites again with VM templates off ([runvm] template = false):
# every VM boots cold, as where a backend keeps no templates (issue #14 point 4).
COLD_CONF := $(BUILD)/runvm-cold.conf
$(COLD_CONF): $(BUILD)/runvm.conf
	sed 's/^#template = .*/template = false/' $< > $@
	grep -q '^template = false$$' $@
check-integration-cold check-docker-cold: check-%-cold: all $(COLD_CONF)
	$(MAKE) check-$* TEST_CONF=$(COLD_CONF)

# Only the fault tests (t_faults.sh), which check-integration, and so make check, runs too.
check-faults: all $(FAULT_INITRD)
	$(TEST_ENV) IT_ONLY=faults tests/integration/run.sh

# --- the fault tests' guest (tests/integration/t_faults.sh) ------------------------------------
# A test /init that misbehaves on purpose (tests/faults/fault-init.c), alone in its own
# initramfs: the production agent has no fault switch. Built for the host's guest architecture
# with the agent's protocol objects; t_faults.sh finds it next to runvm and skips without it.
$(BUILD)/faults/init: tests/faults/fault-init.c $(BUILD)/guest-$(KARCH)/protocol/agent-proto.o
	@mkdir -p $(dir $@)
	$(GUEST_CC_$(KARCH)) -std=gnu11 $(WARN) -O2 -I. -D_GNU_SOURCE -static -o $@ $^

$(FAULT_INITRD): $(BUILD)/faults/init
	rm -rf $(BUILD)/faults/root && mkdir -p $(BUILD)/faults/root
	cp $< $(BUILD)/faults/root/init
	cd $(BUILD)/faults/root && echo init | cpio --quiet -o -H newc -R 0:0 > $(abspath $@).tmp
	mv $@.tmp $@

# Docker end to end: starts its own dockerd (runvm registered as a runtime) and stops it.
# run.sh with networking off, then net.sh with a bridge and iptables (it restores the host's
# networking after itself), then build.sh (arm64 builds); all run, and any failing fails the target.
check-docker: all
	rc=0; \
	$(TEST_ENV) tests/docker/run.sh || rc=1; \
	$(TEST_ENV) tests/docker/net.sh || rc=1; \
	$(TEST_ENV) tests/docker/build.sh || rc=1; \
	exit $$rc

# Multi-arch builds through runvm (issue #15 point 3): also the last part of check-docker.
check-build: all
	$(TEST_ENV) tests/docker/build.sh

check-podman: all
	$(TEST_ENV) tests/podman/run.sh

# The libvirt backend against a private libvirtd that tests/libvirt/run.sh starts and stops: its
# own checks, then the integration suite's run, lifecycle, exec, net and oom parts and a Docker
# subset (tests/libvirt/docker.sh), all with backend = libvirt.
check-libvirt: all
	$(TEST_ENV) tests/libvirt/run.sh

# --- the Debian package (debian/) ---------------------------------------------------------------
# dpkg-buildpackage in a copy of the tree (the files git knows, tracked or not ignored) under
# $(BUILD)/deb/, so that neither its debian/ outputs nor the package's build (PREFIX=/usr: a
# different compiled-in DATADIR) touch this tree's files or $(BUILD)/ objects; the .deb lands
# in $(BUILD)/deb/. The guest kernels come from the cache (/var/cache/runvm), as for `make all`.
# It is rebuilt when a file of the tree changed. dpkg-buildpackage runs without the outer make's
# flags and command-line variables: they are not the package's (PREFIX=/usr).
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(BUILD)/deb/runvm_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_SRCS := $(wildcard $(shell git ls-files --cached --others --exclude-standard 2>/dev/null))
deb: $(DEB)
$(DEB): $(DEB_SRCS)
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/runvm-$(DEB_VERSION)
	git ls-files -z --cached --others --exclude-standard | \
		tar --null --no-recursion --ignore-failed-read -T - -c | tar -x -C $(BUILD)/deb/runvm-$(DEB_VERSION)
	cd $(BUILD)/deb/runvm-$(DEB_VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		dpkg-buildpackage -b -us -uc -J$(shell nproc)
	test -f $@
	@echo "deb: $@"

# The package end to end (tests/package/run.sh): installed on this machine, `runvm check` and a
# busybox container from the installed files alone, removed (only the conffile stays), purged.
check-package: all $(DEB)
	DEB=$(abspath $(DEB)) tests/package/run.sh

# runvm under real KVM (both backends) inside an x86_64 QEMU-TCG host VM with emulated SVM: the
# only way these machines (PVM /dev/kvm) run the kvm backend. Quick checks and the bench, then
# the integration suite with --backend kvm (NESTED_IT=kvm; empty: without it), the fault tests'
# broken guest (FAULT_INITRD) carried in. Downloads Debian's cloud kernel once (into
# RUNVM_CACHE); takes about 5 minutes; skips where it cannot run.
check-nested: all $(FAULT_INITRD)
	$(NESTED_ENV) tests/nested/run.sh

demo:
	$(LOG_RESET)
	@$(PHASE) "dependencies (apt-get)" -- $(SUBMAKE) deps
	@$(SUBMAKE) all
	@$(TEST_ENV) tests/demo.sh

# The bare-boot baseline: the same kernel, with an init that ends the VM at once.
$(BUILD)/bench/bare.cpio: bench/bare-init.c
	rm -rf $(BUILD)/bench/bare && mkdir -p $(BUILD)/bench/bare
	$(CC) -O2 -static -o $(BUILD)/bench/bare/init $<
	cd $(BUILD)/bench/bare && echo init | cpio --quiet -o -H newc -R 0:0 > ../bare.cpio

bench: all $(BUILD)/bench/bare.cpio
	bench/start.py --runvm $(BUILD)/runvm --config $(BUILD)/runvm.conf --kernel $(KERNEL) \
		--bare-initrd $(BUILD)/bench/bare.cpio --rounds $(BENCH_ROUNDS) $(if $(filter arm64,$(GUEST_ARCHES)),--arm64)
	$(TEST_ENV) bench/docker.sh $(BENCH_ROUNDS)
	$(TEST_ENV) bench/net.sh $(BENCH_ROUNDS)
	$(MAKE) bench-multiarch
	$(MAKE) bench-density
	$(MAKE) bench-fileio
	$(MAKE) bench-libvirt
	$(MAKE) bench-nested

# arm64 work under runvm against runc with qemu-user through binfmt_misc (registered by the
# bench for itself and removed after): start, CPU, processes, files; what each shows of itself.
bench-multiarch: all
	bench/multiarch.py --runvm $(BUILD)/runvm --config $(BUILD)/runvm.conf --rounds $(or $(MULTIARCH_ROUNDS),3)

# Concurrency and density (issue #14): N containers created and started P at a time, their start
# times; then idle together, host Pss and CPU per container and `exec true` latency
# (DENSITY_N, DENSITY_P, DENSITY_WINDOW). DENSITY_MAX_N=1 instead grows N by DENSITY_STEP (default 10)
# until the host holds no more (slow: STEP VMs booted and an exec in every container per step).
bench-density: all
	bench/density.py --runvm $(BUILD)/runvm --config $(BUILD)/runvm.conf -n $(or $(DENSITY_N),50) \
		-p $(or $(DENSITY_P),8) --window $(or $(DENSITY_WINDOW),30) \
		$(if $(DENSITY_MAX_N),--max-n --step $(or $(DENSITY_STEP),10))

# File I/O in the container against runc (issue #14): 4 KiB reads of a 32 MiB file cold and
# reread, find /, ls -lR, an untar of 4400 files, a tcc compile (FILEIO_ROUNDS, default 3).
$(BUILD)/bench/stopwatch: bench/stopwatch.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -static -o $@ $<
bench-fileio: all $(BUILD)/bench/stopwatch
	bench/fileio.py --runvm $(BUILD)/runvm --config $(BUILD)/runvm.conf --stopwatch $(BUILD)/bench/stopwatch \
		--rounds $(or $(FILEIO_ROUNDS),3)

# The libvirt backend against the qemu backend (issue #16), on a private libvirtd: `runvm run
# true` under each (qemu cold and from its template), QEMU's Pss under each, libvirtd's growth
# per domain.
bench-libvirt: all
	$(TEST_ENV) bench/libvirt.sh $(BENCH_ROUNDS)

# The kvm backend against QEMU with KVM, inside the nested host VM (x86_64 hosts): the quick
# checks and the bench of tests/nested, without the integration suite.
bench-nested: all
	$(NESTED_ENV) NESTED_IT= NESTED_BENCH_ROUNDS=$(BENCH_ROUNDS) tests/nested/run.sh


# The fuzz targets: libFuzzer with ASan and UBSan, their objects built apart in $(BUILD)/fuzz/obj.
# UB aborts too (no recovery), so it counts as a crash.
FUZZ_CC = clang -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(DEPFLAGS) $(PKG_CFLAGS) -c -o $@ $<
fuzz_objs = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,tests/fuzz/$(1).c $(2))
# The monitor's handler of the agent's stream, as a hostile guest would feed it.
$(BUILD)/fuzz/fuzz_agent_stream: $(call fuzz_objs,fuzz_agent_stream,runtime/monitor.c runtime/ctl.c runtime/lib/spec.c runtime/lib/util.c \
		base/error.c base/log.c protocol/agent-proto.c)
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS)
# The 9P server (kvm/virtio/p9.c) against a scratch export.
$(BUILD)/fuzz/fuzz_p9: $(call fuzz_objs,fuzz_p9,kvm/virtio/p9.c tests/fuzz/fuzz-scratch.c)
	$(FUZZ_CC) -o $@ $^
# The split virtqueue parser (kvm/virtio/virtqueue.c) over guest memory and ring layout from the input.
$(BUILD)/fuzz/fuzz_virtqueue: $(call fuzz_objs,fuzz_virtqueue,kvm/virtio/virtqueue.c)
	$(FUZZ_CC) -o $@ $^
# The guest agent's RUN/EXEC parser, as a hostile host would feed it; its corpus starts from the
# full RUN that the unit test builds.
$(BUILD)/fuzz/fuzz_agent_run: $(call fuzz_objs,fuzz_agent_run,$(AGENT_CONFIG_SRCS))
	$(FUZZ_CC) -o $@ $^
# The virtio devices behind the virtio-mmio transport, on the unit tests' double of the VMM core
# (tests/fuzz/fuzz-vm.c drives them): the register state machine with each device, the
# console's control protocol, and the devices' saved-state loaders. Like the virtio unit tests
# they need the architecture's layout hooks (x86_64 only for now).
FUZZ_VM_SRCS := tests/fuzz/fuzz-vm.c tests/fuzz/fuzz-scratch.c $(VIRTIO_TEST_SRCS) base/error.c base/log.c
FUZZ_VM_TARGETS := $(if $(KVM_LAYOUT_SRCS_$(KARCH)),fuzz_virtio_mmio fuzz_console fuzz_vmm_state)
$(FUZZ_VM_TARGETS:%=$(BUILD)/fuzz/%): $(BUILD)/fuzz/%: $(BUILD)/fuzz/obj/tests/fuzz/%.o \
		$(FUZZ_VM_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS) -lpthread
# What the runtime reads from files: config.json and process.json (runtime/lib/spec.c), the
# seccomp profile it compiles (runtime/seccomp.c), its own state.json (runtime/lib/state.c),
# and QEMU's QMP replies (qemu-lite/qmp.c). A GLib critical aborts them (tests/fuzz/fuzz-glib.c).
FUZZ_JSON_SRCS := tests/fuzz/fuzz-glib.c base/error.c base/log.c
$(BUILD)/fuzz/fuzz_spec $(BUILD)/fuzz/fuzz_process: $(BUILD)/fuzz/%: $(BUILD)/fuzz/obj/tests/fuzz/%.o \
		$(patsubst %.c,$(BUILD)/fuzz/obj/%.o,runtime/lib/spec.c tests/fuzz/fuzz-scratch.c $(FUZZ_JSON_SRCS))
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS)
$(BUILD)/fuzz/fuzz_seccomp: $(call fuzz_objs,fuzz_seccomp,runtime/seccomp.c base/arch.c base/bpf.c $(FUZZ_JSON_SRCS))
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS)
$(BUILD)/fuzz/fuzz_state: $(call fuzz_objs,fuzz_state,runtime/lib/state.c tests/fuzz/fuzz-scratch.c $(FUZZ_JSON_SRCS))
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS)
$(BUILD)/fuzz/fuzz_qmp: $(call fuzz_objs,fuzz_qmp,qemu-lite/qmp.c $(FUZZ_JSON_SRCS))
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS)
# The confidential launch's measurement inputs (tdx/measure.c): a firmware image, initdata.
$(BUILD)/fuzz/fuzz_firmware: $(call fuzz_objs,fuzz_firmware,tdx/measure.c) | $(MEASURE_INPUTS)/fw.bin
	$(FUZZ_CC) -o $@ $^ $(PKG_LIBS)

FUZZ_TARGETS := fuzz_agent_stream fuzz_p9 fuzz_virtqueue fuzz_agent_run $(FUZZ_VM_TARGETS) fuzz_spec fuzz_process \
	fuzz_seccomp fuzz_state fuzz_qmp fuzz_firmware
# Each target's corpus persists between runs (and `make clean`) under FUZZ_CORPUS/TARGET, seeded
# from tests/fuzz/seeds/TARGET/ (fuzz_agent_run's from the unit test's RUN frame); crashes land
# in $(BUILD)/fuzz/TARGET-crash-*. -timeout: an input that takes 5 s is a hang, which fails too.
# `make fuzz FUZZ_TARGETS=fuzz_qmp` runs only the ones named.
FUZZ_CORPUS ?= /var/cache/runvm/fuzz
FUZZ_MAXLEN_fuzz_virtqueue := 16384
# Firmware images are whole 4 KiB pages; the seeds are test_measure's inputs (gen.py), 16 KiB.
FUZZ_MAXLEN_fuzz_firmware := 20480
define fuzz_run
	mkdir -p $(FUZZ_CORPUS)/$(1)
	$(if $(wildcard tests/fuzz/seeds/$(1)/*),cp tests/fuzz/seeds/$(1)/* $(FUZZ_CORPUS)/$(1)/)
	$(if $(filter fuzz_agent_run,$(1)),[ -n "$$(ls $(FUZZ_CORPUS)/$(1))" ] || \
		$(BUILD)/tests/test_agent_run $(FUZZ_CORPUS)/$(1)/run >/dev/null)
	$(if $(filter fuzz_firmware,$(1)),cp $(MEASURE_INPUTS)/fw.bin $(MEASURE_INPUTS)/initdata-sha256.b64 $(FUZZ_CORPUS)/$(1)/)
	$(BUILD)/fuzz/$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=$(or $(FUZZ_MAXLEN_$(1)),4096) -timeout=5 \
		-artifact_prefix=$(BUILD)/fuzz/$(1)- $(FUZZ_CORPUS)/$(1)

endef
fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%) $(BUILD)/tests/test_agent_run
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t)))

# A short fuzzing run as part of `make check` (10 s a target, about 2 minutes in all): a crash
# found fails the check.
check-fuzz:
	$(MAKE) fuzz FUZZ_SECONDS=10

install: all
	install -D -m 0755 $(BUILD)/runvm $(DESTDIR)$(PREFIX)/bin/runvm
	install -D -m 0644 $(INITRD) $(DESTDIR)$(DATADIR)/initramfs.cpio
	install -D -m 0644 $(KERNEL) $(DESTDIR)$(DATADIR)/vmlinux
	$(if $(filter arm64,$(GUEST_ARCHES)),install -D -m 0644 $(GUEST_KERNEL_arm64) $(DESTDIR)$(DATADIR)/aarch64/Image)
	$(if $(filter arm64,$(GUEST_ARCHES)),install -D -m 0644 $(GUEST_INITRD_arm64) $(DESTDIR)$(DATADIR)/aarch64/initramfs.cpio)
	# The documented configuration, its default paths those of this DATADIR.
	@mkdir -p $(BUILD)
	sed 's|/usr/local/share/runvm|$(DATADIR)|g' configs/runvm.conf > $(BUILD)/runvm.conf.example
	install -D -m 0644 $(BUILD)/runvm.conf.example $(DESTDIR)$(DATADIR)/runvm.conf.example
	install -D -m 0644 docs/man/runvm.8 $(DESTDIR)$(MANDIR)/man8/runvm.8
	install -D -m 0644 docs/man/runvm.conf.5 $(DESTDIR)$(MANDIR)/man5/runvm.conf.5

# Every C file of the tree follows .clang-format; format-check (part of check-unit) fails on one
# that does not, format rewrites them.
FORMAT_FILES := $(sort $(shell find base runtime hypervisor-backends qemu-lite tdx protocol kvm guest tests bench \
	-name '*.[ch]' 2>/dev/null))
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD)

# A newline, for $(foreach) that makes one recipe line per item.
define newline


endef

# The header dependencies the compiler wrote (-MMD).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
