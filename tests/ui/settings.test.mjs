// Unit tests of ui/settings.js's new fields on ui/index.html's real markup: quiet hours
// (saved whole, and not at all while they make no sense), "favourites break through"
// and "comes back from away". Only Tauri's `invoke` is stubbed: save_settings answers
// with what it was given, and every call is recorded.
// Run: node --test tests/ui/

import { test } from "node:test";
import assert from "node:assert/strict";

import { installFakeDom } from "./fake-dom.mjs";

const dom = installFakeDom();
const { SettingsPanel, quietHoursProblem } = await import("../../ui/settings.js");

const SERVER = "https://presence.example.com";

function saved() {
  return {
    server: SERVER,
    notify_online: true,
    notify_offline: true,
    do_not_disturb: false,
    launch_at_login: false,
    notify_back_from_away: false,
    favourites_break_through: false,
    quiet_hours: { enabled: true, start: "22:00:00", end: "07:00:00", days: ["sat", "sun"] },
    snoozed_until: null,
    snooze_morning: "08:00:00",
    servers: { [SERVER]: { favourites: ["2"], rules: {}, once_online: [] } },
  };
}

function panel() {
  const $ = dom.loadPage();
  const calls = [];
  window.__TAURI__ = {
    core: {
      invoke: async (command, args) => {
        calls.push({ command, args: structuredClone(args) });
        return args.settings;
      },
    },
    event: { listen: async () => () => {} },
  };
  const settings = new SettingsPanel(
    {
      dialog: $("settings"),
      open: $("open-settings"),
      close: $("close-settings"),
      server: $("settings-server"),
      account: $("settings-account"),
      error: $("settings-error"),
      signOut: $("sign-out"),
    },
    { onSignedOut() {} },
  );
  settings.setSettings(saved());
  return { $, calls, settings };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function toggle(input, checked) {
  input.checked = checked;
  input.dispatch("change", { target: input });
}

function setTime(input, value) {
  input.value = value;
  input.dispatch("change", { target: input });
}

test("the quiet-hours form shows the saved quiet hours", () => {
  const { $ } = panel();
  assert.equal($("quiet-enabled").checked, true);
  assert.equal($("quiet-start").value, "22:00");
  assert.equal($("quiet-end").value, "07:00");
  const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].filter((day) => $(`quiet-day-${day}`).checked);
  assert.deepEqual(days, ["sat", "sun"]);
  assert.equal($("quiet-hours-error").hidden, true);
});

test("a quiet-hours change saves the whole settings object, quiet hours whole", async () => {
  const { $, calls } = panel();
  setTime($("quiet-start"), "23:30");
  await settle();
  toggle($("quiet-day-mon"), true);
  await settle();
  assert.equal(calls.length, 2);
  assert.equal(calls[0].command, "save_settings");
  assert.deepEqual(calls[0].args.settings.quiet_hours, { enabled: true, start: "23:30", end: "07:00", days: ["sat", "sun"] });
  assert.deepEqual(calls[1].args.settings.quiet_hours.days, ["mon", "sat", "sun"]);
  // Everything else goes along unchanged, stars included.
  const { quiet_hours: _, ...rest } = calls[1].args.settings;
  const { quiet_hours: __, ...before } = saved();
  assert.deepEqual(rest, before);
});

test("enabled quiet hours with no day are not saved, and say why", async () => {
  const { $, calls } = panel();
  toggle($("quiet-day-sat"), false);
  await settle();
  assert.equal(calls.length, 1); // sun is left: fine
  toggle($("quiet-day-sun"), false);
  await settle();
  assert.equal(calls.length, 1, "not saved");
  assert.equal($("quiet-hours-error").hidden, false);
  assert.equal($("quiet-hours-error").textContent, "Choose at least one day for quiet hours.");
  assert.equal($("quiet-day-sun").getAttribute("aria-invalid"), "true");
  // Turned off, no day is fine: saved, and the error goes.
  toggle($("quiet-enabled"), false);
  await settle();
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1].args.settings.quiet_hours, { enabled: false, start: "22:00", end: "07:00", days: [] });
  assert.equal($("quiet-hours-error").hidden, true);
  assert.equal($("quiet-day-sun").getAttribute("aria-invalid"), null);
  // Turned on again with no day: refused again.
  toggle($("quiet-enabled"), true);
  await settle();
  assert.equal(calls.length, 2);
  assert.equal($("quiet-hours-error").hidden, false);
});

test("a cleared time is not saved either", async () => {
  const { $, calls } = panel();
  setTime($("quiet-end"), "");
  await settle();
  assert.equal(calls.length, 0);
  assert.match($("quiet-hours-error").textContent, /start and an end time/);
  assert.equal(quietHoursProblem({ enabled: false, start: "22:00", end: "07:00", days: [] }), "");
  assert.equal(quietHoursProblem({ enabled: true, start: "22:00", end: "07:00", days: ["mon"] }), "");
});

test("favourites break through, and back from away, are switches like the others", async () => {
  const { $, calls } = panel();
  assert.equal($("favourites-break-through").checked, false);
  toggle($("favourites-break-through"), true);
  toggle($("notify-back-from-away"), true);
  await settle();
  await settle();
  assert.equal(calls.length, 2);
  assert.equal(calls[0].args.settings.favourites_break_through, true);
  assert.equal(calls[1].args.settings.favourites_break_through, true, "the second save builds on the first");
  assert.equal(calls[1].args.settings.notify_back_from_away, true);
  assert.equal($("favourites-break-through").checked, true);
  assert.equal($("notify-back-from-away").checked, true);
});
