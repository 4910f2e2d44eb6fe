# kernbench — plain Makefile.
#   make demo       install missing packages, build, trace -> time -> replay --verify the default bench
#   make test       install missing packages, build, run every test
#   make test-asan  the same suite under AddressSanitizer + UBSan
#   make bench      throughput and size figures
#   make fuzz       libFuzzer on the config, --set and trace-reader harnesses (FUZZ_SECONDS each)
# Objects go to $(BUILD) (build/ or build-asan/), programs to $(BIN).

CC      ?= cc
BUILD   ?= build
BIN     ?= bin
CFLAGS  ?= -O2 -g
# Project flags stay in force when CFLAGS is given on the command line.
KB_CFLAGS = $(CFLAGS) -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP \
            -Ibase -Imachine -Idb -Itracegen -Ifrontend -Itiming -Ireplay -Ireports -Isweep -Ichakra -Icli
LDLIBS  += -lsqlite3 -lyaml -lzstd -lopenblas -lm -lpthread
PKGS    := libsqlite3-dev libyaml-dev libcmocka-dev libzstd-dev libopenblas-dev sqlite3 time
PKGS_TEST := chromium slurm-wlm munge python3-protobuf protobuf-compiler # chromium renders the HTML pages; Slurm runs kb-sweep's job-array test; protobuf writes the Chakra test files

base_SRC     := $(wildcard base/*.c)
machine_SRC  := $(wildcard machine/*.c)
db_SRC       := $(wildcard db/*.c)
tracegen_SRC := $(wildcard tracegen/*.c)
frontend_SRC := $(wildcard frontend/*.c frontend/benches/*.c)
timing_SRC   := $(wildcard timing/*.c)
replay_SRC   := $(wildcard replay/*.c)
reports_SRC  := $(wildcard reports/*.c)
sweep_SRC    := $(wildcard sweep/*.c)
chakra_SRC   := $(wildcard chakra/*.c)
cli_SRC      := cli/cli.c
LIB_SRC := $(base_SRC) $(machine_SRC) $(db_SRC) $(tracegen_SRC) $(frontend_SRC) $(timing_SRC) $(replay_SRC) $(reports_SRC) $(sweep_SRC) $(chakra_SRC) $(cli_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/builtin_configs.o
LIB     := $(BUILD)/libkernbench.a

TOOLS   := kb-trace kb-time kb-replay kb-report kb-diff kb-sweep
TESTS   := test_machine test_db test_tracegen test_frontend test_timing test_fabric test_replay test_chakra
TOOL_BINS := $(TOOLS:%=$(BIN)/%)
TEST_BINS := $(TESTS:%=$(BUILD)/tests/%)
FUZZ    := fuzz_config fuzz_set fuzz_trace fuzz_pack fuzz_chakra
FUZZ_BINS := $(FUZZ:%=$(BUILD)/tests/%)
FUZZ_SECONDS ?= 60

.PHONY: all deps demo test test-asan bench clean fuzz
all: deps $(TOOL_BINS)

# Installs the system packages that are missing (needs root or sudo).
deps: $(BUILD)/.deps
$(BUILD)/.deps-test: PKGS := $(PKGS_TEST)
$(BUILD)/.deps $(BUILD)/.deps-test: Makefile
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || { echo "make: could not install:$$missing" >&2; exit 1; }; \
	fi
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CC) $(KB_CFLAGS) -c $< -o $@

# The default configs are compiled in, so a trace always embeds real YAML.
$(BUILD)/gen/builtin_configs.c: configs/topology.yaml configs/ccl.yaml
	@mkdir -p $(@D)
	@{ echo '/* generated from configs/topology.yaml and configs/ccl.yaml by the Makefile */'; \
	  for f in topology ccl; do \
	    echo "const char kb_builtin_$${f}_yaml[] ="; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' configs/$$f.yaml; \
	    echo '	"";'; \
	  done; } > $@

$(BUILD)/gen/builtin_configs.o: $(BUILD)/gen/builtin_configs.c
	$(CC) $(KB_CFLAGS) -c $< -o $@

# The replay numerics are the hot loops: let the compiler vectorise them.
$(BUILD)/replay/numerics.o: KB_CFLAGS += -O3

