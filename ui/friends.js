// The friends list: the one part of the UI that has to stay fast. It is windowed: the
// whole sorted list lives in a model (a Map user_id → entry and the sorted `order`),
// and only the rows in and near the viewport exist in the page, a screenful above and
// below it; two spacer items stand in for the rows above and below that window, so
// the scrollbar is the whole list's (every row has the same height, --row-height in
// style.css). A 5,000-friend snapshot therefore costs a sort and a few dozen rows, not
// a layout of 5,000 rows (WebKit takes most of a second for that on a slow machine).
// Scrolling re-renders the window once per animation frame; a resize of the list
// re-renders it too. Live changes move an entry with a binary search over the sorted
// order and touch the page only if its row is in the window. The filter narrows the
// model to `shown`, the list the window is cut from. The list is one tab stop (roving
// tabindex), walked with arrows; the tab stop's row is always kept in the page, even
// scrolled far away, so focus survives scrolling and Tab always finds the list. Rows
// carry aria-posinset and aria-setsize, so a screen reader knows the list's real size.
// Each row has a star and an alerts button; they are in the tab order only in the tab
// stop's row (Tab from the row reaches them), and Enter on a row opens its alerts.
// Starred friends who are online sort first (settings decide the stars: setAlerts
// moves only the friends whose star changed).
//
// Invariant after render(): the list's children are the top spacer, the rows of
// shown[start .. end) in order (with the tab stop's row next to them when it lies
// outside), and the bottom spacer.

import { lastSeenText, onlineCountText, sinceText, statusLabel } from "./format.js";
import {
  compare,
  fold,
  indexIn,
  insertSorted,
  keyTarget,
  pageRows,
  scrollTopFor,
  windowRange,
} from "./list-window.js";

/** Past this many changes in one event, re-sorting everything is cheaper than moving rows. */
const BULK_CHANGES = 256;
/** Used until style.css's --row-height has been read. */
const DEFAULT_ROW_HEIGHT = 46;

