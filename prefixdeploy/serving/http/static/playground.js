// The playground page of `prefixdeploy serve`: one input through every ticked model (base or prefix), side by side.
//
// Plain JavaScript, no build step, no third-party code: served by prefixdeploy/serving/http/ui.py, described in
// docs/playground.md. It talks only to this server's own routes: GET /v1/models, and streaming POSTs to
// /v1/completions or /v1/chat/completions, one per column, all under one AbortController (Stop aborts them; the
// server aborts a request whose client left and frees its engine row).

const MODELS_TIMEOUT_MS = 10000; // the model list is one small GET: give up (and say so) rather than wait forever
const LOADING_RETRIES = 60; // 503 while the server loads its bundle: ask again once a second, this many times

let apiKey = ""; // in this page's memory only: never in the address, never in storage
let controller = null; // the AbortController of the running columns, null when idle
let knownModels = []; // ids of the last list shown, to keep what was ticked across a refresh

const $ = (id) => document.getElementById(id);

// -- the server's answers -------------------------------------------------------------------------------------------

function requestHeaders(json) {
  const headers = json ? { "Content-Type": "application/json" } : {};
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  return headers;
}

// "HTTP 404: model 'x' does not exist; …" from OpenAI's error envelope, or the status alone for another body.
async function describeFailure(response) {
  let message = "";
  try {
    message = (await response.json())?.error?.message ?? "";
  } catch {
    // not JSON (a proxy's page, say): the status line says enough
  }
  const retry = response.status === 429 ? response.headers.get("Retry-After") : null;
  const hint = retry ? ` (retry in ${retry} s)` : "";
  return `HTTP ${response.status}${message ? `: ${message}` : ` ${response.statusText}`}${hint}`;
}

function describeError(error) {
  if (error?.name === "TimeoutError") return "no answer in time";
  return error?.message || String(error);
}

function needKey(message) {
  $("key-row").hidden = false;
  setServerStatus(`${message}. Enter the API key.`, true);
}

// -- the model list -------------------------------------------------------------------------------------------------

async function loadModels(retries = LOADING_RETRIES) {
  setServerStatus("Loading the model list…");
  let response;
  try {
    response = await fetch("/v1/models", {
      headers: requestHeaders(false),
      signal: AbortSignal.timeout(MODELS_TIMEOUT_MS),
    });
  } catch (error) {
    setServerStatus(`Cannot reach the server: ${describeError(error)}`, true);
    return;
  }
  if (response.status === 503 && retries > 0) {
    setServerStatus("The server is loading its bundle…");
    setTimeout(() => loadModels(retries - 1), 1000);
    return;
  }
  if (response.status === 401) {
    needKey(await describeFailure(response));
    return;
  }
  if (!response.ok) {
    setServerStatus(`The model list failed: ${await describeFailure(response)}`, true);
    return;
  }
  showModels((await response.json()).data);
}

function showModels(models) {
  const ticked = new Set(tickedModels());
  const firstTime = knownModels.length === 0;
  const list = $("model-list");
  list.replaceChildren(
    ...models.map((model) => {
      const box = Object.assign(document.createElement("input"), { type: "checkbox", value: model.id });
      box.checked = firstTime || ticked.has(model.id) || !knownModels.includes(model.id);
      const kind = Object.assign(document.createElement("span"), { className: "kind" });
      kind.textContent = model.parent ? "prefix" : "base model";
      const label = document.createElement("label");
      label.append(box, ` ${model.id} `, kind);
      return label;
    }),
  );
  knownModels = models.map((model) => model.id);
  const base = models.find((model) => !model.parent);
  const prefixes = models.length - (base ? 1 : 0);
  setServerStatus(`${base ? `Base model ${base.id}, ` : ""}${prefixes} prefix${prefixes === 1 ? "" : "es"}.`);
}

function tickedModels() {
  return [...$("model-list").querySelectorAll("input:checked")].map((box) => box.value);
}

// -- the request ----------------------------------------------------------------------------------------------------

function chatMode() {
  return document.querySelector("input[name=mode]:checked").value === "chat";
}

