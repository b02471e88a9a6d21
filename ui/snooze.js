// Snoozing alerts: the "30 minutes" / "1 hour" / "Until tomorrow morning" buttons, and
// the lines (one in the window, one in settings) that say until when alerts are
// snoozed, each with "Resume alerts". The lines go away by themselves when the snooze
// ends: one timer to that moment, no polling.

import { snoozeText } from "./format.js";

/** setTimeout's longest delay; a later end is reached in more than one wait. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * An RFC 3339 instant as ms since the epoch, or null. kith-core may write nanoseconds
 * ("…:00.123456789Z"); Date.parse is only sure to read milliseconds, so the rest goes.
 */
export function instantMs(text) {
  if (typeof text !== "string") return null;
  const ms = Date.parse(text.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isFinite(ms) ? ms : null;
}

export class SnoozeControl {
  /**
   * @param {object} els { buttons: [<button data-choice>], lines: [{ box, text, resume,
   *   fallbackFocus }], errors: [element] }: fallbackFocus gets the focus when a
   *   focused line goes; a failure is said in each of `errors` (in settings, in the window)
   * @param {AlertChanges} changes
   */
  constructor({ buttons, lines, errors }, changes) {
    this.lines = lines;
    this.errors = errors;
    this.changes = changes;
    this.until = null; // ms since the epoch of the snooze's end, or null
    this.timer = null;
    for (const button of buttons) {
      button.addEventListener("click", () => this.send({ kind: "snooze", choice: button.dataset.choice }));
    }
    for (const { resume } of lines) {
      resume.addEventListener("click", () => this.send({ kind: "unsnooze" }));
    }
  }

  /** Settings as saved: `snoozed_until` is an RFC 3339 time or null. */
  setSettings(settings) {
    this.until = instantMs(settings?.snoozed_until);
    this.render();
  }

  /** Shows the snooze as of now, and sets the timer to its end. */
  render() {
    clearTimeout(this.timer);
    this.timer = null;
    const now = Date.now();
    const text = this.until === null ? "" : snoozeText(this.until, now);
    for (const { box, text: line, fallbackFocus } of this.lines) {
      if (line.textContent !== text) line.textContent = text;
      if (text === "" && !box.hidden && box.contains(document.activeElement)) fallbackFocus?.focus();
      box.hidden = text === "";
    }
    if (text !== "") this.timer = setTimeout(() => this.render(), Math.min(MAX_DELAY, this.until - now));
  }

  async send(change) {
    try {
      await this.changes.send(change);
      this.showError("");
    } catch (error) {
      this.showError(`Could not ${change.kind === "unsnooze" ? "resume" : "snooze"} alerts: ${error.message}`);
    }
  }

  showError(message) {
    for (const error of this.errors) {
      error.textContent = message;
      error.hidden = message === "";
    }
  }
}
