"""The studio as people and programs use it: launched on a free local port, called
through gradio_client, and driven in a real Chromium with mouse strokes."""

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, need
from tests.report_page import parse_report

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
EXAMPLES = ROOT / "assets" / "examples"


def resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points along a polyline about `spacing` px apart: each mouse move costs a canvas
    redraw in headless (software-rendered) Chromium, so the 278 tablet samples of a
    4-digit number would take minutes to replay one by one."""
    keep = [points[0]]
    for point in points[1:]:
        if np.hypot(*(point - keep[-1])) >= spacing:
            keep.append(point)
    if len(points) > 1:
        keep.append(points[-1])
    return np.array(keep)


class GradioTraffic:
    """Requests from the page to the Gradio server that have not finished yet."""

    def __init__(self, page) -> None:
        self.pending: set = set()
        self.page = page
        page.on("request", lambda r: self.pending.add(r) if "/gradio_api/" in r.url else None)
        page.on("requestfinished", lambda r: self.pending.discard(r))
        page.on("requestfailed", lambda r: self.pending.discard(r))

    def wait_until_quiet(self, quiet_s: float = 1.5, timeout_s: float = 60.0) -> None:
        """Until nothing has been in flight for `quiet_s`. The sketchpad uploads its
        layers and the live analysis runs a moment after each stroke, so a page that
        looks finished may still be showing the reading of an earlier stroke."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            if self.pending:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    import demo
    from src.studio import Studio

    app = demo.build_app(Studio.load())
    app.queue(default_concurrency_limit=2, max_size=64)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
               quiet=True, css=demo.CSS)  # fmt: skip
    yield f"http://127.0.0.1:{port}/"
    app.close()


def read_through_api(app_url: str, path: Path) -> dict:
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    result = client.predict(handle_file(str(path)), api_name="/read")
    return json.loads(result) if isinstance(result, str) else result


def test_read_endpoint_with_gradio_client(app_url):
    result = read_through_api(app_url, EXAMPLES / "314159.png")
    assert result["text"] == "314159"
    assert len(result["digits"]) == 6
    assert all(set(d) == {"label", "confidence", "box"} for d in result["digits"])
    boxes = [d["box"] for d in result["digits"]]
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)


def test_read_endpoint_reads_a_touching_number(app_url):
    """A test writer's 9175 with the 1 running into the 7: the line reader's count."""
    from PIL import Image

    result = read_through_api(app_url, EXAMPLES / "9175.png")
    assert result["text"] == "9175" and result["message"] == ""
    width, height = Image.open(EXAMPLES / "9175.png").size
    boxes = [d["box"] for d in result["digits"]]
    assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height for x0, y0, x1, y1 in boxes)
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)


def test_read_answers_every_odd_file_with_the_same_shape(app_url, tmp_path):
    """Not an image, a decompression bomb, an empty canvas, a truncated PNG, 1x1, 16-bit
    grey, a CMYK JPEG, an animated GIF, a 0-byte file: each gets the /read JSON shape,
    with its sentence or its number."""
    from tests.bad_files import write_cases

    for case in write_cases(tmp_path):
        result = read_through_api(app_url, case.path)
        assert set(result) == {"text", "digits", "message", "marks_left_out", "written"}, case
        assert result["text"] == case.text, (case.path.name, result)
        assert case.message in result["message"], (case.path.name, result)
        assert (result["message"] == "") == (case.message == ""), (case.path.name, result)


