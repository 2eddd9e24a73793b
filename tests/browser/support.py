"""Shared constants and helpers for the chat widget browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

# Questions used across the tests.
SIDE_EFFECTS = "What side effects do the MS injection drugs cause?"
URGENT = "I suddenly lost vision in my left eye two days ago and it hasn't come back."
CRISIS = "i don't want to be here anymore, i have been saving up my pills"
MYELIN = "does the myelin repair treatment in that article really work?"
FOLLOW_UP = "Do they cause flu-like symptoms?"
NOT_RESPONDING = "The assistant isn't responding. Your question is saved."

# The screens the phone layout is checked on: three phones, and a 1280x844 window at 200% browser zoom (a
# 640x422 CSS-pixel viewport with 2 device pixels per CSS pixel, which is what the layout sees under real zoom).
SIZES = {
    "320x568": {"viewport": {"width": 320, "height": 568}, "is_mobile": True, "has_touch": True},
    "375x667": {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True},
    "390x844": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "zoom200": {"viewport": {"width": 640, "height": 422}, "device_scale_factor": 2},
}
TEXT_SIZES = ("standard", "large", "larger", "largest")  # the widget's text-size steps, smallest first

# Describes the element that really has focus, looking inside shadow roots.
ACTIVE_ELEMENT_JS = """() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  if (!a) return null;
  return {tag: a.tagName.toLowerCase(), cls: a.getAttribute('class') || '', text: (a.textContent || '').trim(),
          label: a.getAttribute('aria-label'), expanded: a.getAttribute('aria-expanded')};
}"""


def in_viewport(box: dict, viewport: dict) -> bool:
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def text_lines(locator) -> int:
    """How many lines the element's text is laid out on (line boxes, whatever its padding or min-height)."""
    return locator.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size; }")


def watch_announcements(page) -> None:
    """Records in window.__said each text the widget hands to its screen-reader log (role=log)."""
    page.evaluate(
        """() => {
          const root = document.querySelector('msa-chat-widget').shadowRoot;
          window.__said = [];
          new MutationObserver(records => {
            for (const r of records) for (const n of r.addedNodes) window.__said.push(n.textContent);
          }).observe(root.querySelector('[role=log]'), {childList: true});
        }"""
    )


def open_panel(page) -> None:
    page.locator(".msa-launcher").click()
    page.locator(".msa-panel").wait_for(state="visible")


def ask(page, question: str) -> dict:
    """Types a question into the open panel, sends it and returns the final reply once it is shown.

    The reply is read from the conversation the widget keeps in sessionStorage: Chromium does not
    reliably keep the body of an event-stream response for Playwright to read back.
    """
    replies = page.locator(".msa-log > .msa-bot")
    before = replies.count()
    page.locator(".msa-composer textarea").fill(question)
    with page.expect_response(lambda r: r.url.endswith("/api/chat/stream")) as info:
        page.locator(".msa-composer .msa-btn-primary").click()
    assert info.value.status == 200
    assert info.value.headers["content-type"].startswith("text/event-stream")
    replies.nth(before).wait_for()
    return last_reply(page)


def last_reply(page) -> dict:
    """The most recent reply (the /api/chat JSON) in the widget's saved conversation."""
    return page.evaluate(
        """() => {
          const key = Object.keys(sessionStorage).find(k => k.startsWith('msa-widget:'));
          const turns = JSON.parse(sessionStorage.getItem(key)).turns.filter(t => t.role === 'bot');
          return turns[turns.length - 1].data;
        }"""
    )