// The body every column sends (its `model` added per column), or null after showing what is wrong.
function requestFields() {
  for (const input of [$("temperature"), $("max-tokens"), $("seed")]) {
    if (!input.checkValidity()) {
      input.reportValidity();
      return null;
    }
  }
  const prompt = $("prompt").value;
  const fields = {
    max_tokens: Number($("max-tokens").value || 16),
    temperature: Number($("temperature").value || 0),
    stream: true,
    stream_options: { include_usage: true },
  };
  if ($("seed").value !== "") fields.seed = Number($("seed").value);
  // Structured outputs: a schema box would add `response_format` here, for every column alike.
  if (!chatMode()) return { ...fields, prompt };
  const system = $("system").value.trim();
  const messages = system ? [{ role: "system", content: system }] : [];
  return { ...fields, messages: [...messages, { role: "user", content: prompt }] };
}

// -- one column -----------------------------------------------------------------------------------------------------

const STATS = [
  ["status", "Status"],
  ["ttft", "First token"],
  ["rate", "Tokens/s"],
  ["tokens", "Tokens"],
  ["finish", "Finish"],
];

class Column {
  constructor(model, index) {
    this.model = model;
    this.element = document.createElement("article");
    this.element.className = "column";
    this.element.dataset.model = model;
    const title = Object.assign(document.createElement("h3"), { id: `column-${index}`, textContent: model });
    this.element.setAttribute("aria-labelledby", title.id);
    const stats = document.createElement("dl");
    this.stats = {};
    for (const [key, name] of STATS) {
      const row = document.createElement("div");
      this.stats[key] = Object.assign(document.createElement("dd"), { textContent: "–" });
      this.stats[key].dataset.stat = key;
      row.append(Object.assign(document.createElement("dt"), { textContent: name }), this.stats[key]);
      stats.append(row);
    }
    this.output = Object.assign(document.createElement("pre"), { className: "output", tabIndex: 0 });
    this.output.setAttribute("aria-label", `Answer of ${model}`);
    this.text = document.createTextNode("");
    this.output.append(this.text);
    this.error = Object.assign(document.createElement("p"), { className: "error", hidden: true });
    this.error.setAttribute("role", "alert");
    this.element.append(title, stats, this.output, this.error);
    this.sent = 0;
    this.first = null; // performance.now() of the first token
    this.last = null;
    this.chunks = 0; // chunks with text while streaming; the usage chunk gives the exact token count at the end
    this.setStatus("sending");
  }

  setStatus(status) {
    this.state = status;
    this.stats.status.textContent = status;
    this.element.dataset.state = status;
  }

  addText(text, now) {
    if (!text) return;
    if (this.first === null) {
      this.first = now;
      this.stats.ttft.textContent = `${Math.round(now - this.sent)} ms`;
      this.setStatus("streaming");
    }
    this.last = now;
    this.chunks += 1;
    this.text.appendData(text);
    this.showRate(this.chunks);
  }

  // Decoding speed after the first token, as the page sees the chunks arrive: (tokens - 1) over the time from the
  // first token to the last. A fast server's whole answer can arrive in one read, every chunk at the same instant of
  // the page's clock: the steps cannot be timed then, and the rate counts all tokens from the request instead.
  showRate(tokens) {
    this.stats.tokens.textContent = String(tokens);
    if (tokens < 2) return;
    const decoding = (this.last - this.first) / 1000;
    const [count, seconds] = decoding > 0 ? [tokens - 1, decoding] : [tokens, (this.last - this.sent) / 1000];
    if (seconds > 0) {
      const rate = count / seconds;
      this.stats.rate.textContent = rate.toFixed(rate < 100 ? 1 : 0);
    }
  }

  finishWith(reason) {
    this.stats.finish.textContent = reason;
  }

  usage(counts) {
    if (this.first !== null) this.showRate(counts.completion_tokens);
  }

  done() {
    this.setStatus("done");
  }

  stopped() {
    this.setStatus("stopped");
    if (this.stats.finish.textContent === "–") this.finishWith("stopped by you");
  }

  fail(message) {
    this.setStatus("error");
    this.error.textContent = message;
    this.error.hidden = false;
  }
}

