"""The playground page at `/` in Debian's headless Chromium against real servers on 127.0.0.1 (the tiny bundle): it
lists the models, streams three columns equal to `prefixdeploy run`'s greedy answers, shows errors (401, 404, a
dropped connection) in their columns, and its stop button frees the server's rows. Bounded: three browser sessions,
every wait at most 30 s; about 20 s in all."""

from __future__ import annotations

import asyncio
import shutil
import threading

import httpx
from browser import headless_chromium, keys, wait_for
from server_process import KEY, app_in_process, running_server

from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.run import RunConfig, run_prompt

PROMPT = "once upon a time"
MAX_TOKENS = 24
FINISHED = ("done", "stopped", "error")
COLUMNS_JS = """
return [...document.querySelectorAll('.column')].map((c) => ({
  model: c.dataset.model, state: c.dataset.state, text: c.querySelector('.output').textContent,
  error: c.querySelector('.error').hidden ? null : c.querySelector('.error').textContent,
  stats: Object.fromEntries([...c.querySelectorAll('dd')].map((d) => [d.dataset.stat, d.textContent])),
}));
"""


class Playground:
    """The page as a person uses it: by its labels, keys and buttons."""

    def __init__(self, driver, url: str):
        self.driver = driver
        driver.get(f"{url}/")

    def find(self, selector: str):
        return self.driver.find_element("css selector", selector)

    def status(self) -> str:
        return self.find("#server-status").text

    def use_key(self, key: str) -> None:
        wait_for(self.driver, lambda d: self.find("#key-row").is_displayed(), "the page never asked for a key")
        field = self.find("#api-key")
        field.clear()
        field.send_keys(key, "\n")  # Enter uses it

    def models(self) -> list[str]:
        wait_for(self.driver, lambda d: self.find("#model-list input"), f"no models listed; status: {self.status()}")
        return [box.get_attribute("value") for box in self.driver.find_elements("css selector", "#model-list input")]

    def tick(self, *models: str) -> None:
        for box in self.driver.find_elements("css selector", "#model-list input"):
            if box.is_selected() != (box.get_attribute("value") in models):
                box.send_keys(" ")  # the keyboard, as a person without a mouse would

    def fill(self, prompt: str, chat: bool = False, max_tokens: int = MAX_TOKENS) -> None:
        self.find(f"input[name=mode][value={'chat' if chat else 'completion'}]").click()
        self.find("#prompt").clear()
        self.find("#prompt").send_keys(prompt)
        self.find("#max-tokens").clear()
        self.find("#max-tokens").send_keys(str(max_tokens))
        assert self.find("#temperature").get_attribute("value") == "0"  # greedy by default

    def columns(self) -> dict[str, dict]:
        return {c["model"]: c for c in self.driver.execute_script(COLUMNS_JS)}

    def wait_columns(self, states: tuple[str, ...], message: str) -> dict[str, dict]:
        def reached(_):
            columns = self.columns()
            return columns if columns and all(c["state"] in states for c in columns.values()) else None

        return wait_for(self.driver, reached, f"{message}; columns: {self.columns()}")


def greedy(bundle, prefix: str | None, chat: bool = False) -> tuple[str, list[int]]:
    """What `prefixdeploy run [--chat] --max-new-tokens 24 BUNDLE PROMPT` answers (temperature 0): text, token ids."""
    config = RunConfig(
        bundle,
        PROMPT,
        prefix=prefix,
        no_prefix=prefix is None,
        chat=chat,
        generation=GenerationConfig(max_new_tokens=MAX_TOKENS, temperature=0.0),
    )
    out = run_prompt(config)
    return out.text, out.token_ids


def load_runtime_prefix(server, served_bundle, runtime_dir, name: str) -> None:
    shutil.copy(served_bundle / "prefixes" / "summ.safetensors", runtime_dir / f"{name}.safetensors")
    with server.http() as http:
        assert http.post("/v1/prefixes", json={"name": name, "file": f"{name}.safetensors"}).status_code == 200


def test_three_columns_stream_the_greedy_answers_of_run(server, served_bundle, runtime_dir):
    load_runtime_prefix(server, served_bundle, runtime_dir, "late")
    with server.http() as http:
        base = next(m["id"] for m in http.get("/v1/models").json()["data"] if m["parent"] is None)
    with headless_chromium() as driver:
        page = Playground(driver, server.url)
        page.use_key("wrong-key")
        wait_for(driver, lambda d: "incorrect API key" in page.status(), f"no 401 shown: {page.status()}")
        page.use_key(KEY)
        assert page.models() == [base, "late", "qa", "summ"]  # the base, then every prefix, runtime ones too
        page.tick(base, "summ", "qa")
        page.fill(PROMPT)
        page.find("#prompt").send_keys(keys().CONTROL, keys().ENTER)  # Ctrl+Enter runs
        columns = page.wait_columns(("done",), "the three columns did not finish")
        assert list(columns) == [base, "qa", "summ"]
        for model, column in columns.items():
            text, tokens = greedy(served_bundle, None if model == base else model)
            assert column["text"] == text, model
            stats = column["stats"]
            assert stats["tokens"] == str(len(tokens)), model
            assert stats["finish"] == ("length" if len(tokens) == MAX_TOKENS else "stop"), model
            assert stats["ttft"].endswith(" ms") and float(stats["rate"]) > 0, stats
        assert "3 done" in page.find("#run-status").text and page.find("#run").is_enabled()


