// Unit tests of the per-friend alerts and the snooze (ui/alerts.js, ui/friend-alerts.js,
// ui/snooze.js, with ui/friends.js), wired as ui/main.js wires them, on ui/index.html's
// real markup (tests/ui/fake-dom.mjs reads it). Only Tauri's `invoke` is stubbed: a tiny
// stand-in for the Rust side applies each change_alerts request to a settings object
// and answers with it, so each test sees the exact payloads the page sends.
// Run: node --test tests/ui/

import { test, mock } from "node:test";
import assert from "node:assert/strict";

import { installFakeDom } from "./fake-dom.mjs";

const dom = installFakeDom();
const { AlertChanges, friendAlertsOf } = await import("../../ui/alerts.js");
const { FriendAlertsPane } = await import("../../ui/friend-alerts.js");
const { FriendList } = await import("../../ui/friends.js");
const { SnoozeControl, instantMs } = await import("../../ui/snooze.js");
const { EVENTS } = await import("../../ui/ipc.js");

const SERVER = "https://presence.example.com";
const RULE_KEYS = { came_online: "online", went_offline: "offline", back_from_away: "back_from_away" };

function baseSettings() {
  return {
    server: SERVER,
    notify_online: true,
    notify_offline: true,
    do_not_disturb: false,
    notify_back_from_away: false,
    snoozed_until: null,
    snooze_morning: "08:00:00",
    servers: {},
  };
}

/** What the Rust side does with a change_alerts request, in short. */
function applyChange(settings, change) {
  const next = structuredClone(settings);
  const mine = (next.servers[next.server] ??= { favourites: [], rules: {}, once_online: [] });
  const toggle = (list, id, on) => (on ? [...new Set([...list, id])] : list.filter((x) => x !== id));
  switch (change.kind) {
    case "star":
      mine.favourites = toggle(mine.favourites, change.friend, change.on);
      break;
    case "rule":
      mine.rules[change.friend] = {
        online: "global",
        offline: "global",
        back_from_away: "global",
        ...mine.rules[change.friend],
        [RULE_KEYS[change.transition]]: change.rule,
      };
      break;
    case "once_online":
      mine.once_online = toggle(mine.once_online, change.friend, change.armed);
      break;
    case "snooze":
      next.snoozed_until = new Date(Date.now() + 30 * 60_000).toISOString();
      break;
    case "unsnooze":
      next.snoozed_until = null;
      break;
  }
  return next;
}

/** Stubs Tauri's invoke: records each call; change_alerts answers as the Rust side would. */
function backend(settings = baseSettings()) {
  const state = { settings, calls: [], failNext: null };
  window.__TAURI__ = {
    core: {
      invoke: async (command, args) => {
        state.calls.push({ command, args: structuredClone(args) });
        if (state.failNext) {
          const error = state.failNext;
          state.failNext = null;
          throw error;
        }
        assert.equal(command, "change_alerts");
        state.settings = applyChange(state.settings, args.change);
        return state.settings;
      },
    },
    event: { listen: async () => () => {} },
  };
  return state;
}

/** Lets the queued promises (the stubbed invoke and its answer) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** The page as main.js puts it together: the friends list, the alerts dialog, the snooze. */
function page(settings) {
  const $ = dom.loadPage();
  const server = backend(settings);
  let pane;
  let snooze;
  const changes = new AlertChanges((saved) => show(saved));
  const friends = new FriendList(
    { list: $("friends"), empty: $("friends-empty"), count: $("online-count"), filter: $("filter"), template: $("friend-row") },
    {
      onStar: (friend, on) => changes.send({ kind: "star", friend, on }),
      onOpenAlerts: (friend) => pane.open(friend),
    },
  );
  pane = new FriendAlertsPane(
    {
      dialog: $("friend-alerts"),
      title: $("friend-alerts-title"),
      since: $("friend-alerts-since"),
      close: $("close-friend-alerts"),
      once: $("friend-once"),
      error: $("friend-alerts-error"),
    },
    {
      changes,
      describe: (id) => friends.describe(id),
      onClosed: (id, returnFocus) => (returnFocus?.isConnected ? returnFocus.focus() : friends.focusFriend(id)),
    },
  );
  snooze = new SnoozeControl(
    {
      buttons: [$("snooze-half-hour"), $("snooze-hour"), $("snooze-morning")],
      lines: [
        { box: $("snooze-line"), text: $("snooze-status"), resume: $("snooze-resume"), fallbackFocus: $("filter") },
        {
          box: $("settings-snooze-line"),
          text: $("settings-snooze-status"),
          resume: $("settings-snooze-resume"),
          fallbackFocus: $("snooze-half-hour"),
        },
      ],
      errors: [$("snooze-error"), $("alerts-error")],
    },
    changes,
  );
  function show(value) {
    friends.setAlerts(friendAlertsOf(value));
    pane.setSettings(value);
    snooze.setSettings(value);
  }
  show(server.settings);
  friends.replace([
    { user_id: 1, name: "alice", sort_key: "alice", status: "online", online: true, class: "online" },
    { user_id: 2, name: "bob", sort_key: "bob", status: "online", online: true, class: "online" },
    { user_id: 3, name: "carol", sort_key: "carol", status: "offline", online: false, class: "offline" },
  ]);
  const row = (id) => $("friends").children.find((el) => el.dataset.userId === String(id));
  return { $, server, friends, pane, snooze, show, row };
}

