"""The paper's Table 4 asked of people: rate.html saves choices, the report counts them.

The browser test drives headless Chromium over the DevTools protocol (``--remote-debugging-pipe``,
no extra package): it loads the report's rate.html, clicks a choice for each of the five questions
with real mouse events, presses *Save ratings*, and reads the downloaded file back through the
report. It skips where Chromium is not installed (`make setup` installs it on Debian)."""

import json
import os
import shutil
import subprocess
import time

import pytest

from dancegen.core.errors import DanceGenError
from dancegen.evaluate.rating import FORMAT, QUESTIONS, read_ratings, table4, trials_of
from dancegen.evaluate.report import build_report
from test_report import fixture, report_inputs  # noqa: F401  (the report's inputs)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _ratings_file(path, choices):
    path.write_text(json.dumps({"format": FORMAT, "rater": "t", "saved": "now", "choices": choices}))


def test_table4_counts_the_share_of_choices_each_variant_won(tmp_path):
    _ratings_file(tmp_path / "a.json", [{"question": "Q1", "variant": "ours"}, {"question": "Q1", "variant": "pix2pixhd"},
                                        {"question": "Q5", "variant": "ours"}])
    _ratings_file(tmp_path / "b.json", [{"question": "Q1", "variant": "ours"}])
    shares = table4(read_ratings(tmp_path), ["pix2pixhd", "ours"])
    assert shares["Q1"] == pytest.approx({"pix2pixhd": 100 / 3, "ours": 200 / 3, "n": 3})
    assert shares["Q5"] == {"pix2pixhd": 0.0, "ours": 100.0, "n": 1}
    assert set(shares) == {"Q1", "Q5"}                       # unanswered questions are left out


def test_a_file_that_is_not_a_ratings_file_is_a_one_line_error(tmp_path):
    assert read_ratings(tmp_path / "missing") == []
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DanceGenError, match="x.json.*not JSON"):
        read_ratings(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DanceGenError, match="format is not"):
        read_ratings(tmp_path)
    _ratings_file(tmp_path / "x.json", [{"question": "Q9", "variant": "ours"}])
    with pytest.raises(DanceGenError, match="names no question"):
        read_ratings(tmp_path)


def test_trials_group_the_variants_of_each_transfer():
    trials = trials_of([{"video": "v", "reference": "r", "variant": "ours", "path": "a.mp4"},
                        {"video": "v", "reference": "r", "variant": "pix2pixhd", "path": "b.mp4"},
                        {"video": "v", "reference": "s", "variant": "ours", "path": "c.mp4"}])
    assert trials == [{"video": "v", "reference": "r", "videos": {"ours": "a.mp4", "pix2pixhd": "b.mp4"}},
                      {"video": "v", "reference": "s", "videos": {"ours": "c.mp4"}}]


def test_a_saved_ratings_file_becomes_table_4_in_the_report(fixture):  # noqa: F811
    (fixture.reports / "ratings").mkdir(parents=True)
    _ratings_file(fixture.reports / "ratings" / "r.json",
                  [{"video": "vid", "reference": "ref", "question": q, "variant": "ours"} for q in QUESTIONS]
                  + [{"video": "vid", "reference": "ref", "question": "Q4", "variant": "pix2pixhd"}])
    text = build_report(fixture).read_text()
    table = text.split("### Table 4, by people")[1]
    assert "| question | Posewarp | pix2pixHD | Ours-baseline | Ours | choices |" in table     # the paper's order
    assert "| Q1 complete body | 0.0 % | 0.0 % | 0.0 % | 100.0 % | 1 |" in table
    assert "| Q4 temporal stability | 0.0 % | 50.0 % | 0.0 % | 50.0 % | 2 |" in table


class DevTools:
    """Headless Chromium driven over ``--remote-debugging-pipe`` (JSON messages ending in NUL on
    fds 3 and 4); ``call(method, session=None, **params)`` → the result."""

    def __init__(self, download_dir):
        to_chrome, self._send = os.pipe()
        self._recv, from_chrome = os.pipe()

        def child_fds():
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                      "--remote-debugging-pipe", "--window-size=1200,900", "about:blank"],
                                     pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._id, self._buffer, self.events = 0, b"", []
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(download_dir))

    def call(self, method, session=None, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def _next(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._recv, 1 << 16)
            assert chunk, "Chromium closed the DevTools pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def click(self, session, selector):
        """A real mouse click (press and release) at the centre of the element ``selector`` picks."""
        box = self.call("Runtime.evaluate", session, returnByValue=True, expression=(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"))
        x, y = box["result"]["value"]
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session, type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self._send)
        os.close(self._recv)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_chromium_rates_the_transfers_and_the_report_reads_the_saved_file_back(fixture, tmp_path):  # noqa: F811
    build_report(fixture)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser = DevTools(downloads)
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.call("Page.navigate", session, url=(fixture.reports / "rate.html").resolve().as_uri())
        for _ in range(100):
            state = browser.call("Runtime.evaluate", session, returnByValue=True,
                                 expression="document.readyState + ' ' + document.querySelectorAll('video').length")
            if state["result"]["value"] == f"complete {len(fixture.variants)}":
                break
            time.sleep(0.1)
        assert state["result"]["value"] == f"complete {len(fixture.variants)}"     # one video per variant
        for q in QUESTIONS:
            browser.click(session, f'input[data-question="{q}"][value="ours"]')
        browser.click(session, "#save")
        for _ in range(100):
            saved = list(downloads.glob("ratings-*.json"))
            if saved:
                break
            time.sleep(0.1)
    finally:
        browser.close()
    assert len(saved) == 1, list(downloads.iterdir())
    doc = json.loads(saved[0].read_text())
    assert doc["format"] == FORMAT and {c["question"] for c in doc["choices"]} == set(QUESTIONS)
    assert all(c["variant"] == "ours" and sorted(c["order"]) == sorted(fixture.variants) for c in doc["choices"])
    (fixture.reports / "ratings").mkdir(exist_ok=True)
    shutil.copy(saved[0], fixture.reports / "ratings")
    text = build_report(fixture).read_text()
    assert "| Q5 overall | 0.0 % | 0.0 % | 0.0 % | 100.0 % | 1 |" in text
