// The connection's recent history, for "why is it reconnecting?": a dialog with
// kith-core's one-line summary (`why`), its events newest first, and a Copy button for
// the redacted text kith-core prepared for a bug report. Opened from the header.

import { timelineParts } from "./format.js";

export class TimelinePanel {
  /** @param {object} els { dialog, open, close, why, entries: <ol>, empty, copy, copyStatus } */
  constructor(els) {
    Object.assign(this, els);
    this.timeline = null; // { why, entries, clipboard }
    this.open.addEventListener("click", () => this.show());
    this.close.addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close(); // the backdrop
    });
    this.dialog.addEventListener("close", () => {
      if (!this.open.closest("[hidden]")) this.open.focus();
    });
    this.copy.addEventListener("click", () => this.copyText());
  }

  /** The timeline from get_view or a kith://timeline event. */
  set(timeline) {
    this.timeline = timeline ?? null;
    if (this.dialog.open) this.render();
  }

  show() {
    this.render();
    this.setCopyStatus("");
    if (!this.dialog.open) this.dialog.showModal();
  }

  render() {
    const now = Date.now();
    this.why.textContent = this.timeline?.why ?? "";
    const entries = Array.isArray(this.timeline?.entries) ? this.timeline.entries : [];
    const items = [];
    for (let i = entries.length - 1; i >= 0; i--) items.push(entryItem(entries[i], now));
    this.entries.replaceChildren(...items);
    this.empty.hidden = items.length > 0;
  }

  async copyText() {
    const text = this.timeline?.clipboard;
    if (typeof text !== "string" || text === "") return this.setCopyStatus("Nothing to copy yet.", true);
    try {
      await copyToClipboard(text, this.dialog);
      this.setCopyStatus("Copied");
    } catch (error) {
      this.setCopyStatus(`Could not copy: ${error.message}`, true);
    }
  }

  setCopyStatus(message, failed = false) {
    this.copyStatus.textContent = message;
    this.copyStatus.dataset.error = String(failed);
  }
}

/** <li class="timeline-entry">: time, state, then detail, attempt, next attempt. */
function entryItem(entry, now) {
  const parts = timelineParts(entry, now);
  const li = document.createElement("li");
  li.className = "timeline-entry";
  li.dataset.state = String(entry?.state ?? "");
  li.dataset.reason = String(entry?.reason ?? "");
  const at = document.createElement("time");
  at.className = "timeline-at";
  at.textContent = parts.at;
  if (Number.isFinite(entry?.at_ms)) at.dateTime = new Date(entry.at_ms).toISOString();
  li.appendChild(at);
  for (const [cls, text] of [
    ["timeline-state", parts.state],
    ["timeline-detail", parts.detail],
    ["timeline-attempt", parts.attempt],
    ["timeline-next", parts.next],
  ]) {
    if (text === "") continue;
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.appendChild(span);
  }
  return li;
}

/**
 * Copies text: the Clipboard API first; if that is missing or refuses, a hidden
 * textarea in `container` (inside the modal dialog, where it can be selected) and
 * execCommand("copy"). Rejects when neither works.
 */
export async function copyToClipboard(text, container) {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // fall back below
  }
  const area = document.createElement("textarea");
  area.className = "visually-hidden";
  area.value = text;
  area.setAttribute("readonly", "");
  area.setAttribute("aria-hidden", "true");
  area.tabIndex = -1;
  const focused = document.activeElement;
  container.appendChild(area);
  let copied = false;
  try {
    area.select();
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  } finally {
    area.remove();
    if (focused && focused !== document.activeElement) focused.focus?.();
  }
  if (!copied) throw new Error("the clipboard is not available");
}
