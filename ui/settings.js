// The settings panel (a modal <dialog>). Each switch saves the full settings object
// through the Rust side and then shows what was actually saved, which may differ (the
// OS can refuse "Launch at login"). Saves run one after another so a quick second
// toggle never races the first. The tray can change settings too; those arrive here.
// Quiet hours are one field (enabled, start, end, days), saved whole when any of its
// controls changes, and only when it makes sense (see quietHoursProblem).

import * as ipc from "./ipc.js";

/** Checkbox id → settings field. */
const SWITCHES = {
  "notify-online": "notify_online",
  "notify-offline": "notify_offline",
  "notify-back-from-away": "notify_back_from_away",
  dnd: "do_not_disturb",
  "favourites-break-through": "favourites_break_through",
  autostart: "launch_at_login",
};

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** Why quiet hours as the form has them cannot be saved, or "" when they can. */
export function quietHoursProblem({ enabled, start, end, days }) {
  if (!start || !end) return "Enter both a start and an end time for quiet hours.";
  if (enabled && days.length === 0) return "Choose at least one day for quiet hours.";
  return "";
}

/** "22:00:00" → "22:00" for <input type="time"> (seconds only when there are some). */
function timeValue(text) {
  if (typeof text !== "string") return "";
  return /^\d\d:\d\d:00$/.test(text) ? text.slice(0, 5) : text;
}

export class SettingsPanel {
  /**
   * @param {object} els { dialog, open, close, server, account, error, signOut }
   * @param {object} hooks { onSignedOut(): void }
   */
  constructor(els, { onSignedOut }) {
    Object.assign(this, els);
    this.onSignedOut = onSignedOut;
    this.settings = null; // as last saved / reported by the Rust side
    this.desired = null; // what the switches ask for, sent with the next save
    this.queue = Promise.resolve();
    this.inFlight = 0;
    this.switches = Object.entries(SWITCHES).map(([id, key]) => ({
      input: this.dialog.querySelector(`#${id}`),
      key,
    }));
    const field = (id) => this.dialog.querySelector(`#${id}`);
    this.quiet = {
      enabled: field("quiet-enabled"),
      start: field("quiet-start"),
      end: field("quiet-end"),
      days: DAYS.map((day) => ({ day, input: field(`quiet-day-${day}`) })),
      error: field("quiet-hours-error"),
    };

    this.open.addEventListener("click", () => this.show());
    this.close.addEventListener("click", () => this.hide());
    // Escape closes a modal dialog natively ("cancel", then "close").
    this.dialog.addEventListener("close", () => {
      this.showError("");
      if (!this.open.closest("[hidden]")) this.open.focus();
    });
    // A click on the backdrop (the dialog element itself, outside its content) closes it.
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.hide();
    });
    for (const { input, key } of this.switches) {
      input.addEventListener("change", () => this.change(key, input.checked));
    }
    const { enabled, start, end, days } = this.quiet;
    for (const input of [enabled, start, end, ...days.map((d) => d.input)]) {
      input.addEventListener("change", () => this.quietChanged());
    }
    this.signOut.addEventListener("click", () => this.doSignOut());
  }

  show() {
    if (this.dialog.open) return;
    this.dialog.showModal();
  }

  hide() {
    if (this.dialog.open) this.dialog.close();
  }

  /** Settings from get_view, save_settings or the tray. */
  setSettings(settings) {
    if (!settings) return;
    this.settings = settings;
    if (this.inFlight === 0) {
      this.desired = settings;
      this.render();
    }
  }

  /** The account line and server shown at the top of the panel. */
  setSession(session) {
    const name = session?.username ?? "";
    this.account.textContent = name
      ? `Signed in as ${name}${session.demo ? " (demo)" : ""}`
      : "Not signed in";
    this.sessionServer = session?.server ?? null;
    this.render();
  }

  render() {
    const s = this.settings;
    this.server.value = this.sessionServer ?? s?.server ?? s?.profile_path ?? "";
    if (!s) return;
    for (const { input, key } of this.switches) input.checked = Boolean(s[key]);
    // The saved quiet hours replace whatever the form had, an unsaveable edit included.
    const quiet = s.quiet_hours ?? {};
    const saved = new Set(quiet.days ?? []);
    this.quiet.enabled.checked = Boolean(quiet.enabled);
    this.quiet.start.value = timeValue(quiet.start);
    this.quiet.end.value = timeValue(quiet.end);
    for (const { day, input } of this.quiet.days) input.checked = saved.has(day);
    this.showQuietError("");
  }

  /** Quiet hours as the form has them. */
  readQuietHours() {
    const { enabled, start, end, days } = this.quiet;
    return {
      enabled: enabled.checked,
      start: start.value,
      end: end.value,
      days: days.filter(({ input }) => input.checked).map(({ day }) => day),
    };
  }

  quietChanged() {
    if (!this.desired) return;
    const quiet = this.readQuietHours();
    const problem = quietHoursProblem(quiet);
    this.showQuietError(problem);
    if (problem !== "") return;
    this.change("quiet_hours", { ...this.desired.quiet_hours, ...quiet });
  }

  showQuietError(message) {
    const { error } = this.quiet;
    error.textContent = message;
    error.hidden = message === "";
    for (const input of [this.quiet.start, this.quiet.end, ...this.quiet.days.map((d) => d.input)]) {
      if (message === "") input.removeAttribute("aria-invalid");
      else input.setAttribute("aria-invalid", "true");
    }
  }

  change(key, value) {
    if (!this.desired) return;
    this.desired = { ...this.desired, [key]: value };
    const wanted = this.desired;
    this.inFlight++;
    this.dialog.setAttribute("aria-busy", "true");
    this.queue = this.queue.then(async () => {
      try {
        const saved = await ipc.saveSettings(wanted);
        this.settings = saved ?? wanted;
        if (key === "launch_at_login" && value && !this.settings.launch_at_login) {
          this.showError("Launch at login could not be turned on.");
        } else {
          this.showError("");
        }
      } catch (error) {
        this.showError(`Could not save settings: ${error.message}`);
      } finally {
        if (--this.inFlight === 0) {
          this.dialog.removeAttribute("aria-busy");
          this.desired = this.settings;
          this.render();
        }
      }
    });
  }

  async doSignOut() {
    if (this.signOut.getAttribute("aria-disabled") === "true") return;
    this.signOut.setAttribute("aria-disabled", "true");
    try {
      await ipc.signOut();
      this.hide();
      this.onSignedOut();
    } catch (error) {
      this.showError(`Could not sign out: ${error.message}`);
    } finally {
      this.signOut.removeAttribute("aria-disabled");
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = message === "";
  }
}
