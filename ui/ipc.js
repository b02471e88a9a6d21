// The only door to the Rust side. Every Tauri command and event name the UI uses is
// here, so the contract with src-tauri can be read (and changed) in one place, and
// every rejection reaches the UI as a plain readable Error.

function tauri() {
  const api = window.__TAURI__;
  if (!api?.core?.invoke || !api?.event?.listen) {
    throw new Error("The Tauri API is not available (withGlobalTauri must be on).");
  }
  return api;
}

/** A rejection from a command, whatever its shape, as readable text. */
export function errorText(error) {
  if (typeof error === "string") return error;
  if (error && typeof error.message === "string") return error.message;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

async function invoke(command, args) {
  try {
    return await tauri().core.invoke(command, args);
  } catch (error) {
    throw new Error(errorText(error));
  }
}

/** { session, connection, friends, settings, timeline } as the Rust side knows them now. */
export const getView = () => invoke("get_view");

/**
 * Signs in. `request` is { server, backend, username, password, allowInsecure }, where
 * `backend` is a preset's name or "file" (the file chosen with chooseProfileFile);
 * the password is handed over and not kept here.
 */
export const signIn = (request) => invoke("sign_in", { request });

export const tryDemo = () => invoke("try_demo");
/** Signs in through the system browser; resolves once signed in (or rejects: cancelled, timed out, refused). */
export const signInWithBrowser = (request) => invoke("sign_in_with_browser", { request });
export const cancelBrowserSignIn = () => invoke("cancel_browser_sign_in");

/** Opens the native file dialog; resolves to the chosen file's path, or null. */
export const chooseProfileFile = () => invoke("choose_profile_file");

/** What the sign-in's `backend` is for a profile file. */
export const FILE_BACKEND = "file";
export const signOut = () => invoke("sign_out");
export const reconnectNow = () => invoke("reconnect_now");

/** Saves the full settings object; resolves to the settings as saved. */
export const saveSettings = (settings) => invoke("save_settings", { settings });
/**
 * Changes one friend's star, rule or one-shot, or the snooze; resolves to the settings
 * as saved. `change` is one of
 *   { kind: "star", friend, on }
 *   { kind: "rule", friend, transition: "came_online" | "went_offline" | "back_from_away",
 *     rule: "global" | "always" | "never" }
 *   { kind: "once_online", friend, armed }
 *   { kind: "snooze", choice: "half_hour" | "hour" | "until_morning" }
 *   { kind: "unsnooze" }
 * where `friend` is a user_id as a string.
 */
export const changeAlerts = (change) => invoke("change_alerts", { change });
// Closes the window and destroys the webview; Kith stays in the tray.
export const closeWindow = () => invoke("close_window");

export const EVENTS = Object.freeze({
  connection: "kith://connection",
  presence: "kith://presence",
  session: "kith://session",
  settings: "kith://settings",
  // { why, entries, clipboard }: the connection's recent history (timeline.js).
  timeline: "kith://timeline",
  // A click on a notification: the user_id of the friend to bring into view.
  showFriend: "kith://show-friend",
});

/**
 * The friend a notification click opened this window at, if it did: the window is
 * then created with `#friend=<user_id>` in its address.
 */
export function friendInAddress() {
  return new URLSearchParams(window.location.hash.slice(1)).get("friend");
}

/**
 * Registers one handler per event kind ({ connection, presence, session, settings,
 * timeline, showFriend }, each given the payload) and resolves once all are listening.
 */
export async function listenAll(handlers) {
  const { listen } = tauri().event;
  await Promise.all(
    Object.entries(handlers).map(([kind, handler]) =>
      listen(EVENTS[kind], (event) => handler(event.payload)),
    ),
  );
}