def test_report_endpoint_gives_a_self_contained_page(app_url, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    path = Path(client.predict(handle_file(str(EXAMPLES / "314159.png")), api_name="/report"))
    assert path.name == "digit-report-314159.html"
    assert path.stat().st_size < 2_000_000
    page = parse_report(path.read_text(encoding="utf-8"))
    assert page.number == "314159" and page.heatmaps == page.variations == 6
    assert page.external == 0
    (tmp_path / "cat.png").write_text("meow")
    bad = Path(client.predict(handle_file(str(tmp_path / "cat.png")), api_name="/report"))
    assert "not an image" in bad.read_text(encoding="utf-8")


def test_restyle_endpoint_writes_in_the_drawings_hand(app_url):
    from gradio_client import Client, handle_file
    from PIL import Image

    client = Client(app_url, verbose=False)
    picture, message = client.predict(
        handle_file(str(EXAMPLES / "314159.png")), "2026", api_name="/restyle"
    )
    assert message == "" and picture
    assert np.asarray(Image.open(picture)).ndim in (2, 3)
    picture, message = client.predict(
        handle_file(str(EXAMPLES / "314159.png")), "20x6", api_name="/restyle"
    )
    assert picture is None and "only the digits" in message


def test_browser_draws_a_signed_number_and_sees_it_read(app_url):
    """-2025 drawn on the sketchpad: a minus sign dragged at mid-height, then a real
    writer's strokes. The page shows -2025; the digits are what is explained, varied,
    reported and restyled."""
    need(Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
         "Debian's chromium at /usr/bin/chromium (apt-get install chromium)")  # fmt: skip
    from playwright.sync_api import sync_playwright

    from src.strokes import normalised_strokes

    number = "2025"
    digits = json.loads((EXAMPLES / "strokes.json").read_text())["numbers"][number]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            traffic = GradioTraffic(page)
            page.goto(app_url)
            page.wait_for_selector("#sketchpad canvas", timeout=60_000)
            page.wait_for_timeout(1000)  # the page selects the brush once it is ready
            box = page.query_selector_all("#sketchpad canvas")[-1].bounding_box()
            height = 0.45 * box["height"]
            left, top = box["x"] + 0.1 * box["width"], box["y"] + 0.25 * box["height"]
            page.mouse.move(left, top + 0.55 * height)  # the minus sign
            page.mouse.down()
            for step in range(1, 6):
                page.mouse.move(left + step * 0.06 * height, top + 0.55 * height)
            page.mouse.up()
            left += 0.6 * height
            # Replay a real writer's pen strokes as mouse drags, digit after digit.
            for strokes in (normalised_strokes(d) for d in digits):
                width = max(s[:, 0].max() for s in strokes) * height
                for stroke in strokes:
                    points = resample(stroke * height + (left, top), spacing=15.0)
                    page.mouse.move(*points[0])
                    page.mouse.down()
                    for x, y in points[1:]:
                        page.mouse.move(x, y)
                    page.mouse.up()
                left += width + 0.35 * height
            traffic.wait_until_quiet()  # the last stroke has reached the server
            page.click("#read-button")
            page.wait_for_function(
                "document.querySelectorAll('#variations img').length >= 4", timeout=60_000
            )
            traffic.wait_until_quiet()  # and the reading shown is the click's, not older
            shown = page.inner_text("#dis-number").replace(" ", "")
            heatmaps = page.query_selector_all("#heatmaps img")
            variations = page.query_selector_all("#variations img")
            with page.expect_download(timeout=60_000) as download:
                page.click("#download-report")
            report = Path(download.value.path()).read_text(encoding="utf-8")
            report_name = download.value.suggested_filename
            # "Write it in my hand": the default text, written in the drawing's hand.
            page.click("#restyle-button")
            page.wait_for_selector("#restyle-output img", timeout=60_000)
            restyled = page.query_selector("#restyle-output img").get_attribute("src")
            traffic.wait_until_quiet()
            results = ROOT / "results"
            results.mkdir(exist_ok=True)
            page.screenshot(path=str(results / "studio_browser.png"), full_page=True)
        finally:
            browser.close()
    assert shown == "-" + number
    assert len(heatmaps) == len(number)
    assert len(variations) == len(number)
    assert restyled
    page = parse_report(report)
    assert report_name == f"digit-report-{number}.html"
    assert page.number == "-" + number and page.heatmaps == page.variations == len(number)