export class FriendList {
  /**
   * @param {object} els { list: <ul>, empty: <p>, count: element, filter: <input>,
   *                       template: <template> holding one <li class="friend"> }
   * @param {object} hooks { onStar(id, on), onOpenAlerts(id) }: a row's star was
   *   pressed; a row's alerts were asked for (its button, or Enter on the row)
   */
  constructor({ list, empty, count, filter, template }, { onStar = () => {}, onOpenAlerts = () => {} } = {}) {
    this.list = list;
    this.onStar = onStar;
    this.onOpenAlerts = onOpenAlerts;
    this.favourites = new Set(); // starred user_ids, from settings
    this.armed = new Set(); // user_ids with an armed one-shot, from settings
    this.empty = empty;
    this.count = count;
    this.filter = filter;
    this.rowTemplate = template.content.firstElementChild;
    this.entries = new Map(); // user_id → entry
    this.order = []; // entries, sorted as shown
    this.shown = this.order; // the entries the filter lets through, in order
    this.shownDirty = false; // order or filter changed since `shown` was cut
    this.query = "";
    this.tabStop = null; // the entry whose row has tabindex=0
    this.start = 0; // shown[start .. end) have rows in the page
    this.end = 0;
    this.frame = null; // requestAnimationFrame id of the next window render
    this.viewport = 0; // the list's height in pixels, once it has been laid out
    this.rowHeight = 0; // --row-height, read on first use
    this.padding = 0; // the list's own padding above the first row
    this.lastTimesRefresh = 0;
    this.renderSeq = 0; // counts full replaces, so late timings of older ones are dropped

    this.top = spacer();
    this.bottom = spacer();
    list.replaceChildren(this.top, this.bottom);

    list.addEventListener("scroll", () => this.scheduleRender(), { passive: true });
    list.addEventListener("keydown", (event) => this.onListKey(event));
    list.addEventListener("click", (event) => this.onListClick(event));
    list.addEventListener("focusin", (event) => {
      const entry = this.entryOf(event.target);
      if (!entry) return;
      this.setTabStop(entry);
      // The kept tab-stop row, reached with Tab while the list was scrolled away from it.
      const i = indexIn(this.shown, entry);
      if (i >= 0 && (i < this.start || i >= this.end)) this.scrollToIndex(i, "nearest");
    });
    filter.addEventListener("input", () => this.setFilter(filter.value));
    filter.addEventListener("keydown", (event) => this.onFilterKey(event));
    // The window's size is known once the list is laid out, and changes with the window.
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => this.measure()).observe(list);
    }
  }

  get size() {
    return this.entries.size;
  }

  /**
   * Replaces the whole list with a snapshot. Entries of friends already listed are kept
   * and updated (a resync snapshot is mostly unchanged, and their rows stay in place).
   * Timed: "kith:list-replace" when the snapshot arrives, "kith:list-complete" once the
   * model is complete and the visible window rendered; lastRenderMs is the script's
   * work in between, lastPaintMs the time until that window was on screen. #friends has
   * aria-busy="true" until then. Layout is never forced just to measure it.
   */
  replace(friends) {
    const started = performance.now();
    const count = friends?.length ?? 0;
    performance.mark("kith:list-replace", { detail: { count } });
    this.list.setAttribute("aria-busy", "true");
    const focusedId = this.focusedId();
    const now = Date.now();

    const latest = new Map();
    for (const friend of friends ?? []) {
      if (friend && friend.status != null) latest.set(String(friend.user_id), friend);
    }
    const previous = this.entries;
    const entries = new Map();
    const order = new Array(latest.size);
    let i = 0;
    for (const [id, friend] of latest) {
      let entry = previous.get(id);
      if (entry) {
        previous.delete(id);
        this.fill(entry, friend, now);
      } else {
        entry = this.createEntry(id, friend, now);
      }
      entries.set(id, entry);
      order[i++] = entry;
    }
    for (const gone of previous.values()) gone.removed = true;
    order.sort(compare);

    this.entries = entries;
    this.order = order;
    this.shownDirty = true;
    this.lastTimesRefresh = now;
    this.afterChange(focusedId);
    this.finishReplace(order.length, started);
  }

  finishReplace(count, started) {
    const ms = performance.now() - started;
    const seq = ++this.renderSeq;
    document.body.dataset.lastRenderMs = ms.toFixed(1);
    performance.mark("kith:list-complete", { detail: { count } });
    console.debug(`render ${count} friends: ${ms.toFixed(1)} ms, ${this.end - this.start} rows in the page`);
    if (document.hidden) {
      // No frames while hidden in the tray: nothing is painted, nothing to wait for.
      this.list.removeAttribute("aria-busy");
      return;
    }
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (seq !== this.renderSeq) return; // a newer replace superseded this one
        const painted = performance.now() - started;
        document.body.dataset.lastPaintMs = painted.toFixed(1);
        this.list.removeAttribute("aria-busy");
        console.debug(`render ${count} friends: on screen after ${painted.toFixed(1)} ms`);
      }, 0),
    );
  }

  /** Applies changed friends in place; a friend with `status: null` was removed. */
  update(changes) {
    if (!changes?.length) return;
    const focusedId = this.focusedId();
    const now = Date.now();
    const bulk = changes.length > BULK_CHANGES;
    let removed = false;

    for (const friend of changes) {
      if (!friend) continue;
      const id = String(friend.user_id);
      const entry = this.entries.get(id);
      if (friend.status == null) {
        if (!entry) continue;
        this.entries.delete(id);
        entry.removed = true;
        if (bulk) removed = true;
        else this.order.splice(indexIn(this.order, entry), 1);
      } else if (!entry) {
        const created = this.createEntry(id, friend, now);
        this.entries.set(id, created);
        if (bulk) this.order.push(created);
        else insertSorted(this.order, created);
      } else {
        const group = groupOf(Boolean(friend.online), entry.fav);
        const moves =
          !bulk &&
          (friend.name !== entry.name || String(friend.sort_key ?? "") !== entry.key || group !== entry.group);
        if (moves) this.order.splice(indexIn(this.order, entry), 1); // found by its old key
        this.fill(entry, friend, now);
        if (moves) insertSorted(this.order, entry);
      }
    }

    if (bulk) {
      if (removed) this.order = this.order.filter((entry) => !entry.removed);
      this.order.sort(compare);
    }
    this.shownDirty = true;
    this.afterChange(focusedId);
  }

  /**
   * Shows the stars and armed one-shots of the signed-in account's alert settings
   * ({ favourites, once_online }, as in settings.servers[server]). Only the friends
   * whose star changed move; a star on an offline friend moves nothing.
   */
  setAlerts(alerts) {
    const favourites = new Set((alerts?.favourites ?? []).map(String));
    const armed = new Set((alerts?.once_online ?? []).map(String));
    const starred = changedIds(this.favourites, favourites);
    const rearmed = changedIds(this.armed, armed);
    this.favourites = favourites;
    this.armed = armed;
    for (const id of rearmed) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      entry.armed = armed.has(id);
      if (entry.el) writeMarks(entry);
    }
    const moved = starred.map((id) => this.entries.get(id)).filter(Boolean);
    if (moved.length === 0) return;

    const focusedId = this.focusedId();
    const bulk = moved.length > BULK_CHANGES;
    for (const entry of moved) {
      if (!bulk) this.order.splice(indexIn(this.order, entry), 1); // found by its old group
      entry.fav = favourites.has(entry.id);
      entry.group = groupOf(entry.online, entry.fav);
      if (!bulk) insertSorted(this.order, entry);
      if (entry.el) writeMarks(entry);
    }
    if (bulk) this.order.sort(compare);
    this.shownDirty = true;
    this.afterChange(focusedId);
  }

  /** What the alerts dialog says about a friend: { name, since }, or null if not listed. */
  describe(id) {
    const entry = this.entries.get(String(id));
    return entry ? { name: entry.name, since: sinceText(entry.since, Date.now()) } : null;
  }

  /** Focuses a friend's row if it is in the page, else the list's tab stop. */
  focusFriend(id) {
    const entry = this.entries.get(String(id));
    const row = entry?.el?.isConnected ? entry.el : this.tabStop?.el;
    row?.focus();
  }

  /** Drops every row (on sign-out: nothing of the old account stays on screen). */
  clear() {
    this.renderSeq++;
    this.list.removeAttribute("aria-busy");
    for (const entry of this.order) entry.removed = true;
    this.entries = new Map();
    this.order = [];
    this.shownDirty = true;
    this.tabStop = null;
    this.afterChange(null);
  }

  /**
   * Brings one friend's row into view and focuses it (a click on a notification about
   * them). A filter that hides the friend is cleared first. Returns false when the
   * friend is not in the list (yet).
   */
  show(id) {
    const entry = this.entries.get(String(id));
    if (!entry || entry.removed) return false;
    if (!this.matches(entry)) {
      this.filter.value = "";
      this.setFilter("");
    }
    const i = indexIn(this.currentShown(), entry);
    if (i < 0) return false;
    this.focusIndex(i, "center");
    return true;
  }

  /** Shows only friends whose name contains `value`, ignoring case and accents. */
  setFilter(value) {
    const query = fold(value.trim());
    if (query === this.query) return;
    this.query = query;
    this.shownDirty = true;
    // Other matches, other rows: start again from the top of the list.
    if (this.list.scrollTop !== 0) this.list.scrollTop = 0;
    this.afterChange(null);
  }

  /**
   * Rewrites the "last seen … ago" and "since" texts (a "since" gets its date once that
   * day is over); does nothing if done less than a minute ago.
   */
  refreshTimes({ force = false } = {}) {
    const now = Date.now();
    if (!force && now - this.lastTimesRefresh < 60_000) return;
    this.lastTimesRefresh = now;
    for (const entry of this.order) {
      if (entry.el && entry.since) writeSince(entry, now);
      if (entry.online || entry.lastSeenMs === null) continue;
      const text = lastSeenText(entry.lastSeenMs, now);
      if (text !== entry.seenText) {
        entry.seenText = text;
        if (entry.el) writeSeen(entry);
      }
    }
  }

  // --- the window -------------------------------------------------------------------

  /** The filtered list, re-cut if the order or the filter changed. */
  currentShown() {
    if (this.shownDirty) {
      this.shown = this.query === "" ? this.order : this.order.filter((entry) => this.matches(entry));
      this.shownDirty = false;
    }
    return this.shown;
  }

  /** Reads the list's size (called by the ResizeObserver, when layout is fresh anyway). */
  measure() {
    this.readStyle();
    const height = this.list.clientHeight;
    // 0 while the view is hidden: keep the last size rather than render nothing.
    if (height > 0 && height !== this.viewport) {
      this.viewport = height;
      this.render();
    }
  }

  readStyle() {
    const style = getComputedStyle(this.list);
    this.rowHeight = parseFloat(style.getPropertyValue("--row-height")) || DEFAULT_ROW_HEIGHT;
    this.padding = parseFloat(style.paddingTop) || 0;
  }

  /** The list's height; before its first layout, the window's (more rows, never fewer). */
  viewportHeight() {
    return this.viewport || window.innerHeight || 800;
  }

  /** Re-renders the window in the next animation frame (at once while hidden). */
  scheduleRender() {
    if (document.hidden) {
      this.render();
      return;
    }
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  /** Puts the rows of the window for the current scroll position in the page. */
  render() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    if (!this.rowHeight) this.readStyle();
    const shown = this.currentShown();
    const { rowHeight, padding } = this;
    const { start, end } = windowRange({
      scrollTop: shown.length > 0 ? this.list.scrollTop : 0,
      viewportHeight: this.viewportHeight(),
      rowHeight,
      count: shown.length,
      padding,
    });
    this.start = start;
    this.end = end;

    // The tab stop's row stays in the page wherever it is; placed next to the window,
    // it takes one row's height from that side's spacer, and is out of sight there.
    const rows = [];
    let above = start;
    let below = shown.length - end;
    const pin = this.tabStop ? indexIn(shown, this.tabStop) : -1;
    if (pin >= 0 && pin < start) {
      rows.push(this.rowOf(shown[pin], pin, shown.length));
      above--;
    }
    for (let i = start; i < end; i++) rows.push(this.rowOf(shown[i], i, shown.length));
    if (pin >= end) {
      rows.push(this.rowOf(shown[pin], pin, shown.length));
      below--;
    }
    setHeight(this.top, above * rowHeight);
    setHeight(this.bottom, below * rowHeight);

    // Moving a focused row (or its focused button) blurs it: remember it and give focus back.
    const active = document.activeElement;
    const focused = active && active !== this.list && this.list.contains(active) ? active : null;
    const wanted = new Set(rows);
    for (let node = this.top.nextElementSibling; node && node !== this.bottom; ) {
      const next = node.nextElementSibling;
      if (!wanted.has(node)) node.remove();
      node = next;
    }
    let cursor = this.top.nextElementSibling;
    for (const row of rows) {
      if (row === cursor) cursor = cursor.nextElementSibling;
      else this.list.insertBefore(row, cursor);
    }
    if (focused && focused.isConnected && document.activeElement !== focused) {
      focused.focus({ preventScroll: true });
    }
  }

  /** Scrolls so that shown[i] is in view, and renders the window there. */
  scrollToIndex(i, block) {
    if (!this.rowHeight) this.readStyle();
    const scrollTop = this.list.scrollTop;
    const target = scrollTopFor({
      index: i,
      scrollTop,
      viewportHeight: this.viewportHeight(),
      rowHeight: this.rowHeight,
      padding: this.padding,
      block,
    });
    if (target !== scrollTop) this.list.scrollTop = target;
    this.render();
  }

  /** Focuses shown[i], scrolling it into view first. */
  focusIndex(i, block = "nearest") {
    const entry = this.currentShown()[i];
    if (!entry) return;
    this.setTabStop(entry);
    this.scrollToIndex(i, block);
    entry.el?.focus({ preventScroll: true });
  }

  // --- rows ---------------------------------------------------------------------

  /** A new entry: the model only; its row is built when the window first reaches it. */
  createEntry(id, friend, now) {
    const entry = {
      id,
      el: null,
      nameEl: null,
      statusEl: null,
      seenEl: null,
      sinceEl: null,
      starEl: null,
      menuEl: null,
      onceEl: null,
      name: null,
      folded: null,
      key: "",
      status: null,
      cls: "offline", // kith-core's class: online, away or offline
      online: false, // online or away
      fav: this.favourites.has(id),
      armed: this.armed.has(id),
      group: 0,
      lastSeenMs: null,
      seenText: "",
      since: null, // { online, at_ms, at_least } from kith-core
      sinceKey: "",
      sinceText: "",
      pos: 0, // aria-posinset written on the row
      setSize: 0, // aria-setsize written on the row
      removed: false,
    };
    this.fill(entry, friend, now);
    return entry;
  }

  /** The entry's row, built on first use, with its position in `shown` written on it. */
  rowOf(entry, index, setSize) {
    if (!entry.el) this.buildRow(entry);
    const el = entry.el;
    if (entry.pos !== index + 1) {
      entry.pos = index + 1;
      el.setAttribute("aria-posinset", String(entry.pos));
    }
    if (entry.setSize !== setSize) {
      entry.setSize = setSize;
      el.setAttribute("aria-setsize", String(setSize));
    }
    return el;
  }

  buildRow(entry) {
    const el = this.rowTemplate.cloneNode(true);
    entry.el = el;
    entry.nameEl = el.querySelector(".name");
    entry.statusEl = el.querySelector(".status");
    entry.seenEl = el.querySelector(".last-seen");
    entry.sinceEl = el.querySelector(".since");
    entry.starEl = el.querySelector(".star");
    entry.menuEl = el.querySelector(".friend-alerts-button");
    entry.onceEl = el.querySelector(".once");
    el.dataset.userId = entry.id;
    el.dataset.status = entry.status;
    el.dataset.class = entry.cls;
    setTabbable(entry, entry === this.tabStop);
    entry.nameEl.textContent = entry.name;
    entry.statusEl.textContent = statusLabel(entry.status);
    if (entry.seenText !== "") writeSeen(entry);
    if (entry.since) writeSince(entry, Date.now());
    writeMarks(entry);
  }

  /** Writes a friend into its entry, and into its row if it has one, touching only what changed. */
  fill(entry, friend, now) {
    const { el } = entry;
    const name = friend.name;
    if (name !== entry.name) {
      entry.name = name;
      entry.folded = null; // folded when a filter first needs it
      if (el) {
        entry.nameEl.textContent = name;
        writeMarks(entry); // the buttons' labels name the friend
      }
    }
    entry.key = String(friend.sort_key ?? "");
    entry.online = Boolean(friend.online);
    entry.group = groupOf(entry.online, entry.fav);
    const cls = classOf(friend);
    if (cls !== entry.cls) {
      entry.cls = cls;
      if (el) el.dataset.class = cls;
    }
    // "online since 14:02": written only on rows in the page (formatting 5,000 is waste).
    const since = friend.since && Number.isFinite(friend.since.at_ms) ? friend.since : null;
    const sinceKey = since ? `${Boolean(since.online)} ${since.at_ms} ${Boolean(since.at_least)}` : "";
    if (sinceKey !== entry.sinceKey) {
      entry.sinceKey = sinceKey;
      entry.since = since;
      if (el) writeSince(entry, now);
    }
    const status = String(friend.status);
    if (status !== entry.status) {
      entry.status = status;
      if (el) {
        el.dataset.status = status;
        entry.statusEl.textContent = statusLabel(status);
      }
    }
    // kith-core has read the backend's timestamp: epoch milliseconds, or nothing.
    const seenMs = Number.isFinite(friend.last_seen_ms) ? friend.last_seen_ms : null;
    let seenChanged = false;
    if (seenMs !== entry.lastSeenMs) {
      entry.lastSeenMs = seenMs;
      seenChanged = true;
    }
    const seenText = entry.online ? "" : lastSeenText(entry.lastSeenMs, now);
    if (seenText !== entry.seenText || (seenChanged && seenText !== "")) {
      entry.seenText = seenText;
      if (el) writeSeen(entry);
    }
  }

  matches(entry) {
    if (this.query === "") return true;
    entry.folded ??= fold(entry.name);
    return entry.folded.includes(this.query);
  }

  /** Count, empty state, tab stop, the window and focus, after any change. */
  afterChange(focusedId) {
    const shown = this.currentShown();
    let online = 0;
    let away = 0;
    for (const entry of this.order) {
      if (entry.cls === "online") online++;
      else if (entry.cls === "away") away++;
    }
    const count = onlineCountText(online, away, this.order.length);
    if (this.count.textContent !== count) this.count.textContent = count;
    const size = String(this.order.length);
    if (this.list.dataset.count !== size) this.list.dataset.count = size;

    if (shown.length > 0) {
      this.empty.hidden = true;
    } else {
      this.empty.textContent =
        this.order.length === 0 ? "No friends yet." : `No friends match “${this.filter.value.trim()}”.`;
      this.empty.hidden = false;
    }
    const empty = String(shown.length === 0);
    if (this.list.dataset.empty !== empty) this.list.dataset.empty = empty;

    // The focused friend keeps the tab stop; a tab stop filtered out or removed moves
    // to the first row.
    const focused = focusedId !== null ? this.entries.get(focusedId) : null;
    if (focused && indexIn(shown, focused) >= 0) this.setTabStop(focused);
    else if (!this.tabStop || this.tabStop.removed || indexIn(shown, this.tabStop) < 0) {
      this.setTabStop(shown[0] ?? null);
    }
    this.render();
    // A focused row that left the page (its friend was removed) hands focus to the tab stop.
    if (focusedId !== null && !this.list.contains(document.activeElement)) {
      this.tabStop?.el?.focus({ preventScroll: true });
    }
  }

  // --- keyboard -------------------------------------------------------------------

  /** The entry of the row an event happened in, if it is one of this list's rows. */
  entryOf(target) {
    const row = target?.closest?.("li.friend");
    if (!row || row.parentElement !== this.list) return null;
    const entry = this.entries.get(row.dataset.userId);
    return entry && entry.el === row ? entry : null;
  }

  /** The user_id of the row that has the focus (or whose button has it), or null. */
  focusedId() {
    const row = document.activeElement?.closest?.("li.friend");
    return row && row.parentElement === this.list ? row.dataset.userId ?? null : null;
  }

  setTabStop(entry) {
    if (this.tabStop === entry) return;
    if (this.tabStop?.el) setTabbable(this.tabStop, false);
    this.tabStop = entry;
    if (entry?.el) setTabbable(entry, true);
  }

  onListClick(event) {
    const button = event.target?.closest?.("button");
    const entry = button ? this.entryOf(button) : null;
    if (!entry) return;
    if (button.classList.contains("star")) this.onStar(entry.id, !entry.fav);
    else if (button.classList.contains("friend-alerts-button")) this.onOpenAlerts(entry.id);
  }

  onListKey(event) {
    const entry = this.entryOf(event.target);
    if (!entry || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    // Enter or Space on the row itself (not on one of its buttons) opens its alerts.
    if ((event.key === "Enter" || event.key === " ") && event.target === entry.el) {
      event.preventDefault();
      this.onOpenAlerts(entry.id);
      return;
    }
    const shown = this.currentShown();
    const index = indexIn(shown, entry);
    if (index < 0) return;
    const page = pageRows(this.viewportHeight(), this.rowHeight || DEFAULT_ROW_HEIGHT);
    const target = keyTarget(event.key, index, shown.length, page);
    if (target === null) return;
    event.preventDefault();
    if (target === "filter") this.filter.focus(); // up from the first row goes back to the filter
    else this.focusIndex(target);
  }

  onFilterKey(event) {
    if (event.key === "ArrowDown") {
      if (this.currentShown().length > 0) {
        event.preventDefault();
        this.focusIndex(0);
      }
    } else if (event.key === "Escape" && this.filter.value !== "") {
      event.preventDefault();
      event.stopPropagation();
      this.filter.value = "";
      this.setFilter("");
    }
  }
}

