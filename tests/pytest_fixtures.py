"""Fixtures shared by the pytest suites (tests/python, tests/serve), imported by their conftest.py:
the binary under test (MOSAIC_BINARY) and the tiny runs that tests/python/make_runs.py trains
(ctest's python_runs fixture passes their folder in MOSAIC_TEST_RUNS; run alone, pytest makes
its own)."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("MOSAIC_BINARY")
    if not path:
        pytest.exit("MOSAIC_BINARY is not set: run through ctest, or set it to build/mosaic", returncode=2)
    return path


@pytest.fixture(scope="session")
def runs(binary, tmp_path_factory):
    given = os.environ.get("MOSAIC_TEST_RUNS")
    if given:
        return given
    out = str(tmp_path_factory.mktemp("runs"))
    subprocess.run([sys.executable, os.path.join(HERE, "python", "make_runs.py"), out], check=True,
                   env=dict(os.environ, MOSAIC_BINARY=binary))
    return out