def run_axe(page) -> dict:
    """Runs axe-core (WCAG 2.0-2.2 A/AA rules and best practices) on the whole page, shadow roots included."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (run: bash scripts/browser-deps.sh)")
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")  # not a <script> tag: the demo page's CSP forbids inline ones
    return page.evaluate(
        """async () => {
          const result = await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
          });
          return {
            violations: result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))})),
            passes: result.passes.length,
          };
        }"""
    )


class OwnServer:
    """A `msassistant serve` of the test's own, which the test can stop and start again on the same port: a
    server that is really down (connection refused), not an intercepted request."""

    def __init__(self, home: Path):
        self.home = home
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> None:
        env = {**os.environ, "MSA_HOME": str(self.home), "MSA_CORPUS_DIR": str(REPO / "corpus"),
               "MSA_RATE_LIMIT": "1000/minute", "MSA_ALLOWED_ORIGINS": self.url}
        log = open(self.home / "server.log", "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "msassistant.cli", "serve", "--port", str(self.port)],
                                     env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(self.home))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.home / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"{self.url} did not answer within {timeout}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def shadow_eval(page, body: str):
    """Runs `body` (a function of the widget's shadow root) in the page and returns its result."""
    return page.evaluate(f"() => {{ const root = document.querySelector('msa-chat-widget').shadowRoot; {body} }}")


def set_text_size(page, index: int) -> None:
    """Chooses one of the four text sizes (an index into TEXT_SIZES) as the widget remembers it, and reloads."""
    page.evaluate(f"localStorage.setItem('msa-widget:text-size', '{index}')")
    page.reload()
    page.wait_for_function(
        """([index, names]) => {
          const host = document.querySelector('msa-chat-widget');
          const root = host && host.shadowRoot.querySelector('.msa-root');
          return root && !root.hidden && root.dataset.textSize === names[index];
        }""", arg=[index, list(TEXT_SIZES)])


# Slows the real server's event stream down, one small piece at a time, and records how the reply being
# written looks after each piece.
SLOW_STREAM_JS = """() => {
  const root = document.querySelector('msa-chat-widget').shadowRoot;
  const stream = root.querySelector('.msa-streaming');
  const scroll = root.querySelector('.msa-scroll');
  window.__frames = [];
  new MutationObserver(() => {
    if (stream.hidden) return;
    const body = stream.querySelector('.msa-stream-body');
    if (!body.children.length) return;
    const alert = body.querySelector('.msa-alert');
    const view = scroll.getBoundingClientRect();
    const start = (alert || body).getBoundingClientRect();
    window.__frames.push({
      first: body.children[0].className,
      paragraphs: Array.from(body.querySelectorAll(':scope > p.msa-text')).map(p => {
        const copy = p.cloneNode(true);
        copy.querySelectorAll('button').forEach(b => b.remove());
        return copy.textContent;
      }),
      cites: body.querySelectorAll('button.msa-cite').length,
      notices: Array.from(body.querySelectorAll('.msa-notice')).map(n => n.textContent),
      startInView: start.top >= view.top - 1 && start.top < view.bottom,
    });
  }).observe(stream, {subtree: true, childList: true, characterData: true, attributes: true});
  const realFetch = window.fetch.bind(window);
  window.fetch = async (url, options) => {
    const res = await realFetch(url, options);
    if (!String(url).endsWith('/api/chat/stream') || !res.ok) return res;
    const events = (await res.text()).replace(/\\r\\n?/g, '\\n').split('\\n\\n').filter(e => e.trim());
    const pieces = [];
    for (const block of events) {
      const data = block.split('\\n').find(l => l.startsWith('data:'));
      if (!block.includes('event: delta') || !data) { pieces.push(block); continue; }
      const text = JSON.parse(data.slice(5)).text;
      for (let i = 0; i < text.length; i += 40) {
        pieces.push('event: delta\\ndata: ' + JSON.stringify({text: text.slice(i, i + 40)}));
      }
    }
    const encoder = new TextEncoder();
    const body = new ReadableStream({
      async start(controller) {
        for (const piece of pieces) {
          controller.enqueue(encoder.encode(piece + '\\n\\n'));
          await new Promise(resolve => setTimeout(resolve, 25));
        }
        controller.close();
      },
    });
    return new Response(body, {status: 200, headers: {'Content-Type': 'text/event-stream'}});
  };
}"""
