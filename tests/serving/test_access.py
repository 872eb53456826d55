"""Who may do what (issue 20, items 3 and 5): several inference keys and a separate admin key (prefix load/unload,
/metrics), from files, the environment and flags; keys stripped of surrounding whitespace; a cap on runtime prefixes
(count and bytes); an unloaded prefix's metric series gone; /metrics rendered off the event loop and, under
--lookup-history, never showing inference clients the prompt-lookup counters (nor the prompt cache's)."""

from __future__ import annotations

import threading

import httpx
import pytest
from server_process import app_in_process, running_server

from prefixdeploy.runtime.prefix import load_prefix, save_prefix

ADMIN = "admin-key-7"
INFERENCE = ("first-key", "second-key")
COMPLETION = {"model": "summ", "prompt": "hello", "max_tokens": 2}


def call(url: str, key: str | None, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def keyed_server(served_bundle, runtime_dir, tmp_path_factory):
    """Inference keys from a file (with a comment, blank lines and whitespace), the admin key from the environment."""
    key_file = tmp_path_factory.mktemp("keys") / "api-keys.txt"
    key_file.write_text(f"# inference keys\n{INFERENCE[0]}\n\n   {INFERENCE[1]}  \r\n")
    summ = load_prefix(served_bundle / "prefixes" / "summ.safetensors")
    for name in ("cap-a", "cap-b", "cap-c"):
        save_prefix(summ.renamed(name), runtime_dir / f"{name}.safetensors")
    args = ("--api-key-file", str(key_file), "--allow-runtime-prefixes", str(runtime_dir))
    args += ("--max-runtime-prefixes", "2")
    with running_server(served_bundle, *args, key=None, env={"PREFIXDEPLOY_ADMIN_KEY": f" {ADMIN}\n"}) as server:
        yield server


def test_inference_keys_and_the_admin_key_each_open_their_routes(keyed_server):
    url = keyed_server.url
    for key in (*INFERENCE, ADMIN):
        assert call(url, key, "POST", "/v1/completions", json=COMPLETION).status_code == 200, key
    assert call(url, None, "POST", "/v1/completions", json=COMPLETION).status_code == 401
    assert call(url, "nope", "POST", "/v1/completions", json=COMPLETION).status_code == 401
    for method, path, body in (
        ("GET", "/metrics", None),
        ("POST", "/v1/prefixes", {"name": "by-client", "file": "cap-a.safetensors"}),
        ("DELETE", "/v1/prefixes/summ", None),
    ):
        refused = call(url, INFERENCE[0], method, path, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "admin_key_required"
        assert call(url, None, method, path, json=body).status_code == 401
    assert call(url, ADMIN, "GET", "/metrics").status_code == 200


def test_runtime_prefixes_are_capped_and_unloading_drops_their_series(keyed_server):
    url = keyed_server.url
    for name in ("cap-a", "cap-b"):
        loaded = call(url, ADMIN, "POST", "/v1/prefixes", json={"name": name, "file": f"{name}.safetensors"})
        assert loaded.status_code == 200, loaded.text
    third = call(url, ADMIN, "POST", "/v1/prefixes", json={"name": "cap-c", "file": "cap-c.safetensors"})
    assert third.status_code == 409 and third.json()["error"]["code"] == "runtime_prefix_limit"
    assert "2 runtime prefixes" in third.json()["error"]["message"]
    assert call(url, INFERENCE[0], "POST", "/v1/completions", json=COMPLETION | {"model": "cap-a"}).is_success
    assert 'model="cap-a"' in call(url, ADMIN, "GET", "/metrics").text
    assert call(url, ADMIN, "DELETE", "/v1/prefixes/cap-a").status_code == 200
    assert 'model="cap-a"' not in call(url, ADMIN, "GET", "/metrics").text
    again = call(url, ADMIN, "POST", "/v1/prefixes", json={"name": "cap-c", "file": "cap-c.safetensors"})
    assert again.status_code == 200, again.text


def test_runtime_prefix_bytes_are_capped(served_bundle, runtime_dir):
    summ = load_prefix(served_bundle / "prefixes" / "summ.safetensors")
    save_prefix(summ.renamed("bytes-a"), runtime_dir / "bytes-a.safetensors")
    limit = str(summ.nbytes * 3 // 2)  # room for one
    with running_server(
        served_bundle, "--allow-runtime-prefixes", str(runtime_dir), "--max-runtime-prefix-bytes", limit
    ) as server:
        with server.http() as http:
            assert http.post("/v1/prefixes", json={"name": "one", "file": "bytes-a.safetensors"}).status_code == 200
            second = http.post("/v1/prefixes", json={"name": "two", "file": "bytes-a.safetensors"})
    assert second.status_code == 409 and second.json()["error"]["code"] == "runtime_prefix_limit"
    assert f"{limit} bytes" in second.json()["error"]["message"]


def test_keys_with_surrounding_whitespace_match_stripped(served_bundle):
    from prefixdeploy.serving.http.config import ServeConfig

    env = {"PREFIXDEPLOY_API_KEY": "  spaced-key\n"}  # as a secret mounted from a file arrives
    with running_server(served_bundle, key=None, env=env) as server:
        assert call(server.url, "spaced-key", "POST", "/v1/completions", json=COMPLETION).status_code == 200
    config = ServeConfig(bundle=served_bundle, api_keys=(" flag-key ",), admin_keys=("\tadmin\n",))
    assert (config.access.inference, config.access.admin) == (("flag-key",), ("admin",))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--api-key", "two words"), "--api-key"),
        (("--admin-key", "\t"), "--admin-key"),
        (("--api-key-file", "/nonexistent/keys"), "--api-key-file"),
        (("--max-runtime-prefixes", "0"), "--max-runtime-prefixes"),
    ],
)
def test_bad_keys_and_limits_are_one_line_errors(served_bundle, args, needle):
    from click.testing import CliRunner
    from user_errors import assert_user_error

    from prefixdeploy.cli import main

    result = CliRunner().invoke(main, ["serve", str(served_bundle), *args])
    assert_user_error(result.exit_code, result.stderr, needle)


LOOKUP = ("--prompt-lookup", "4", "--lookup-history", "8")


def test_lookup_counters_are_hidden_from_inference_clients_under_lookup_history(served_bundle):
    with running_server(served_bundle, *LOOKUP) as server:  # one key for everything: it is a client's
        assert server.client().completions.create(model="summ", prompt="once upon", max_tokens=8, temperature=0)
        assert "lookup" not in server.metric_text()
    with running_server(served_bundle, *LOOKUP, "--admin-key", ADMIN) as server:
        assert server.client().completions.create(model="summ", prompt="once upon", max_tokens=8, temperature=0)
        assert call(server.url, server.key, "GET", "/metrics").status_code == 403
        assert "prefixdeploy_lookup_draft_tokens_total" in call(server.url, ADMIN, "GET", "/metrics").text


def test_the_prompt_cache_counter_shows_to_admins_only_and_counts_a_repeated_prompt(served_bundle):
    """The same prompt twice: the second is admitted from the first's row (the same answer); the counter says so, on
    a page only the admin key reads (a hit may be another client's prompt)."""
    request = {"model": "summ", "prompt": "once upon a time there was", "max_tokens": 4, "temperature": 0}
    with running_server(served_bundle) as server:  # one key for everything: it is a client's
        server.client().completions.create(**request)
        assert "prompt_cache" not in server.metric_text()
    with running_server(served_bundle, "--admin-key", ADMIN) as server:
        answers = [server.client().completions.create(**request).choices[0].text for _ in range(2)]
        page = call(server.url, ADMIN, "GET", "/metrics").text
    assert answers[0] == answers[1]
    total = "prefixdeploy_prompt_cache_hit_tokens_total "
    hits = [float(line[len(total) :]) for line in page.splitlines() if line.startswith(total)]
    assert hits and hits[0] > 0


def test_cached_tokens_are_reported_on_request_and_a_cache_salt_shares_them_only_with_its_holders(served_bundle):
    """--enable-prompt-tokens-details: usage.prompt_tokens_details.cached_tokens (OpenAI's field) counts the prompt
    tokens a request was spared, in bodies and in the streamed usage chunk. A cache_salt (vLLM's) shares a cached
    prompt only with requests of the same salt; without the flag, usage says nothing of the cache."""
    prompt = "once upon a time there was"
    request = {"model": "summ", "prompt": prompt, "max_tokens": 4, "temperature": 0}
    with running_server(served_bundle) as server:
        assert server.client().completions.create(**request).usage.prompt_tokens_details is None
    with running_server(served_bundle, "--enable-prompt-tokens-details") as server:
        client = server.client()

        def cached(salt=None, **more):
            extra = {"extra_body": {"cache_salt": salt}} if salt else {}
            return client.completions.create(**request, **extra, **more).usage

        first = cached()
        assert first.prompt_tokens_details.cached_tokens == 0
        assert cached().prompt_tokens_details.cached_tokens == first.prompt_tokens - 1  # all but the last token
        assert [cached("s1").prompt_tokens_details.cached_tokens for _ in range(2)] == [0, first.prompt_tokens - 1]
        assert cached("s2").prompt_tokens_details.cached_tokens == 0
        stream = client.completions.create(
            **request, stream=True, stream_options={"include_usage": True}, extra_body={"cache_salt": "s2"}
        )
        usage = [chunk.usage for chunk in stream if chunk.usage is not None]
        assert usage[-1].prompt_tokens_details.cached_tokens == first.prompt_tokens - 1


class ThreadProbe:
    """A Prometheus collector that records the thread that renders it."""

    def __init__(self):
        self.threads: list[threading.Thread] = []

    def collect(self):
        self.threads.append(threading.current_thread())
        return []


def test_metrics_render_off_the_event_loop(served_bundle):
    with app_in_process(served_bundle) as call_app:
        probe = ThreadProbe()
        call_app.state.metrics.registry.register(probe)  # which collects once, here, to learn its names
        probe.threads.clear()
        assert call_app("GET", "/metrics").status_code == 200
    assert probe.threads and threading.main_thread() not in probe.threads  # the loop runs on the main thread
