// Unit tests of the UI's pure modules (ui/format.js, ui/ipc.js's errorText) with
// node's own test runner: every word the window shows about a state is decided there,
// so these rules are checked without a DOM, a webview or a clock.
// Run: node --test tests/ui/   (cargo xtask test does).

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  bannerParts,
  clockText,
  lastSeenText,
  onlineCountText,
  relativeTime,
  secondsLeft,
  signInReasonText,
  sinceText,
  snoozeText,
  staleText,
  statusLabel,
  timelineParts,
} from "../../ui/format.js";
import { errorText } from "../../ui/ipc.js";

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

test("status labels: known ones, tidied unknown ones, and nothing at all", () => {
  assert.equal(statusLabel("online"), "Online");
  assert.equal(statusLabel("do_not-disturb"), "Do not disturb");
  assert.equal(statusLabel(""), "Unknown");
  assert.equal(statusLabel(null), "Unknown");
});

test("relative times, including a clock slightly in the future", () => {
  assert.equal(relativeTime(NOW + 5_000, NOW), "just now");
  assert.equal(relativeTime(NOW - 5 * MINUTE, NOW), "5 min ago");
  assert.equal(relativeTime(NOW - 3 * 60 * MINUTE, NOW), "3 h ago");
  assert.equal(relativeTime(NOW - 30 * 60 * MINUTE, NOW), "yesterday");
  assert.equal(relativeTime(NOW - 4 * 24 * 60 * MINUTE, NOW), "4 days ago");
  assert.match(relativeTime(NOW - 90 * 24 * 60 * MINUTE, NOW), /^on /);
  assert.equal(lastSeenText(null, NOW), "");
  assert.equal(lastSeenText(NOW - 5 * MINUTE, NOW), "last seen 5 min ago");
  assert.equal(onlineCountText(3, 0, 12), "3 online · 0 away · 12 friends");
});

test("the sign-in form says why a session ended in kith-core's words, as a sentence", () => {
  assert.equal(signInReasonText("the session expired; sign in again"), "The session expired; sign in again.");
  assert.equal(signInReasonText("Already a sentence."), "Already a sentence.");
  // The user signed out, or nothing ended: nothing to say.
  for (const value of [null, undefined, "", 42]) assert.equal(signInReasonText(value), "", String(value));
});

test("countdowns never go negative and round up", () => {
  assert.equal(secondsLeft(NOW + 1_200, NOW), 2);
  assert.equal(secondsLeft(NOW - 1_000, NOW), 0);
});

test("the banner for each state", () => {
  assert.deepEqual(bannerParts({ state: "connected" }, null), { lead: "Connected", countdown: "", rest: "" });
  const reconnecting = bannerParts({ state: "reconnecting", detail: "connection lost" }, 4);
  assert.equal(reconnecting.lead, "Reconnecting");
  assert.equal(reconnecting.countdown, " in 4 s");
  assert.equal(reconnecting.rest, " — connection lost");
  assert.equal(bannerParts({ state: "reconnecting" }, 0).countdown, " now");
  assert.match(bannerParts({ state: "gave_up", attempt: 3 }, null).lead, /after 3 attempts/);
  const refused = bannerParts({ state: "gave_up", reason: "auth_rejected" }, null);
  assert.match(refused.lead, /refuses the connection/);
  assert.match(refused.rest, /Retry now/);
  assert.equal(bannerParts(undefined, null).lead, "Starting…");
});

test("offline says there is no network and counts down nothing", () => {
  const offline = bannerParts({ state: "offline", reason: "network_down", detail: "no network: no route to the server" }, null);
  assert.equal(offline.lead, "Offline — no network");
  assert.equal(offline.countdown, "");
  assert.match(offline.rest, /reconnects when the network is back/);
});

test("a connected banner says when statuses may be out of date since a disconnect", () => {
  const since = NOW - 5 * MINUTE;
  const stale = bannerParts({ state: "connected", stale_since_ms: since }, null, NOW);
  assert.equal(stale.lead, "Connected");
  assert.equal(stale.countdown, "");
  assert.equal(
    stale.rest,
    " — some statuses may be out of date: the connection dropped 5 min ago and the server cannot say what changed meanwhile",
  );
  assert.match(bannerParts({ state: "connected", stale_since_ms: NOW }, null, NOW).rest, /dropped just now/);
  // Without a marker, or with nonsense, a connected banner is quiet.
  for (const value of [undefined, null, "soon", 0, -1, NaN]) {
    assert.equal(bannerParts({ state: "connected", stale_since_ms: value }, null, NOW).rest, "", String(value));
    assert.equal(staleText(value, NOW), null, String(value));
  }
  // While reconnecting, the retry is what the banner is about.
  const reconnecting = bannerParts({ state: "reconnecting", stale_since_ms: since, detail: "connection lost" }, 3, NOW);
  assert.equal(reconnecting.rest, " — connection lost");
});

