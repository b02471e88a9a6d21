// One friend's alerts, in a small modal dialog opened from their row: for each kind of
// change "As set globally" / "Always" / "Never", and "Tell me once when they come
// online". One dialog serves every row (rows come and go as the list scrolls). Each
// choice is sent at once with change_alerts; the dialog then shows what was saved. The
// dialog is native: Escape closes it, Tab and the arrow keys (radio groups) move.

import { friendAlertsOf } from "./alerts.js";

/** change_alerts' transition → the key of settings.servers[…].rules[friend]. */
const TRANSITIONS = { came_online: "online", went_offline: "offline", back_from_away: "back_from_away" };
const RULES = ["global", "always", "never"];

export class FriendAlertsPane {
  /**
   * @param {object} els { dialog, title, since, close, once, error }; the radios are
   *   found in the dialog as #rule-<transition>-<rule>
   * @param {object} deps { changes: AlertChanges, describe(id) → { name, since } | null,
   *   onClosed(id, returnFocus): void }
   */
  constructor({ dialog, title, since, close, once, error }, { changes, describe, onClosed }) {
    Object.assign(this, { dialog, title, since, close, once, error, changes, describe, onClosed });
    this.friend = null; // the user_id shown, while open
    this.settings = null;
    this.returnFocus = null;
    this.radios = {};
    for (const transition of Object.keys(TRANSITIONS)) {
      this.radios[transition] = {};
      for (const rule of RULES) {
        const input = dialog.querySelector(`#rule-${transition}-${rule}`);
        this.radios[transition][rule] = input;
        input.addEventListener("change", () => {
          if (input.checked) this.send({ kind: "rule", friend: this.friend, transition, rule });
        });
      }
    }
    once.addEventListener("change", () =>
      this.send({ kind: "once_online", friend: this.friend, armed: once.checked }),
    );
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // the backdrop
    });
    dialog.addEventListener("close", () => {
      const friend = this.friend;
      this.friend = null;
      if (friend !== null) this.onClosed(friend, this.returnFocus);
      this.returnFocus = null;
    });
  }

  /** Opens the dialog for one friend, focused on their first rule. */
  open(id) {
    const friend = String(id);
    if (!this.describe(friend)) return;
    if (!this.dialog.open) this.returnFocus = document.activeElement;
    this.friend = friend;
    this.showError("");
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
    const first = this.radios.came_online;
    (RULES.map((rule) => first[rule]).find((input) => input.checked) ?? first.global).focus();
  }

  /** Settings as saved; shown unless a change is still on its way (it would flicker). */
  setSettings(settings) {
    this.settings = settings;
    if (this.changes.pending === 0) this.render();
  }

  render() {
    if (this.friend === null) return;
    const about = this.describe(this.friend);
    this.title.textContent = `Alerts for ${about?.name ?? "this friend"}`;
    this.since.textContent = about?.since ?? "";
    this.since.hidden = !about?.since;
    const alerts = friendAlertsOf(this.settings);
    const rules = alerts.rules?.[this.friend] ?? {};
    for (const [transition, key] of Object.entries(TRANSITIONS)) {
      const current = RULES.includes(rules[key]) ? rules[key] : "global";
      for (const rule of RULES) this.radios[transition][rule].checked = rule === current;
    }
    this.once.checked = (alerts.once_online ?? []).map(String).includes(this.friend);
  }

  async send(change) {
    if (change.friend === null) return;
    try {
      await this.changes.send(change);
      this.showError("");
    } catch (error) {
      this.showError(`Could not change the alerts: ${error.message}`);
      if (this.changes.pending === 0) this.render(); // back to what is saved
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = message === "";
  }
}
