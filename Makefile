# Thin wrapper over CMake. `make run` = main job, `make test` = test suite; both set up first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps configure build data run test bench microbench install clean
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

bench: build
	@$(BUILD)/mosaic bench gemm

# Kernel microbenchmarks (microbench/); ARGS go to Google Benchmark, e.g. ARGS=--benchmark_filter=Vocab
microbench: configure
	@cmake --build $(BUILD) -j $(JOBS) --target mosaic_microbench
	@$(BUILD)/mosaic_microbench $(ARGS)

# Installs bin/mosaic and share/mosaic/{tokenizer,configs} under PREFIX (default /usr/local).
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
