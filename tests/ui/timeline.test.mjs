// Unit tests of ui/timeline.js, the connection history dialog, on ui/index.html's real
// markup: `why` on top, the entries newest first with their attempt and next attempt,
// and Copy, through the Clipboard API or, when that refuses, the textarea fallback.
// Run: node --test tests/ui/

import { test } from "node:test";
import assert from "node:assert/strict";

import { installFakeDom } from "./fake-dom.mjs";

const dom = installFakeDom();
const { TimelinePanel } = await import("../../ui/timeline.js");

const at = (hours, minutes, seconds) => {
  const date = new Date();
  date.setHours(hours, minutes, seconds, 0);
  return date.getTime();
};

const TIMELINE = {
  why: "Reconnecting: the server closed the connection.",
  entries: [
    { at_ms: at(0, 0, 1), state: "connected", reason: null, detail: "", attempt: null, retry_at_ms: null },
    { at_ms: at(0, 0, 2), state: "reconnecting", reason: "closed_by_server", detail: "connection lost", attempt: 1, retry_at_ms: at(0, 0, 5) },
    { at_ms: at(0, 0, 6), state: "reconnecting", reason: "closed_by_server", detail: "connection lost again", attempt: 2, retry_at_ms: at(0, 0, 16) },
  ],
  clipboard: "00:00:01 connected\n00:00:02 reconnecting …",
};

function setNavigator(value) {
  Object.defineProperty(globalThis, "navigator", { value, configurable: true, writable: true });
}

function panel() {
  const $ = dom.loadPage();
  const timeline = new TimelinePanel({
    dialog: $("timeline"),
    open: $("open-timeline"),
    close: $("close-timeline"),
    why: $("timeline-why"),
    entries: $("timeline-entries"),
    empty: $("timeline-empty"),
    copy: $("timeline-copy"),
    copyStatus: $("timeline-copy-status"),
  });
  return { $, timeline };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const text = (li, cls) => li.querySelector(`.${cls}`)?.textContent ?? null;

test("the history opens from the header: why on top, then the entries newest first", () => {
  const { $, timeline } = panel();
  $("view-main").hidden = false; // signed in: the header's button is there
  timeline.set(TIMELINE);
  $("open-timeline").click();
  assert.equal($("timeline").open, true);
  assert.equal($("timeline-why").textContent, TIMELINE.why);
  const items = $("timeline-entries").children;
  assert.deepEqual(items.map((li) => text(li, "timeline-at")), ["00:00:06", "00:00:02", "00:00:01"]);
  const [newest, , oldest] = items;
  assert.equal(newest.className, "timeline-entry");
  assert.equal(newest.dataset.state, "reconnecting");
  assert.equal(text(newest, "timeline-state"), "Reconnecting");
  assert.equal(text(newest, "timeline-detail"), "connection lost again");
  assert.equal(text(newest, "timeline-attempt"), "attempt 2");
  assert.equal(text(newest, "timeline-next"), "next attempt at 00:00:16");
  assert.equal(text(oldest, "timeline-state"), "Connected");
  assert.equal(text(oldest, "timeline-attempt"), null);
  assert.equal(text(oldest, "timeline-next"), null);
  assert.equal($("timeline-empty").hidden, true);

  // A new event while open is shown at once, on top.
  timeline.set({ ...TIMELINE, entries: [...TIMELINE.entries, { at_ms: at(0, 0, 17), state: "connected" }] });
  assert.equal(text($("timeline-entries").children[0], "timeline-at"), "00:00:17");
  // Closing gives the focus back to the header button.
  $("close-timeline").click();
  assert.equal($("timeline").open, false);
  assert.equal(dom.doc.activeElement, $("open-timeline"));
});

test("an empty history says so", () => {
  const { $, timeline } = panel();
  timeline.set({ why: "Not connected yet.", entries: [], clipboard: "" });
  timeline.show();
  assert.equal($("timeline-entries").children.length, 0);
  assert.equal($("timeline-empty").hidden, false);
});

test("Copy uses the Clipboard API when it works", async () => {
  const { $, timeline } = panel();
  const written = [];
  setNavigator({ clipboard: { writeText: async (value) => written.push(value) } });
  dom.doc.execCommand = () => assert.fail("no fallback needed");
  timeline.set(TIMELINE);
  timeline.show();
  $("timeline-copy").click();
  await settle();
  assert.deepEqual(written, [TIMELINE.clipboard]);
  assert.equal($("timeline-copy-status").textContent, "Copied");
  assert.equal($("timeline-copy-status").dataset.error, "false");
});

test("Copy falls back to a hidden textarea and execCommand when the Clipboard API refuses", async () => {
  const { $, timeline } = panel();
  setNavigator({ clipboard: { writeText: async () => Promise.reject(new Error("not allowed")) } });
  const copied = [];
  dom.doc.execCommand = (command) => {
    // The text is in a textarea inside the (modal) dialog while it is copied.
    copied.push([command, $("timeline").querySelector("textarea")?.value]);
    return true;
  };
  timeline.set(TIMELINE);
  timeline.show();
  $("timeline-copy").focus();
  $("timeline-copy").click();
  await settle();
  assert.deepEqual(copied, [["copy", TIMELINE.clipboard]]);
  assert.equal($("timeline").querySelector("textarea"), null, "the textarea is gone afterwards");
  assert.equal($("timeline-copy-status").textContent, "Copied");
  assert.equal(dom.doc.activeElement, $("timeline-copy"));
});

test("Copy says so when neither way works, or when there is nothing to copy", async () => {
  const { $, timeline } = panel();
  setNavigator({}); // no Clipboard API at all
  dom.doc.execCommand = () => false;
  timeline.set(TIMELINE);
  timeline.show();
  $("timeline-copy").click();
  await settle();
  assert.match($("timeline-copy-status").textContent, /^Could not copy/);
  assert.equal($("timeline-copy-status").dataset.error, "true");
  timeline.set({ ...TIMELINE, clipboard: "" });
  $("timeline-copy").click();
  await settle();
  assert.equal($("timeline-copy-status").textContent, "Nothing to copy yet.");
});
