"""Screenshot of the playground page (docs/playground.png): serve BUNDLE, tick MODELS, run PROMPT greedily, save PNG.

    python tools/playground_screenshot.py BUNDLE "PROMPT" base,sentiment,extract docs/playground.png [--precision P]

`base` in MODELS stands for the base model's id. Uses the browser tests' harness (tests/serving/browser.py: Debian's
headless Chromium under Selenium) and server (tests/serving/server_process.py: `prefixdeploy serve` on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "serving")]

from browser import headless_chromium, wait_for  # noqa: E402
from server_process import running_server  # noqa: E402

WINDOW = (1280, 900)
MAX_TOKENS = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("prompt")
    parser.add_argument("models", help="comma-separated model ids; 'base' is the base model")
    parser.add_argument("out", type=Path)
    parser.add_argument("--precision", default=None)
    args = parser.parse_args()
    serve_args = ("--precision", args.precision) if args.precision else ()
    with running_server(args.bundle, *serve_args, key=None) as server, headless_chromium() as driver:
        driver.set_window_size(*WINDOW)
        driver.get(f"{server.url}/")
        boxes = wait_for(driver, lambda d: d.find_elements("css selector", "#model-list input"), "no models listed")
        base = boxes[0].get_attribute("value")
        wanted = {base if m == "base" else m for m in args.models.split(",")}
        for box in boxes:
            if box.is_selected() != (box.get_attribute("value") in wanted):
                box.click()
        driver.find_element("css selector", "#prompt").send_keys(args.prompt)
        max_tokens = driver.find_element("css selector", "#max-tokens")
        max_tokens.clear()
        max_tokens.send_keys(str(MAX_TOKENS))
        driver.find_element("css selector", "#run").click()
        wait_for(driver, lambda d: d.find_element("css selector", "#run").is_enabled(), "the run did not end", 300)
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        driver.save_screenshot(str(args.out))
    shrink(args.out)
    print(f"wrote {args.out}")


def shrink(png: Path) -> None:
    """A page of flat colours keeps its look in 64 of them, at under half the bytes."""
    from PIL import Image

    Image.open(png).convert("RGB").quantize(colors=64).save(png, optimize=True)


if __name__ == "__main__":
    main()