const changesSent = (server) => server.calls.map((call) => call.args.change);

test("ipc: change_alerts and the timeline event are in the contract", async () => {
  const server = backend();
  const ipc = await import("../../ui/ipc.js");
  await ipc.changeAlerts({ kind: "unsnooze" });
  assert.deepEqual(server.calls, [{ command: "change_alerts", args: { change: { kind: "unsnooze" } } }]);
  assert.equal(EVENTS.timeline, "kith://timeline");
});

test("a row's star sends change_alerts, and the answer moves the friend to the top", async () => {
  const { server, friends, row } = page();
  assert.deepEqual(friends.order.map((e) => e.name), ["alice", "bob", "carol"]);
  row(2).querySelector(".star").click();
  await settle();
  assert.deepEqual(changesSent(server), [{ kind: "star", friend: "2", on: true }]);
  assert.deepEqual(friends.order.map((e) => e.name), ["bob", "alice", "carol"]);
  const star = row(2).querySelector(".star");
  assert.equal(star.getAttribute("aria-pressed"), "true");
  assert.equal(star.getAttribute("aria-label"), "Unstar bob");
  star.click();
  await settle();
  assert.deepEqual(changesSent(server)[1], { kind: "star", friend: "2", on: false });
  assert.deepEqual(friends.order.map((e) => e.name), ["alice", "bob", "carol"]);
});

test("the alerts dialog: opened with Enter on a row, each choice is one change_alerts", async () => {
  const { $, server, row } = page();
  const bob = row(2);
  bob.focus();
  $("friends").dispatch("keydown", { key: "Enter", target: bob, preventDefault() {} });
  assert.equal($("friend-alerts").open, true);
  assert.equal($("friend-alerts-title").textContent, "Alerts for bob");
  // Nothing set: "As set globally" everywhere, and the focus on the first group's choice.
  for (const transition of Object.keys(RULE_KEYS)) assert.equal($(`rule-${transition}-global`).checked, true);
  assert.equal(dom.doc.activeElement, $("rule-came_online-global"));

  const choose = (id) => {
    const input = $(id);
    input.checked = true;
    input.dispatch("change", { target: input });
  };
  choose("rule-went_offline-never");
  choose("rule-came_online-always");
  choose("rule-back_from_away-never");
  choose("rule-came_online-global");
  const once = $("friend-once");
  once.checked = true;
  once.dispatch("change", { target: once });
  await settle();
  assert.deepEqual(changesSent(server), [
    { kind: "rule", friend: "2", transition: "went_offline", rule: "never" },
    { kind: "rule", friend: "2", transition: "came_online", rule: "always" },
    { kind: "rule", friend: "2", transition: "back_from_away", rule: "never" },
    { kind: "rule", friend: "2", transition: "came_online", rule: "global" },
    { kind: "once_online", friend: "2", armed: true },
  ]);
  // The dialog shows what was saved.
  assert.equal($("rule-came_online-global").checked, true);
  assert.equal($("rule-came_online-always").checked, false);
  assert.equal($("rule-went_offline-never").checked, true);
  assert.equal($("rule-back_from_away-never").checked, true);
  assert.equal($("friend-once").checked, true);
  // The armed one-shot shows in the row.
  const marker = row(2).querySelector(".once");
  assert.equal(marker.hidden, false);
  assert.match(marker.getAttribute("aria-label"), /once when bob comes online/);

  // Escape (the dialog's native close) gives the focus back to the row.
  $("friend-alerts").close();
  assert.equal(dom.doc.activeElement, row(2));
  // Opened again from the ⋮ button, it shows the saved rules.
  row(2).querySelector(".friend-alerts-button").click();
  assert.equal($("rule-went_offline-never").checked, true);
  // Cancelling the one-shot sends armed: false and takes the marker away.
  once.checked = false;
  once.dispatch("change", { target: once });
  await settle();
  assert.deepEqual(changesSent(server).at(-1), { kind: "once_online", friend: "2", armed: false });
  assert.equal(row(2).querySelector(".once").hidden, true);
});

