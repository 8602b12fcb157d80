"""mosaic serve against the real binary: every endpoint, SSE framing, equality with `mosaic
sample`, batching that changes no text, sessions (continued, saved, reloaded), errors, limits,
the API key, cancellation and a clean exit on SIGTERM."""
import json
import os
import signal
import subprocess
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import sample

PROMPT = "Once upon a time"


def error_of(r):
    """The OpenAI error object of a 4xx answer."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    e = r.json()["error"]
    assert set(e) >= {"message", "type", "code"} and e["message"], e
    return e


def sse_events(r):
    """The `data:` payloads of an event stream, checking the framing: each event is `data: ...`
    lines ended by a blank line; comments (`: ...`) are allowed; [DONE] comes last."""
    text = r.content.decode()
    assert text.endswith("data: [DONE]\n\n"), text[-200:]
    events = []
    for block in text.split("\n\n")[:-1]:
        lines = [l for l in block.split("\n") if not l.startswith(":")]
        if not lines:
            continue
        assert len(lines) == 1 and lines[0].startswith("data: "), block
        events.append(lines[0][len("data: "):])
    assert events[-1] == "[DONE]" and "[DONE]" not in events[:-1]
    return [json.loads(e) for e in events[:-1]]


def test_health_and_models(server):
    assert server.get("/health").json() == {"status": "ok"}
    models = server.get("/v1/models").json()
    assert models["object"] == "list" and len(models["data"]) == 1
    assert models["data"][0]["object"] == "model" and models["data"][0]["meta"]["arch"] == "mosaic"


def test_completion_equals_mosaic_sample(server, binary, model):
    for seed, flags, body in [(7, [], {}),
                              (11, ["--temp", "1.1", "--top-k", "40", "--top-p", "0.9", "--repeat-penalty", "1.3"],
                               {"temperature": 1.1, "top_k": 40, "top_p": 0.9, "repeat_penalty": 1.3}),
                              (3, ["--temp", "0"], {"temperature": 0})]:
        got = server.complete(prompt=PROMPT, max_tokens=40, seed=seed, **body)
        want = sample(binary, model, PROMPT, 40, seed, *flags)
        assert PROMPT + got["choices"][0]["text"] == want
        assert got["object"] == "text_completion" and got["seed"] == seed
        usage = got["usage"]
        ids = server.post("/tokenize", {"content": PROMPT}).json()["tokens"]
        assert usage["prompt_tokens"] == len(ids) + 1  # <|endoftext|> starts a document
        assert usage["completion_tokens"] == len(got["choices"][0]["tokens"]) > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert got["choices"][0]["finish_reason"] in ("stop", "length")


def test_memory_limit_as_in_sample(start_server, binary, model):
    s = start_server("--mem-limit", "8", "--evict", "lru")
    got = s.complete(prompt=PROMPT, max_tokens=40, seed=6, ignore_eos=True)["choices"][0]["text"]
    assert PROMPT + got == sample(binary, model, PROMPT, 40, 6, "--mem-limit", "8", "--evict", "lru", "--ignore-eos")
    unbounded = start_server().complete(prompt=PROMPT, max_tokens=40, seed=6, ignore_eos=True)["choices"][0]["text"]
    assert got != unbounded  # the bound is in effect


def test_bf16_head_and_a_gpt_as_in_sample(start_server, binary, model, runs, tmp_path):
    s = start_server("--head", "bf16")
    got = s.complete(prompt=PROMPT, max_tokens=40, seed=12)["choices"][0]["text"]
    assert PROMPT + got == sample(binary, model, PROMPT, 40, 12, "--head", "bf16")
    gpt = os.path.join(runs, "gpt")
    g = start_server("-m", gpt, "--session-dir", str(tmp_path))
    got = g.complete(prompt=PROMPT, max_tokens=20, seed=2)["choices"][0]["text"]
    assert PROMPT + got == sample(binary, gpt, PROMPT, 20, 2)
    g.complete(prompt=PROMPT, max_tokens=3, session="g")
    assert "Memory Mosaic" in error_of(g.post("/sessions/g/save"))["message"]  # a KV cache is not saved


def test_token_id_prompt_equals_text_prompt(server):
    ids = server.post("/tokenize", {"content": PROMPT}).json()["tokens"]
    by_text = server.complete(prompt=PROMPT, max_tokens=20, seed=5)
    by_ids = server.complete(prompt=[50256] + ids, max_tokens=20, seed=5)
    assert by_ids["choices"][0]["text"] == by_text["choices"][0]["text"]
    assert by_ids["usage"]["prompt_tokens"] == len(ids) + 1


def test_tokenize_detokenize(server):
    text = "Lily saw a cat. \u00e9t\u00e9 \U0001F600"
    t = server.post("/tokenize", {"content": text}).json()
    assert len(t["tokens"]) == len(t["pieces"]) > 3
    assert server.post("/detokenize", {"tokens": t["tokens"]}).json()["content"] == text


def test_stream_framing_and_same_text(server):
    whole = server.complete(prompt=PROMPT, max_tokens=30, seed=21, n=2)
    r = server.post("/v1/completions", {"prompt": PROMPT, "max_tokens": 30, "seed": 21, "n": 2, "stream": True,
                                        "stream_options": {"include_usage": True}}, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    chunks = sse_events(r)
    texts, finish = ["", ""], [None, None]
    for c in chunks[:-1]:
        assert c["object"] == "text_completion" and len(c["choices"]) == 1
        ch = c["choices"][0]
        assert finish[ch["index"]] is None  # nothing after a choice's finish
        texts[ch["index"]] += ch["text"]
        finish[ch["index"]] = ch["finish_reason"]
    assert texts == [c["text"] for c in whole["choices"]]
    assert finish == [c["finish_reason"] for c in whole["choices"]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]


def test_n_choices_are_seed_plus_k(server):
    together = server.complete(prompt=PROMPT, max_tokens=25, seed=100, n=3)
    for k in range(3):
        alone = server.complete(prompt=PROMPT, max_tokens=25, seed=100 + k)
        assert together["choices"][k]["text"] == alone["choices"][0]["text"]
    several = server.complete(prompt=["Tom had", "Lily saw"], max_tokens=10, seed=1, n=2)
    assert len(several["choices"]) == 4
    assert several["choices"][3]["text"] == server.complete(prompt="Lily saw", max_tokens=10, seed=4)["choices"][0]["text"]


def test_concurrent_clients_get_their_texts_alone(server):
    """12 clients at once on 4 slots (so some wait in the queue and join mid-way) get exactly
    what each gets alone."""
    jobs = [{"prompt": p, "max_tokens": 20 + 7 * (i % 3), "seed": 1000 + i, "stream": i % 2 == 1}
            for i, p in enumerate(["Once upon a time", "Tom had a ball", "The cat", "Lily was happy"] * 3)]

    def run(body):
        r = server.post("/v1/completions", body, stream=body["stream"])
        assert r.status_code == 200, r.text
        if body["stream"]:
            return "".join(c["choices"][0]["text"] for c in sse_events(r) if c["choices"])
        return r.json()["choices"][0]["text"]

    with ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(run, jobs))
    alone = [run(j) for j in jobs]
    assert together == alone
    assert len(set(alone)) > 6  # different prompts and seeds: different texts


def test_stop_strings(server):
    full = server.complete(prompt=PROMPT, max_tokens=40, seed=8, ignore_eos=True)["choices"][0]["text"]
    words = [w for w in full.split(" ") if len(w) >= 3]
    assert words, full
    stop = words[len(words) // 2]
    cut = server.complete(prompt=PROMPT, max_tokens=40, seed=8, ignore_eos=True, stop=[stop, "zzzq"])
    assert cut["choices"][0]["text"] == full[:full.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    streamed = sse_events(server.post("/v1/completions", {"prompt": PROMPT, "max_tokens": 40, "seed": 8,
                                                          "ignore_eos": True, "stop": stop, "stream": True}))
    assert "".join(c["choices"][0]["text"] for c in streamed if c["choices"]) == full[:full.index(stop)]


def test_max_tokens_and_echo(server):
    got = server.complete(prompt=PROMPT, max_tokens=5, seed=2, ignore_eos=True, echo=True)
    assert got["choices"][0]["finish_reason"] == "length" and got["usage"]["completion_tokens"] == 5
    assert got["choices"][0]["text"].startswith(PROMPT)
    assert server.complete(prompt=PROMPT, max_tokens=0)["usage"]["completion_tokens"] == 0


def test_chat_is_the_documented_template(server):
    messages = [{"role": "system", "content": "Stories for children."},
                {"role": "user", "content": "Tell me about Tom."}]
    chat = server.post("/v1/chat/completions", {"messages": messages, "max_tokens": 30, "seed": 4}).json()
    assert chat["object"] == "chat.completion"
    prompt = "Stories for children.\n\nUser: Tell me about Tom.\nAssistant:"
    plain = server.complete(prompt=prompt, max_tokens=30, seed=4, stop="\nUser:")
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": plain["choices"][0]["text"]}
    chunks = sse_events(server.post("/v1/chat/completions", {"messages": messages, "max_tokens": 30, "seed": 4,
                                                             "stream": True}))
    assert chunks[0]["object"] == "chat.completion.chunk" and chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]) == plain["choices"][0]["text"]


def metric(server, name):
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def test_metrics(server):
    before = metric(server, "mosaic_generated_tokens_total")
    server.complete(prompt=PROMPT, max_tokens=6, seed=1, ignore_eos=True)
    text = server.get("/metrics").text
    assert "# TYPE mosaic_generated_tokens_total counter" in text
    assert metric(server, "mosaic_generated_tokens_total") == before + 6
    assert 'mosaic_requests_total{route="/v1/completions",status="200"}' in text
    for name in ["mosaic_prompt_tokens_total", "mosaic_prompt_seconds_total", "mosaic_generation_seconds_total",
                 "mosaic_queue_depth", "mosaic_busy_slots", "mosaic_slots", "mosaic_sessions"]:
        metric(server, name)
    assert metric(server, "mosaic_slots") == 4


def test_explain(server):
    got = server.post("/v1/explain", {"prompt": "Tom had a ball. Tom had a", "top": 2}).json()
    toks, L, H = got["tokens"], got["n_layer"], got["n_head"]
    T = len(toks)
    assert toks[0]["id"] == 50256 and T > 5 and not got["sees_self"]
    assert len(got["rows"]) == L * H * T
    for row in got["rows"]:
        assert len(row["top"]) == min(2, row["position"])  # the pairs stored before it
        ws = [p["weight"] for p in row["top"]]
        assert ws == sorted(ws, reverse=True) and all(0 <= w <= 1 for w in ws) and sum(ws) <= 1 + 1e-6
        assert not ws or ws[0] > 0
        for p in row["top"]:
            assert p["position"] < row["position"]
            assert p["key"] == toks[p["position"]]["id"] and p["value"] == toks[p["position"] + 1]["id"]


def test_session_continued_equals_one_long_sample(server, binary, model):
    one = server.complete(prompt=PROMPT, max_tokens=30, seed=13, ignore_eos=True)["choices"][0]["text"]
    parts = [server.complete(prompt=PROMPT, max_tokens=10, seed=13, ignore_eos=True, session="three")]
    parts += [server.complete(prompt="", max_tokens=10, ignore_eos=True, session="three") for _ in range(2)]
    assert "".join(p["choices"][0]["text"] for p in parts) == one
    assert parts[-1]["session"]["name"] == "three"
    assert parts[-1]["session"]["tokens"] == parts[0]["usage"]["prompt_tokens"] + 30
    assert PROMPT + one == sample(binary, model, PROMPT, 30, 13, "--ignore-eos")
    assert requests.delete(server.url + "/sessions/three").status_code == 200


def test_session_save_restart_load(start_server, session_dir):
    a = start_server("--session-dir", session_dir)
    a.complete(prompt="Lily had a kite", max_tokens=12, seed=9, ignore_eos=True, session="kept")
    saved = a.post("/sessions/kept/save")
    assert saved.status_code == 200, saved.text
    want = a.complete(prompt="", max_tokens=15, ignore_eos=True, session="kept")["choices"][0]["text"]
    assert a.stop() == 0

    b = start_server("--session-dir", session_dir)
    assert error_of(b.post("/sessions/nothere/load"))["code"] == "session_file_not_found"
    loaded = b.post("/sessions/kept/load")
    assert loaded.status_code == 200 and loaded.json()["tokens"] > 12
    got = b.complete(prompt="", max_tokens=15, ignore_eos=True, session="kept")["choices"][0]["text"]
    assert got == want
    assert requests.delete(b.url + "/sessions/kept").status_code == 200
    assert error_of(requests.delete(b.url + "/sessions/kept"))["code"] == "session_not_found"


def test_session_file_damaged_is_refused(start_server, session_dir, tmp_path):
    a = start_server("--session-dir", str(tmp_path))
    a.complete(prompt=PROMPT, max_tokens=4, seed=1, session="dmg")
    assert a.post("/sessions/dmg/save").status_code == 200
    memory = tmp_path / "dmg.memory"
    data = bytearray(memory.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = b"\xff" * 64
    memory.write_bytes(bytes(data))
    e = error_of(a.post("/sessions/dmg/load"))
    assert e["code"] == "session_load_failed"
    # the session in memory is untouched and still serves
    assert a.complete(prompt="", max_tokens=3, session="dmg")["session"]["tokens"] > 4


def test_busy_session_is_409(start_server, tmp_path):
    s = start_server("--session-dir", str(tmp_path))
    r = s.post("/v1/completions", {"prompt": PROMPT, "max_tokens": 60000, "ignore_eos": True, "stream": True,
                                   "session": "held"}, stream=True)
    lines = r.iter_lines(chunk_size=1)
    first_data_line(lines)
    assert error_of(s.post("/v1/completions", {"prompt": "x", "session": "held"}))["code"] == "session_busy"
    assert s.post("/sessions/held/save").status_code == 409
    assert requests.delete(s.url + "/sessions/held").status_code == 409
    r.close()
    assert wait_for(lambda: s.post("/sessions/held/save").status_code == 200)


def test_sessions_are_bounded_lru(start_server):
    s = start_server("--max-sessions", "2")
    for name in ["s1", "s2", "s3"]:
        s.complete(prompt=PROMPT, max_tokens=2, seed=1, session=name)
    names = sorted(x["session"] for x in s.get("/sessions").json()["data"])
    assert names == ["s2", "s3"]


BAD = [
    ("POST", "/v1/completions", b"{not json", 400),
    ("POST", "/v1/completions", b"[1, 2]", 400),
    ("POST", "/v1/completions", {"max_tokens": 3}, 400),
    ("POST", "/v1/completions", {"prompt": 12}, 400),
    ("POST", "/v1/completions", {"prompt": []}, 400),
    ("POST", "/v1/completions", {"prompt": [1, 99999999]}, 400),
    ("POST", "/v1/completions", {"prompt": [-1]}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "max_tokens": "ten"}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "max_tokens": 10 ** 9}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "temperature": -1}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "top_p": 0}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "top_p": 1.5}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "min_p": 2}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "repeat_penalty": 0}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "n": 0}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "n": 1000}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stop": ["a", "b", "c", "d", "e"]}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stop": [""]}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stop": 3}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "frobnicate": 1}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stream": "yes"}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stream_options": {"include_usage": True}}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "logprobs": 5}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "seed": "x"}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "session": "../etc"}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "session": "x", "n": 2}, 400),
    ("POST", "/v1/completions", {"prompt": "a\u0000b"}, 400),
    ("POST", "/v1/completions", {"prompt": "a", "max_tokens": -1, "ignore_eos": True}, 400),
    ("POST", "/v1/chat/completions", {"max_tokens": 3}, 400),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "hi"}]}, 400),
    ("POST", "/v1/chat/completions", {"messages": "hi"}, 400),
    ("POST", "/tokenize", {}, 400),
    ("POST", "/tokenize", {"content": 5}, 400),
    ("POST", "/detokenize", {"tokens": "abc"}, 400),
    ("POST", "/detokenize", {"tokens": [70000]}, 400),
    ("POST", "/v1/explain", {"prompt": "Tom had a ball", "top": 0}, 400),
    ("POST", "/v1/explain", {"prompt": [50256]}, 400),
    ("POST", "/sessions/never-made/save", None, 404),
    ("DELETE", "/sessions/never-made", None, 404),
    ("GET", "/no/such/path", None, 404),
    ("POST", "/v1/completions", b"[" * 100 + b"]" * 100, 400),
    ("POST", "/v1/completions", b"{\"prompt\": \"" + b"x" * 70000 + b"\"}", 413),
]


def test_bad_requests_get_4xx_and_the_server_keeps_serving(server):
    assert len(BAD) >= 20
    for method, path, body, status in BAD:
        kw = {"data": body} if isinstance(body, bytes) else {"json": body}
        r = requests.request(method, server.url + path, timeout=30, **kw)
        assert r.status_code == status, (method, path, body if not isinstance(body, bytes) else body[:40], r.text)
        error_of(r)
    assert server.complete(prompt=PROMPT, max_tokens=3, seed=1)["usage"]["completion_tokens"] >= 1


def test_api_key(start_server):
    s = start_server("--api-key", "sesame")
    assert s.get("/health").status_code == 200
    e = error_of(s.get("/v1/models"))
    assert e["type"] == "authentication_error" and s.get("/v1/models").status_code == 401
    assert error_of(s.get("/v1/models", headers={"Authorization": "Bearer wrong"}))["code"] == "invalid_api_key"
    ok = s.post("/v1/completions", {"prompt": "a", "max_tokens": 2}, headers={"Authorization": "Bearer sesame"})
    assert ok.status_code == 200


def long_stream(s, tokens=60000):
    return s.post("/v1/completions", {"prompt": PROMPT, "max_tokens": tokens, "ignore_eos": True, "stream": True},
                  stream=True, timeout=60)


def wait_for(cond, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def first_data_line(lines):
    """The first `data:` line of an event stream (skipping the `: waiting` comments)."""
    return next(l for l in lines if l.startswith(b"data: "))


def test_queue_full_503_and_disconnect_cancels(start_server):
    s = start_server("--parallel", "1", "--max-queue", "1")
    running = long_stream(s)
    running_lines = running.iter_lines(chunk_size=1)  # kept: a dropped iterator closes the connection
    first_data_line(running_lines)
    queued = []
    t = threading.Thread(target=lambda: queued.append(long_stream(s)))
    t.start()
    assert wait_for(lambda: metric(s, "mosaic_queue_depth") == 1)
    assert metric(s, "mosaic_busy_slots") == 1
    r = s.post("/v1/completions", {"prompt": "a", "max_tokens": 2})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1" and r.json()["error"]["code"] == "queue_full"
    running.close()  # the client goes away: its generation is cancelled and the queued one runs
    t.join()
    queued_lines = queued[0].iter_lines(chunk_size=1)
    first_data_line(queued_lines)
    queued[0].close()
    assert wait_for(lambda: metric(s, "mosaic_busy_slots") == 0 and metric(s, "mosaic_queue_depth") == 0)
    assert metric(s, "mosaic_requests_cancelled_total") == 2
    assert s.complete(prompt=PROMPT, max_tokens=3, seed=1)["usage"]["completion_tokens"] >= 1


def test_non_streamed_disconnect_cancels(start_server):
    s = start_server("--parallel", "1")
    sock = socket.create_connection((s.url.split("//")[1].split(":")[0], int(s.url.rsplit(":", 1)[1])))
    body = json.dumps({"prompt": PROMPT, "max_tokens": 60000, "ignore_eos": True}).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert wait_for(lambda: metric(s, "mosaic_busy_slots") == 1)
    sock.close()
    assert wait_for(lambda: metric(s, "mosaic_busy_slots") == 0)
    assert metric(s, "mosaic_requests_cancelled_total") == 1


def test_time_limit(start_server):
    s = start_server("--timeout", "0.5")
    t0 = time.time()
    got = s.complete(prompt=PROMPT, max_tokens=60000, ignore_eos=True)
    assert got["choices"][0]["finish_reason"] == "time_limit" and time.time() - t0 < 10
    assert got["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(start_server, sig):
    s = start_server("--shutdown-grace", "0.5")
    r = long_stream(s)
    lines = r.iter_lines()
    next(lines)
    s.proc.send_signal(sig)
    rest = [l.decode() for l in lines if l]  # the stream ends: cancelled after the grace, then [DONE]
    assert s.proc.wait(timeout=20) == 0
    assert '"finish_reason":"cancelled"' in rest[-2] and rest[-1] == "data: [DONE]"
    assert "stopping" in s.stderr()


def test_cli_errors_are_one_line_with_a_hint(binary, model, server, tmp_path):
    port = server.url.rsplit(":", 1)[1]
    cases = [["-m", model, "--port", port],                       # the port is taken
             ["-m", str(tmp_path / "no_such_run")],               # no model
             ["-m", model, "--parallel", "0"],                    # out of range
             ["-m", model, "--top-p", "0"],                       # a sampler default out of range
             ["-m", model, "--page-dir", str(tmp_path)]]          # no page there
    for args in cases:
        out = subprocess.run([binary, "serve", "--host", "127.0.0.1", *args], capture_output=True, text=True, timeout=60)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1, (args, out.stderr)
        assert lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), (args, out.stderr)
