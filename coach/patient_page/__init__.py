"""The patient's session page: a web page the coach serves during a session, for a tablet, phone or
laptop browser (see docs/patient-page.md).

:class:`PatientPage` puts it together for one session: a :class:`~coach.patient_page.state.PageView`
(a session view), the page's inputs (:class:`~coach.patient_page.inputs.PageInputs`: answers, pain and
swelling, stop and pause) and the web server with its pairing. A session runner adds the view to the
session's views, asks through :meth:`PatientPage.answers` and :meth:`PatientPage.self_report`, and
hands the session's controls to :meth:`PatientPage.bind`.
"""

from __future__ import annotations

import io
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.i18n import N_, Texts
from coach.patient_page.inputs import (
    AnswerSourceLike,
    PageInputs,
    Q,
    SelfReportLike,
    SessionControls,
    SharedAnswers,
    SharedSelfReport,
)
from coach.patient_page.pairing import Pairing, ensure_certificate, lan_addresses
from coach.patient_page.server import PageServer
from coach.patient_page.state import PageView

DEFAULT_PORT = 8760
CONSOLE_LOCAL = N_("Session page: {url}")
CONSOLE_NETWORK = N_("Session page for a tablet or phone on this network: {url}")
CONSOLE_CODE = N_("Pairing code: {code} (type it on the tablet, or scan the QR code below)")
CONSOLE_NEW_CODE = N_("Too many wrong pairing codes: the new code is {code}")
CONSOLE_CERT = N_(
    "The tablet's browser warns once that the page's certificate is not trusted: the coach made it "
    "itself. Check the address, then choose to continue."
)


@dataclass
class PageOptions:
    """Where and how the page is served (``[page]`` in the session config, ``--page-*`` options)."""

    enabled: bool = True
    #: Serve it to the home network (a tablet): HTTPS and a pairing code; else this computer only.
    network: bool = False
    #: Address to listen on (default 127.0.0.1; 0.0.0.0 on the home network).
    host: str | None = None
    #: Port (0: any free one). When it is taken, any free one is used instead.
    port: int = DEFAULT_PORT
    #: Where the page's TLS certificate and key are kept (0600).
    tls_dir: Path | None = None
    #: How long the page waits for a screening answer or a score before taking none.
    answer_wait_s: float = 600.0


class PatientPage:
    """The session page for one session (see the module docstring)."""

    def __init__(
        self,
        tr: Texts,
        options: PageOptions,
        *,
        helper: bool = False,
        body: Mapping[str, float] | None = None,
        cadence_spm: tuple[float, float] | None = None,
        elevation_margin_m: float | None = None,
        history: Sequence[Mapping[str, Any]] = (),
        question_count: int = 6,
        reveal_s: float = 0.8,
        console: Any = None,
    ) -> None:
        self.tr = tr
        self.options = options
        self.console = console
        self.view = PageView(
            tr,
            helper=helper,
            body=body,
            cadence_spm=cadence_spm,
            history=history,
            question_count=question_count,
            **({} if elevation_margin_m is None else {"elevation_margin_m": elevation_margin_m}),
        )
        self.inputs = PageInputs(self.view, reveal_s=reveal_s, answer_wait_s=options.answer_wait_s)
        self.pairing = Pairing(digits=6 if options.network else None, on_new_code=self._new_code)
        self.server = PageServer(self.view, self.inputs, self.pairing, tr, secure=options.network)
        self.url: str | None = None
        self.pair_url: str | None = None

    def _say(self, line: str) -> None:
        if self.console is not None:
            self.console.write(line + "\n")
            self.console.flush()

    def _new_code(self, code: str) -> None:
        self._say(self.tr(CONSOLE_NEW_CODE, code=code))

    async def start(self) -> str:
        """Start serving; returns the address to open (local mode: with the pairing key in it)."""
        opts = self.options
        host = opts.host or ("0.0.0.0" if opts.network else "127.0.0.1")
        context: ssl.SSLContext | None = None
        names = [n for n in lan_addresses() if opts.network]
        if opts.network:
            from coach.paths import data_dir

            tls_dir = opts.tls_dir or data_dir() / "page-tls"
            cert, key = ensure_certificate(
                tls_dir, [*names, *([host] if host not in ("0.0.0.0", "::") else [])]
            )
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        try:
            port = await self.server.start(host, opts.port, context)
        except OSError:
            port = await self.server.start(host, 0, context)  # the usual port is taken: any free one
        if opts.network:
            shown = names[0] if names and host in ("0.0.0.0", "::") else host
            self.url = f"https://{shown}:{port}/"
            self.pair_url = f"https://{shown}:{port}/pair?code={self.pairing.code}"
        else:
            self.url = f"http://127.0.0.1:{port}/?key={self.pairing.code}" if host == "127.0.0.1" else (
                f"http://{host}:{port}/?key={self.pairing.code}"
            )  # fmt: skip
            self.pair_url = self.url
        return self.url

    def console_lines(self) -> list[str]:
        """What the coach prints about the page: its address and, on the network, the code and QR."""
        if self.url is None:
            return []
        if not self.options.network:
            return [self.tr(CONSOLE_LOCAL, url=self.url)]
        lines = [self.tr(CONSOLE_NETWORK, url=self.url), self.tr(CONSOLE_CODE, code=self.pairing.code)]
        lines.append(qr_text(self.pair_url or self.url))
        lines.append(self.tr(CONSOLE_CERT))
        return lines

    def answers(self, others: Sequence[AnswerSourceLike[Q]] = ()) -> SharedAnswers[Q]:
        return SharedAnswers(self.inputs, others)

    def self_report(self, others: Sequence[SelfReportLike] = ()) -> SharedSelfReport:
        return SharedSelfReport(self.inputs, others)

    def bind(self, controls: SessionControls) -> None:
        self.inputs.controls = controls

    def is_open(self) -> bool:
        return self.server.open_pages() > 0

    async def stop(self) -> None:
        await self.server.stop()


def qr_text(data: str) -> str:
    """``data`` as a QR code drawn with text blocks, for a terminal."""
    import segno

    buf = io.StringIO()
    segno.make(data, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue().rstrip("\n")


__all__ = ["PageOptions", "PageView", "PatientPage", "qr_text"]
