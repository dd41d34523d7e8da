# Makefile: builds Sukima. Plain GNU make, explicit object lists.
#
#   make            build/sukima (CLI, gateway, worker) and build/sukima-vmm
#   make test       deps -> build -> unit -> VMM (PVM + standard KVM) -> e2e
#   make asan       the whole test suite built with ASan + UBSan
#   make lint       clang-format check + cppcheck
#   make bench      benchmarks under bench/
#   make fuzz       libFuzzer drivers, each for a bounded time
#   make up         a local cloud (nats-server, gateway, worker)

.DEFAULT_GOAL := all

CC       ?= cc
O        ?= build
SAN      ?=
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-align \
            -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wundef -Wvla -Wno-unused-parameter
OPT      ?= -O2 -g
CFLAGS   += $(CSTD) $(WARN) $(OPT) -fno-strict-aliasing -Isrc $(SAN)
LDFLAGS  += $(SAN)

ifneq ($(SAN),)
# Static linking and sanitizers do not mix.
VMM_STATIC :=
else
# Static by default: no dynamic loader work in every monitor's start-up
# (~0.5 ms of each cold start here).  VMM_STATIC= links it dynamically.
VMM_STATIC ?= -static
endif

# --- the protection-domain monitor: libc + libseccomp, nothing else -------
VMM_OBJS := \
	$(O)/vmm/main.o \
	$(O)/vmm/vmm.o \
	$(O)/vmm/vmm_elf.o \
	$(O)/vmm/vmm_mem.o \
	$(O)/vmm/vmm_syscall.o \
	$(O)/vmm/vmm_stub.o \
	$(O)/vmm/vmm_warm.o \
	$(O)/vmm/vmm_serve.o \
	$(O)/vmm/vmm_kvm.o \
	$(O)/vmm/vmm_kvm_pvm.o \
	$(O)/vmm/vmm_kvm_std.o \
	$(O)/vmm/vmm_jail.o

VMM_LIBS := -lseccomp

# --- shared helpers (CLI, gateway, worker) --------------------------------
COMMON_OBJS := \
	$(O)/common/sk_log.o \
	$(O)/common/sk_util.o \
	$(O)/common/sk_model.o \
	$(O)/common/sk_nats.o \
	$(O)/common/sk_pull.o \
	$(O)/common/sk_objstore.o

# --- the sukima binary ----------------------------------------------------
CLI_OBJS := \
	$(O)/cli/main.o \
	$(O)/cli/cmd_run.o \
	$(O)/cli/cli_http.o \
	$(O)/cli/cmd_deploy.o \
	$(O)/cli/cmd_invoke.o \
	$(O)/cli/cmd_ls.o

GATEWAY_OBJS := \
	$(O)/gateway/gw_parse.o \
	$(O)/gateway/gw_http.o \
	$(O)/gateway/gw_api.o \
	$(O)/gateway/gw_nats.o \
	$(O)/gateway/gw_callbacks.o \
	$(O)/gateway/gw_metrics.o \
	$(O)/gateway/gw_logs.o \
	$(O)/gateway/gw_ui.o \
	$(O)/gateway/gw_ui_assets.o \
	$(O)/gateway/gw_main.o

WORKER_OBJS := \
	$(O)/worker/wk_host.o \
	$(O)/worker/wk_cache.o \
	$(O)/worker/wk_exec.o \
	$(O)/worker/wk_exec_cold.o \
	$(O)/worker/wk_exec_warm.o \
	$(O)/worker/wk_stats.o \
	$(O)/worker/wk_main.o

# sukima objstore (the NATS side of the CLI)
CLI_OBJS += $(O)/cli/cmd_objstore.o $(O)/cli/cmd_up.o
# issue 9: logs, new, build, the sukima.yml manifest
CLI_OBJS += $(O)/cli/cmd_logs.o $(O)/cli/cmd_new.o $(O)/cli/cmd_build.o \
	$(O)/cli/cli_manifest.o $(O)/cli/cli_progress.o

