// Unit tests of the UI's pure modules (ui/format.js, ui/ipc.js's errorText) with
// node's own test runner: every word the window shows about a state is decided there,
// so these rules are checked without a DOM, a webview or a clock.
// Run: node --test tests/ui/   (cargo xtask test does).

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  bannerParts,
  endReasonPhrase,
  lastSeenText,
  onlineCountText,
  parseLastSeen,
  relativeTime,
  secondsLeft,
  signInReasonText,
  staleText,
  statusLabel,
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

test("last_seen is read as seconds or milliseconds, RFC 3339, or not at all", () => {
  assert.equal(parseLastSeen(1_700_000_000), 1_700_000_000_000);
  assert.equal(parseLastSeen("1700000000"), 1_700_000_000_000);
  assert.equal(parseLastSeen(1_700_000_000_000), 1_700_000_000_000);
  assert.equal(parseLastSeen("2026-12-01T12:00:00Z"), NOW);
  for (const bad of [null, undefined, "", "soon", -5, 0]) {
    assert.equal(parseLastSeen(bad), null, String(bad));
  }
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
  assert.equal(onlineCountText(3, 12), "3 of 12 online");
});

test("every end reason Kith sends has words, and unknown ones are readable", () => {
  for (const reason of ["session_expired", "refresh_lost", "forbidden", "logged_out"]) {
    assert.ok(endReasonPhrase(reason, "") !== reason, reason);
  }
  assert.match(endReasonPhrase("refresh_lost", ""), /no answer in time/);
  assert.equal(endReasonPhrase("brand_new", ""), "brand new");
  assert.equal(endReasonPhrase(undefined, "the detail"), "the detail");
  assert.equal(signInReasonText("logged_out"), "");
  assert.match(signInReasonText("session_expired"), /Sign in again/);
  assert.match(signInReasonText("refresh_lost"), /no answer in time/);
  assert.match(signInReasonText("something_else"), /something else/);
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
  assert.match(bannerParts({ state: "signed_out", reason: "session_expired" }, null).lead, /^Signed out — session expired/);
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
