"""The per-session report: one HTML page with plots that prints well, plus PDF and PNG export.

The page is ``static/report.html`` with the session's data embedded as JSON; ``charts.js`` and
``report.js`` draw the plots as SVG in the browser. Served by the monitor it links its scripts (the
Content Security Policy allows only our own files); for export the same page is made self-contained
(scripts and styles inlined) in a private temporary folder and printed by headless Chromium
(``--print-to-pdf`` or ``--screenshot``), which is Debian's ``chromium`` package.

The report is shown in the clinic's language and locale (texts, dates, numbers, A4 or US Letter):
:mod:`report_view`; its texts: :mod:`report_text`. Every printed page carries the patient id and the
session date (CSS page margin boxes). The PNG shows the whole page without its buttons: a first
Chromium run measures the page's height, the second takes the screenshot at that height.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

from coach.commands import DEFAULT_SETTINGS
from coach.errors import ConfigError
from coach.monitor.report_text import REPORT_TEXT, report_texts
from coach.monitor.report_view import ReportLocale, report_locale, report_view

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


#: The coach's own defaults (coach.commands.DEFAULT_SETTINGS) for targets never sent, by report key.
DEFAULT_TARGETS: Final = {
    "target_duration_s": DEFAULT_SETTINGS["target_duration_s"],
    "min_spm": DEFAULT_SETTINGS["cadence_min_spm"],
    "max_spm": DEFAULT_SETTINGS["cadence_max_spm"],
    **{k: DEFAULT_SETTINGS[k] for k in ("elevation_margin_m", "wrist_flexion_deg", "wrist_deviation_deg")},
}
#: Body defaults of docs/design.md §5 (elbow supported at heart level, forearm 0.26 m), for margin <-> angle.
FOREARM_LENGTH_M: Final = 0.26
ELBOW_TO_HEART_M: Final = 0.0


def elevation_deg_for_margin(margin_m: float) -> float:
    """The forearm elevation at which the wrist is ``margin_m`` above the heart (default body)."""
    ratio = max(-1.0, min(1.0, (margin_m - ELBOW_TO_HEART_M) / FOREARM_LENGTH_M))
    return math.degrees(math.asin(ratio))


def margin_for_elevation_deg(elevation_deg: float) -> float:
    return ELBOW_TO_HEART_M + FOREARM_LENGTH_M * math.sin(math.radians(elevation_deg))


def targets_in_force(targets: dict[str, Any] | None) -> dict[str, Any]:
    """The targets a coach works to: the last sent document's values, else the coach's defaults;
    the elevation margin also as the forearm angle the charts show."""
    doc = (targets or {}).get("doc") or {}
    th = doc.get("thresholds") or {}
    cad = doc.get("cadence_spm") or {}
    sent = {
        "target_duration_s": doc.get("target_duration_s"),
        "min_spm": cad.get("min_spm"),
        "max_spm": cad.get("max_spm"),
        **{k: th.get(k) for k in ("elevation_margin_m", "wrist_flexion_deg", "wrist_deviation_deg")},
    }
    out: dict[str, Any] = {k: (v if sent.get(k) is None else sent[k]) for k, v in DEFAULT_TARGETS.items()}
    out["elevation_deg"] = round(elevation_deg_for_margin(float(out["elevation_margin_m"])), 1)
    out["defaults"] = sorted(k for k in DEFAULT_TARGETS if sent.get(k) is None)
    return out


def render_report(
    data: dict[str, Any], *, inline: bool = False, export: bool = False, locale: ReportLocale | None = None
) -> str:
    """The report page for ``data`` (session detail plus patient header), in ``locale`` (default:
    English, the paper of ``data["paper"]`` or the environment's locale)."""
    loc = locale or report_locale(paper=data.get("paper"))
    tr = loc.texts()
    page = (STATIC_DIR / "report.html").read_text(encoding="utf-8")
    title = tr(
        REPORT_TEXT["document_title"], patient=data.get("patient_id", ""), session=data.get("session_id", "")
    )
    page = page.replace("{{title}}", html.escape(title)).replace("{{lang}}", html.escape(loc.tag))
    in_force = targets_in_force(data.get("targets"))
    targets_sent = len(in_force["defaults"]) < len(DEFAULT_TARGETS)
    data = {
        **data,
        "text": report_texts(tr),
        "paper": loc.paper,
        "in_force": in_force,
        "view": report_view(data, in_force, loc, targets_sent=targets_sent),
    }
    page = page.replace("{{data}}", _json_for_script(data))
    if export:
        page = page.replace("<body>", '<body class="export">', 1)
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


async def export_report(
    data: dict[str, Any], fmt: str, timeout_s: float = 60.0, *, locale: ReportLocale | None = None
) -> bytes:
    """The report as PDF or PNG bytes, printed by headless Chromium (``locale``: as :func:`render_report`)."""
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
        with os.fdopen(fd, "wb") as f:
            f.write(render_report(data, inline=True, export=True, locale=locale).encode("utf-8"))
        out = folder / f"report.{fmt}"
        base = [
            chromium,
            *CHROMIUM_ARGS,
            f"--user-data-dir={folder / 'profile'}",
            "--virtual-time-budget=5000",
        ]
        if fmt == "pdf":
            await _chromium(
                [*base, "--no-pdf-header-footer", f"--print-to-pdf={out}", page.as_uri()], timeout_s
            )
        else:
            dom = await _chromium(
                [*base, f"--window-size={PNG_WIDTH_PX},1000", "--dump-dom", page.as_uri()], timeout_s
            )
            match = re.search(rb'data-height="(\d+)"', dom)
            height = min(20000, int(match.group(1)) + 2) if match else 2400
            await _chromium(
                [*base, f"--window-size={PNG_WIDTH_PX},{height}", f"--screenshot={out}", page.as_uri()],
                timeout_s,
            )
        if not out.exists():
            raise ConfigError("chromium did not write the report")
        out.chmod(0o600)
        return out.read_bytes()


PNG_WIDTH_PX: Final = 1000


async def _chromium(args: list[str], timeout_s: float) -> bytes:
    """Run headless Chromium; its stdout (``--dump-dom``) on success, a ConfigError otherwise."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ConfigError(f"chromium did not finish the report within {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise ConfigError(
            f"chromium could not render the report (exit {proc.returncode}): {' | '.join(tail)}"
        )
    return stdout
