// mosaic serve's page: streams a completion (POST /v1/completions, stream: true, read as
// server-sent events), then asks /v1/explain about the whole text and shows, for a clicked
// token, the pairs each layer and head retrieved, their weights drawn as bars.
"use strict";

const $ = (id) => document.getElementById(id);
const EOT = 50256;
let explained = null;  // the answer of /v1/explain for the last text

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api_key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!r.ok) {
    let message = r.status + "";
    try { message += ": " + (await r.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return r;
}

// Calls onEvent(json) for each `data:` event of a server-sent event stream until [DONE].
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;  // ": waiting" comments
        const data = line.slice(6);
        if (data === "[DONE]") return;
        onEvent(JSON.parse(data));
      }
    }
  }
}

async function generate() {
  const status = $("status"), output = $("output");
  $("generate").disabled = true;
  explained = null;
  $("panel").innerHTML = "";
  try {
    const prompt = $("prompt").value;
    // The prompt as the server feeds it: <|endoftext|>, then its tokens.
    const tokenized = await (await post("/tokenize", { content: prompt })).json();
    const ids = [EOT, ...tokenized.tokens];
    output.textContent = prompt;
    const generated = [];
    status.textContent = "generating…";
    const r = await post("/v1/completions", {
      prompt: ids, stream: true, max_tokens: Number($("max_tokens").value),
      temperature: Number($("temperature").value), seed: Number($("seed").value),
    });
    let finish = null;
    await readEvents(r, (chunk) => {
      for (const c of chunk.choices) {
        output.textContent += c.text;
        generated.push(...(c.tokens || []));
        if (c.finish_reason) finish = c.finish_reason;
      }
    });
    status.textContent = `${generated.length} tokens (${finish}); reading what each retrieved…`;
    const top = Number($("top").value);
    explained = await (await post("/v1/explain", { prompt: [...ids, ...generated], top })).json();
    render(explained, ids.length);
    status.textContent = `${generated.length} tokens (${finish}). Click a token.`;
  } catch (e) {
    status.textContent = "error: " + e.message;
  } finally {
    $("generate").disabled = false;
  }
}

// The text as one span per token; the prompt's dimmer.
function render(e, promptLength) {
  const output = $("output");
  output.textContent = "";
  e.tokens.forEach((t, i) => {
    const span = document.createElement("span");
    span.className = "tok" + (i < promptLength ? " prompt" : "");
    span.textContent = t.id === EOT ? "⟨eot⟩" : t.text;
    span.dataset.index = i;
    span.addEventListener("click", () => show(i));
    output.appendChild(span);
  });
}

function pieceOf(id) {
  const t = explained.tokens.find((x) => x.id === id);
  return id === EOT ? "⟨eot⟩" : JSON.stringify(t ? t.text : "#" + id);
}

// The panel for position i: per layer and head, the pairs with their weights as bars.
function show(i) {
  document.querySelectorAll(".tok.selected").forEach((s) => s.classList.remove("selected"));
  document.querySelector(`.tok[data-index="${i}"]`).classList.add("selected");
  const panel = $("panel");
  panel.innerHTML = "";
  const title = document.createElement("h2");
  title.textContent = `position ${i}: ${pieceOf(explained.tokens[i].id)}`;
  panel.appendChild(title);
  for (const row of explained.rows.filter((r) => r.position === i)) {
    const box = document.createElement("div");
    box.className = "head";
    const h = document.createElement("h3");
    h.textContent = `layer ${row.layer}, head ${row.head}`;
    box.appendChild(h);
    if (row.top.length === 0) {
      const p = document.createElement("div");
      p.className = "empty";
      p.textContent = "nothing stored yet";
      box.appendChild(p);
    }
    for (const pair of row.top) {
      const line = document.createElement("div");
      line.className = "pair";
      const weight = document.createElement("span");
      weight.textContent = pair.weight.toFixed(2);
      const what = document.createElement("span");
      what.textContent = `[${pair.position}] ${pieceOf(pair.key)}` +
        (pair.value === undefined ? "" : ` → ${pieceOf(pair.value)}`);
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = (100 * pair.weight).toFixed(1) + "%";
      line.append(weight, what, bar);
      box.appendChild(line);
    }
    panel.appendChild(box);
  }
}

$("generate").addEventListener("click", generate);
fetch("/v1/models", { headers: headers() }).then((r) => r.json()).then((m) => {
  $("model").textContent = m.data ? m.data[0].id : "";
}).catch(() => {});
