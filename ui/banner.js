// The connection banner: says what the socket is doing and why, with a live countdown
// to the next retry. The countdown runs on one setInterval that exists only while a
// retry is pending, and its ticking text is hidden from screen readers so the polite
// live region announces each state change once, not every second.

import { bannerParts, secondsLeft } from "./format.js";

export class Banner {
  /**
   * @param {object} els { banner, text, retry, fallbackFocus }: fallbackFocus gets the
   *   focus when the focused Retry button goes away.
   * @param {() => Promise} onRetry
   */
  constructor({ banner, text, retry, fallbackFocus }, onRetry) {
    this.banner = banner;
    this.fallbackFocus = fallbackFocus;
    this.text = text;
    this.retry = retry;
    this.connection = null;
    this.deadline = null; // Date.now() time of the next retry, when counting down
    this.timer = null;

    // Built once: lead text, then the ticking part, then the detail.
    this.lead = document.createElement("span");
    this.countdown = document.createElement("span");
    this.countdown.className = "countdown";
    this.countdown.setAttribute("aria-hidden", "true");
    this.rest = document.createElement("span");
    this.text.replaceChildren(this.lead, this.countdown, this.rest);

    // aria-disabled rather than disabled: a disabled button would drop keyboard focus.
    retry.addEventListener("click", async () => {
      if (retry.getAttribute("aria-disabled") === "true") return;
      retry.setAttribute("aria-disabled", "true");
      try {
        await onRetry();
      } catch (error) {
        console.warn("reconnect_now failed:", error.message);
      } finally {
        retry.removeAttribute("aria-disabled");
      }
    });
  }

  /**
   * Shows a Connection ({ state, reason, detail, retry_at_ms, attempt,
   * can_reconnect_now, stale_since_ms }). The retry's deadline is absolute (ms since
   * the epoch), so a window opened mid-wait counts down from the real time left.
   */
  show(connection) {
    this.connection = connection ?? { state: "idle" };
    const state = this.connection.state ?? "idle";
    const retryAt = this.connection.retry_at_ms;
    this.stopTimer();
    this.deadline = state === "reconnecting" && Number.isFinite(retryAt) ? retryAt : null;

    this.banner.dataset.state = state;
    this.banner.dataset.reason = this.connection.reason ?? "";
    this.banner.dataset.stale = Number.isFinite(this.connection.stale_since_ms) ? "true" : "false";
    // kith-core decides where "Reconnect now" does anything.
    const hideRetry = this.connection.can_reconnect_now !== true;
    if (hideRetry && !this.retry.hidden && document.activeElement === this.retry) {
      this.retry.hidden = true;
      this.fallbackFocus?.focus();
    }
    this.retry.hidden = hideRetry;
    this.paint();
    if (this.deadline !== null && secondsLeft(this.deadline, Date.now()) > 0) {
      this.timer = setInterval(() => this.tick(), 1000);
    }
  }

  tick() {
    this.paint();
    if (this.deadline === null || secondsLeft(this.deadline, Date.now()) === 0) {
      this.stopTimer();
    }
  }

  paint() {
    const seconds = this.deadline === null ? null : secondsLeft(this.deadline, Date.now());
    const parts = bannerParts(this.connection, seconds);
    if (this.lead.textContent !== parts.lead) this.lead.textContent = parts.lead;
    if (this.countdown.textContent !== parts.countdown) this.countdown.textContent = parts.countdown;
    if (this.rest.textContent !== parts.rest) this.rest.textContent = parts.rest;
  }

  stopTimer() {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