test("a command's rejection becomes readable text whatever its shape", () => {
  assert.equal(errorText("plain"), "plain");
  assert.equal(errorText(new Error("boom")), "boom");
  assert.equal(errorText({ code: 7 }), '{"code":7}');
});

// Local times: built with the local Date constructor, so these hold in any time zone.
const at = (day, hours, minutes, seconds = 0) => new Date(2026, 11, day, hours, minutes, seconds).getTime();
const EVENING = at(6, 18, 0);

test("the header counts away apart from online, as the tray does", () => {
  assert.equal(onlineCountText(4, 4, 8), "4 online · 4 away · 8 friends");
  assert.equal(onlineCountText(3, 0, 12), "3 online · 0 away · 12 friends");
  assert.equal(onlineCountText(0, 0, 0), "0 online · 0 away · 0 friends");
  assert.equal(onlineCountText(0, 1, 1), "0 online · 1 away · 1 friend");
});

test("local times: the time alone today, with a short date another day", () => {
  assert.equal(clockText(at(6, 14, 2), EVENING), "14:02");
  assert.equal(clockText(at(6, 0, 0), EVENING), "00:00");
  assert.equal(clockText(at(6, 9, 5, 7), EVENING, { seconds: true }), "09:05:07");
  const yesterday = clockText(at(5, 23, 59), EVENING);
  assert.match(yesterday, /^\S.* 23:59$/);
  assert.ok(yesterday.includes("5"), yesterday);
  assert.match(clockText(new Date(2025, 0, 2, 8, 0).getTime(), EVENING), /2025.* 08:00$/);
});

test("since: online or offline, exact or at least, today or another day", () => {
  assert.equal(sinceText({ online: true, at_ms: at(6, 14, 2), at_least: false }, EVENING), "online since 14:02");
  assert.equal(sinceText({ online: false, at_ms: at(6, 9, 15), at_least: false }, EVENING), "offline since 09:15");
  assert.equal(
    sinceText({ online: true, at_ms: at(6, 9, 41), at_least: true }, EVENING),
    "online since at least 09:41",
  );
  const earlier = sinceText({ online: false, at_ms: at(4, 9, 15), at_least: false }, EVENING);
  assert.match(earlier, /^offline since \S.* 09:15$/);
  assert.notEqual(earlier, "offline since 09:15");
  assert.match(sinceText({ online: true, at_ms: at(4, 9, 41), at_least: true }, EVENING), /^online since at least \S.* 09:41$/);
  for (const none of [null, undefined, {}, { online: true, at_ms: null }]) assert.equal(sinceText(none, EVENING), "");
});

test("the snooze line says until when, and nothing once that time has come", () => {
  assert.equal(snoozeText(at(6, 18, 30), EVENING), "Alerts snoozed until 18:30");
  assert.match(snoozeText(at(7, 8, 0), EVENING), /^Alerts snoozed until \S.* 08:00$/);
  assert.equal(snoozeText(EVENING, EVENING), "");
  assert.equal(snoozeText(EVENING - 1, EVENING), "");
  assert.equal(snoozeText(null, EVENING), "");
  assert.equal(snoozeText(NaN, EVENING), "");
});

test("a timeline entry's words: state, detail, attempt and next attempt when known", () => {
  const parts = timelineParts(
    { at_ms: at(6, 14, 2, 5), state: "reconnecting", reason: "closed_by_server", detail: "connection lost", attempt: 2, retry_at_ms: at(6, 14, 2, 35) },
    EVENING,
  );
  assert.deepEqual(parts, {
    at: "14:02:05",
    state: "Reconnecting",
    detail: "connection lost",
    attempt: "attempt 2",
    next: "next attempt at 14:02:35",
  });
  const plain = timelineParts({ at_ms: at(6, 14, 0), state: "gave_up", detail: null, attempt: null, retry_at_ms: null }, EVENING);
  assert.deepEqual(plain, { at: "14:00:00", state: "Gave up", detail: "", attempt: "", next: "" });
});