def test_an_unloaded_prefix_is_a_404_in_its_column_beside_a_chat_answer(server, served_bundle, runtime_dir):
    load_runtime_prefix(server, served_bundle, runtime_dir, "gone")
    with headless_chromium() as driver:
        page = Playground(driver, server.url)
        page.use_key(KEY)
        assert "gone" in page.models()
        with server.http() as http:  # unloaded after the page listed it
            assert http.delete("/v1/prefixes/gone").status_code == 200
        page.tick("gone", "summ")
        page.fill(PROMPT, chat=True)
        page.find("#run").click()
        columns = page.wait_columns(FINISHED, "the columns did not finish")
        assert columns["gone"]["state"] == "error"
        assert "HTTP 404" in columns["gone"]["error"] and "'gone' does not exist" in columns["gone"]["error"]
        assert columns["summ"]["state"] == "done"
        assert columns["summ"]["text"] == greedy(served_bundle, "summ", chat=True)[0]


class BusyLoad:
    """Long requests on the base model from a background thread, so that the page's requests wait in the engine's
    queue (--max-num-seqs 1); cancelled on exit. Bounded: `count` requests, each at most 60 s."""

    def __init__(self, url: str, model: str, count: int = 30):
        self.url, self.model, self.count = url, model, count
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.task: asyncio.Future | None = None

    async def _one(self, http: httpx.AsyncClient) -> None:
        body = {"model": self.model, "prompt": PROMPT, "max_tokens": 100, "temperature": 0, "ignore_eos": True}
        try:
            await http.post("/v1/completions", json=body, timeout=60)
        except httpx.HTTPError:
            pass  # the server was killed on purpose

    async def _all(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as http:
            await asyncio.gather(*(self._one(http) for _ in range(self.count)))

    def __enter__(self):
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self._started(), self.loop).result(30)
        return self

    async def _started(self) -> asyncio.Future:
        return asyncio.ensure_future(self._all())

    async def _cancelled(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._cancelled(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def test_stop_frees_the_rows_and_a_dropped_server_shows_in_every_column(served_bundle):
    with running_server(served_bundle, "--max-num-seqs", "1", key=None) as server, headless_chromium() as driver:
        page = Playground(driver, server.url)
        base = page.models()[0]
        assert not page.find("#key-row").is_displayed()  # no key needed, none asked for
        page.tick("summ", "qa")
        page.fill(PROMPT, max_tokens=100)
        waiting = lambda: server.metric("prefixdeploy_requests_waiting")  # noqa: E731
        with BusyLoad(server.url, base):
            wait_for(driver, lambda d: waiting() >= 5, "the busy load never queued")
            page.find("#run").click()
            page.wait_columns(("waiting",), "the page's requests were not queued")  # in the engine's queue now
            page.find("#stop").click()
            columns = page.wait_columns(("stopped",), "stop did not stop every column")
            assert all(c["stats"]["finish"] == "stopped by you" for c in columns.values())
            assert page.find("#run").is_enabled() and not page.find("#stop").is_enabled()
        idle = lambda d: server.metric("prefixdeploy_requests_running") + waiting() == 0  # noqa: E731
        wait_for(driver, idle, "the server kept rows running after stop")
        for model in ("summ", "qa"):  # the page's requests ended as aborts on the server, none ran to its end
            assert server.metric("prefixdeploy_request_success_total", model=model, finish_reason="abort") == 1

        with BusyLoad(server.url, base):
            wait_for(driver, lambda d: waiting() >= 5, "the busy load never queued")
            page.find("#run").click()
            page.wait_columns(("waiting",), "the page's requests were not queued")
            server.proc.kill()
            columns = page.wait_columns(("error",), "a dropped connection did not show")
        assert all("connection dropped" in c["error"] for c in columns.values()), columns
        assert page.find("#run").is_enabled()  # the page never hangs


def test_the_page_ships_with_a_strict_policy_and_no_ui_turns_it_off(served_bundle):
    with app_in_process(served_bundle) as call:
        page = call("GET", "/")
        assert page.status_code == 200 and "prefixdeploy playground" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert call("GET", "/playground/playground.js").headers["content-type"].startswith("text/javascript")
        missing = call("GET", "/playground/secret.txt")
        assert missing.status_code == 404 and "playground.css, playground.js" in missing.json()["error"]["message"]
    with app_in_process(served_bundle, ui=False) as call:
        assert call("GET", "/").status_code == 404
        assert call("GET", "/playground/playground.js").status_code == 404
