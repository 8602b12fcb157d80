# Thin wrapper over CMake. `make run` = main job, `make test` = test suite; both set up first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps configure build data run test test-sanitize test-kill bench microbench install clean fuzz fuzz-smoke
deps:
	@bash scripts/setup.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS) --target mosaic

data: deps
	@bash scripts/get_data.sh

run: build
	@bash scripts/run_main.sh $(BUILD)

test: configure
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@bash fuzz/run.sh smoke

# The whole suite under ASan + UBSan, in its own build folder (slower: run before submitting).
test-sanitize: deps
	@cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOSAIC_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

# 200 SIGKILLs of a training run at random moments, each followed by a load of the newest
# checkpoint (make test runs 4).
test-kill: configure
	@cmake --build $(BUILD) -j $(JOBS) --target mosaic mosaic_tests
	@MOSAIC_KILL_ROUNDS=$${KILL_ROUNDS:-200} $(BUILD)/mosaic_tests --gtest_filter='CrashSafety.*'

bench: build
	@$(BUILD)/mosaic bench gemm

# Kernel microbenchmarks (microbench/); ARGS go to Google Benchmark, e.g. ARGS=--benchmark_filter=Vocab
microbench: configure
	@cmake --build $(BUILD) -j $(JOBS) --target mosaic_microbench
	@$(BUILD)/mosaic_microbench $(ARGS)

# Installs bin/mosaic, share/mosaic/{tokenizer,configs} and the Python module (lib/python3.X/
# dist-packages, where Debian's python3 looks) under PREFIX (default /usr/local).
PREFIX ?= /usr/local
install: build
	@cmake --build $(BUILD) -j $(JOBS) --target mosaic_python
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)

# libFuzzer harnesses of every parser (fuzz/, built with clang++ in build-fuzz/). fuzz-smoke
# (also the last step of make test): seeds + a few seconds each (~1 min); fuzz: FUZZ_SECONDS
# per fuzzer, corpus kept in build-fuzz/.
FUZZ_SECONDS ?= 600
fuzz: deps
	@bash fuzz/run.sh long $(FUZZ_SECONDS)

fuzz-smoke: deps
	@bash fuzz/run.sh smoke