// -- streaming ------------------------------------------------------------------------------------------------------

// One column's request: the answer streams into the column; every ending (done, stopped, refused, dropped) shows.
async function streamInto(column, fields, signal) {
  const path = chatMode() ? "/v1/chat/completions" : "/v1/completions";
  column.sent = performance.now();
  let response;
  try {
    const body = JSON.stringify({ ...fields, model: column.model });
    response = await fetch(path, { method: "POST", headers: requestHeaders(true), body, signal });
  } catch (error) {
    if (signal.aborted) column.stopped();
    else column.fail(`Cannot reach the server: ${describeError(error)}`);
    return;
  }
  if (!response.ok) {
    const message = await describeFailure(response);
    if (response.status === 401) needKey(message);
    column.fail(message);
    return;
  }
  column.setStatus("waiting");
  await readEvents(column, response, signal);
}

async function readEvents(column, response, signal) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (handleEvent(column, event)) {
          reader.cancel().catch(() => {});
          return;
        }
      }
    }
    column.fail("The connection closed before the answer finished.");
  } catch (error) {
    if (signal.aborted) column.stopped();
    else column.fail(`The connection dropped: ${describeError(error)}`);
  }
}

// One server-sent event; true when the stream is over (its [DONE], or an error event).
function handleEvent(column, event) {
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data === "[DONE]") {
      column.done();
      return true;
    }
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      column.fail(`The server sent an unreadable event: ${data.slice(0, 80)}`);
      return true;
    }
    if (chunk.error) {
      column.fail(`The server ended the stream: ${chunk.error.message}`);
      return true;
    }
    const now = performance.now();
    for (const choice of chunk.choices ?? []) {
      column.addText(choice.text ?? choice.delta?.content ?? "", now);
      if (choice.finish_reason) column.finishWith(choice.finish_reason);
    }
    if (chunk.usage) column.usage(chunk.usage);
  }
  return false;
}

// -- running and stopping -------------------------------------------------------------------------------------------

async function runAll() {
  if (controller) return;
  const models = tickedModels();
  if (models.length === 0) {
    setRunStatus("Tick at least one model.");
    return;
  }
  const fields = requestFields();
  if (!fields) return;
  const columns = models.map((model, index) => new Column(model, index));
  $("columns").replaceChildren(...columns.map((column) => column.element));
  controller = new AbortController();
  setRunning(true);
  setRunStatus(`Running ${columns.length} request${columns.length === 1 ? "" : "s"}…`);
  await Promise.allSettled(columns.map((column) => streamInto(column, fields, controller.signal)));
  controller = null;
  setRunning(false);
  const counts = {};
  for (const column of columns) counts[column.state] = (counts[column.state] ?? 0) + 1;
  setRunStatus(`Finished: ${Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(", ")}.`);
}

function stopAll() {
  if (!controller) return;
  setRunStatus("Stopping…");
  controller.abort();
}

function setRunning(running) {
  const [leaving, next] = running ? [$("run"), $("stop")] : [$("stop"), $("run")];
  const hadFocus = document.activeElement === leaving; // a disabled button drops focus: hand it to the other one
  leaving.disabled = true;
  next.disabled = false;
  if (hadFocus) next.focus({ preventScroll: true });
}

function setServerStatus(message, problem = false) {
  $("server-status").textContent = message;
  $("server-status").classList.toggle("problem", problem);
}

function setRunStatus(message) {
  $("run-status").textContent = message;
}

// -- wiring ---------------------------------------------------------------------------------------------------------

function useKey() {
  apiKey = $("api-key").value.trim();
  loadModels();
}

$("connect").addEventListener("click", useKey);
$("api-key").addEventListener("keydown", (event) => {
  if (event.key === "Enter") useKey();
});
$("refresh").addEventListener("click", () => loadModels());
$("run").addEventListener("click", runAll);
$("stop").addEventListener("click", stopAll);
for (const radio of document.querySelectorAll("input[name=mode]")) {
  radio.addEventListener("change", () => {
    $("system-row").hidden = !chatMode();
  });
}
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    runAll();
  } else if (event.key === "Escape" && controller) {
    stopAll();
  }
});
loadModels();