/** 0: online favourites, 1: the other online friends, 2: offline friends. */
function groupOf(online, fav) {
  return online ? (fav ? 0 : 1) : 2;
}

/** kith-core's class; for a friend without one, read from `online` and `status`. */
function classOf(friend) {
  const cls = friend.class;
  if (cls === "online" || cls === "away" || cls === "offline") return cls;
  if (!friend.online) return "offline";
  return friend.status === "away" ? "away" : "online";
}

/** The ids in one set and not the other. */
function changedIds(before, after) {
  const ids = [];
  for (const id of before) if (!after.has(id)) ids.push(id);
  for (const id of after) if (!before.has(id)) ids.push(id);
  return ids;
}

/** The row and its buttons are in the tab order only for the list's tab stop. */
function setTabbable(entry, on) {
  const index = on ? 0 : -1;
  entry.el.tabIndex = index;
  entry.starEl.tabIndex = index;
  entry.menuEl.tabIndex = index;
}

/** The star's state and the labels that name the friend; the one-shot marker. */
function writeMarks(entry) {
  const { name, starEl, menuEl, onceEl } = entry;
  const starLabel = `${entry.fav ? "Unstar" : "Star"} ${name}`;
  starEl.setAttribute("aria-pressed", String(entry.fav));
  starEl.setAttribute("aria-label", starLabel);
  starEl.setAttribute("title", starLabel);
  const menuLabel = `Alerts for ${name}`;
  menuEl.setAttribute("aria-label", menuLabel);
  menuEl.setAttribute("title", menuLabel);
  entry.el.dataset.favourite = String(entry.fav);
  onceEl.hidden = !entry.armed;
  if (entry.armed) {
    const onceLabel = `Kith will tell you once when ${name} comes online`;
    onceEl.setAttribute("aria-label", onceLabel);
    onceEl.setAttribute("title", onceLabel);
  }
}

function writeSince(entry, now) {
  const text = sinceText(entry.since, now);
  if (text === entry.sinceText && entry.sinceEl.textContent === text) return;
  entry.sinceText = text;
  entry.sinceEl.textContent = text;
  entry.sinceEl.hidden = text === "";
  if (text !== "") entry.sinceEl.dateTime = new Date(entry.since.at_ms).toISOString();
}

/** An item that stands in for the rows above or below the window. */
function spacer() {
  const el = document.createElement("li");
  el.className = "spacer";
  el.setAttribute("aria-hidden", "true");
  return el;
}

function setHeight(el, px) {
  const height = `${Math.max(0, px)}px`;
  if (el.style.height !== height) el.style.height = height;
}

function writeSeen(entry) {
  const text = entry.seenText;
  entry.seenEl.textContent = text;
  entry.seenEl.hidden = text === "";
  if (text !== "") entry.seenEl.dateTime = new Date(entry.lastSeenMs).toISOString();
}
