// Unit tests of ui/list-window.js, the arithmetic of the windowed friends list: the
// order friends are shown in, the binary search that keeps it, which rows exist in the
// page for a scroll position, where a row is scrolled to, and where keys move focus.
// friends.js only does the DOM work around these, so a wrong window (a blank strip
// while scrolling, a missing last row) would show up here first.
// Run: node --test tests/ui/   (cargo xtask test does).

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  compare,
  fold,
  indexIn,
  insertSorted,
  keyTarget,
  lowerBound,
  pageRows,
  scrollTopFor,
  windowRange,
} from "../../ui/list-window.js";

const entry = (id, key, group = 0) => ({ id, key, group });

test("order: present friends first, then by collation key, then by id", () => {
  const list = [entry("3", "bob", 1), entry("2", "carol"), entry("9", "alice", 1), entry("1", "carol")];
  list.sort(compare);
  assert.deepEqual(
    list.map((e) => e.id),
    ["1", "2", "9", "3"],
  );
  assert.equal(compare(entry("1", "a"), entry("1", "a")), 0);
});

test("fold: case and accents are ignored, and nothing is an empty string", () => {
  assert.equal(fold("Chloé"), "chloe");
  assert.equal(fold("ÅSA"), "asa");
  assert.equal(fold(null), "");
});

test("sorted insertion keeps the order and finds every entry again", () => {
  const order = [];
  const keys = ["m", "c", "x", "a", "q", "c", "b"];
  keys.forEach((key, i) => insertSorted(order, entry(String(i), key, i % 2)));
  const sorted = [...order].sort(compare);
  assert.deepEqual(order, sorted);
  for (const e of order) assert.equal(order[indexIn(order, e)], e);
  assert.equal(lowerBound(order, entry("", "", 0)), 0);
  assert.equal(lowerBound(order, entry("~", "~", 1)), order.length);
});

test("indexIn finds an entry whose key changed since it was placed, or says -1", () => {
  const order = [entry("1", "a"), entry("2", "b"), entry("3", "c")];
  order[1].key = "z"; // renamed, not moved yet
  assert.equal(indexIn(order, order[1]), 1);
  assert.equal(indexIn(order, entry("4", "b")), -1);
});

const ROW = 46;

test("window at the top: the viewport's rows and a screenful below", () => {
  const { start, end } = windowRange({ scrollTop: 0, viewportHeight: 460, rowHeight: ROW, count: 5000, padding: 4 });
  assert.equal(start, 0);
  // 460 px of viewport and 460 of overscan, less the 4 px padding: 916 px, 20 rows.
  assert.equal(end, 20);
});

test("window in the middle: a screenful above and below the visible rows", () => {
  const scrollTop = 1000 * ROW;
  const { start, end } = windowRange({ scrollTop, viewportHeight: 460, rowHeight: ROW, count: 5000 });
  assert.equal(start, 990);
  assert.equal(end, 1020);
  // Every row that touches the viewport is inside.
  const firstSeen = Math.floor(scrollTop / ROW);
  const lastSeen = Math.floor((scrollTop + 460 - 1) / ROW);
  assert.ok(start <= firstSeen && lastSeen < end);
});

test("window at the bottom ends with the last row", () => {
  const count = 5000;
  const viewportHeight = 460;
  const bottom = 8 + count * ROW - viewportHeight;
  const { start, end } = windowRange({ scrollTop: bottom, viewportHeight, rowHeight: ROW, count, padding: 4 });
  assert.equal(end, count);
  assert.ok(start < count - 10 && start > count - 30, `start ${start}`);
});

test("a scrollTop past the end (the list just got shorter) shows the end, not nothing", () => {
  const { start, end } = windowRange({ scrollTop: 100_000, viewportHeight: 460, rowHeight: ROW, count: 12 });
  assert.deepEqual({ start, end }, { start: 0, end: 12 });
  const long = windowRange({ scrollTop: 10_000_000, viewportHeight: 460, rowHeight: ROW, count: 5000 });
  assert.equal(long.end, 5000);
  assert.ok(long.start < long.end);
});

test("short, empty and unmeasured lists", () => {
  assert.deepEqual(windowRange({ scrollTop: 0, viewportHeight: 460, rowHeight: ROW, count: 3 }), { start: 0, end: 3 });
  assert.deepEqual(windowRange({ scrollTop: 0, viewportHeight: 460, rowHeight: ROW, count: 0 }), { start: 0, end: 0 });
  assert.deepEqual(windowRange({ scrollTop: 0, viewportHeight: 460, rowHeight: 0, count: 9 }), { start: 0, end: 0 });
  // A negative scrollTop (rubber-band scrolling) counts as the top.
  assert.deepEqual(windowRange({ scrollTop: -50, viewportHeight: 92, rowHeight: ROW, count: 100, overscan: 0 }), {
    start: 0,
    end: 2,
  });
});

test("window size does not depend on where the list is scrolled", () => {
  const sizes = new Set();
  for (let scrollTop = 5000; scrollTop < 200_000; scrollTop += 977) {
    const { start, end } = windowRange({ scrollTop, viewportHeight: 600, rowHeight: ROW, count: 5000 });
    sizes.add(end - start);
  }
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, [...sizes].join(","));
  assert.ok(Math.max(...sizes) <= 3 * Math.ceil(600 / ROW) + 2);
});

test("scrolling a row into view: nearest edge, or centred", () => {
  const args = { scrollTop: 460, viewportHeight: 460, rowHeight: ROW, padding: 4 };
  // Already in view: no scroll.
  assert.equal(scrollTopFor({ ...args, index: 12 }), 460);
  // Above: its top at the top.
  assert.equal(scrollTopFor({ ...args, index: 2 }), 4 + 2 * ROW);
  // Below: its bottom at the bottom.
  assert.equal(scrollTopFor({ ...args, index: 30 }), 4 + 31 * ROW - 460);
  // Centred.
  assert.equal(scrollTopFor({ ...args, index: 100, block: "center" }), Math.round(4 + 100 * ROW - (460 - ROW) / 2));
  assert.equal(scrollTopFor({ ...args, index: 0, block: "center" }), 0);
});

test("keys: arrows, pages, Home and End stay in the list; up from the first row leaves it", () => {
  const page = pageRows(460, ROW);
  assert.equal(page, 9);
  assert.equal(keyTarget("ArrowDown", 4, 10, page), 5);
  assert.equal(keyTarget("ArrowDown", 9, 10, page), 9);
  assert.equal(keyTarget("ArrowUp", 4, 10, page), 3);
  assert.equal(keyTarget("ArrowUp", 0, 10, page), "filter");
  assert.equal(keyTarget("PageDown", 4, 5000, page), 13);
  assert.equal(keyTarget("PageDown", 4995, 5000, page), 4999);
  assert.equal(keyTarget("PageUp", 4, 5000, page), 0);
  assert.equal(keyTarget("Home", 4000, 5000, page), 0);
  assert.equal(keyTarget("End", 3, 5000, page), 4999);
  assert.equal(keyTarget("a", 3, 5000, page), null);
  assert.equal(keyTarget("ArrowDown", 0, 0, page), null);
  assert.equal(pageRows(30, ROW), 1);
});
