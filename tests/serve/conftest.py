"""Fixtures of mosaic serve's tests: the real binary on a free loopback port with the tiny
Memory Mosaic that tests/python/make_runs.py trains (ctest's python_runs fixture passes its
folder in MOSAIC_TEST_RUNS; run alone, pytest makes its own), stopped by SIGTERM at the end."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from pytest_fixtures import binary, runs  # noqa: E402,F401  (shared fixtures)


@pytest.fixture(scope="session")
def model(runs):
    return os.path.join(runs, "mosaic")


class Server:
    """One `mosaic serve` process: its URL, and stop() that sends a signal and returns the exit code."""

    def __init__(self, binary, model, *flags):
        self.args = [binary, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "-t", "1", *flags]
        self.log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would block the server
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()  # "mosaic serve: MODEL (arch) on http://HOST:PORT/ (...)"
        if "http://" not in line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("mosaic serve did not start: " + line + self.stderr())
        self.url = line.split(" on ")[1].split()[0].rstrip("/")
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("mosaic serve never answered /health")

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def post(self, path, body=None, **kw):
        return requests.post(self.url + path, json=body, timeout=kw.pop("timeout", 60), **kw)

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=kw.pop("timeout", 60), **kw)

    def complete(self, **body):
        r = self.post("/v1/completions", body)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("sessions"))


@pytest.fixture(scope="session")
def server(binary, model, session_dir):
    s = Server(binary, model, "--parallel", "4", "--session-dir", session_dir, "--max-body-bytes", "65536")
    yield s
    assert s.stop() == 0


@pytest.fixture
def start_server(binary, model):
    """Servers a test starts itself (other flags, restarts); stopped at the test's end."""
    started = []

    def start(*flags):
        """A server of the tiny Memory Mosaic, or of the model given by a leading -m."""
        m = model
        if flags[:1] == ("-m",):
            m, flags = flags[1], flags[2:]
        s = Server(binary, m, *flags)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def sample(binary, model, prompt, n, seed, *flags):
    """What `mosaic sample` prints: the prompt, then the sample, then a newline."""
    out = subprocess.run([binary, "sample", "-m", model, "-p", prompt, "-n", str(n), "-s", str(seed), "-t", "1", *flags],
                         capture_output=True, text=True, check=True)
    assert out.stdout.endswith("\n")
    return out.stdout[:-1]
