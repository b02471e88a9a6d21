// Starts the UI and routes what the Rust side says to the part of the page that shows
// it. Listeners are registered before the first get_view, and anything that arrives
// while get_view is on its way wins over (or is replayed onto) its answer, so no
// update is lost between the two. Nothing here decides anything about the session.

import * as ipc from "./ipc.js";
import { AlertChanges, friendAlertsOf } from "./alerts.js";
import { Banner } from "./banner.js";
import { FriendAlertsPane } from "./friend-alerts.js";
import { FriendList } from "./friends.js";
import { signInReasonText } from "./format.js";
import { SettingsPanel } from "./settings.js";
import { SignInForm } from "./signin.js";
import { SnoozeControl } from "./snooze.js";
import { TimelinePanel } from "./timeline.js";

const $ = (id) => document.getElementById(id);

// Stars, rules, one-shots and the snooze: each answer is the settings as saved, newer
// than any get_view still on its way.
const alertChanges = new AlertChanges((saved) => {
  seen.settings++;
  showSettings(saved);
});

function showAlertsError(message) {
  $("alerts-error").textContent = message;
  $("alerts-error").hidden = message === "";
}

const friends = new FriendList(
  {
    list: $("friends"),
    empty: $("friends-empty"),
    count: $("online-count"),
    filter: $("filter"),
    template: $("friend-row"),
  },
  {
    onStar: (friend, on) =>
      alertChanges.send({ kind: "star", friend, on }).then(
        () => showAlertsError(""),
        (error) => showAlertsError(`Could not ${on ? "star" : "unstar"} this friend: ${error.message}`),
      ),
    onOpenAlerts: (friend) => friendAlerts.open(friend),
  },
);

const friendAlerts = new FriendAlertsPane(
  {
    dialog: $("friend-alerts"),
    title: $("friend-alerts-title"),
    since: $("friend-alerts-since"),
    close: $("close-friend-alerts"),
    once: $("friend-once"),
    error: $("friend-alerts-error"),
  },
  {
    changes: alertChanges,
    describe: (id) => friends.describe(id),
    // Back to the button or row it was opened from, or to the friend's row.
    onClosed: (id, returnFocus) => {
      if (returnFocus?.isConnected && returnFocus !== document.body) returnFocus.focus();
      else friends.focusFriend(id);
    },
  },
);

const snooze = new SnoozeControl(
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
  alertChanges,
);

const timeline = new TimelinePanel({
  dialog: $("timeline"),
  open: $("open-timeline"),
  close: $("close-timeline"),
  why: $("timeline-why"),
  entries: $("timeline-entries"),
  empty: $("timeline-empty"),
  copy: $("timeline-copy"),
  copyStatus: $("timeline-copy-status"),
});

const banner = new Banner(
  { banner: $("banner"), text: $("banner-text"), retry: $("retry-now"), fallbackFocus: $("filter") },
  () => ipc.reconnectNow(),
);

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
  { onSignedOut: () => refreshOrReport() },
);

const signin = new SignInForm(
  {
    form: $("signin-form"),
    server: $("server-url"),
    backend: $("backend"),
    profileFile: $("profile-file"),
    username: $("username"),
    password: $("password"),
    allowInsecure: $("allow-insecure"),
    submit: $("signin-submit"),
    demo: $("try-demo"),
    browser: $("signin-browser"),
    browserWaiting: $("browser-waiting"),
    browserCancel: $("browser-cancel"),
    error: $("signin-error"),
    reason: $("signin-reason"),
  },
  { onSignedIn: () => refreshOrReport() },
);

/** How many events of each kind have arrived, so a late get_view cannot undo them. */
const seen = { session: 0, connection: 0, presence: 0, settings: 0, timeline: 0 };
/** Presence events received while a get_view is pending, replayed onto its answer. */
let presenceLog = null;

function showSession(session) {
  const signedIn = Boolean(session?.signed_in);
  const view = signedIn ? "main" : "signin";
  const changed = document.body.dataset.view !== view;
  document.body.dataset.view = view;
  $("view-signin").hidden = signedIn;
  $("view-main").hidden = !signedIn;
  settings.setSession(session);
  // Kith-core's words for a sign-in that will not be remembered (no keyring running,
  // or one that refused it), under the banner and in settings, while it lasts.
  const notSaved = signedIn && typeof session.not_saved === "string" ? session.not_saved : "";
  for (const id of ["not-saved", "settings-not-saved"]) {
    $(id).textContent = notSaved;
    $(id).hidden = notSaved === "";
  }

  if (signedIn) {
    $("account-name").textContent = session.username ?? "";
    $("demo-badge").hidden = !session.demo;
  } else {
    settings.hide();
    for (const id of ["friend-alerts", "timeline"]) if ($(id).open) $(id).close();
    showAlertsError("");
    friends.clear();
    $("filter").value = "";
    friends.setFilter("");
    signin.setReason(signInReasonText(session?.reason_text));
  }
  if (changed) {
    if (signedIn) $("filter").focus();
    else signin.focusFirst();
  }
}

function showSettings(value) {
  if (!value) return;
  settings.setSettings(value);
  signin.prefill(value);
  friends.setAlerts(friendAlertsOf(value));
  friendAlerts.setSettings(value);
  snooze.setSettings(value);
}

// The friend a notification click asked to see, until the list holds them.
let friendToShow = ipc.friendInAddress();

function showFriendWhenListed() {
  if (friendToShow !== null && friends.show(friendToShow)) friendToShow = null;
}

function onPresence(payload) {
  if (!payload) return;
  seen.presence++;
  presenceLog?.push(payload);
  if (payload.replace) friends.replace(payload.friends);
  else friends.update(payload.friends);
  showFriendWhenListed();
}

/** Asks for the whole view and shows every part no event has already superseded. */
async function refresh() {
  const before = { ...seen };
  const log = (presenceLog = []);
  let view;
  try {
    view = await ipc.getView();
  } finally {
    if (presenceLog === log) presenceLog = null;
  }
  if (seen.session === before.session) showSession(view.session);
  signin.setPresets(view.presets);
  if (seen.settings === before.settings) showSettings(view.settings);
  if (seen.connection === before.connection) banner.show(view.connection);
  if (seen.timeline === before.timeline) timeline.set(view.timeline);
  // A snapshot event already gave a full list; otherwise start from the view's list
  // and replay the changes that came in meanwhile (re-applying one is harmless).
  if (!log.some((payload) => payload.replace)) {
    friends.replace(view.friends);
    for (const payload of log) friends.update(payload.friends);
  }
  showFriendWhenListed();
}

function refreshOrReport() {
  refresh().catch((error) => console.error("get_view failed:", error.message));
}

function showFatal(message) {
  const el = $("app-error");
  el.textContent = message;
  el.hidden = false;
}

// "/" jumps to the filter, as in many list UIs.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  if ($("view-main").hidden || document.querySelector("dialog[open]")) return;
  if (event.target.closest?.("input, textarea, select, [contenteditable]")) return;
  event.preventDefault();
  $("filter").focus();
});

// Ctrl+W (Cmd+W) closes the window, as in other desktop apps; Kith stays in the tray.
document.addEventListener("keydown", (event) => {
  if (event.key.toLowerCase() !== "w" || !(event.ctrlKey || event.metaKey) || event.altKey) return;
  event.preventDefault();
  ipc.closeWindow().catch((error) => console.error("close_window failed:", error.message));
});

// "last seen … ago" (and the banner's "dropped … ago") go stale slowly: rewrite them
// once a minute, and not while hidden. The snooze line has its own timer; it is checked
// here too, as a timer can be late after the computer slept.
function refreshTimes() {
  if (document.hidden) return;
  friends.refreshTimes();
  banner.paint();
  snooze.render();
}
setInterval(refreshTimes, 60_000);
document.addEventListener("visibilitychange", refreshTimes);

async function start() {
  try {
    await ipc.listenAll({
      connection: (connection) => {
        seen.connection++;
        banner.show(connection);
      },
      presence: onPresence,
      session: (session) => {
        seen.session++;
        showSession(session);
      },
      settings: (value) => {
        seen.settings++;
        showSettings(value);
      },
      timeline: (value) => {
        seen.timeline++;
        timeline.set(value);
      },
      showFriend: (userId) => {
        friendToShow = String(userId);
        showFriendWhenListed();
      },
    });
    await refresh();
  } catch (error) {
    console.error(error);
    showFatal(`Kith could not start its window: ${error.message}`);
  }
}

start();