# issue 8: NATS TLS and logins, sukima init/token, gateway tokens
COMMON_OBJS += $(O)/common/sk_tls.o $(O)/common/sk_token.o
# issue 8, integrity: code signatures (libsodium)
COMMON_OBJS += $(O)/common/sk_sign.o
CLI_OBJS += $(O)/cli/cmd_keygen.o
# issue 8, integrity: redundant execution (replicas vote)
WORKER_OBJS += $(O)/worker/wk_replica.o
COMMON_OBJS += $(O)/common/sk_vote.o
GATEWAY_OBJS += $(O)/gateway/gw_replicas.o
CLI_OBJS += $(O)/cli/cmd_init.o $(O)/cli/cmd_token.o
# issue 7: owner protection (activity policy, pausing, the monitors' cgroup)
WORKER_OBJS += $(O)/worker/wk_policy.o $(O)/worker/wk_policy_linux.o \
	$(O)/worker/wk_pause.o $(O)/worker/wk_cgroup.o
GATEWAY_OBJS += $(O)/gateway/gw_auth.o

SUKIMA_OBJS := $(CLI_OBJS) $(GATEWAY_OBJS) $(WORKER_OBJS) $(COMMON_OBJS)
SUKIMA_LIBS := -lnats -lmicrohttpd -ljansson -lcurl -lssl -lcrypto -lpthread -lyaml -lcrypt -lsodium

# --- unit tests (cmocka), one binary per tests/unit/test_<module>.c -------
UNIT_TESTS :=
UNIT_TESTS += test_vmm_jail
UNIT_TESTS += test_vmm_elf test_vmm_mem test_vmm_syscall test_vmm_serve
UNIT_TESTS += test_gw_parse
UNIT_TESTS += test_sk_model test_sk_objstore
UNIT_TESTS += test_wk_stats
UNIT_TESTS += test_wk_policy
UNIT_TESTS += test_wk_cgroup
UNIT_TESTS += test_sk_sign
UNIT_TESTS += test_sk_token
UNIT_TESTS += test_sk_vote
UNIT_TESTS += test_wk_replica

# --- guest programs used by tests: each built three ways -----------------
# tests/guests/NAME.c -> $(O)/guests/NAME.musl   (musl-gcc -static)
#                        $(O)/guests/NAME.glibc  (gcc -static)
#                        $(O)/guests/NAME.pie    (gcc -static-pie)
GUESTS := echo upper wc sha256 simd alloc args noop sha256gen sysloop sysregs \
	hostile_ptr hostile_fd hostile_loop hostile_bomb hostile_forbidden \
	hostile_priv hostile_stack hostile_flood hostile_tamper jit exitcode \
	bigout timeclock hostile_mem mmapchurn hostile_sysfuzz napwork slowhash

GUEST_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -fno-strict-aliasing
GUEST_BINS := $(foreach g,$(GUESTS),$(O)/guests/$(g).musl $(O)/guests/$(g).glibc $(O)/guests/$(g).pie)

$(O)/guests/%.musl: tests/guests/%.c
	@mkdir -p $(dir $@)
	musl-gcc -static $(GUEST_CFLAGS) -o $@ $< -lm
$(O)/guests/%.glibc: tests/guests/%.c
	@mkdir -p $(dir $@)
	gcc -static $(GUEST_CFLAGS) -o $@ $< -lm
$(O)/guests/%.pie: tests/guests/%.c
	@mkdir -p $(dir $@)
	gcc -static-pie -fPIE $(GUEST_CFLAGS) -o $@ $< -lm

