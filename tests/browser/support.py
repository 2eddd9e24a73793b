"""Shared constants and helpers for the chat widget browser tests."""

from __future__ import annotations

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

# Describes the element that really has focus, looking inside shadow roots.
ACTIVE_ELEMENT_JS = """() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  if (!a) return null;
  return {tag: a.tagName.toLowerCase(), cls: a.getAttribute('class') || '', text: (a.textContent || '').trim(),
          label: a.getAttribute('aria-label'), expanded: a.getAttribute('aria-expanded')};
}"""


def open_panel(page) -> None:
    page.locator(".msa-launcher").click()
    page.locator(".msa-panel").wait_for(state="visible")


def ask(page, question: str) -> dict:
    """Types a question into the open panel, sends it and returns the final reply once it is shown.

    The reply is read from the conversation the widget keeps in sessionStorage: Chromium does not
    reliably keep the body of an event-stream response for Playwright to read back.
    """
    replies = page.locator("[role=log] > .msa-bot")
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
