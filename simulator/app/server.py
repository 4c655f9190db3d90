"""``vbcsim app``: the workbench served on this machine with the standard library's HTTP server.

One page (``/``) with the controls, its script and style (``/static/``), and a
small JSON API the script calls after every change:

- ``POST /api/live``: the terms' headline cards, mean differences to the base,
  the bridge and the numbers of the fan chart and exceedance curve (drawn by the
  page): the part that must follow a slider;
- ``POST /api/details``: every measure's difference to the base with bootstrap
  errors (as ``vbcsim compare``), slower, so it follows;
- ``POST /api/save``, ``POST /api/compare``: named variants, side by side;
- ``POST /api/export``: the terms as a contract file for ``vbcsim settle``.

Nothing is fetched from the internet; the server listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import html
import json
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..core.errors import ScenarioError
from . import views
from .controls import contract_controls
from .workbench import Workbench

STATIC = {"app.js": "text/javascript", "charts.js": "text/javascript", "app.css": "text/css"}
MAX_BODY_BYTES = 2_000_000


def static_text(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def page(bench: Workbench, start: str = "base") -> str:
    """The whole page, its controls set to the terms of the variant ``start``."""
    names = [*bench.run_variants, *bench.saved]
    options = "".join(f'<option{" selected" if n == start else ""}>{html.escape(n)}</option>' for n in names)
    segments = "".join(f"<option>{html.escape(s)}</option>" for s in bench.scenario.segments)
    fill = {"title": html.escape(bench.scenario.name), "run": html.escape(str(bench.run_dir)),
            "trials": f"{bench.trials:,}", "start_options": options, "segment_options": segments,
            "controls": contract_controls(bench.named(start), bench.context())}
    text = static_text("page.html")
    for key, value in fill.items():
        text = text.replace("{{" + key + "}}", value)
    return text


class Handler(BaseHTTPRequestHandler):
    """Routes of the page; ``server.bench`` is the :class:`Workbench`."""

    server: AppServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        url = urlparse(self.path)
        if url.path == "/":
            start = parse_qs(url.query).get("variant", ["base"])[0]
            try:
                self._send(page(self.server.bench, start), "text/html")
            except KeyError:
                self._send(f"no variant {html.escape(start)}", "text/plain", HTTPStatus.NOT_FOUND)
        elif url.path.startswith("/static/") and url.path[8:] in STATIC:
            self._send(static_text(url.path[8:]), STATIC[url.path[8:]])
        else:
            self._send("not found", "text/plain", HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        routes = {"/api/live": self._live, "/api/details": self._details, "/api/save": self._save,
                  "/api/compare": self._compare, "/api/export": self._export}
        route = routes.get(urlparse(self.path).path)
        if route is None:
            self._send("not found", "text/plain", HTTPStatus.NOT_FOUND)
            return
        length = int(self.headers.get("Content-Length", 0))
        if length > MAX_BODY_BYTES:
            self._send("request too large", "text/plain", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            route(body)
        except ScenarioError as err:
            self._json({"ok": False, "problems": views.problems(err.problems)})
        except (ValueError, KeyError) as err:
            self._json({"ok": False, "problems": views.problems([("", str(err).strip("'\""))])})

    # -- routes ----------------------------------------------------------------------------
    def _live(self, body: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        bench, horizon, segment = self.server.bench, _horizon(body), _segment(body, self.server.bench)
        settled = bench.settled(bench.contract(body["terms"]))
        self._json({"ok": True, "cards": views.cards(bench.cards(settled, horizon), horizon),
                    "diffs": views.mean_differences(bench.mean_differences(settled, horizon)),
                    "bridge": views.bridge(bench.bridge(settled, segment), segment),
                    "charts": {**bench.chart_data(settled, horizon, segment),
                               **views.chart_captions(segment, horizon, bench.trials)},
                    "seconds": time.perf_counter() - t0})

    def _details(self, body: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        bench, horizon, segment = self.server.bench, _horizon(body), _segment(body, self.server.bench)
        settled = bench.settled(bench.contract(body["terms"]))
        table = bench.differences(settled, horizon, segment)
        self._json({"ok": True, "differences": views.differences(table, segment),
                    "seconds": time.perf_counter() - t0})

    def _save(self, body: dict[str, Any]) -> None:
        bench = self.server.bench
        bench.save(str(body.get("name", "")).strip(), bench.contract(body["terms"]))
        self._json({"ok": True, "saved": list(bench.saved)})

    def _compare(self, body: dict[str, Any]) -> None:
        bench, horizon, segment = self.server.bench, _horizon(body), _segment(body, self.server.bench)
        if not bench.saved:
            raise ValueError("save at least one variant to compare")
        table, chart = bench.compare_saved(horizon, segment)
        self._json({"ok": True, "table": views.saved_comparison(table, segment, horizon), "chart": chart})

    def _export(self, body: dict[str, Any]) -> None:
        bench = self.server.bench
        text = bench.contract_file(bench.contract(body["terms"]), str(body.get("description", "")))
        self._json({"ok": True, "toml": text})

    # -- replies ---------------------------------------------------------------------------
    def _json(self, data: dict[str, Any]) -> None:
        self._send(json.dumps(data), "application/json")

    def _send(self, text: str, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page was closed or sent newer terms before this answer arrived


def _horizon(body: dict[str, Any]) -> str:
    horizon = str(body.get("horizon", "term"))
    if horizon not in {"term", "pv"}:
        raise ValueError(f"horizon: expected term or pv, got {horizon!r}")
    return horizon


def _segment(body: dict[str, Any], bench: Workbench) -> str:
    segment = str(body.get("segment", "total"))
    if segment != "total" and segment not in bench.scenario.segments:
        raise ValueError(f"segment: expected total or one of {list(bench.scenario.segments)}")
    return segment


class AppServer(ThreadingHTTPServer):
    """The HTTP server holding one :class:`Workbench`."""

    daemon_threads = True

    def __init__(self, bench: Workbench, host: str = "127.0.0.1", port: int = 8765, verbose: bool = False):
        super().__init__((host, port), Handler)
        self.bench = bench
        self.verbose = verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"
