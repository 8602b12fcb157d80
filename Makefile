# Thin wrapper over CMake. `make run` = main job, `make test` = test suite; both set up first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build data run test bench clean
deps:
	@bash scripts/setup.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

data: deps
	@bash scripts/get_data.sh

run: build
	@bash scripts/run_main.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@$(BUILD)/mosaic bench gemm

clean:
	rm -rf $(BUILD)
