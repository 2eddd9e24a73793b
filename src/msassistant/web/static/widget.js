/*
 * msassistant website chat widget.
 *
 * Embed with one tag:
 *   <script src="https://clinic.example/widget.js" data-api="" data-title="MS Assistant"
 *           data-open="false" data-position="right"></script>
 *
 * Designed for people living with MS: large targets, a text-size control, plain wording,
 * clear safety notices, full keyboard use and screen-reader friendly announcements.
 * Everything lives in an open Shadow DOM so clinic-site styles and widget styles never mix.
 * All user and server text is inserted as text (textContent / text nodes), never as HTML.
 */
(function () {
  "use strict";

  if (window.__msaWidgetLoaded) return; // the tag was included twice
  window.__msaWidgetLoaded = true;

  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const scriptUrl = new URL(script ? script.src : "/widget.js", location.href);
  const data = script ? script.dataset : {};

  const config = {
    api: (data.api || scriptUrl.origin).replace(/\/+$/, ""),
    title: data.title || "MS Assistant",
    openOnLoad: data.open === "true",
    position: data.position === "left" ? "left" : "right",
    cssUrl: new URL("widget.css", scriptUrl).href,
  };

  const STORE_KEY = "msa-widget:" + config.api;
  const SIZE_KEY = "msa-widget:text-size";
  const TEXT_SIZES = [
    { scale: 1, name: "standard" },
    { scale: 1.2, name: "large" },
    { scale: 1.4, name: "larger" },
    { scale: 1.65, name: "largest" },
  ];
  // Must match the full-screen media query in widget.css.
  const fullScreen = window.matchMedia("(max-width: 640px), (max-height: 500px)");
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  // How each kind of urgent guidance begins (these words are fixed in the clinic's red-flag rules). A reply
  // that names its level (safety.level) is taken at its word; otherwise the guidance's first words tell
  // crisis guidance (suicide or self-harm) from emergency and same-day guidance.
  const LEVELS = ["emergency", "crisis", "urgent"];
  const GUIDANCE_STARTS = [
    ["emergency", "This could be an emergency."],
    ["crisis", "I am really sorry you are feeling this way."],
    ["urgent", "Please contact your MS care team or a doctor today."],
  ];
  const ALERT_TITLES = { emergency: "Emergency: get help now", crisis: "Support is available now", urgent: "Urgent" };
  // How the care-team notice and the warning-signs notice begin, so that a reply still being written shows
  // them in their own block. Once a reply has arrived, its exact notice texts are used as well.
  const NOTICE_STARTS = ["Talk with your MS care team before changing", "Get medical help the same day"];

  const NOT_RESPONDING = "The assistant isn't responding.";

  const state = { sessionId: null, turns: [], open: false, busy: false, controller: null, textSize: 0 };
  const ui = {};
  let idCounter = 0;

  /* ---------- small DOM helpers (text only, never HTML) ---------- */

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child !== null && child !== undefined) node.append(child); // strings become text nodes
    }
    return node;
  }

  function nextId(prefix) {
    idCounter += 1;
    return "msa-" + prefix + "-" + idCounter;
  }

  // Small inline icons (decorative: hidden from assistive technology).
  function icon(pathData, extraClass) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "msa-icon " + (extraClass || ""));
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    svg.append(path);
    return svg;
  }
  const ICON_CHAT = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z";
  const ICON_THUMB =
    "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 " +
    "7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function scrollBehavior() {
    return reducedMotion.matches ? "auto" : "smooth";
  }

  // Scrolls `box`, the conversation unless told otherwise (never the page or the panel), so that `node` starts
  // at the top of the view, or, with where = "nearest", just far enough for all of it (or its start) to be seen.
  function scrollToNode(node, where, behavior, box = ui.scroll) {
    const top = node.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop;
    const gap = 8;
    let target = top - gap;
    if (where === "nearest") {
      const fits = node.offsetHeight + 2 * gap <= box.clientHeight;
      const bottom = top + node.offsetHeight + gap - box.clientHeight;
      if (top - gap >= box.scrollTop && top + node.offsetHeight + gap <= box.scrollTop + box.clientHeight) return;
      target = fits ? Math.max(bottom, Math.min(box.scrollTop, top - gap)) : top - gap;
    }
    box.scrollTo({ top: Math.max(0, target), behavior: behavior || scrollBehavior() });
  }

  /* ---------- storage (may be blocked by the browser: never fatal) ---------- */

  function saveConversation() {
    try {
      const saved = { sessionId: state.sessionId, turns: state.turns, open: state.open };
      sessionStorage.setItem(STORE_KEY, JSON.stringify(saved));
    } catch (e) { /* storage unavailable: the conversation just won't survive a reload */ }
  }

  function loadConversation() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (saved && Array.isArray(saved.turns)) return saved;
    } catch (e) { /* ignore unreadable storage */ }
    return null;
  }

  function loadTextSize() {
    try {
      const index = parseInt(localStorage.getItem(SIZE_KEY) || "0", 10);
      return index >= 0 && index < TEXT_SIZES.length ? index : 0;
    } catch (e) {
      return 0;
    }
  }

  /* ---------- building the widget ---------- */

  function button(label, attrs, children) {
    return el("button", Object.assign({ type: "button" }, attrs), children || label);
  }

  function buildUi() {
    const host = el("msa-chat-widget");
    const root = host.attachShadow({ mode: "open" }); // open so assistive tech and audits can see inside
    const link = el("link", { rel: "stylesheet", href: config.cssUrl });
    // Stay hidden until the stylesheet arrives, so the page never flashes unstyled controls.
    ui.container = el("div", { class: "msa-root msa-" + config.position, hidden: true });
    const reveal = () => { ui.container.hidden = false; };
    link.addEventListener("load", reveal);
    link.addEventListener("error", reveal);

    ui.panelId = nextId("panel");
    ui.launcher = button(null, {
      class: "msa-launcher", "aria-expanded": "false", "aria-controls": ui.panelId,
      onclick: () => openPanel(true),
    }, [icon(ICON_CHAT), el("span", { text: "Ask about MS" })]);

    ui.panel = buildPanel();
    ui.container.append(ui.launcher, ui.panel);
    root.append(link, ui.container);
    document.body.append(host);
  }

  function buildPanel() {
    const titleId = nextId("title");
    const panel = el("div", {
      class: "msa-panel", id: ui.panelId, role: "dialog", "aria-labelledby": titleId, hidden: true,
      onkeydown: onPanelKeydown,
    });
    const toolbar = buildToolbar();
    // On a phone (full screen) the toolbar folds away behind "Options" to leave room for reading.
    ui.options = button("Options", {
      class: "msa-btn msa-btn-header msa-options", "aria-expanded": "false", "aria-controls": toolbar.id,
      onclick: () => showOptions(ui.options.getAttribute("aria-expanded") !== "true"),
    });
    ui.close = button("Close", { class: "msa-btn msa-btn-header msa-close", "aria-label": "Close chat", onclick: closePanel });
    // The header wraps onto a second line rather than push Close off the screen.
    const header = el("div", { class: "msa-header" }, [
      el("h2", { class: "msa-title", id: titleId, text: config.title }),
      el("div", { class: "msa-row msa-header-buttons" }, [ui.options, ui.close]),
    ]);
    panel.append(header, toolbar, buildConfirm(), buildConversation(), buildComposer());
    return panel;
  }

  function showOptions(show) {
    ui.options.setAttribute("aria-expanded", String(show));
    ui.toolbar.classList.toggle("msa-toolbar-open", show);
  }

  function buildToolbar() {
    const sizeLabelId = nextId("size-label");
    // Visible words as well as the "A" glyphs, so the spoken name matches what is seen.
    const sizeButton = (glyph, word, step) => button(null, { class: "msa-btn msa-btn-size", onclick: () => changeTextSize(step) },
      [el("span", { class: "msa-glyph", text: glyph }), word]);
    ui.smaller = sizeButton("A\u2212", "Smaller", -1);
    ui.larger = sizeButton("A+", "Larger", 1);
    ui.deleteButton = button("Delete my conversation", { class: "msa-btn msa-btn-danger", onclick: askDelete });
    ui.toolbar = el("div", { class: "msa-toolbar", id: nextId("toolbar") }, [
      el("div", { class: "msa-size", role: "group", "aria-labelledby": sizeLabelId }, [
        el("span", { class: "msa-size-label", id: sizeLabelId, text: "Text size" }), ui.smaller, ui.larger,
      ]),
      button("Start over", { class: "msa-btn", onclick: startOver }),
      ui.deleteButton,
    ]);
    return ui.toolbar;
  }

  // Inline, keyboard-accessible confirmation for deleting the conversation.
  function buildConfirm() {
    const textId = nextId("confirm-text");
    ui.confirmCancel = button("Cancel, keep it", { class: "msa-btn", onclick: hideConfirm });
    ui.confirmProblem = el("div", { class: "msa-problem-slot" });
    ui.confirm = el("div", { class: "msa-confirm", role: "group", "aria-labelledby": textId, hidden: true }, [
      el("p", { id: textId, class: "msa-confirm-text",
        text: "Delete this conversation? It will also be removed from the clinic's records. This cannot be undone." }),
      el("div", { class: "msa-row" }, [
        ui.confirmCancel,
        button("Yes, delete it", { class: "msa-btn msa-btn-danger-solid", onclick: confirmDelete }),
      ]),
      ui.confirmProblem,
    ]);
    return ui.confirm;
  }

  function buildConversation() {
    ui.status = el("p", { class: "msa-status", role: "status" });
    // The conversation as it is read and browsed. It is not a live region: a person's own question is
    // never read back to them. Each reply is announced once, through ui.announcer below.
    ui.log = el("div", { class: "msa-log" });
    // The reply being written is shown here as structured text but hidden from screen readers; the
    // finished reply then replaces it and is announced once instead of piece by piece.
    ui.streamBody = el("div", { class: "msa-stream-body" });
    ui.stream = el("div", { class: "msa-msg msa-bot msa-streaming", "aria-hidden": "true", hidden: true }, [
      el("p", { class: "msa-who", text: config.title }),
      ui.streamBody,
      el("p", { class: "msa-writing", text: "Writing an answer\u2026" }),
    ]);
    ui.srStatus = el("p", { class: "msa-sr-only", role: "status" });
    // What a screen reader says when a reply arrives: the answer, then one short line for the notices.
    // Only the latest reply is kept here; the urgent guidance is announced by the reply's own alert.
    ui.announcer = el("div", {
      class: "msa-sr-only msa-announcer", role: "log", "aria-live": "polite", "aria-atomic": "false",
      "aria-relevant": "additions", "aria-label": "New reply",
    });
    ui.scroll = el("div", { class: "msa-scroll", role: "region", "aria-label": "Conversation", tabindex: "0" }, [
      el("p", { class: "msa-intro", text: "Ask a question about living with MS. Answers come only from the clinic's reviewed " +
        "library, with numbered sources you can open. This assistant does not replace your care team." }),
      ui.status, ui.log, ui.stream, ui.srStatus, ui.announcer,
    ]);
    return ui.scroll;
  }

  function buildComposer() {
    const inputId = nextId("input");
    const hintId = nextId("hint");
    ui.input = el("textarea", { id: inputId, class: "msa-input", rows: "2", maxlength: "2000",
      "aria-describedby": hintId, autocomplete: "off", onkeydown: onInputKeydown });
    ui.send = el("button", { type: "submit", class: "msa-btn msa-btn-primary", text: "Send" });
    return el("form", { class: "msa-composer", onsubmit: (event) => { event.preventDefault(); send(ui.input.value); } }, [
      el("label", { class: "msa-label", for: inputId, text: "Your question" }),
      el("div", { class: "msa-row" }, [ui.input, ui.send]),
      el("p", { class: "msa-hint", id: hintId, text: "Enter sends. Shift + Enter adds a line." }),
    ]);
  }

  /* ---------- reading a reply ---------- */

  // "emergency", "crisis" or "urgent" for a reply with urgent guidance; null otherwise.
  function triageLevel(reply) {
    const safety = reply.safety || {};
    const named = safety.level || reply.triage_level;
    if (LEVELS.includes(named)) return named;
    if (reply.category !== "urgent" && !safety.urgent) return null;
    return guidanceLevel(safety.urgent || "") || "urgent";
  }

  function guidanceLevel(text) {
    const start = text.trim();
    for (const [level, words] of GUIDANCE_STARTS) if (start.startsWith(words)) return level;
    return null;
  }

  const MARKER = /\[(\d+(?:\s*,\s*\d+)*)\]/g;

  function citedIds(paragraph) {
    const ids = [];
    for (const match of paragraph.matchAll(MARKER)) ids.push(...match[1].split(",").map((s) => parseInt(s, 10)));
    return ids;
  }

  // The answer's paragraphs without the urgent guidance and the safety notices, which have their own blocks.
  function answerParagraphs(reply) {
    const safety = reply.safety || {};
    let text = reply.answer || "";
    for (const notice of [safety.urgent, safety.care_team, safety.red_flags]) {
      if (notice) text = text.split(notice).join("");
    }
    return text.split(/\n{2,}/).map((p) => p.trim()).filter(Boolean);
  }

  // An urgent reply keeps to the guidance and one supporting passage: paragraphs that cite any other source
  // are left out, with the lead line ("The treatment guide says:") that introduces them.
  function onePassage(paragraphs, keptId) {
    const out = [];
    for (const paragraph of paragraphs) {
      const ids = citedIds(paragraph);
      if (ids.length && !ids.every((id) => id === keptId)) {
        const prev = out[out.length - 1];
        if (prev && !citedIds(prev).length && /:\s*$/.test(prev)) out.pop();
        continue;
      }
      out.push(paragraph);
    }
    return out;
  }

  function isPromotional(citation) {
    return /promotional/i.test(citation.kind || "") || /^\s*promotional/i.test(citation.credibility || "");
  }

  function isCaution(paragraph) {
    return /^caution\s*:/i.test(paragraph) && /promotional/i.test(paragraph);
  }

  // The answer as blocks in reading order. The caution about a promotional source becomes its own warning
  // block, placed before the first paragraph (or its lead line) that repeats that source's claims.
  function arrange(paragraphs, citations) {
    const promo = new Set(citations.filter(isPromotional).map((c) => c.id));
    const cautions = [];
    const rest = [];
    for (const paragraph of paragraphs) {
      if (isCaution(paragraph)) cautions.push(paragraph);
      else rest.push({ kind: "text", text: paragraph });
    }
    if (!promo.size && !cautions.length) return rest;
    if (!cautions.length) {
      const first = citations.find(isPromotional);
      cautions.push(first.credibility || "This source is promotional: its claims have not been verified.");
    }
    let at = rest.findIndex((b) => citedIds(b.text).some((id) => promo.has(id)));
    if (at === -1) at = 0;
    const lead = rest[at - 1];
    if (lead && !citedIds(lead.text).length && /:\s*$/.test(lead.text)) at -= 1;
    rest.splice(at, 0, ...cautions.map((text) => ({ kind: "promo", text: text.replace(/^caution\s*:\s*/i, "") })));
    return rest;
  }

  /* ---------- rendering messages ---------- */

  function renderUserMessage(text) {
    return el("div", { class: "msa-msg msa-user" }, [
      el("p", { class: "msa-who", text: "You" }),
      el("p", { class: "msa-text msa-pre", text: text }),
    ]);
  }

  // Renders a reply. `live` is true for a reply that has just arrived (its urgent guidance is an alert that
  // screen readers announce at once), false for one restored after a reload (not announced again).
  function renderReply(turn, live) {
    const reply = turn.data;
    const safety = reply.safety || {};
    const level = triageLevel(reply);
    const msg = el("div", { class: "msa-msg msa-bot" + (level ? " msa-urgent msa-level-" + level : "") });
    msg.append(el("p", { class: "msa-who", text: config.title }));
    if (level) msg.append(renderAlert(level, safety.urgent || "Please get medical help now.", live));
    let citations = reply.citations || [];
    let paragraphs = answerParagraphs(reply);
    if (level) {
      citations = citations.slice(0, 1);
      paragraphs = onePassage(paragraphs, citations.length ? citations[0].id : null);
    }
    const sources = renderSources(citations);
    const blocks = arrange(paragraphs, citations);
    if (blocks.length) msg.append(renderBlocks(blocks, (id) => sources.open.get(id)));
    if (sources.node) msg.append(sources.node);
    // A crisis reply is the guidance and the numbers to call: no treatment notice, no rating.
    const notices = level !== "crisis";
    if (notices) msg.append(renderNotices(safety, level !== null || isFirstReply(turn)));
    if (!level && reply.follow_ups && reply.follow_ups.length) msg.append(renderFollowUps(reply.follow_ups));
    if (reply.turn_id && level !== "crisis") msg.append(renderFeedback(turn));
    msg.spoken = spokenLines(blocks, notices ? safety : null);
    return msg;
  }

  function renderAlert(level, text, live) {
    return el("div", { class: "msa-alert", role: live ? "alert" : null }, [
      el("p", { class: "msa-alert-title", text: ALERT_TITLES[level] || ALERT_TITLES.urgent }),
      el("p", {}, withCallLinks(text)),
    ]);
  }

  // What the announcer says for a reply: the answer (citation numbers left out), then the notices in one line.
  function spokenLines(blocks, safety) {
    const plain = (text) => text.replace(/\s*\[\d+(?:\s*,\s*\d+)*\]/g, "").replace(/\s+/g, " ").trim();
    const answer = blocks.map((b) => (b.kind === "promo" ? "Caution: promotional source. " : "") + plain(b.text)).join(" ");
    const lines = [];
    if (answer) lines.push("Answer: " + answer);
    if (safety) lines.push("Safety notes: " + (safety.compact || "read the Important box under the answer."));
    return lines;
  }

  function announce(lines) {
    ui.announcer.replaceChildren(...(lines && lines.length ? [el("div", {}, lines.map((t) => el("p", { text: t })))] : []));
  }

  // Phone numbers in the urgent guidance (from the clinic's settings: "988", "116 123", "13 11 14", "911") as
  // tap-to-call links; a number of fewer than three digits ("24 hours") is not a phone number.
  const PHONE = /(^|[^\w.])(\d{2,3}(?:[ -]\d{2,4}){0,3})(?![\w.])/g;

  function withCallLinks(text) {
    const out = [];
    let last = 0;
    for (const match of text.matchAll(PHONE)) {
      const number = match[2];
      const digits = number.replace(/\D/g, "");
      if (digits.length < 3) continue;
      const start = match.index + match[1].length;
      out.push(text.slice(last, start));
      out.push(el("a", { class: "msa-call", href: "tel:" + digits, "aria-label": "Call " + number, text: number }));
      last = start + number.length;
    }
    out.push(text.slice(last));
    return out;
  }

  // Answer blocks: paragraphs with [n] markers as buttons that open source n, and promotional warnings.
  // `openSource(id)` gives the action for source id; with none (a reply still being written) the markers are
  // shown as the same buttons, inactive until the reply is complete.
  function renderBlocks(blocks, openSource) {
    const body = el("div", { class: "msa-body" });
    for (const block of blocks) {
      const p = renderParagraph(block.text, openSource);
      if (block.kind === "promo") {
        body.append(el("div", { class: "msa-promo", role: "note", "aria-label": "Caution: promotional source" }, [
          el("p", { class: "msa-promo-title", text: "Caution: promotional source" }), p,
        ]));
      } else {
        body.append(p);
      }
    }
    return body;
  }

  function renderParagraph(paragraph, openSource) {
    const p = el("p", { class: "msa-text msa-pre" });
    let last = 0;
    for (const match of paragraph.matchAll(MARKER)) {
      const ids = match[1].split(",").map((s) => parseInt(s, 10));
      const actions = ids.map((id) => (openSource ? openSource(id) : null));
      if (openSource && !actions.every(Boolean)) continue; // not a known source: leave as text
      // The marker stays on the same line as the word it follows.
      const before = paragraph.slice(last, match.index);
      const cut = before.search(/\S+\s*$/);
      const split = cut === -1 ? before.length : cut;
      const glued = el("span", { class: "msa-nowrap" }, before.slice(split).replace(/\s+$/, "\u00a0"));
      ids.forEach((id, i) => {
        glued.append(actions[i]
          ? button("[" + id + "]", { class: "msa-cite", "aria-label": "Show source " + id, onclick: actions[i] })
          : button("[" + id + "]", { class: "msa-cite", disabled: true, tabindex: "-1" }));
      });
      p.append(before.slice(0, split), glued);
      last = match.index + match[0].length;
    }
    p.append(paragraph.slice(last));
    return p;
  }

  // The numbered source list; each source expands to its exact passage and labels.
  function renderSources(citations) {
    const open = new Map();
    if (!citations.length) return { node: null, open: open };
    const list = el("ol", { class: "msa-sources-list" });
    for (const citation of citations) {
      const detailsId = nextId("source");
      const details = el("div", { class: "msa-source-details", id: detailsId, hidden: true }, [
        el("p", { class: "msa-source-heading", text: "Passage" }),
        el("blockquote", { class: "msa-passage msa-pre", text: citation.passage || "" }),
        el("dl", { class: "msa-source-meta" }, [
          el("dt", { text: "Source" }), el("dd", { text: citation.title || citation.source || "" }),
          el("dt", { text: "Kind" }), el("dd", { class: "msa-kind", text: citation.kind || "unknown" }),
          el("dt", { text: "Credibility" }), el("dd", { class: "msa-credibility", text: citation.credibility || "unknown" }),
        ]),
      ]);
      const toggle = button(null, { class: "msa-source-toggle", "aria-expanded": "false", "aria-controls": detailsId }, [
        el("span", { class: "msa-chevron", "aria-hidden": "true" }),
        el("span", { class: "msa-source-num", text: "[" + citation.id + "]" }),
        el("span", { class: "msa-source-title", text: citation.title || citation.source || "Source " + citation.id }),
        isPromotional(citation) ? el("span", { class: "msa-tag", text: "Promotional" }) : null,
      ]);
      const setOpen = (isOpen) => {
        toggle.setAttribute("aria-expanded", String(isOpen));
        details.hidden = !isOpen;
      };
      toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
      const item = el("li", {}, [toggle, details]);
      // A [n] marker jumps to source n: opened, focused and scrolled to the top of the view.
      open.set(citation.id, () => {
        setOpen(true);
        toggle.focus({ preventScroll: true });
        item.scrollIntoView({ block: "start", behavior: scrollBehavior() });
      });
      list.append(item);
    }
    const node = el("div", { class: "msa-sources" }, [el("h3", { class: "msa-sources-title", text: "Sources" }), list]);
    return { node: node, open: open };
  }

  // The first reply that shows the notices (a crisis reply shows none) gets them in full.
  function isFirstReply(turn) {
    const shown = state.turns.filter((t) => t.role !== "user" && triageLevel(t.data) !== "crisis");
    return shown.indexOf(turn) <= 0;
  }

  // The care-team notice and red-flag guidance under every reply: in full on the first reply of a conversation
  // and on every urgent one; after that in a compact form of two lines that says both things and opens the
  // full text in place.
  function renderNotices(safety, full) {
    if (!full && safety.compact) {
      return el("div", { class: "msa-notice msa-notice-compact", role: "note", "aria-label": "Safety information" }, [
        el("details", {}, [
          el("summary", { class: "msa-notice-summary", text: safety.compact }),
          ...[safety.care_team, safety.red_flags].filter(Boolean).map((text) => el("p", { text: text })),
        ]),
      ]);
    }
    const box = el("div", { class: "msa-notice", role: "note", "aria-label": "Safety information" });
    box.append(el("p", { class: "msa-notice-title", text: "Important" }));
    if (safety.care_team) box.append(el("p", { text: safety.care_team }));
    if (safety.red_flags) box.append(el("p", { text: safety.red_flags }));
    return box;
  }

  function renderFollowUps(questions) {
    return el("div", { class: "msa-followups" }, [
      el("p", { class: "msa-followups-title", text: "You could also ask:" }),
      el("ul", {}, questions.map((q) => el("li", {}, button(q, { class: "msa-btn msa-btn-followup", onclick: () => send(q) })))),
    ]);
  }

  // "Was this helpful?" with thumbs up/down, then an optional comment, then a thank-you.
  function renderFeedback(turn) {
    const box = el("div", { class: "msa-feedback" });
    if (turn.feedback) {
      box.append(el("p", { class: "msa-thanks", text: "Thanks for your feedback." }));
      return box;
    }
    const questionId = nextId("fb");
    const commentId = nextId("comment");
    let rating = null;
    const comment = el("textarea", { id: commentId, class: "msa-input", rows: "2", maxlength: "2000" });
    const problem = el("div", { class: "msa-problem-slot" });
    const submit = el("button", { type: "submit", class: "msa-btn msa-btn-primary", text: "Send feedback" });
    const form = el("form", { class: "msa-feedback-form", hidden: true }, [
      el("label", { class: "msa-label", for: commentId, text: "Add a comment (optional)" }),
      comment, submit, problem,
    ]);
    const thumb = (value, label) => button(null, {
      class: "msa-btn msa-thumb", "aria-pressed": "false",
      onclick: (event) => {
        rating = value;
        for (const b of thumbs) b.setAttribute("aria-pressed", String(b === event.currentTarget));
        form.hidden = false;
        comment.focus();
      },
    }, [icon(ICON_THUMB, value === "down" ? "msa-flip" : ""), el("span", { text: label })]);
    const thumbs = [thumb("up", "Helpful"), thumb("down", "Not helpful")];
    let sending = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) return;
      sending = true;
      try {
        await postJson("/api/feedback", { turn_id: turn.data.turn_id, rating: rating, comment: comment.value.trim() || null });
      } catch (err) {
        showProblem(problem, "Your feedback wasn't sent. " + plainReason(err), () => form.requestSubmit(submit));
        return;
      } finally {
        sending = false;
      }
      turn.feedback = rating;
      saveConversation();
      const thanks = el("p", { class: "msa-thanks", tabindex: "-1", text: "Thanks for your feedback." });
      box.replaceChildren(thanks);
      thanks.focus(); // the focused control was removed: keep keyboard focus in place
    });
    box.append(
      el("div", { class: "msa-row", role: "group", "aria-labelledby": questionId }, [
        el("span", { class: "msa-feedback-q", id: questionId, text: "Was this answer helpful?" }), ...thumbs,
      ]),
      form,
    );
    return box;
  }

  // A problem in plain words, as an alert that screen readers announce, with a Retry button. A fresh alert
  // replaces the last one in `slot`, so a second failure is announced again; focus stays on Retry if it was there.
  function showProblem(slot, text, retry) {
    const hadFocus = slot.contains(slot.getRootNode().activeElement);
    const again = button("Retry", { class: "msa-btn msa-btn-retry", onclick: retry });
    const alert = el("div", { class: "msa-problem", role: "alert" }, [el("p", { class: "msa-problem-text", text: text }), again]);
    slot.replaceChildren(alert);
    if (hadFocus) again.focus({ preventScroll: true });
    // Into view within whatever scrolls it: the conversation, or the delete confirmation's own area.
    const area = [ui.scroll, ui.confirm].find((box) => box.contains(slot));
    if (area) scrollToNode(alert, "nearest", "auto", area);
    return alert;
  }

  function renderTurn(turn) {
    return turn.role === "user" ? renderUserMessage(turn.text) : renderReply(turn, false);
  }

  /* ---------- talking to the server ---------- */

  // A failure described in plain words for the person using the widget.
  function problem(plain) {
    const err = new Error(plain);
    err.plain = plain;
    return err;
  }

  function plainReason(err) {
    if (err && err.plain) return err.plain;
    return NOT_RESPONDING; // fetch() itself failed: the server is down or the connection is lost
  }

  async function errorFor(res) {
    if (res.status === 429) return problem("You have sent many questions in a short time. Please wait a minute, then try again.");
    if (res.status >= 500) return problem("The assistant isn't working right now.");
    let detail = null;
    try { detail = (await res.json()).detail; } catch (e) { /* not JSON */ }
    if (Array.isArray(detail)) detail = detail.map((d) => (d && d.msg) || String(d)).join(" ");
    if (typeof detail === "string" && detail) {
      return problem("The assistant could not take this: " + detail.replace(/^value error,\s*/i, "").replace(/\.?$/, "."));
    }
    return problem("The assistant could not take this (error " + res.status + ").");
  }

  async function postJson(path, body, method) {
    const res = await fetch(config.api + path, {
      method: method || "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!res.ok) throw await errorFor(res);
    return res.json();
  }

  // Sends the question to /api/chat/stream and reads server-sent events from the response
  // body (EventSource cannot POST). Calls onDelta for each piece; resolves with the final reply.
  async function streamChat(message, onDelta, signal) {
    const res = await fetch(config.api + "/api/chat/stream", {
      method: "POST", signal: signal,
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ message: message, session_id: state.sessionId }),
    });
    if (!res.ok) throw await errorFor(res);
    let final = null;
    await readEvents(res.body, (event, payload) => {
      if (event === "delta") onDelta(payload.text || "");
      else if (event === "final") final = payload;
      else if (event === "error") throw problem("The assistant couldn't finish the answer.");
    });
    if (!final) throw problem("The answer was cut off.");
    return final;
  }

  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      // Normalise line endings, but keep a trailing "\r" whose "\n" may come in the next chunk.
      const pendingCr = !done && buffer.endsWith("\r");
      buffer = (pendingCr ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n") + (pendingCr ? "\r" : "");
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        handleEventBlock(buffer.slice(0, end), onEvent);
        buffer = buffer.slice(end + 2);
      }
      if (done) {
        if (buffer.trim()) handleEventBlock(buffer, onEvent);
        return;
      }
    }
  }

  function handleEventBlock(block, onEvent) {
    let event = "message";
    const dataLines = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue; // comments keep the connection alive
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") dataLines.push(value);
    }
    if (dataLines.length) onEvent(event, JSON.parse(dataLines.join("\n")));
  }

  /* ---------- conversation actions ---------- */

  function appendTurn(turn, node) {
    state.turns.push(turn);
    saveConversation();
    node = node || renderTurn(turn);
    ui.log.append(node);
    return node;
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  // Sends a question. `again` is the question's message when Retry sends it a second time.
  async function send(rawText, again) {
    const text = (rawText || "").trim();
    if (!text || state.busy) return;
    state.busy = true;
    ui.send.setAttribute("aria-disabled", "true");
    setStatus("");
    announce(null);
    for (const old of ui.log.querySelectorAll(".msa-error-msg")) old.remove();
    if (!again || ui.input.value.trim() === text) ui.input.value = "";
    const asked = again || appendTurn({ role: "user", text: text });
    scrollToNode(asked, "start");
    showStream();
    const controller = new AbortController();
    state.controller = controller;
    try {
      const reply = await streamChat(text, addStreamText, controller.signal);
      hideStream();
      state.sessionId = reply.session_id || state.sessionId;
      const turn = { role: "bot", data: reply, feedback: null };
      state.turns.push(turn); // first, so that the reply knows whether it is the conversation's first
      const node = renderReply(turn, true);
      state.turns.pop();
      appendTurn(turn, node);
      announce(node.spoken);
      scrollToNode(node, "start"); // the start of the reply (the urgent guidance first) in view
    } catch (err) {
      hideStream();
      if (err.name === "AbortError") return; // the conversation was cleared on purpose
      const slot = el("div", { class: "msa-msg msa-error-msg" });
      ui.log.append(slot);
      showProblem(slot, plainReason(err) + " Your question is saved.", () => {
        slot.remove();
        ui.input.focus({ preventScroll: true });
        send(text, asked);
      });
      if (!ui.input.value) ui.input.value = text; // so the question need not be typed again
    } finally {
      if (state.controller === controller) state.controller = null;
      state.busy = false;
      ui.send.removeAttribute("aria-disabled");
    }
  }

  /* ---------- the reply being written ---------- */

  function showStream() {
    ui.streamText = "";
    ui.streamBody.replaceChildren();
    ui.stream.className = "msa-msg msa-bot msa-streaming";
    ui.stream.hidden = false;
    ui.srStatus.textContent = "Writing an answer\u2026";
  }

  function addStreamText(piece) {
    ui.streamText += piece;
    renderStream();
    followStream();
  }

  // The notice texts known so far: those of the latest reply, and how each notice begins.
  function knownNotices() {
    const last = state.turns.filter((t) => t.role !== "user").pop();
    const safety = (last && last.data.safety) || {};
    return { texts: [safety.care_team, safety.red_flags].filter(Boolean), starts: NOTICE_STARTS, compact: safety.compact };
  }

  // "yes" when a paragraph is a safety notice, "maybe" when it is too short yet to tell, else "no".
  function noticeKind(paragraph, growing, known) {
    for (const start of known.starts.concat(known.texts)) {
      if (paragraph.startsWith(start)) return "yes";
      if (growing && start.startsWith(paragraph)) return paragraph.length >= 24 ? "yes" : "maybe";
    }
    return "no";
  }

  // Draws the text received so far as it will look: the urgent guidance in its box first, paragraphs with
  // [n] buttons, the promotional caution in its warning box and the notices in their own block.
  function renderStream() {
    const paragraphs = ui.streamText.split(/\n{2,}/);
    const known = knownNotices();
    const nodes = [];
    const notices = [];
    let level = null;
    let first = true;
    paragraphs.forEach((raw, i) => {
      const growing = i === paragraphs.length - 1;
      // A marker cut in two ("[1" before "]" arrives) waits for its second half.
      const paragraph = (growing ? raw.replace(/\[[\d,\s]*$/, "") : raw).trim();
      if (!paragraph) return;
      if (first) {
        first = false;
        level = guidanceLevel(paragraph);
        if (level) { nodes.push(renderAlert(level, paragraph, false)); return; }
        if (growing && GUIDANCE_STARTS.some(([, words]) => words.startsWith(paragraph))) return; // wait a few letters
      }
      const kind = noticeKind(paragraph, growing, known);
      if (kind === "maybe") return;
      if (kind === "yes") { notices.push(paragraph); return; }
      if (growing && "caution:".startsWith(paragraph.toLowerCase())) return;
      if (/^caution\s*:/i.test(paragraph)) {
        nodes.push(renderBlocks([{ kind: "promo", text: paragraph.replace(/^caution\s*:\s*/i, "") }], null));
        return;
      }
      nodes.push(renderParagraph(paragraph, null));
    });
    if (notices.length && level !== "crisis") {
      const later = !level && known.compact && state.turns.some((t) => t.role !== "user" && triageLevel(t.data) !== "crisis");
      nodes.push(later
        ? el("div", { class: "msa-notice msa-notice-compact" }, el("p", { class: "msa-notice-summary", text: known.compact }))
        : el("div", { class: "msa-notice" }, [el("p", { class: "msa-notice-title", text: "Important" }),
          ...notices.map((text) => el("p", { text: text }))]));
    }
    ui.stream.className = "msa-msg msa-bot msa-streaming" + (level ? " msa-urgent msa-level-" + level : "");
    ui.streamBody.replaceChildren(...nodes);
  }

  // Follows the reply as it grows, but never past its start: once the reply fills the view, its beginning
  // (the urgent guidance first) stays in view and the rest can be scrolled to.
  function followStream() {
    const box = ui.scroll;
    const top = ui.stream.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop - 8;
    const bottom = top + ui.stream.offsetHeight + 16 - box.clientHeight;
    const target = Math.min(top, bottom);
    if (target > box.scrollTop) box.scrollTop = target;
  }

  function hideStream() {
    ui.stream.hidden = true;
    ui.streamText = "";
    ui.streamBody.replaceChildren();
    ui.srStatus.textContent = "";
  }

  function abortStream() {
    if (state.controller) state.controller.abort();
    state.controller = null;
  }

  function resetConversation(message) {
    abortStream();
    hideStream();
    state.sessionId = null;
    state.turns = [];
    saveConversation();
    ui.log.replaceChildren();
    announce(null);
    setStatus(message);
    ui.input.focus();
  }

  function startOver() {
    hideConfirm();
    resetConversation("Started a new conversation.");
  }

  // The confirmation takes the place of the options on a phone (where they fold away), so that the two never
  // fill a small screen together; cancelling brings the options back.
  function askDelete() {
    ui.confirmProblem.replaceChildren();
    ui.optionsBeforeConfirm = ui.options.getAttribute("aria-expanded") === "true";
    showOptions(false);
    ui.confirm.hidden = false;
    ui.confirmCancel.focus(); // the safe choice has focus first
  }

  function hideConfirm() {
    if (ui.confirm.hidden) return;
    ui.confirm.hidden = true;
    if (ui.optionsBeforeConfirm) showOptions(true);
    ui.deleteButton.focus();
  }

  async function confirmDelete() {
    abortStream(); // a reply still being written would otherwise be logged after the delete
    try {
      if (state.sessionId) {
        const res = await fetch(config.api + "/api/sessions/" + encodeURIComponent(state.sessionId), { method: "DELETE" });
        if (!res.ok && res.status !== 404) throw await errorFor(res);
      }
    } catch (err) {
      showProblem(ui.confirmProblem, "Your conversation wasn't deleted. " + plainReason(err), confirmDelete);
      return;
    }
    ui.confirm.hidden = true;
    resetConversation("Your conversation was deleted.");
  }

  /* ---------- panel, keyboard and text size ---------- */

  function openPanel(moveFocus) {
    state.open = true;
    saveConversation();
    ui.panel.hidden = false;
    ui.launcher.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "true");
    updateModal();
    if (moveFocus) ui.input.focus();
  }

  function closePanel() {
    state.open = false;
    saveConversation();
    ui.confirm.hidden = true;
    ui.panel.hidden = true;
    ui.launcher.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  // On small screens the panel covers the page, so it behaves as a modal dialog.
  function updateModal() {
    ui.panel.setAttribute("aria-modal", String(fullScreen.matches));
  }

  function onPanelKeydown(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      if (!ui.confirm.hidden) hideConfirm();
      else closePanel();
    } else if (event.key === "Tab" && fullScreen.matches) {
      trapFocus(event);
    }
  }

  function trapFocus(event) {
    const focusable = Array.from(ui.panel.querySelectorAll("button:not([disabled]), textarea, a[href], summary, [tabindex='0']"))
      .filter((node) => node.getClientRects().length > 0);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const active = ui.panel.getRootNode().activeElement;
    if (event.shiftKey && active === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && active === last) { event.preventDefault(); first.focus(); }
  }

  function onInputKeydown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(ui.input.value);
    }
  }

  function applyTextSize() {
    ui.container.style.setProperty("--msa-scale", String(TEXT_SIZES[state.textSize].scale));
    ui.container.dataset.textSize = TEXT_SIZES[state.textSize].name;
    ui.smaller.setAttribute("aria-disabled", String(state.textSize === 0));
    ui.larger.setAttribute("aria-disabled", String(state.textSize === TEXT_SIZES.length - 1));
  }

  function changeTextSize(step) {
    const next = Math.min(TEXT_SIZES.length - 1, Math.max(0, state.textSize + step));
    if (next === state.textSize) return;
    state.textSize = next;
    applyTextSize();
    try { localStorage.setItem(SIZE_KEY, String(next)); } catch (e) { /* not remembered */ }
    setStatus("Text size: " + TEXT_SIZES[next].name + ".");
  }

  /* ---------- start ---------- */

  function restore() {
    const saved = loadConversation();
    if (saved) {
      state.sessionId = saved.sessionId || null;
      state.turns = [];
      for (const turn of saved.turns) { // each reply knows which came before it, as when it first arrived
        state.turns.push(turn);
        ui.log.append(renderTurn(turn));
      }
    }
    const shouldOpen = saved ? saved.open : config.openOnLoad;
    if (shouldOpen) openPanel(false); // never steal focus from the page on load
  }

  function start() {
    buildUi();
    state.textSize = loadTextSize();
    applyTextSize();
    fullScreen.addEventListener("change", updateModal);
    restore();
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
