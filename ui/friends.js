// The friends list: the one part of the UI that has to stay fast. A snapshot of 5,000
// friends is built once into rows, and DocumentFragments put them in the list: the first
// screenfuls at once, the rest one slice per animation frame, so the engine never lays
// out 5,000 rows in one go (WebKit takes most of a second for that on a slow machine).
// After that each live change touches only its own row (found through a Map user_id →
// entry) and moves it with a binary search over the already sorted order. The filter
// only toggles `hidden`. The list is one tab stop (roving tabindex), walked with arrows.
//
// Invariant: the list's children are exactly order[0 .. attached), in that order; rows
// of order[attached ..] exist but wait to be attached.

import {
  lastSeenText,
  onlineCountText,
  statusLabel,
} from "./format.js";

/**
 * Present friends first, then by name, then by id (so the order is total and a binary
 * search finds a row exactly). Names compare through kith-core's collation key
 * (`sort_key`: case and accents folded, numbers by value), the order the tray and the
 * CLI use too; comparing keys as strings is much cheaper than Intl.Collator.
 */
function compare(a, b) {
  if (a.group !== b.group) return a.group - b.group;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Case- and accent-folded text: "Chloé" → "chloe". Used for filtering only. */
function fold(text) {
  return text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase();
}

/** Index of the first entry in `order` that does not sort before `entry`. */
function lowerBound(order, entry) {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(order[mid], entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Past this many changes in one event, re-sorting everything is cheaper than moving rows. */
const BULK_CHANGES = 256;
/** Rows attached at once on a full render (several screenfuls), then per frame. */
const FIRST_SLICE = 120;
const SLICE = 400;

export class FriendList {
  /**
   * @param {object} els { list: <ul>, empty: <p>, count: element, filter: <input>,
   *                       template: <template> holding one <li class="friend"> }
   */
  constructor({ list, empty, count, filter, template }) {
    this.list = list;
    this.empty = empty;
    this.count = count;
    this.filter = filter;
    this.rowTemplate = template.content.firstElementChild;
    this.entries = new Map(); // user_id → entry
    this.order = []; // entries, sorted as shown
    this.attached = 0; // order[0 .. attached) are in the list; see the invariant above
    this.sliceFrame = null; // requestAnimationFrame id of the next slice
    this.render = null; // timing of the full render in progress
    this.query = "";
    this.tabStop = null; // the one row with tabindex=0
    this.lastTimesRefresh = 0;
    this.renderSeq = 0; // counts full renders, so late timings of older ones are dropped

    list.addEventListener("keydown", (event) => this.onListKey(event));
    list.addEventListener("focusin", (event) => {
      const row = event.target.closest?.("li.friend");
      if (row) this.setTabStop(row);
    });
    filter.addEventListener("input", () => this.setFilter(filter.value));
    filter.addEventListener("keydown", (event) => this.onFilterKey(event));
    // Hidden mid-render: animation frames stop, so attach the rest now.
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) this.attachAll();
    });
  }

  get size() {
    return this.entries.size;
  }

  /**
   * Replaces the whole list with a snapshot. Rows of friends already shown are kept and
   * updated in place (a resync snapshot is mostly unchanged), new ones are built into a
   * fragment, and rows are only moved when the order changed.
   * Timed: see startTiming.
   */
  replace(friends) {
    const started = performance.now();
    performance.mark("kith:list-replace", { detail: { count: friends?.length ?? 0 } });
    const focusedId = this.focusedId();
    const now = Date.now();

    const latest = new Map();
    for (const friend of friends ?? []) {
      if (friend && friend.status != null) latest.set(String(friend.user_id), friend);
    }
    const previous = this.entries;
    const entries = new Map();
    const order = new Array(latest.size);
    let kept = 0;
    let i = 0;
    for (const [id, friend] of latest) {
      let entry = previous.get(id);
      if (entry) {
        previous.delete(id);
        this.fill(entry, friend, now);
        kept++;
      } else {
        entry = this.createEntry(id, friend, now);
      }
      entries.set(id, entry);
      order[i++] = entry;
    }
    order.sort(compare);

    this.cancelSlices();
    if (kept === 0) {
      // Nothing to keep: one replaceChildren drops all old rows in one go.
      this.attached = Math.min(order.length, FIRST_SLICE);
      this.tabStop = null;
      this.list.replaceChildren(fragmentOf(order, 0, this.attached));
    } else {
      for (const gone of previous.values()) {
        if (this.tabStop === gone.el) this.tabStop = null;
        gone.el.remove();
      }
      // Rows stay where they are up to the first one out of place; the rest are taken
      // out and come back in order (at once for a screenful, the others in slices).
      const rows = this.list.children;
      let k = 0;
      while (k < order.length && k < rows.length && rows[k] === order[k].el) k++;
      if (k < rows.length) {
        const range = document.createRange();
        range.setStartBefore(rows[k]);
        range.setEndAfter(this.list.lastChild);
        range.deleteContents();
      }
      this.attached = Math.max(k, Math.min(order.length, FIRST_SLICE));
      if (this.attached > k) this.list.appendChild(fragmentOf(order, k, this.attached));
    }
    this.entries = entries;
    this.order = order;
    this.lastTimesRefresh = now;
    this.afterChange(focusedId);
    this.startTiming(order.length, started);
    this.scheduleSlice();
  }

  /**
   * Times a full render. lastRenderMs is the script's own work (building, sorting and
   * attaching every row, summed over the slices); lastPaintMs is the time until the
   * first screenful was on screen (style, layout and paint included). Layout is never
   * forced just to measure it: while the window sits hidden in the tray the engine may
   * skip it, and so should we. #friends has aria-busy="true" until all rows are in.
   */
  startTiming(count, started) {
    const ms = performance.now() - started;
    const seq = ++this.renderSeq;
    this.render = { count, started, scriptMs: ms, slices: 1 };
    console.debug(`render ${count} friends: ${ms.toFixed(1)} ms`);
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (seq !== this.renderSeq) return; // a newer render superseded this one
        const painted = performance.now() - started;
        document.body.dataset.lastPaintMs = painted.toFixed(1);
        console.debug(`render ${count} friends: first screenful on screen after ${painted.toFixed(1)} ms`);
      }, 0),
    );
    if (this.attached >= this.order.length) this.finishTiming();
  }

  finishTiming() {
    const render = this.render;
    this.list.removeAttribute("aria-busy");
    if (!render) return;
    this.render = null;
    document.body.dataset.lastRenderMs = render.scriptMs.toFixed(1);
    performance.mark("kith:list-complete", { detail: { count: render.count } });
    if (render.slices > 1) {
      const all = performance.now() - render.started;
      console.debug(
        `render ${render.count} friends: ${render.scriptMs.toFixed(1)} ms of script in ` +
          `${render.slices} slices, all rows in after ${all.toFixed(1)} ms`,
      );
    }
  }

  // --- slices: rows that wait to be attached ----------------------------------------

  /**
   * Attaches the next slice in the next animation frame, so each frame lays out one
   * slice at most. A hidden window (in the tray) runs no animation frames and shows no
   * freeze, so there every row is attached at once.
   */
  scheduleSlice() {
    if (this.attached >= this.order.length) {
      this.finishTiming();
      return;
    }
    if (document.hidden) {
      this.attachAll();
      return;
    }
    this.list.setAttribute("aria-busy", "true");
    if (this.sliceFrame !== null) return;
    this.sliceFrame = requestAnimationFrame(() => {
      this.sliceFrame = null;
      const started = performance.now();
      const end = Math.min(this.order.length, this.attached + SLICE);
      this.list.appendChild(fragmentOf(this.order, this.attached, end));
      this.attached = end;
      if (this.render) {
        this.render.scriptMs += performance.now() - started;
        this.render.slices++;
      }
      this.scheduleSlice();
    });
  }

  cancelSlices() {
    if (this.sliceFrame !== null) cancelAnimationFrame(this.sliceFrame);
    this.sliceFrame = null;
  }

  /** Attaches every waiting row now (before a bulk change, or to jump to the end). */
  attachAll() {
    if (this.attached >= this.order.length) return;
    this.cancelSlices();
    const started = performance.now();
    this.list.appendChild(fragmentOf(this.order, this.attached, this.order.length));
    this.attached = this.order.length;
    if (this.render) {
      this.render.scriptMs += performance.now() - started;
      this.render.slices++;
    }
    this.finishTiming();
  }

  /** Takes order[i] out of the order, and out of the list if it was attached. */
  removeAt(i) {
    const [entry] = this.order.splice(i, 1);
    if (i < this.attached) {
      this.attached--;
      entry.el.remove();
    }
  }

  /** Applies changed friends in place; a friend with `status: null` was removed. */
  update(changes) {
    if (!changes?.length) return;
    const focusedId = this.focusedId();
    const now = Date.now();
    const bulk = changes.length > BULK_CHANGES;
    if (bulk) this.attachAll();
    let removed = false;

    for (const friend of changes) {
      if (!friend) continue;
      const id = String(friend.user_id);
      const entry = this.entries.get(id);
      if (friend.status == null) {
        if (!entry) continue;
        this.entries.delete(id);
        if (this.tabStop === entry.el) this.tabStop = null;
        if (bulk) {
          entry.el.remove();
          entry.removed = true;
          removed = true;
        } else {
          this.removeAt(this.indexOf(entry));
        }
      } else if (!entry) {
        const created = this.createEntry(id, friend, now);
        this.entries.set(id, created);
        if (bulk) this.order.push(created);
        else this.insertSorted(created);
      } else {
        const name = friend.name;
        const group = friend.online ? 0 : 1;
        const moves = !bulk && (name !== entry.name || group !== entry.group);
        if (moves) this.removeAt(this.indexOf(entry)); // found by its old key
        this.fill(entry, friend, now);
        if (moves) this.insertSorted(entry);
      }
    }

    if (bulk) {
      if (removed) this.order = this.order.filter((entry) => !entry.removed);
      this.order.sort(compare);
      this.list.appendChild(fragmentOf(this.order, 0, this.order.length)); // moves, no rebuild
      this.attached = this.order.length;
    }
    this.afterChange(focusedId);
    this.scheduleSlice();
  }

  /** Drops every row (on sign-out: nothing of the old account stays on screen). */
  clear() {
    this.cancelSlices();
    this.render = null;
    this.renderSeq++;
    this.list.removeAttribute("aria-busy");
    this.entries = new Map();
    this.order = [];
    this.attached = 0;
    this.tabStop = null;
    this.list.replaceChildren();
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
    if (entry.el.hidden) {
      this.filter.value = "";
      this.setFilter("");
    }
    this.focusRow(entry.el, { preventScroll: true });
    entry.el.scrollIntoView({ block: "center" });
    return true;
  }

  /** Shows only friends whose name contains `value`, ignoring case and accents. */
  setFilter(value) {
    const query = fold(value.trim());
    if (query === this.query) return;
    this.query = query;
    for (const entry of this.order) {
      const hide = !this.matches(entry);
      if (entry.el.hidden !== hide) entry.el.hidden = hide;
    }
    this.afterChange(null);
  }

  /** Rewrites the "last seen … ago" texts; does nothing if done less than a minute ago. */
  refreshTimes({ force = false } = {}) {
    const now = Date.now();
    if (!force && now - this.lastTimesRefresh < 60_000) return;
    this.lastTimesRefresh = now;
    for (const entry of this.order) {
      if (entry.group !== 1 || entry.lastSeenMs === null) continue;
      const text = lastSeenText(entry.lastSeenMs, now);
      if (text !== entry.seenText) {
        entry.seenText = text;
        entry.seenEl.textContent = text;
      }
    }
  }

  // --- rows ---------------------------------------------------------------------

  createEntry(id, friend, now) {
    const el = this.rowTemplate.cloneNode(true);
    // The template is <li><span.dot> <span.name> <span.status> <time.last-seen></li>.
    const nameEl = el.firstElementChild.nextElementSibling;
    const statusEl = nameEl.nextElementSibling;
    const seenEl = statusEl.nextElementSibling;
    const entry = {
      id,
      el,
      nameEl,
      statusEl,
      seenEl,
      name: null,
      folded: "",
      key: "",
      status: null,
      group: 0,
      lastSeenMs: null,
      seenText: "",
      removed: false,
    };
    el.dataset.userId = id;
    this.fill(entry, friend, now);
    return entry;
  }

  /** Writes a friend into its row, touching only what changed. */
  fill(entry, friend, now) {
    const { el } = entry;
    const name = friend.name;
    if (name !== entry.name) {
      entry.name = name;
      entry.folded = fold(name);
      entry.nameEl.textContent = name;
    }
    if (friend.sort_key !== entry.key) {
      entry.key = String(friend.sort_key ?? "");
    }
    const status = String(friend.status);
    if (status !== entry.status) {
      entry.status = status;
      entry.group = friend.online ? 0 : 1;
      el.dataset.status = status;
      entry.statusEl.textContent = statusLabel(status);
    }
    // kith-core has read the backend's timestamp: epoch milliseconds, or nothing.
    const seenMs = Number.isFinite(friend.last_seen_ms) ? friend.last_seen_ms : null;
    let seenChanged = false;
    if (seenMs !== entry.lastSeenMs) {
      entry.lastSeenMs = seenMs;
      seenChanged = true;
    }
    const seenText = entry.group === 1 ? lastSeenText(entry.lastSeenMs, now) : "";
    if (seenText !== entry.seenText || (seenChanged && seenText !== "")) {
      entry.seenText = seenText;
      entry.seenEl.textContent = seenText;
      entry.seenEl.hidden = seenText === "";
      if (seenText !== "") entry.seenEl.dateTime = new Date(entry.lastSeenMs).toISOString();
    }
    const hide = !this.matches(entry);
    if (el.hidden !== hide) el.hidden = hide;
  }

  matches(entry) {
    return this.query === "" || entry.folded.includes(this.query);
  }

  indexOf(entry) {
    const i = lowerBound(this.order, entry);
    return this.order[i] === entry ? i : this.order.indexOf(entry);
  }

  /** Puts an entry (not in the order) in its place, and in the list if that place is. */
  insertSorted(entry) {
    const i = lowerBound(this.order, entry);
    this.order.splice(i, 0, entry);
    // Attached if it lands inside the attached rows, or at the end when none wait.
    if (i < this.attached || this.attached === this.order.length - 1) {
      const next = i + 1 <= this.attached ? this.order[i + 1] : null;
      this.list.insertBefore(entry.el, next ? next.el : null);
      this.attached++;
    }
  }

  /** Count, empty state, tab stop and focus, after any change. */
  afterChange(focusedId) {
    let present = 0;
    let shown = 0;
    for (const entry of this.order) {
      if (entry.group === 0) present++;
      if (!entry.el.hidden) shown++;
    }
    const count = onlineCountText(present, this.order.length);
    if (this.count.textContent !== count) this.count.textContent = count;

    if (shown > 0) {
      this.empty.hidden = true;
    } else {
      this.empty.textContent =
        this.order.length === 0 ? "No friends yet." : `No friends match “${this.filter.value.trim()}”.`;
      this.empty.hidden = false;
    }
    const empty = String(shown === 0);
    if (this.list.dataset.empty !== empty) this.list.dataset.empty = empty;

    if (!this.tabStop || this.tabStop.hidden || !this.tabStop.isConnected) {
      this.setTabStop(this.firstVisible());
    }
    // Moving or rebuilding a focused row blurs it; give focus back if it was lost.
    if (focusedId !== null && !this.list.contains(document.activeElement)) {
      const entry = this.entries.get(focusedId);
      if (entry && !entry.el.isConnected) this.attachAll(); // the user is in the list
      const row = entry && !entry.el.hidden ? entry.el : this.tabStop;
      if (row) this.focusRow(row, { preventScroll: true });
    }
  }

  // --- keyboard -------------------------------------------------------------------

  focusedId() {
    const active = document.activeElement;
    return active && active.parentElement === this.list ? active.dataset.userId ?? null : null;
  }

  setTabStop(row) {
    if (this.tabStop === row) return;
    if (this.tabStop) this.tabStop.tabIndex = -1;
    this.tabStop = row;
    if (row) row.tabIndex = 0;
  }

  focusRow(row, options) {
    if (!row.isConnected) this.attachAll(); // it was still waiting to be attached
    this.setTabStop(row);
    row.focus(options);
  }

  firstVisible() {
    for (const entry of this.order) if (!entry.el.hidden) return entry.el;
    return null;
  }

  lastVisible() {
    for (let i = this.order.length - 1; i >= 0; i--) {
      if (!this.order[i].el.hidden) return this.order[i].el;
    }
    return null;
  }

  /** The visible row `count` visible rows away from `row` (or the farthest one). */
  step(row, direction, count) {
    let found = null;
    let current = row;
    while (count > 0) {
      current = direction > 0 ? current.nextElementSibling : current.previousElementSibling;
      if (!current) break;
      if (!current.hidden) {
        found = current;
        count--;
      }
    }
    return found;
  }

  pageSize(row) {
    const rowHeight = row.offsetHeight || 44;
    return Math.max(1, Math.floor(this.list.clientHeight / rowHeight) - 1);
  }

  onListKey(event) {
    const row = event.target.closest?.("li.friend");
    if (!row || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    let target;
    switch (event.key) {
      case "ArrowDown":
        target = this.step(row, 1, 1);
        if (!target && this.attached < this.order.length) {
          this.attachAll();
          target = this.step(row, 1, 1);
        }
        break;
      case "ArrowUp":
        target = this.step(row, -1, 1);
        if (!target) {
          event.preventDefault();
          this.filter.focus(); // up from the first row goes back to the filter
          return;
        }
        break;
      case "PageDown":
        this.attachAll();
        target = this.step(row, 1, this.pageSize(row));
        break;
      case "PageUp":
        target = this.step(row, -1, this.pageSize(row));
        break;
      case "Home":
        target = this.firstVisible();
        break;
      case "End":
        this.attachAll();
        target = this.lastVisible();
        break;
      default:
        return;
    }
    event.preventDefault();
    if (target) this.focusRow(target);
  }

  onFilterKey(event) {
    if (event.key === "ArrowDown") {
      const first = this.firstVisible();
      if (first) {
        event.preventDefault();
        this.focusRow(first);
      }
    } else if (event.key === "Escape" && this.filter.value !== "") {
      event.preventDefault();
      event.stopPropagation();
      this.filter.value = "";
      this.setFilter("");
    }
  }
}

/** A fragment holding the rows of order[from .. to). */
function fragmentOf(order, from, to) {
  const fragment = document.createDocumentFragment();
  for (let i = from; i < to; i++) fragment.appendChild(order[i].el);
  return fragment;
}