# Rebuilt whole: an object whose source is gone must not linger in it.
$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN)/kb-%: $(BUILD)/cli/kb_%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(KB_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/helpers.o $(LIB)
	$(CC) $(KB_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# A test tool (no cmocka): forges a blob for the CLI tests.
$(BUILD)/tests/forge_blob: $(BUILD)/tests/forge_blob.o $(LIB)
	$(CC) $(KB_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# A fuzz harness without libFuzzer: replays its seeds and every kept crasher.
$(BUILD)/tests/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/run_corpus.o $(LIB)
	$(CC) $(KB_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

test: deps $(BUILD)/.deps-test $(TOOL_BINS) $(TEST_BINS) $(FUZZ_BINS) $(BUILD)/tests/forge_blob $(BUILD)/bench/bench_gemm $(BUILD)/bench/bench_points # the benchmarks build too
	@fail=0; bad=$$(nm -g --defined-only $(LIB) | awk 'NF == 3 { print $$3 }' | grep -v -E '^(kb_|tl_|[a-z]+__|__)'); \
	echo "== exported names of $(LIB) (kb_ public, tl_ the DSL, <module>__ internal)"; \
	if [ -n "$$bad" ]; then echo "unprefixed external symbols:" $$bad; fail=1; fi; \
	for t in $(TEST_BINS); do \
	  echo "== $$t"; $$t || fail=1; \
	done; \
	for f in $(FUZZ); do \
	  echo "== $(BUILD)/tests/$$f (tests/fuzz/corpus/$$f, tests/fuzz/crashes/$$f)"; \
	  TMPDIR=/tmp $(BUILD)/tests/$$f tests/fuzz/corpus/$$f tests/fuzz/crashes/$$f || fail=1; \
	done; \
	echo "== tests/cli_test.sh"; BIN=$(BIN) BUILD=$(BUILD) bash tests/cli_test.sh || fail=1; \
	echo "== tests/cli_adversary.sh"; BIN=$(BIN) BUILD=$(BUILD) bash tests/cli_adversary.sh || fail=1; \
	echo "== tests/cli_newcomer.sh"; BIN=$(BIN) BUILD=$(BUILD) bash tests/cli_newcomer.sh || fail=1; \
	echo "== tests/cli_sweep.sh"; BIN=$(BIN) BUILD=$(BUILD) bash tests/cli_sweep.sh || fail=1; \
	echo "== tests/cli_slurm.sh"; BIN=$(BIN) BUILD=$(BUILD) bash tests/cli_slurm.sh || fail=1; \
	echo "== tests/cli_chakra.sh"; BIN=$(BIN) BUILD=$(BUILD) bash tests/cli_chakra.sh || fail=1; \
	echo "== tests/readme_test.sh"; BIN=$(BIN) bash tests/readme_test.sh || fail=1; \
	if [ $$fail = 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; exit 1; fi

test-asan:
	$(MAKE) test BUILD=build-asan BIN=build-asan/bin \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined"

demo: all
	@mkdir -p $(BUILD)/demo
	@echo "== 1. trace: run the gemm bench functionally, record every op"
	$(BIN)/kb-trace bench gemm -o $(BUILD)/demo/gemm.db --force --summary
	@echo; echo "== 2. time: schedule the ops on the default topology"
	$(BIN)/kb-time $(BUILD)/demo/gemm.db --label default --replace
	@echo; echo "== what-if: the same trace with twice the HBM bandwidth"
	$(BIN)/kb-time $(BUILD)/demo/gemm.db --label hbm_x2 --replace --quiet \
	  --set cube.components.hbm.attrs.bandwidth_gbps=200
	@sqlite3 -header -column $(BUILD)/demo/gemm.db \
	  "SELECT label, total_ps, printf('%.3f', total_ps / 1e6) AS total_us FROM timing_runs ORDER BY id;"
	@echo; echo "== 3. replay: execute the numerics in the time order of run 'default', verify C = A.B"
	$(BIN)/kb-replay $(BUILD)/demo/gemm.db --verify --run default
	@echo; echo "-- first ops of the trace (sqlite3 $(BUILD)/demo/gemm.db):"
	@sqlite3 -header -column $(BUILD)/demo/gemm.db \
	  "SELECT id, pe_name, seq, kind, shape, src_space AS src, printf('0x%x', src_va) AS src_va, dst_space AS dst, \
	   printf('0x%x', dst_va) AS dst_va, printf('0x%x', dst_pa) AS dst_pa, bytes, flops FROM ops_v LIMIT 8;"
	@echo; echo "-- their times in run 'default':"
	@sqlite3 -header -column $(BUILD)/demo/gemm.db \
	  "SELECT op_id, pe_name, kind, start_ns, dur_ns, waited_on FROM op_times_v WHERE run = 'default';"

bench: all $(BUILD)/bench/bench_gemm $(BUILD)/bench/bench_points
	@BIN=$(BIN) BUILD=$(BUILD) bash bench/run.sh
	@echo
	@$(BUILD)/bench/bench_gemm

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(KB_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# libFuzzer (clang) on each harness for FUZZ_SECONDS; a crasher lands in
# tests/fuzz/crashes/<harness>/ (keep it: make test replays it).
fuzz: deps
	@command -v clang >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang >/dev/null; }
	$(MAKE) BUILD=build-fuzz CC=clang \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	  build-fuzz/libkernbench.a $(FUZZ:%=build-fuzz/tests/fuzz/%.o)
	@mkdir -p build-fuzz/bin
	@set -e; for f in $(FUZZ); do \
	  clang -fsanitize=fuzzer,address,undefined build-fuzz/tests/fuzz/$$f.o build-fuzz/libkernbench.a \
	    $(LDLIBS) -o build-fuzz/bin/$$f; \
	done
	@for f in $(FUZZ); do \
	  mkdir -p build-fuzz/corpus/$$f tests/fuzz/crashes/$$f; \
	  echo "== $$f for $(FUZZ_SECONDS) s"; \
	  build-fuzz/bin/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/crashes/$$f/ build-fuzz/corpus/$$f tests/fuzz/corpus/$$f 2>&1 | \
	    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==.*ERROR|SUMMARY|artifact_prefix|Test unit written)" || true; \
	done

clean:
	rm -rf build build-asan build-fuzz bin

-include $(LIB_OBJ:.o=.d) $(TEST_BINS:=.d) $(patsubst kb-%,$(BUILD)/cli/kb_%.d,$(TOOLS)) \
  $(FUZZ:%=$(BUILD)/tests/fuzz/%.d) $(BUILD)/tests/fuzz/run_corpus.d $(BUILD)/tests/helpers.d $(BUILD)/bench/bench_gemm.d $(BUILD)/bench/bench_points.d
.SECONDARY:
