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
  const known = STATUS_LABELS[status];
  if (known) return known;
  const text = status.replace(/[_-]+/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * last_seen as the backend wrote it (RFC 3339 text, or epoch seconds/milliseconds as a
 * number or numeric text) → epoch milliseconds, or null when it cannot be read.
 */
export function parseLastSeen(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number" || /^\s*\d+(\.\d+)?\s*$/.test(value)) {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) return null;
    return n < 1e12 ? n * 1000 : n; // seconds unless it is already milliseconds
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
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

/** "3 of 12 online". */
export function onlineCountText(present, total) {
  return `${present} of ${total} online`;
}

const END_REASONS = {
  session_expired: "session expired",
  refresh_lost: "a token refresh got no answer in time, and the server no longer accepts the token it replaced",
  forbidden: "the server refused this account",
  logged_out: "you signed out",
};

/** Why a session ended, as a short phrase, from a reason code and optional detail. */
export function endReasonPhrase(reason, detail) {
  if (reason && END_REASONS[reason]) return END_REASONS[reason];
  if (detail) return detail;
  if (reason) return reason.replace(/_/g, " ");
  return "";
}

/** The line above the sign-in form after a session ended, or "" when none is needed. */
export function signInReasonText(reason) {
  switch (reason) {
    case null:
    case undefined:
    case "":
    case "logged_out": // the user did it; nothing to explain
      return "";
    case "session_expired":
      return "Your session expired. Sign in again.";
    case "refresh_lost":
      return "A token refresh got no answer in time, and the server no longer accepts the token it replaced. Sign in again.";
    case "forbidden":
      return "The server refused this account. Check with its administrator, then sign in again.";
    default:
      return `You were signed out (${reason.replace(/_/g, " ")}). Sign in again.`;
  }
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
    case "signed_out": {
      const why = endReasonPhrase(connection?.reason, connection?.detail);
      return { lead: why ? `Signed out — ${why}` : "Signed out", countdown: "", rest: "" };
    }
    case "stopped":
      return { lead: "Not connected", countdown: "", rest: detail };
    default:
      return { lead: state.replace(/_/g, " "), countdown: "", rest: detail };
  }
}
