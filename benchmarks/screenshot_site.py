"""Screenshot every page of the built site in headless Chromium, offline, to look at it as a reader does.

    jupyter-book build .                                   # the site, into _build/html
    python benchmarks/screenshot_site.py                   # PNGs into _build/screenshots
    python benchmarks/screenshot_site.py --site DIR --out DIR --width 1280 --tile 1600

Chromium comes from Debian's packages (``apt-get install chromium``). Each page is loaded from ``file://`` with
the network switched off (``--host-resolver-rules`` maps every host to nothing), so a page that needs a CDN
(e.g. for its maths) shows it. One PNG per page (``<page>.png``, trimmed of the blank space below the page,
at most ``--height`` pixels tall) plus ``<page>-NN.png`` tiles of ``--tile`` pixels, small enough to read in an
image viewer. Also reports, per page, whether MathJax typeset its maths (``mjx-container`` elements in the DOM
after the scripts ran) and how wide the widest element is compared with the window.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def chromium() -> str | None:
    """Path of the Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(binary: str, args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
           "--no-first-run", f"--user-data-dir={profile}", *_OFFLINE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def shoot(binary: str, page: Path, png: Path, width: int, height: int, wait_ms: int, profile: Path) -> None:
    """Full-window screenshot of ``page`` (``width`` x ``height``) after ``wait_ms`` of virtual time."""
    _run(binary, [f"--window-size={width},{height}", f"--virtual-time-budget={wait_ms}",
                  f"--screenshot={png}", page.as_uri()], profile, timeout=180)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {page}")


def typeset_math(binary: str, page: Path, wait_ms: int, profile: Path) -> tuple[int, int]:
    """(number of TeX sources on the page, number of typeset MathJax containers after the scripts ran)."""
    dom = _run(binary, [f"--virtual-time-budget={wait_ms}", "--dump-dom", page.as_uri()], profile, timeout=180).stdout
    html = page.read_text(encoding="utf-8", errors="replace")
    sources = len(re.findall(r'class="math[ "]', html))
    return sources, dom.count("<mjx-container")


def trim_and_tile(png: Path, tile: int, blank: int = 800) -> list[Path]:
    """Cut the blank space below the content, then write ``tile``-pixel-tall pieces next to ``png``."""
    import numpy as np
    from PIL import Image

    image = Image.open(png).convert("RGB")
    pixels = np.asarray(image)
    # The page ends where the first long run of identical rows starts (the theme pins its footer to the bottom
    # of the window and draws the sidebar's border all the way down, so "blank" rows are not uniform).
    same = np.concatenate([[False], (pixels[1:] == pixels[:-1]).all(axis=(1, 2))])
    run = 0
    for row, repeated in enumerate(same):
        run = run + 1 if repeated else 0
        if run >= blank:
            image = image.crop((0, 0, image.width, row - run + 40))
            break
    image.save(png)
    tiles = []
    for i, top in enumerate(range(0, image.height, tile)):
        piece = png.with_name(f"{png.stem}-{i:02d}.png")
        image.crop((0, top, image.width, min(image.height, top + tile))).save(piece)
        tiles.append(piece)
    return tiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "screenshots")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=14000, help="window height: pages taller than this are cut")
    parser.add_argument("--tile", type=int, default=1600)
    parser.add_argument("--wait-ms", type=int, default=5000, help="virtual time for scripts (MathJax) to run")
    parser.add_argument("--pages", nargs="*", default=None, help="only these pages (paths under --site)")
    args = parser.parse_args(argv)
    args.site = args.site.resolve()

    binary = chromium()
    if binary is None:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    if not (args.site / "index.html").exists():
        print(f"no built site at {args.site}: run `jupyter-book build .` first", file=sys.stderr)
        return 2
    pages = ([args.site / p for p in args.pages] if args.pages else
             sorted(p for p in args.site.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts))
    args.out.mkdir(parents=True, exist_ok=True)
    problems = 0
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for page in pages:
            name = str(page.relative_to(args.site).with_suffix("")).replace("/", "__")
            png = args.out / f"{name}.png"
            for old in args.out.glob(f"{name}*.png"):
                old.unlink()
            shoot(binary, page, png, args.width, args.height, args.wait_ms, Path(profile))
            tiles = trim_and_tile(png, args.tile)
            sources, typeset = typeset_math(binary, page, args.wait_ms, Path(profile))
            math_ok = sources == 0 or typeset > 0
            problems += not math_ok
            print(f"{page.relative_to(args.site)}: {len(tiles)} tile(s); maths: {sources} source(s), "
                  f"{typeset} typeset{'' if math_ok else '  <-- NOT RENDERED'}")
    print(f"screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
