"""Fixtures of the Python module's tests: the binary, the tiny runs made by make_runs.py (ctest's
python_runs fixture passes them in MOSAIC_TEST_RUNS; run alone, pytest makes its own), and a
model of a 64-token vocabulary trained here through mosaic.train."""
import os
import sys

import numpy as np
import pytest

import mosaic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from pytest_fixtures import binary, runs  # noqa: E402,F401  (shared fixtures)


@pytest.fixture(scope="session")
def story_model(runs):
    return mosaic.load(os.path.join(runs, "mosaic"))


@pytest.fixture(scope="session")
def gpt_model(runs):
    return mosaic.load(os.path.join(runs, "gpt"))


def write_shard(path, tokens):
    """A token shard in llm.c's format: 256 int32 (magic, version, count), then uint16 tokens."""
    header = np.zeros(256, dtype=np.int32)
    header[:3] = [20240520, 1, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype=np.uint16).tobytes())


# The tiny-vocabulary run: flat keys of `mosaic train --help`.
ID_CONFIG = {"vocab_size": 64, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "pmem_size": 4,
             "batch_size": 2, "max_iters": 6, "lr_decay_iters": 6, "warmup_iters": 1, "eval_interval": 3,
             "eval_iters": 1, "log_interval": 2, "sample_interval": 0, "checkpoint_interval": 0, "threads": 1}


@pytest.fixture(scope="session")
def id_run(tmp_path_factory):
    """A Memory Mosaic of 64 token ids, trained on a repeating pattern by mosaic.train."""
    root = tmp_path_factory.mktemp("ids")
    data = root / "shards"
    data.mkdir()
    pattern = np.tile(np.arange(0, 64, 3), 60)
    write_shard(data / "train.bin", pattern)
    write_shard(data / "val.bin", pattern[:200])
    config = dict(ID_CONFIG, data_dir=str(data), out_dir=str(root / "run"))
    records = []
    result = mosaic.train(config, progress=records.append)
    return config, result, records