$(GUEST_BINS): $(wildcard tests/guests/*.h)

guests: $(GUEST_BINS)

# --- example functions deployed by `sukima up`: static musl ELFs -------
EXAMPLES := echo upper hello sha256
EXAMPLE_BINS := $(foreach e,$(EXAMPLES),$(O)/examples/$(e))

$(O)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	musl-gcc -static $(GUEST_CFLAGS) -Werror -o $@ $<

.PHONY: examples
examples: $(EXAMPLE_BINS)
all: examples

# --- the dashboard (/ui): src/gateway/ui/* compiled into the gateway ----
UI_ASSETS := src/gateway/ui/index.html src/gateway/ui/app.js \
	src/gateway/ui/style.css
$(O)/gateway/gw_ui_assets.c: $(UI_ASSETS) scripts/embed.sh
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $(UI_ASSETS) > $@.tmp && mv $@.tmp $@
$(O)/gateway/gw_ui_assets.o: $(O)/gateway/gw_ui_assets.c
	$(CC) $(CFLAGS) -c $< -o $@

# --- unit tests: tests/unit/test_X.c includes the .c files it tests -------
UNIT_BINS := $(foreach t,$(UNIT_TESTS),$(O)/tests/unit/$(t))
$(O)/tests/unit/%: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -MMD -MP -o $@ $< $(LDFLAGS) \
		-lcmocka $(SUKIMA_LIBS) $(VMM_LIBS)

unit: $(UNIT_BINS)

# --------------------------------------------------------------------------
.PHONY: all test asan lint bench fuzz up clean deps guests unit \
	test-unit test-vmm test-stdkvm test-e2e format

all: $(O)/sukima $(O)/sukima-vmm

$(O)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/sukima-vmm: $(VMM_OBJS)
	$(CC) $(LDFLAGS) $(VMM_STATIC) -o $@ $^ $(VMM_LIBS)

$(O)/sukima: $(SUKIMA_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(SUKIMA_LIBS)

# A fully static monitor for the standard-KVM test machine.
$(O)/static/sukima-vmm: $(VMM_OBJS:$(O)/%=$(O)/static/%)
	$(CC) -static -o $@ $^ $(VMM_LIBS)
$(O)/static/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -Isrc -MMD -MP -c $< -o $@

# The monitor with the jail's test hook (tests/vmm/test_jail.py): after the
# jail it attempts what $$SUKIMA_JAIL_TEST names (vmm_jail.c).
$(O)/test-jail/sukima-vmm: $(VMM_OBJS:$(O)/%=$(O)/test-jail/%)
	$(CC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
$(O)/test-jail/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DVMM_JAIL_TEST_HOOK -MMD -MP -c $< -o $@
unit: $(O)/test-jail/sukima-vmm

# A worker that can lie (tests/e2e/test_integrity.py): --test-lie exists
# only in this binary, whose wk_main.c is built with -DWK_TEST_LIE.
$(O)/test-lie/sukima: $(filter-out $(O)/worker/wk_main.o,$(SUKIMA_OBJS)) \
		$(O)/test-lie/worker/wk_main.o
	$(CC) $(LDFLAGS) -o $@ $^ $(SUKIMA_LIBS)
$(O)/test-lie/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DWK_TEST_LIE -MMD -MP -c $< -o $@
all: $(O)/test-lie/sukima

# A worker that dies on demand (tests/e2e/test_churn.py, poison work):
# $$SUKIMA_TEST_DIE_FN is honoured only in this -DWK_TEST_HOOKS binary.
$(O)/test-hooks/sukima: $(filter-out $(O)/worker/wk_main.o,$(SUKIMA_OBJS)) \
		$(O)/test-hooks/worker/wk_main.o
	$(CC) $(LDFLAGS) -o $@ $^ $(SUKIMA_LIBS)
$(O)/test-hooks/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DWK_TEST_HOOKS -MMD -MP -c $< -o $@
all: $(O)/test-hooks/sukima

-include $(shell find $(O) -name '*.d' 2>/dev/null)

deps:
	@./scripts/deps.sh

test: deps
	@./scripts/test.sh

asan:
	@./scripts/deps.sh
	@SUKIMA_BUILD=build-asan ./scripts/test.sh --asan

lint: deps
	@./scripts/lint.sh

bench: deps all
	@./bench/run.sh

fuzz: deps
	@./scripts/fuzz.sh

up: deps all
	@./scripts/up.sh

format:
	@clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' 'examples/*.[ch]')

clean:
	rm -rf build build-asan build-fuzz