test("a one-shot that fired (gone from once_online in settings) leaves the row", () => {
  const settings = baseSettings();
  settings.servers[SERVER] = { favourites: [], rules: {}, once_online: ["3"] };
  const { row, show } = page(settings);
  assert.equal(row(3).querySelector(".once").hidden, false);
  show({ ...settings, servers: { [SERVER]: { favourites: [], rules: {}, once_online: [] } } });
  assert.equal(row(3).querySelector(".once").hidden, true);
});

test("a refused change says so and shows the saved rule again", async () => {
  const { $, server, row, pane } = page();
  pane.open("1");
  server.failNext = "the settings file is read-only";
  const never = $("rule-came_online-never");
  never.checked = true;
  never.dispatch("change", { target: never });
  await settle();
  assert.equal($("friend-alerts-error").hidden, false);
  assert.match($("friend-alerts-error").textContent, /read-only/);
  assert.equal($("rule-came_online-never").checked, false);
  assert.equal($("rule-came_online-global").checked, true);
  assert.ok(row(1));
});

test("snooze: the buttons send their choice, the line says until when and goes at the end", async (t) => {
  const now = new Date(2026, 11, 6, 14, 0).getTime();
  mock.timers.enable({ apis: ["setTimeout", "Date"], now });
  t.after(() => mock.timers.reset());
  const { $, server } = page();
  assert.equal($("snooze-line").hidden, true);
  $("snooze-half-hour").click();
  $("snooze-hour").click();
  $("snooze-morning").click();
  await settle();
  await settle();
  assert.deepEqual(changesSent(server), [
    { kind: "snooze", choice: "half_hour" },
    { kind: "snooze", choice: "hour" },
    { kind: "snooze", choice: "until_morning" },
  ]);
  // The stand-in snoozes for 30 minutes: until 14:30 local time.
  for (const id of ["snooze-line", "settings-snooze-line"]) assert.equal($(id).hidden, false);
  assert.equal($("snooze-status").textContent, "Alerts snoozed until 14:30");
  assert.equal($("settings-snooze-status").textContent, "Alerts snoozed until 14:30");
  mock.timers.tick(30 * 60_000 - 1);
  assert.equal($("snooze-line").hidden, false);
  mock.timers.tick(1);
  assert.equal($("snooze-line").hidden, true, "gone when the snooze ends, without any event");
  assert.equal($("settings-snooze-line").hidden, true);
});

test("snooze: Resume alerts unsnoozes; a snooze in the past shows nothing", async (t) => {
  const now = new Date(2026, 11, 6, 14, 0).getTime();
  mock.timers.enable({ apis: ["setTimeout", "Date"], now });
  t.after(() => mock.timers.reset());
  const settings = { ...baseSettings(), snoozed_until: new Date(now + 3_600_000).toISOString() };
  const { $, server, show } = page(settings);
  assert.equal($("snooze-status").textContent, "Alerts snoozed until 15:00");
  $("snooze-resume").focus();
  $("snooze-resume").click();
  await settle();
  assert.deepEqual(changesSent(server), [{ kind: "unsnooze" }]);
  assert.equal($("snooze-line").hidden, true);
  assert.equal(dom.doc.activeElement, $("filter"), "the focus does not vanish with the button");
  // A refused snooze is said in settings and in the window.
  server.failNext = "no settings file";
  $("snooze-hour").click();
  await settle();
  for (const id of ["snooze-error", "alerts-error"]) {
    assert.equal($(id).hidden, false);
    assert.equal($(id).textContent, "Could not snooze alerts: no settings file");
  }
  show({ ...settings, snoozed_until: new Date(now - 1000).toISOString() });
  assert.equal($("snooze-line").hidden, true);
  assert.equal($("snooze-status").textContent, "");
});

test("snoozed_until is read as kith-core writes it, nanoseconds included", () => {
  assert.equal(instantMs("2026-12-06T14:30:00Z"), Date.UTC(2026, 11, 6, 14, 30));
  assert.equal(instantMs("2026-12-06T14:30:00.123456789Z"), Date.UTC(2026, 11, 6, 14, 30, 0, 123));
  assert.equal(instantMs("2026-12-06T15:30:00+01:00"), Date.UTC(2026, 11, 6, 14, 30));
  for (const none of [null, undefined, "", "soon", 42]) assert.equal(instantMs(none), null, String(none));
});
