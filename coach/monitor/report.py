"""The per-session report: one HTML page with plots that prints well, plus PDF and PNG export.

The page is ``static/report.html`` with the session's data embedded as JSON; ``charts.js`` and
``report.js`` draw the plots as SVG in the browser. Served by the monitor it links its scripts (the
Content Security Policy allows only our own files); for export the same page is made self-contained
(scripts and styles inlined) in a private temporary folder and printed by headless Chromium
(``--print-to-pdf`` or ``--screenshot``), which is Debian's ``chromium`` package.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

from coach.errors import ConfigError

STATIC_DIR: Final = Path(__file__).parent / "static"
CHROMIUM_CANDIDATES: Final = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",  # needed as root; the page is our own self-contained file
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def _json_for_script(data: Any) -> str:
    """JSON that is safe inside a <script> element (no closing tag, no HTML comment openers)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_report(data: dict[str, Any], *, inline: bool = False) -> str:
    """The report page for ``data`` (session detail plus patient header)."""
    page = (STATIC_DIR / "report.html").read_text(encoding="utf-8")
    title = f"Session report · {data.get('display_name', '')} · {data.get('session_id', '')}"
    page = page.replace("{{title}}", html.escape(title))
    page = page.replace("{{data}}", _json_for_script(data))
    if inline:
        css = (STATIC_DIR / "app.css").read_text(encoding="utf-8")
        page = page.replace('<link rel="stylesheet" href="/static/app.css">', f"<style>{css}</style>")
        for name in ("charts.js", "report.js"):
            js = (STATIC_DIR / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
            page = page.replace(f'<script src="/static/{name}"></script>', f"<script>{js}</script>")
    return page


def find_chromium() -> str | None:
    explicit = os.environ.get("COACH_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


async def export_report(data: dict[str, Any], fmt: str, timeout_s: float = 60.0) -> bytes:
    """The report as PDF or PNG bytes, printed by headless Chromium."""
    if fmt not in ("pdf", "png"):
        raise ConfigError(f"report format {fmt!r}: pdf or png")
    chromium = find_chromium()
    if chromium is None:
        raise ConfigError(
            "PDF/PNG export needs Chromium (Debian: apt-get install chromium); "
            "the report page's Print button works without it"
        )
    with tempfile.TemporaryDirectory(prefix="coach-report-") as tmp:
        folder = Path(tmp)
        page = folder / "report.html"  # the folder is 0700; the files 0600 (health data)
        fd = os.open(page, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.write(fd, render_report(data, inline=True).encode("utf-8"))
        os.close(fd)
        out = folder / f"report.{fmt}"
        args = [
            chromium,
            *CHROMIUM_ARGS,
            f"--user-data-dir={folder / 'profile'}",
            "--virtual-time-budget=5000",
        ]
        if fmt == "pdf":
            args += ["--no-pdf-header-footer", f"--print-to-pdf={out}"]
        else:
            args += ["--window-size=1100,1500", f"--screenshot={out}"]
        args.append(page.as_uri())
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ConfigError(f"chromium did not finish the report within {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not out.exists():
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise ConfigError(
                f"chromium could not render the report (exit {proc.returncode}): {' | '.join(tail)}"
            )
        out.chmod(0o600)
        return out.read_bytes()
