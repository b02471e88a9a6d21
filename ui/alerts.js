// The per-friend alert settings (stars, rules, one-shots) and the snooze are changed
// with change_alerts, not with the settings panel's full-object save. This module sends
// those changes one at a time, in order, and hands each answer (the settings as saved)
// to the page; `pending` tells the controls an answer is still due, so they do not
// flicker back to an older state meanwhile.

import * as ipc from "./ipc.js";

/** settings.servers[settings.server]: the signed-in account's stars, rules and one-shots. */
export function friendAlertsOf(settings) {
  const server = settings?.server;
  return (typeof server === "string" && settings?.servers?.[server]) || {};
}

export class AlertChanges {
  /** @param {(settings: object) => void} onSaved given each answer of change_alerts */
  constructor(onSaved) {
    this.onSaved = onSaved;
    this.queue = Promise.resolve();
    this.pending = 0;
  }

  /** Sends one change after the ones before it; resolves to the settings as saved. */
  send(change) {
    this.pending++;
    const answer = this.queue.then(() => ipc.changeAlerts(change));
    this.queue = answer.catch(() => {});
    return answer.then(
      (saved) => {
        this.pending--;
        if (saved) this.onSaved(saved);
        return saved;
      },
      (error) => {
        this.pending--;
        throw error;
      },
    );
  }
}
