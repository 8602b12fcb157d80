"""`import mosaic` against the `mosaic` binary on the same tiny models: every call, the numbers
it gives next to those of the subcommand that computes them (sample, eval, attention, train, info),
bad input, Ctrl-C, the GIL, and the installed module."""
import csv
import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import mosaic
from conftest import ID_CONFIG, write_shard

PROMPT = "Once upon a time, Lily had a"
TEXT = ("Once upon a time, Tom had a kite. Tom was happy. Mia saw the kite and said, \"Can I play with "
        "your kite?\" Tom said yes, and they played all day. The end.")


def run(binary, *args):
    """stdout of a `mosaic` subcommand on one thread (as the module runs under ctest)."""
    done = subprocess.run([binary, *args, "-t", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cross_entropy(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(targets)), targets]


# ---- loading and text -------------------------------------------------------------------------

def test_load_describes_the_model_as_mosaic_info_does(story_model, binary):
    assert story_model.arch == story_model.config["arch"] == "mosaic"
    config = story_model.config
    assert (config["n_layer"], config["n_head"], config["n_embd"], config["block_size"]) == (2, 2, 16, 32)
    assert story_model.vocab_size == config["vocab_size"] and story_model.block_size == 32
    info = subprocess.run([binary, "info", story_model.path], capture_output=True, text=True, check=True).stdout
    assert f"{story_model.parameters} parameters" in info
    assert story_model.path.endswith("ckpt_0000200.safetensors")  # a run folder: its newest checkpoint
    assert "2 layers x 2 heads" in repr(story_model)


def test_tokenize_and_detokenize_round_trip(story_model):
    text = "Lily's caf\u00e9 \u2615 <|endoftext|> The end."
    ids = story_model.tokenize(text)
    assert 50256 in ids and all(isinstance(i, int) for i in ids)
    assert story_model.detokenize(ids) == text
    assert story_model.detokenize(np.array(ids, dtype=np.int64)) == text
    split = story_model.tokenize("\u2615")  # one character, two byte-level tokens
    assert len(split) == 2 and story_model.detokenize(split[:1]) == "\ufffd"


# ---- logits and evaluation --------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["mosaic", "gpt"])
def test_logits_give_the_losses_mosaic_eval_reports(arch, runs, binary, tmp_path):
    model = mosaic.load(os.path.join(runs, arch))
    tokens = model.tokenize(TEXT)[:25]
    logits = model.logits(tokens)
    assert logits.shape == (25, model.vocab_size) and logits.dtype == np.float32
    losses = cross_entropy(logits[:-1].astype(np.float64), np.array(tokens[1:]))
    shard = tmp_path / "text.bin"
    write_shard(shard, tokens)
    run(binary, "eval", "-m", model.path, str(shard), "--context", "24", "--json", str(tmp_path / "eval.json"))
    reported = json.load(open(tmp_path / "eval.json"))
    np.testing.assert_allclose(losses, reported["position_loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(losses.mean(), reported["mean_loss"], rtol=1e-5)
    ours = model.evaluate(tokens, context=24)
    assert ours["mean_loss"] == pytest.approx(reported["mean_loss"], rel=1e-12)
    np.testing.assert_allclose(ours["position_loss"], reported["position_loss"], rtol=1e-12)
    assert ours["losses"].shape == (1, 24)


def test_a_streams_logits_are_the_forward_passes(story_model):
    tokens = story_model.tokenize(TEXT)[:20]
    logits = story_model.logits(tokens)
    stream = story_model.start_stream()
    for t, token in enumerate(tokens):
        stream.feed([token])
        np.testing.assert_allclose(stream.logits(), logits[t], rtol=1e-4, atol=1e-4)


def test_a_memory_mosaic_runs_past_its_block_size(story_model):
    tokens = story_model.tokenize(" ".join([TEXT] * 3))
    assert len(tokens) > 2 * story_model.block_size
    assert story_model.logits(tokens).shape == (len(tokens), story_model.vocab_size)
    result = story_model.evaluate(tokens, context=len(tokens) - 1)
    assert result["windows"] == 1 and result["context"] == len(tokens) - 1


def test_evaluate_scores_windows_as_mosaic_eval_does(story_model, binary, tmp_path):
    tokens = story_model.tokenize(" ".join([TEXT] * 4))
    shard = tmp_path / "long.bin"
    write_shard(shard, tokens)
    run(binary, "eval", "-m", story_model.path, str(shard), "--context", "16", "--json", str(tmp_path / "e.json"))
    reported = json.load(open(tmp_path / "e.json"))
    result = story_model.evaluate(np.array(tokens), context=16)
    assert result["windows"] == reported["windows"] > 1
    assert result["mean_loss"] == pytest.approx(reported["mean_loss"], rel=1e-12)
    assert result["bits_per_byte"] == pytest.approx(reported["bits_per_byte"], rel=1e-12)
    np.testing.assert_allclose(result["position_stderr"], reported["position_stderr"], rtol=1e-9)
    assert result["losses"].shape == (reported["windows"], 16)
    assert result["losses"].mean() == pytest.approx(result["mean_loss"], rel=1e-5)
    # Text: one document after <|endoftext|>, the whole of it when shorter than the block_size.
    short = story_model.evaluate("Tom had a kite.")
    assert short["context"] == len(story_model.tokenize("Tom had a kite."))


# ---- generation -------------------------------------------------------------------------------

SAMPLINGS = [
    dict(seed=3),
    dict(seed=7, temperature=0.0),
    dict(seed=11, temperature=1.2, top_k=40, top_p=0.9, min_p=0.02, repeat_penalty=1.3, repeat_last_n=16),
]
FLAGS = {"seed": "-s", "temperature": "--temp", "top_k": "--top-k", "top_p": "--top-p", "min_p": "--min-p",
         "repeat_penalty": "--repeat-penalty", "repeat_last_n": "--repeat-last-n"}


@pytest.mark.parametrize("arch", ["mosaic", "gpt"])
@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_generate_prints_what_mosaic_sample_prints(arch, sampling, runs, binary):
    model = mosaic.load(os.path.join(runs, arch))
    flags = [x for key, value in sampling.items() for x in (FLAGS[key], str(value))]
    printed = run(binary, "sample", "-m", model.path, "-p", PROMPT, "-n", "40", *flags)
    assert printed == PROMPT + model.generate(PROMPT, max_tokens=40, **sampling) + "\n"
    bounded = run(binary, "sample", "-m", model.path, "-p", PROMPT, "-n", "40", "--mem-limit", "5", "--ignore-eos", *flags)
    assert bounded == PROMPT + model.generate(PROMPT, max_tokens=40, mem_limit=5, ignore_eos=True, **sampling) + "\n"


def test_stream_yields_the_pieces_of_generate(story_model):
    pieces = list(story_model.stream(PROMPT, max_tokens=60, seed=5, ignore_eos=True))
    assert len(pieces) > 1 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == story_model.generate(PROMPT, max_tokens=60, seed=5, ignore_eos=True)


def test_generate_stops_before_a_stop_string(story_model):
    free = story_model.generate(PROMPT, max_tokens=80, temperature=0, ignore_eos=True)
    stop = free[10:13]
    cut = story_model.generate(PROMPT, max_tokens=80, temperature=0, ignore_eos=True, stop=["@@", stop])
    assert cut == free[:free.index(stop)]
    assert "".join(story_model.stream(PROMPT, max_tokens=80, temperature=0, ignore_eos=True, stop=stop)) == cut
    assert story_model.generate(PROMPT, max_tokens=0) == ""


def test_a_stream_draws_what_generate_draws_and_its_memory_grows(story_model):
    stream = story_model.start_stream(seed=9)
    fed = stream.feed(PROMPT)
    assert fed[0] == 50256 and fed[1:] == story_model.tokenize(PROMPT)  # a text starts a document
    n = len(fed)
    L, H = story_model.config["n_layer"], story_model.config["n_head"]
    assert stream.position == n
    np.testing.assert_array_equal(stream.memory_size(), np.full((L, H), n - 1))  # a pair waits for its next token
    drawn = [stream.next_token(top_k=30) for _ in range(30)]
    assert all(isinstance(token, int) and isinstance(text, str) for token, text in drawn)
    np.testing.assert_array_equal(stream.memory_size(), np.full((L, H), n + 29))
    text = "".join(piece for _, piece in drawn)
    generated = story_model.generate(PROMPT, max_tokens=30, seed=9, top_k=30, ignore_eos=True)
    assert generated in (text, text + "\ufffd")  # generate also ends a split character
    stream.reset()
    assert stream.position == 0 and stream.memory_size().sum() == 0
    stream.feed(PROMPT)
    assert [stream.next_token(top_k=30) for _ in range(30)] == drawn  # the generator is back at its seed
    bounded = story_model.start_stream(mem_limit=4, evict="lru")
    bounded.feed(TEXT)
    np.testing.assert_array_equal(bounded.memory_size(), np.full((L, H), 4))


def test_a_gpt_stream_counts_its_kv_cache(gpt_model):
    stream = gpt_model.start_stream()
    stream.feed([1, 2, 3, 4, 5])
    np.testing.assert_array_equal(stream.memory_size(), np.full((2, 2), 5))


# ---- inside the model -------------------------------------------------------------------------

def maps_from_csv(path, shape):
    maps = np.zeros(shape)
    with open(path) as f:
        for row in csv.DictReader(f):
            maps[int(row["layer"]), int(row["head"]), int(row["position"])] = float(row["weight"])
    return maps


@pytest.mark.parametrize("arch", ["mosaic", "gpt"])
def test_attention_is_the_csv_of_mosaic_attention(arch, runs, binary, tmp_path):
    model = mosaic.load(os.path.join(runs, arch))
    text = " ".join([TEXT] * 2)
    maps = model.attention(text, context=20)
    assert maps.shape == (2, 2, 20)
    run(binary, "attention", "-m", model.path, "--text", text, "--context", "20", "-o", str(tmp_path / "maps.csv"))
    np.testing.assert_allclose(maps, maps_from_csv(tmp_path / "maps.csv", maps.shape), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(maps.sum(axis=2), 1.0, rtol=1e-5)  # each head's weights are a distribution
    if arch == "mosaic":
        assert np.all(maps[:, :, -1] == 0)  # a memory's last position never retrieves its own pair


def test_explain_lists_the_pairs_mosaic_attention_explains(story_model, binary, tmp_path):
    rows = story_model.explain(TEXT, top=2, context=12)
    assert len(rows) == 2 * 2 * 12
    run(binary, "attention", "-m", story_model.path, "--text", TEXT, "--context", "12", "--explain", "--top", "2",
        "--json", str(tmp_path / "explain.json"))
    reported = json.load(open(tmp_path / "explain.json"))["rows"]
    reported.sort(key=lambda r: (r["layer"], r["head"], r["position"]))  # ours: layer, head, position
    for ours, theirs in zip(rows, reported):
        assert (ours["layer"], ours["head"], ours["position"]) == (theirs["layer"], theirs["head"], theirs["position"])
        assert [g["position"] for g in ours["top"]] == [g["position"] for g in theirs["top"]]
        np.testing.assert_allclose([g["weight"] for g in ours["top"]], [g["weight"] for g in theirs["top"]], rtol=1e-6)
        for got in ours["top"]:
            assert got["position"] < ours["position"] and got["next"]["token"] == story_model.tokenize(TEXT)[got["position"] + 1]
    assert rows[5]["text"] == story_model.detokenize([rows[5]["token"]])


# ---- training ---------------------------------------------------------------------------------

def test_train_is_mosaic_train_and_reports_progress(runs, gpt_model, tmp_path):
    config = json.load(open(os.path.join(runs, "gpt", "config.json")))  # what `mosaic train` ran
    config["out_dir"] = str(tmp_path / "gpt")
    steps = config["max_iters"]
    records = []
    result = mosaic.train(config, progress=records.append)
    assert result["steps"] == steps and result["checkpoint"].endswith(f"ckpt_{steps:07d}.safetensors")
    logged = sorted({1, steps, *range(config["log_interval"], steps + 1, config["log_interval"])})
    assert [(r["step"], r["split"]) for r in records] == [(s, "train") for s in logged] + [(steps, "val")]
    assert result["val_loss"] == records[-1]["loss"]
    ours = mosaic.load(result["checkpoint"])
    tokens = gpt_model.tokenize(TEXT)[:30]
    np.testing.assert_array_equal(ours.logits(tokens), gpt_model.logits(tokens))  # bit for bit


def test_a_model_of_token_ids(id_run):
    config, result, records = id_run
    assert result["steps"] == 6 and {r["split"] for r in records} == {"train", "val"}
    model = mosaic.load(config["out_dir"])
    assert model.vocab_size == 64
    assert model.logits(list(range(0, 30, 3))).shape == (10, 64)
    stream = model.start_stream(seed=1)
    assert stream.feed(np.arange(0, 30, 3, dtype=np.int16)) == list(range(0, 30, 3))  # ids as given: no <|endoftext|>
    token, text = stream.next_token(temperature=0)
    assert 0 <= token < 64 and text is None
    assert model.evaluate(np.arange(0, 60, 3))["bits_per_byte"] is None
    for call in (lambda: model.tokenize("text"), lambda: model.evaluate("text")):
        with pytest.raises(mosaic.Error, match="not GPT-2's") as e:
            call()
        assert "token ids" in e.value.hint
    with pytest.raises(ValueError, match="generate and stream write text"):
        model.generate("text")


def test_ctrl_c_stops_training_with_a_checkpoint_and_resume_goes_on(id_run, tmp_path):
    config, _, _ = id_run
    config = dict(config, out_dir=str(tmp_path / "run"), max_iters=12, lr_decay_iters=12, log_interval=1)

    def interrupt_at_step_4(record):
        if record["step"] == 4 and record["split"] == "train":
            os.kill(os.getpid(), signal.SIGINT)  # the trainer's own handler takes it: a checkpoint first

    with pytest.raises(KeyboardInterrupt, match="stopped at step 5"):  # the step under way when it came
        mosaic.train(config, progress=interrupt_at_step_4)
    assert os.path.exists(tmp_path / "run" / "ckpt_0000005.safetensors")
    assert mosaic.train(config, resume=True)["steps"] == 12


# ---- bad input --------------------------------------------------------------------------------

def test_errors_carry_the_message_and_the_hint(tmp_path):
    with pytest.raises(mosaic.Error) as e:
        mosaic.load(str(tmp_path / "missing.safetensors"))
    assert e.value.hint and e.value.message in str(e.value) and "hint: " + e.value.hint in str(e.value)
    assert not isinstance(e.value, ValueError)  # a missing file is not a bad argument
    with pytest.raises(mosaic.Error, match="config.json"):
        mosaic.train({"data_dir": str(tmp_path), "out_dir": str(tmp_path / "r")}, resume=True)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: m.logits([0, 10 ** 6]), ValueError, "outside the model's vocabulary"),
    (lambda m: m.logits([-1]), ValueError, "outside the model's vocabulary"),
    (lambda m: m.logits([]), ValueError, "no token ids"),
    (lambda m: m.logits("text"), TypeError, "not text"),
    (lambda m: m.logits([1.5, 2.0]), TypeError, "integers"),
    (lambda m: m.logits([[1, 2]]), TypeError, "one-dimensional"),
    (lambda m: m.logits(None), TypeError, "one-dimensional"),
    (lambda m: m.detokenize([10 ** 6]), ValueError, "outside"),
    (lambda m: m.tokenize(42), TypeError, "incompatible"),
    (lambda m: m.generate(PROMPT, max_tokens=-1), ValueError, "max_tokens"),
    (lambda m: m.generate(PROMPT, top_p=1.5), ValueError, "top_p must be in"),
    (lambda m: m.generate(PROMPT, temperature=float("nan")), ValueError, "temperature must be a finite"),
    (lambda m: m.generate(PROMPT, temperature=-1), ValueError, "temperature"),
    (lambda m: m.generate(PROMPT, seed=-1), ValueError, "seed"),
    (lambda m: m.generate(PROMPT, stop=[""]), ValueError, "empty stop string"),
    (lambda m: m.generate(PROMPT, stop=3), TypeError, "stop must be"),
    (lambda m: m.generate(PROMPT, evict="newest"), ValueError, "newest"),
    (lambda m: m.generate(PROMPT, mem_limit=-2), ValueError, "mem_limit"),
    (lambda m: m.generate(max_tokens="many"), TypeError, "incompatible"),
    (lambda m: m.stream(PROMPT, top_k=-3), ValueError, "top_k"),
    (lambda m: m.evaluate([5]), ValueError, "at least two tokens"),
    (lambda m: m.evaluate(TEXT, batch=0), ValueError, "batch"),
    (lambda m: m.attention(TEXT, context=1), ValueError, "context"),
    (lambda m: m.attention(TEXT, context=500), ValueError, "fewer than one window"),
    (lambda m: m.explain(TEXT, top=0), ValueError, "top"),
    (lambda m: m.start_stream().logits(), ValueError, "nothing fed"),
    (lambda m: m.start_stream().next_token(), ValueError, "nothing to continue"),
    (lambda m: m.start_stream().feed([m.vocab_size]), ValueError, "outside"),
])
def test_bad_arguments_raise(story_model, call, error, match):
    with pytest.raises(error, match=match) as e:
        call(story_model)
    if isinstance(e.value, mosaic.Error):
        assert e.value.hint, "every mosaic error has a hint"


def test_bad_configs_and_windows_raise(gpt_model, tmp_path):
    with pytest.raises(ValueError, match="n_layers") as e:
        mosaic.train({"n_layers": 3})
    assert isinstance(e.value, mosaic.Error) and e.value.hint
    with pytest.raises(TypeError):
        mosaic.train(["not", "a", "dict"])
    with pytest.raises(mosaic.Error, match="does not exist"):
        mosaic.train(dict(ID_CONFIG, data_dir=str(tmp_path / "none"), out_dir=str(tmp_path / "r")))
    with pytest.raises(ValueError, match="block_size"):
        gpt_model.logits(list(range(40)))  # learned positions end at the GPT's block_size (32)
    with pytest.raises(ValueError, match="window"):
        gpt_model.generate(TEXT * 3)


# ---- the GIL and Ctrl-C -----------------------------------------------------------------------

def test_long_calls_let_other_threads_run_and_ctrl_c_stops_them(story_model):
    count, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        before = count[0]
        story_model.generate(PROMPT, max_tokens=100, ignore_eos=True, mem_limit=32)
        during = count[0] - before
    finally:
        stop.set()
        spinner.join()
    assert during > 1000, "the spinning thread ran only %d times while generate ran" % during

    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        story_model.generate(PROMPT, max_tokens=10 ** 7, ignore_eos=True, mem_limit=32)
    assert time.monotonic() - started < 30
    timer.join()


# ---- installed --------------------------------------------------------------------------------

def test_make_install_puts_the_module_where_python_finds_it(runs, tmp_path):
    build = os.path.dirname(os.path.dirname(mosaic.__file__))
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", build, "--prefix", str(prefix)], check=True, capture_output=True)
    modules = list(prefix.glob("lib/python3*/dist-packages/mosaic*.so"))
    assert len(modules) == 1
    where = os.path.relpath(modules[0].parent, prefix)
    system_path = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"],
                                 capture_output=True, text=True, check=True).stdout.split()
    assert os.path.join("/usr/local", where) in system_path  # make install's default PREFIX
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MOSAIC_TOKENIZER_DIR")}
    env["PYTHONPATH"] = str(modules[0].parent)
    script = ("import mosaic, sys; m = mosaic.load(sys.argv[1]); "
              "print(mosaic.__file__); print(m.tokenizer_dir); print(m.generate('Tom', max_tokens=5, seed=1))")
    out = subprocess.run(["/usr/bin/python3", "-c", script, os.path.abspath(os.path.join(runs, "mosaic"))], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == str(modules[0])
    assert out[1] == str(prefix / "share" / "mosaic" / "tokenizer")
