"""Screenshots of the explorer on the bundled run for the README and docs/: the first view at 1440×900, the
hidden-capability phase, presentation mode at 1280×720 and 1920×1080, and a phone (390×844); then the bundled
three-concept run in Explore and the Sweep tab's underspecification view of the bundled f sweep.

    .venv/bin/python scripts/screenshots.py          # writes docs/screenshot*.png (needs /usr/bin/chromium)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOTS = [  # (file, width, height, query, keys pressed, full page)
    ("screenshot.png", 1440, 900, "", "", False),
    ("screenshot-hidden-capability.png", 1440, 900, "?phase=hidden", "", True),
    ("screenshot-present-1280x720.png", 1280, 720, "?present=1&phase=hidden", "", False),
    ("screenshot-present-1920x1080.png", 1920, 1080, "?present=1&phase=hidden", "", False),
    ("screenshot-phone.png", 390, 844, "?phase=hidden", "", False),
]


def main() -> None:
    import socket

    from playwright.sync_api import sync_playwright

    from concept_explorer.ui import serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo, url = serve([], port=port, block=False, quiet=True, checkpoints=ROOT / "checkpoints",
                      runs=ROOT / "runs-none")
    out = ROOT / "docs"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for name, width, height, query, keys, full in SHOTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url + query)
            page.wait_for_function("() => window.ceStepper?.images && window.ceStepper.live", timeout=120_000)
            page.wait_for_timeout(1500)  # the live grid's image decodes, plotly settles
            for key in keys:
                page.keyboard.press(key)
            page.screenshot(path=str(out / name), full_page=full)
            print(f"wrote {out / name}")
            page.close()
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url + "?run=three-concepts&step=30000")
        page.wait_for_function("() => window.ceStepper?.images && window.ceStepper.live", timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "screenshot-three-concepts.png"), full_page=True)
        print(f"wrote {out / 'screenshot-three-concepts.png'}")
        page.click("#tab-sweep-button")
        page.click("#sweep-select input")
        page.locator("#sweep-select li", has_text="sweep-mask").first.click()
        page.wait_for_selector("#mask-view #mask-across .js-plotly-plot", timeout=60_000)
        page.locator("#mask-fraction label", has_text="0.5").first.click()
        page.wait_for_timeout(2500)
        page.locator("#mask-view").screenshot(path=str(out / "screenshot-underspecification.png"))
        print(f"wrote {out / 'screenshot-underspecification.png'}")
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
