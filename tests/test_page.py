"""The page of ``tailmerge serve`` in a real browser: Debian's Chromium, driven by Playwright (one browser for
the module, a fresh context per test). Set TAILMERGE_SCREENSHOT=PATH to keep the screenshot the first test
takes (docs/serve.png was made so)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import Serve, wait_for, writer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (.ci/run installs it)"),
    pytest.mark.timeout(90),
]

# every row added to the log, with when (ms): installed before the page's own script runs
SEEN = """
window.__seen = [];
new MutationObserver((records) => {
  const now = Date.now();
  for (const r of records) for (const n of r.addedNodes)
    if (n.classList && n.classList.contains("line")) window.__seen.push([now, n.querySelector(".text").textContent]);
}).observe(document, {childList: true, subtree: true});
window.__dialogs = 0;
window.alert = window.confirm = window.prompt = () => { window.__dialogs += 1; };
"""


# what the screenshot shows once the writers are done: three services, one of them in trouble
SCENE = [
    ("api.log", '10.0.4.17 - - [29/Nov/2026:09:14:01 +0000] "GET /v1/orders?page=2 HTTP/1.1" 200 5120'),
    ("worker.log", "2026-11-29 09:14:01,204 INFO  job 4411 (invoice-pdf) started on queue=default"),
    ("db.log", "2026-11-29 09:14:01.310 UTC [812] LOG:  checkpoint starting: time"),
    ("api.log", '10.0.4.22 - - [29/Nov/2026:09:14:01 +0000] "POST /v1/payments HTTP/1.1" 201 312'),
    ("worker.log", "2026-11-29 09:14:01,377 INFO  job 4411 (invoice-pdf) done in 173 ms"),
    ("api.log", '10.0.4.17 - - [29/Nov/2026:09:14:02 +0000] "GET /v1/orders/88123 HTTP/1.1" 200 911'),
    ("db.log", "2026-11-29 09:14:02.020 UTC [812] LOG:  checkpoint complete: wrote 412 buffers (2.5%)"),
    ("worker.log", "2026-11-29 09:14:02,118 INFO  job 4412 (send-receipt) started on queue=mail"),
    ("api.log", "2026-11-29T09:14:02Z ERROR payment declined: card <b>4242</b> (provider said 402)"),
    ("worker.log", "Traceback (most recent call last):"),
    ("worker.log", '  File "/srv/worker/mail.py", line 88, in send_receipt'),
    ("worker.log", "    smtp.send(message)"),
    ("worker.log", "ConnectionRefusedError: [Errno 111] Connection refused"),
    ("api.log", '{"time":"2026-11-29T09:14:02.5Z","level":"error","msg":"upstream timeout","route":"/v1/payments"}'),
    ("db.log", "2026-11-29 09:14:02.700 UTC [901] LOG:  duration: 1204.331 ms  statement: SELECT * FROM orders"),
    ("api.log", '10.0.4.31 - - [29/Nov/2026:09:14:03 +0000] "GET /healthz HTTP/1.1" 200 2'),
    ("worker.log", "2026-11-29 09:14:03,001 INFO  job 4412 (send-receipt) retry 1/5 in 30 s"),
    ("api.log", '10.0.4.17 - - [29/Nov/2026:09:14:03 +0000] "GET /v1/orders?page=3 HTTP/1.1" 200 4870'),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 720})
    opened = context.new_page()
    opened.add_init_script(SEEN)
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    opened.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
    yield opened
    context.close()
    assert not errors, errors


def rows(page: Page, visible_only: bool = True) -> list[str]:
    # what is drawn, not what an attribute says: a stylesheet can show a row marked hidden
    found: list[str] = page.evaluate(
        "(all) => [...document.querySelectorAll('#log .line')].filter(r => all || r.checkVisibility())"
        ".map(r => r.querySelector('.text').textContent)",
        not visible_only,
    )
    return found


def wait_rows(page: Page, count: int, visible_only: bool = True, timeout: float = 10) -> list[str]:
    wait_for(lambda: len(rows(page, visible_only)) >= count, timeout, f"{count} rows")
    return rows(page, visible_only)


def test_lines_written_by_writer_processes_appear_within_a_second(serve: Serve, page: Page, tmp_path: Path) -> None:
    logs = [tmp_path / name for name in ("api.log", "worker.log", "db.log")]
    for p in logs:
        p.write_bytes(b"")
    served = serve("serve", *map(str, logs), "--port", "0")
    page.goto(served.url)
    page.wait_for_selector("#status.live")
    writers = [writer([p], "--rate", "40", "--count", "60") for p in logs]
    for w in writers:
        assert w.wait(timeout=30) == 0
    wait_rows(page, 180)
    seen: list[tuple[int, str]] = page.evaluate("window.__seen")
    latencies = sorted(shown_ms - int(text.split()[3]) / 1e6 for shown_ms, text in seen)
    assert len(latencies) == 180
    assert latencies[-1] < 1000, f"slowest line took {latencies[-1]:.0f} ms to show (median {latencies[90]:.0f} ms)"
    for path, text in SCENE:
        with open(tmp_path / path, "a") as f:
            f.write(text + "\n")
        time.sleep(0.02)
    wait_rows(page, 180 + len(SCENE))
    assert page.inner_text("#error-count") == "3"  # the ERROR, the traceback, the JSON error level
    page.click("#log .line.err >> nth=0")
    assert "api.log" in page.inner_text("#details") and page.is_visible("#details")
    shot = os.environ.get("TAILMERGE_SCREENSHOT") or str(tmp_path / "serve.png")
    page.screenshot(path=shot)
    assert Path(shot).stat().st_size > 10_000


def test_the_filter_and_the_source_chips(serve: Serve, page: Page, tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(
        b"".join(b"a-%d %s\n" % (i, b"needle" if i % 3 == 0 else b"hay") for i in range(30))
    )
    (tmp_path / "b.log").write_bytes(
        b"".join(b"b-%d %s\n" % (i, b"needle" if i % 5 == 0 else b"hay") for i in range(30))
    )
    served = serve("serve", "a.log", "b.log", "--port", "0")
    page.goto(served.url)
    wait_rows(page, 60)
    page.fill("#filter", "NEEDLE")  # text: any case
    assert sorted(rows(page)) == sorted(
        [f"a-{i} needle" for i in range(0, 30, 3)] + [f"b-{i} needle" for i in range(0, 30, 5)]
    )
    page.fill("#filter", r"/^b-\d*5 /")  # a regex
    assert rows(page) == ["b-5 needle", "b-15 needle", "b-25 needle"]
    page.fill("#filter", "/([/")  # not a regex: marked, nothing matches
    assert page.eval_on_selector("#filter", "e => e.classList.contains('bad')") and rows(page) == []
    page.fill("#filter", "needle")
    page.click(".chip:has-text('b.log')")  # hide b.log
    assert rows(page) == [f"a-{i} needle" for i in range(0, 30, 3)]
    with open(tmp_path / "a.log", "ab") as f:
        f.write(b"a-new needle\na-new hay\n")
    with open(tmp_path / "b.log", "ab") as f:
        f.write(b"b-new needle\n")
    wait_rows(page, 63, visible_only=False)
    assert rows(page)[-1] == "a-new needle" and "a-new hay" not in rows(page) and "b-new needle" not in rows(page)
    page.click(".chip:has-text('b.log')")  # shown again
    assert "b-new needle" in rows(page)
    page.fill("#filter", "")
    assert len(rows(page)) == 63


def test_a_line_holding_html_is_shown_as_text_and_runs_nothing(serve: Serve, page: Page, tmp_path: Path) -> None:
    hostile = [
        "<script>window.__ran = 1; alert(1)</script>",
        '<img src=x onerror="window.__ran = 2; alert(2)">',
        '"><svg onload="window.__ran = 3">',
        "</span></div><iframe src=javascript:window.__ran=4></iframe>",
    ]
    (tmp_path / "a.log").write_text("".join(h + "\n" for h in hostile))
    served = serve("serve", "a.log", "--port", "0")
    page.goto(served.url)
    assert wait_rows(page, 4) == hostile  # the characters, as written
    page.click("#log .line")  # the details show text too
    page.wait_for_timeout(300)
    assert page.evaluate("window.__ran") is None and page.evaluate("window.__dialogs") == 0
    assert page.evaluate("document.querySelectorAll('#log script, #log img, #log svg, #log iframe').length") == 0


def test_pause_resume_and_scrolling_up_stop_the_page_moving(serve: Serve, page: Page, tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(200)))
    served = serve("serve", "a.log", "--port", "0")
    page.goto(served.url)
    wait_rows(page, 200)
    page.click("#pause")
    with open(log, "ab") as f:
        f.write(b"".join(b"later %d\n" % i for i in range(7)))
    page.wait_for_selector("#pause:has-text('Resume (7 waiting)')")
    assert len(rows(page)) == 200  # nothing moved while paused
    page.click("#pause")
    assert wait_rows(page, 207)[-1] == "later 6"
    at_bottom = "(() => { const l = document.getElementById('log'); "
    at_bottom += "return l.scrollTop + l.clientHeight >= l.scrollHeight - 24; })()"
    assert page.evaluate(at_bottom)
    page.eval_on_selector("#log", "l => l.scrollTop = 0")  # the reader scrolls up
    page.wait_for_timeout(100)
    with open(log, "ab") as f:
        f.write(b"more 1\nmore 2\n")
    page.wait_for_selector("#latest:has-text('2 new lines')")
    assert page.eval_on_selector("#log", "l => l.scrollTop") == 0  # it stayed where the reader is
    page.click("#latest")
    page.wait_for_function(at_bottom)


class Proxy:
    """A TCP relay to the server whose connections the test can cut, as a network drop would."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.live: list[socket.socket] = []
        self.opened: list[socket.socket] = []
        self.pumps: list[threading.Thread] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            pumps = [
                threading.Thread(target=self._pump, args=pair, daemon=True)
                for pair in ((client, upstream), (upstream, client))
            ]
            with self._lock:
                self.live += [client, upstream]
                self.opened += [client, upstream]
                self.pumps += pumps
                self.accepted += 1
            for pump in pumps:
                pump.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        with self._lock:
            cut, self.live = self.live, []
        for s in cut:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._acceptor.join()
        self.drop()
        for pump in self.pumps:
            pump.join(5)
        for s in self.opened:
            s.close()


def test_a_dropped_connection_resumes_with_no_line_missing_or_doubled(serve: Serve, page: Page, tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    served = serve("serve", "a.log", "--port", "0")
    proxy = Proxy(int(served.base.rsplit(":", 1)[1]))
    cut_connections: list[Any] = []
    try:
        page.goto(f"http://127.0.0.1:{proxy.port}/")
        page.wait_for_selector("#status.live")
        w = writer([log], "--rate", "100", "--count", "400")
        wait_rows(page, 80)
        proxy.drop()  # the network drops: the page reconnects by itself, naming the last line it had
        cut_connections.append(proxy.accepted)
        page.wait_for_selector("#status.down", timeout=5000)
        page.wait_for_selector("#status.live", timeout=10_000)
        assert w.wait(timeout=30) == 0
        shown = wait_rows(page, 400, timeout=15)
        written = log.read_text().splitlines()
        assert shown == written  # none missing, none doubled, in order
        assert proxy.accepted > cut_connections[0]  # it did reconnect
        assert page.evaluate("document.querySelectorAll('#log .gap').length") == 0
    finally:
        proxy.close()
