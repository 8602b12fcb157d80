"""The page at / in headless Chromium, driven over the DevTools protocol (--remote-debugging-pipe:
NUL-separated JSON on file descriptors 3 and 4, no extra package): type a prompt, click
Generate, wait for the tokens, click one, and check that the panel lists the pairs each head
retrieved. The screenshot stays in the build folder (MOSAIC_TEST_OUT). Skipped without Chromium."""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class DevTools:
    """A browser over a pipe: send(method, params) returns the result of that command."""

    def __init__(self, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-pipe", "--user-data-dir=" + profile, "--window-size=1280,900", "about:blank"],
            close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: self._pipes_to_3_and_4(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id, self.buffer, self.session = 0, b"", None

    @staticmethod
    def _pipes_to_3_and_4(read_end, write_end):
        # In the child, before exec: the browser reads commands on fd 3 and writes on fd 4. Moved
        # above 10 first, so that neither lands on the other's target.
        high_r, high_w = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10), fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    def send(self, method, params=None, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        end = time.time() + timeout
        while time.time() < end:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self.buffer += chunk
        raise TimeoutError(method)

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def js(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        return r["result"].get("value")

    def wait(self, expression, seconds=30):
        end = time.time() + seconds
        while time.time() < end:
            if self.js(expression):
                return True
            time.sleep(0.1)
        raise TimeoutError(expression)

    def click(self, selector):
        """A real mouse click at the element's centre."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
                      " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)")
def test_page_generates_and_explains_a_token(binary, model, tmp_path):
    out = os.environ.get("MOSAIC_TEST_OUT", str(tmp_path))
    os.makedirs(out, exist_ok=True)
    server = Server(binary, model, "--parallel", "2")
    browser = DevTools(str(tmp_path / "profile"))
    try:
        browser.open(server.url + "/")
        browser.wait("document.readyState === 'complete' && !!document.getElementById('generate')")
        browser.js("document.getElementById('prompt').value = ''")
        browser.click("#prompt")
        browser.send("Input.insertText", {"text": "Tom had a ball. Tom"})
        browser.js("document.getElementById('max_tokens').value = '24'")
        browser.click("#generate")
        browser.wait("document.querySelectorAll('#output .tok').length > 10", seconds=60)
        status = browser.js("document.getElementById('status').textContent")
        assert "Click a token" in status, status
        count = browser.js("document.querySelectorAll('#output .tok').length")
        browser.click(f'#output .tok[data-index="{count - 2}"]')
        browser.wait("document.querySelectorAll('#panel .pair').length > 0")
        heads = browser.js("document.querySelectorAll('#panel .head').length")
        model_meta = server.get("/v1/models").json()["data"][0]["meta"]
        assert heads == model_meta["n_layer"] * model_meta["n_head"]
        pairs = browser.js("[...document.querySelectorAll('#panel .pair')].map(p => [p.children[0].textContent,"
                           " p.children[1].textContent, p.children[2].style.width])")
        for weight, what, width in pairs:
            assert 0 <= float(weight) <= 1 and "→" in what and width.endswith("%")
        assert max(float(w) for w, _, _ in pairs) > 0
        assert browser.js("document.querySelector('#output .tok.selected').dataset.index") == str(count - 2)
        shot = browser.send("Page.captureScreenshot", {"format": "png"})["data"]
        path = os.path.join(out, "page.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot))
        assert os.path.getsize(path) > 10000
    finally:
        browser.close()
        assert server.stop() == 0
