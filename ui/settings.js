// The settings panel (a modal <dialog>). Each switch saves the full settings object
// through the Rust side and then shows what was actually saved, which may differ (the
// OS can refuse "Launch at login"). Saves run one after another so a quick second
// toggle never races the first. The tray can change settings too; those arrive here.

import * as ipc from "./ipc.js";

/** Checkbox id → settings field. */
const SWITCHES = {
  "notify-online": "notify_online",
  "notify-offline": "notify_offline",
  dnd: "do_not_disturb",
  autostart: "launch_at_login",
};

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
