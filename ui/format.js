// Pure text helpers: every word the UI shows about a state is decided here, from plain
// data and an explicit `now`, so the rendering modules stay dumb and these rules can be
// checked without a DOM or a clock.

const STATUS_LABELS = {
  online: "Online",
  away: "Away",
  busy: "Busy",
  offline: "Offline",
};

/** "online" → "Online"; an unknown status is shown as the server wrote it, tidied. */
export function statusLabel(status) {
  if (typeof status !== "string" || status === "") return "Unknown";
  return STATUS_LABELS[status] ?? tidy(status);
}

/** "gave_up" → "Gave up". */
export function tidy(word) {
  const text = String(word ?? "").replace(/[_-]+/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
let dateFormat = null;
const dayCache = new Map(); // day number → formatted date: formatting is slow, days repeat

/** "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", "on 2 Mar 2025". */
export function relativeTime(thenMs, nowMs) {
  const age = nowMs - thenMs;
  if (age < MINUTE) return "just now"; // also absorbs small clock skew into the future
  if (age < HOUR) return `${Math.floor(age / MINUTE)} min ago`;
  if (age < DAY) return `${Math.floor(age / HOUR)} h ago`;
  if (age < 2 * DAY) return "yesterday";
  if (age < 30 * DAY) return `${Math.floor(age / DAY)} days ago`;
  const day = Math.floor((thenMs - new Date(thenMs).getTimezoneOffset() * MINUTE) / DAY);
  let text = dayCache.get(day);
  if (text === undefined) {
    dateFormat ??= new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
    text = `on ${dateFormat.format(thenMs)}`;
    if (dayCache.size > 2000) dayCache.clear();
    dayCache.set(day, text);
  }
  return text;
}

/** "last seen 5 min ago", or "" when there is nothing to say. */
export function lastSeenText(thenMs, nowMs) {
  return thenMs === null ? "" : `last seen ${relativeTime(thenMs, nowMs)}`;
}

/**
 * The header's counts, away apart from online: "4 online · 4 away · 8 friends", "3
 * online · 0 away · 12 friends".
 */
export function onlineCountText(online, away, total) {
  // The same words as the tray's tooltip (kith-core's Counts).
  return `${online} online · ${away} away · ${total} ${total === 1 ? "friend" : "friends"}`;
}

const pad = (n) => String(n).padStart(2, "0");
let shortDate = null;
let shortDateYear = null;

/**
 * A moment in local time: "14:02" on the day of `nowMs`, else with a short date first
 * ("6 Dec 14:02", the year too when it is not this year). `seconds` adds ":SS".
 */
export function clockText(thenMs, nowMs, { seconds = false } = {}) {
  const then = new Date(thenMs);
  const now = new Date(nowMs);
  let text = `${pad(then.getHours())}:${pad(then.getMinutes())}`;
  if (seconds) text += `:${pad(then.getSeconds())}`;
  if (then.toDateString() === now.toDateString()) return text;
  let format;
  if (then.getFullYear() === now.getFullYear()) {
    format = shortDate ??= new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  } else {
    format = shortDateYear ??= new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
  }
  return `${format.format(then)} ${text}`;
}

/**
 * Since when a friend is online or offline, from kith-core's `since`
 * ({ online, at_ms, at_least }): "online since 14:02", "offline since 6 Dec 09:15", or
 * "online since at least 09:41" when Kith did not see it begin. "" without one.
 */
export function sinceText(since, nowMs) {
  if (!since || !Number.isFinite(since.at_ms)) return "";
  const state = since.online ? "online" : "offline";
  return `${state} since ${since.at_least ? "at least " : ""}${clockText(since.at_ms, nowMs)}`;
}

/** "Alerts snoozed until 14:30", or "" when `untilMs` is not a time after `nowMs`. */
export function snoozeText(untilMs, nowMs) {
  if (!Number.isFinite(untilMs) || untilMs <= nowMs) return "";
  return `Alerts snoozed until ${clockText(untilMs, nowMs)}`;
}

/**
 * One connection event of the timeline, as the words shown for it: { at, state,
 * detail, attempt, next }, each "" when there is nothing to say.
 */
export function timelineParts(entry, nowMs) {
  const time = (ms) => clockText(ms, nowMs, { seconds: true });
  return {
    at: Number.isFinite(entry?.at_ms) ? time(entry.at_ms) : "",
    state: tidy(entry?.state),
    detail: typeof entry?.detail === "string" ? entry.detail : "",
    attempt: Number.isInteger(entry?.attempt) ? `attempt ${entry.attempt}` : "",
    next: Number.isFinite(entry?.retry_at_ms) ? `next attempt at ${time(entry.retry_at_ms)}` : "",
  };
}

/**
 * The line above the sign-in form after a session ended: kith-core's words for why
 * (`reason_text`, absent when the user signed out), as a sentence; "" when none.
 */
export function signInReasonText(reasonText) {
  if (typeof reasonText !== "string" || reasonText === "") return "";
  const sentence = reasonText.charAt(0).toUpperCase() + reasonText.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** Whole seconds left until `deadlineMs`, never negative. */
export function secondsLeft(deadlineMs, nowMs) {
  return Math.max(0, Math.ceil((deadlineMs - nowMs) / 1000));
}

/**
 * Why statuses may be out of date: Kith reconnected at some point after `sinceMs` (when
 * the connection dropped) and the server has no snapshot or friend list to say what
 * changed meanwhile. Null when `sinceMs` is not a time.
 */
export function staleText(sinceMs, nowMs) {
  if (!Number.isFinite(sinceMs) || sinceMs <= 0) return null;
  return `some statuses may be out of date: the connection dropped ${relativeTime(sinceMs, nowMs)} and the server cannot say what changed meanwhile`;
}

/**
 * What the connection banner says. Returns { lead, countdown, rest }: the countdown part
 * changes every second and is kept apart so screen readers are not told each tick.
 * `seconds` is the live countdown (null when no retry is scheduled). A connection with
 * `stale_since_ms` says so while connected.
 */
export function bannerParts(connection, seconds, nowMs = Date.now()) {
  const state = connection?.state ?? "idle";
  const detail = connection?.detail ? ` — ${connection.detail}` : "";
  switch (state) {
    case "connected": {
      const stale = staleText(connection?.stale_since_ms, nowMs);
      return { lead: "Connected", countdown: "", rest: stale ? ` — ${stale}` : "" };
    }
    case "idle":
      return { lead: "Starting…", countdown: "", rest: "" };
    case "connecting":
      return { lead: "Connecting…", countdown: "", rest: "" };
    case "authenticating":
      return { lead: "Signing in to the server…", countdown: "", rest: "" };
    case "reconnecting": {
      let countdown = "…";
      if (seconds !== null && seconds !== undefined) {
        countdown = seconds > 0 ? ` in ${seconds} s` : " now";
      }
      return { lead: "Reconnecting", countdown, rest: detail };
    }
    case "offline":
      // No route to the server: nothing is retried until the network is back.
      return { lead: "Offline — no network", countdown: "", rest: " — Kith reconnects when the network is back" };
    case "gave_up": {
      if (connection?.reason === "auth_rejected") {
        // The auth API still vouches for the session; only the live connection refuses it.
        return {
          lead: "Offline — the server refuses the connection with a fresh sign-in",
          countdown: "",
          rest: "Retry now, or sign out and in again",
        };
      }
      const n = connection?.attempt;
      const lead = Number.isInteger(n) && n > 0
        ? `Offline — gave up after ${n} ${n === 1 ? "attempt" : "attempts"}`
        : "Offline — gave up reconnecting";
      return { lead, countdown: "", rest: detail };
    }
    case "stopped":
      return { lead: "Not connected", countdown: "", rest: detail };
    default:
      return { lead: state.replace(/_/g, " "), countdown: "", rest: detail };
  }
}
