"""Screenshots of every workbench page at a phone's size (390×844) and a desktop's
(1280×900), into docs/screenshots/ — taken by Debian's headless Chromium through Playwright
(no browser download) from the test world (tests/web_world.py) on a real server.

    python tools/web_screenshots.py [--out docs/screenshots] [--only board]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from web_world import PASSWORD, build_world, serve  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SIZES = {"phone": (390, 844), "desktop": (1280, 900)}


def pages(world) -> list[tuple[str, str | None, str]]:
    """(name, who signs in (None: nobody), path)."""
    c = world.cases
    return [
        ("login", None, "/login"),
        ("my-work", "wannan.chief", "/my"),
        ("board-area", "wannan.chief", "/board"),
        ("board-street", "fenglin.head", "/board?unit=fenglin"),
        ("hands-must-answer", "police.liaison", "/hands"),
        ("hands-race", "wannan-r1.chief", "/hands"),
        ("case", "wannan.chief", f"/cases/{c['shed']}"),
        ("case-actions", "wannan.chief", f"/cases/{c['garbage']}"),
        ("new-case", "wannan-r1.chief", "/new/four_list"),
        ("reports", "wannan.chief", "/reports?period=2026Q3"),
        ("admin-notices", "ops.admin", "/admin/notices"),
        ("admin-workflows", "ops.admin", "/admin/workflows"),
        ("admin-people", "ops.admin", "/admin/people"),
        ("admin-tokens", "ops.admin", "/admin/tokens"),
    ]


def sign_in(page, base: str, who: str) -> None:
    page.goto(base + "/login")
    page.fill("#person", who)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/my")


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--only", default=None)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="gf-shots-"))
    world = build_world(f"sqlite:///{folder / 'w.db'}", folder / "files")
    # a dead notice for the admin page (a webhook that answered 400)
    engine = world.engine
    server = serve(world)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for size, (w, h) in SIZES.items():
                sessions: dict[str | None, object] = {}
                for name, who, path in pages(world):
                    if args.only and args.only not in name:
                        continue
                    ctx = sessions.get(who)
                    if ctx is None:
                        ctx = browser.new_context(
                            viewport={"width": w, "height": h},
                            device_scale_factor=1,
                            locale="zh-CN",
                        )
                        if who:
                            sign_in(ctx.new_page(), server.url, who)
                        sessions[who] = ctx
                    page = ctx.new_page()
                    page.goto(server.url + path)
                    page.wait_for_load_state("networkidle")
                    target = out / f"{name}-{size}.png"
                    page.screenshot(path=str(target), full_page=True)
                    page.close()
                    print(target)
                for ctx in sessions.values():
                    ctx.close()
            browser.close()
    finally:
        server.stop()
        engine.close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
