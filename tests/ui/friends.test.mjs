// Unit tests of ui/friends.js, the windowed friends list, on a tiny fake DOM
// (tests/ui/fake-dom.mjs): a 5,000-friend snapshot puts only a window of rows in the
// page, in the right order, with the list's real size on them; scrolling renders the
// rows there; live changes, the filter, show(id) and the keys keep the model and the
// page in step, and the focused row survives scrolling away.
// Run: node --test tests/ui/

import { test } from "node:test";
import assert from "node:assert/strict";

import { installFakeDom } from "./fake-dom.mjs";

const dom = installFakeDom();
const { FriendList } = await import("../../ui/friends.js");

function friend(i, { online = i % 3 === 0, name = `friend${String(i).padStart(4, "0")}` } = {}) {
  return {
    user_id: i,
    name,
    sort_key: name.toLowerCase(),
    status: online ? "online" : "offline",
    online,
    last_seen_ms: online ? null : Date.now() - 3_600_000,
  };
}

function crowd(n) {
  return Array.from({ length: n }, (_, i) => friend(i));
}

/** The names of the rows in the page, in page order. */
function rendered(els) {
  return els.list.children.filter((el) => el.className === "friend").map((el) => el.children[1].textContent);
}

function setup(n = 5000) {
  const els = dom.friendsScreen();
  const list = new FriendList(els);
  list.replace(crowd(n));
  return { els, list };
}

function scrollTo(els, top) {
  els.list.scrollTop = top;
  els.list.dispatch("scroll", {});
  dom.runFrames();
}

// Online friends (i % 3 == 0) first, then the others, each by name.
const expected = [...Array(5000).keys()]
  .sort((a, b) => Number(a % 3 !== 0) - Number(b % 3 !== 0) || a - b)
  .map((i) => `friend${String(i).padStart(4, "0")}`);

test("a 5,000-friend snapshot renders only the first rows, sorted, with the list's size", () => {
  const { els, list } = setup();
  const names = rendered(els);
  assert.equal(list.size, 5000);
  assert.ok(names.length > 10 && names.length < 60, `${names.length} rows in the page`);
  assert.deepEqual(names, expected.slice(0, names.length));
  const rows = els.list.children.filter((el) => el.className === "friend");
  assert.equal(rows[0].getAttribute("aria-posinset"), "1");
  assert.equal(rows[0].getAttribute("aria-setsize"), "5000");
  assert.equal(els.list.dataset.count, "5000");
  assert.equal(els.count.textContent.includes("1667"), true, els.count.textContent);
  // The spacers stand in for the rest: the scroll height is the whole list's.
  const [top, bottom] = [els.list.children[0], els.list.children.at(-1)];
  assert.equal(top.style.height, "0px");
  assert.equal(parseFloat(bottom.style.height), (5000 - names.length) * 46);
  const marks = dom.marks.filter((m) => m.detail?.count === 5000).map((m) => m.name);
  assert.deepEqual(marks.slice(-2), ["kith:list-replace", "kith:list-complete"]);
});

test("scrolling renders the rows there, and the bottom ends with the last friend", () => {
  const { els } = setup();
  scrollTo(els, 2000 * 46);
  // The first row is the tab stop, kept in the page (out of sight, before the window).
  const [tabStop, ...names] = rendered(els);
  assert.equal(tabStop, expected[0]);
  assert.ok(names.includes(expected[2000]) && names.includes(expected[2009]), names.join(","));
  assert.deepEqual(names, expected.slice(expected.indexOf(names[0]), expected.indexOf(names[0]) + names.length));
  scrollTo(els, 1e9);
  assert.equal(rendered(els).at(-1), expected.at(-1));
  const last = els.list.children.at(-2);
  assert.equal(last.getAttribute("aria-posinset"), "5000");
  assert.equal(els.list.children.at(-1).style.height, "0px");
});

test("the focused row stays in the page when it scrolls away, and keys move from it", () => {
  const { els } = setup();
  const firstRow = els.list.children[1];
  firstRow.focus();
  scrollTo(els, 3000 * 46);
  assert.equal(dom.doc.activeElement, firstRow);
  assert.ok(firstRow.isConnected);
  assert.equal(firstRow.tabIndex, 0);
  // ArrowDown goes to the second friend, scrolled back into view.
  els.list.dispatch("keydown", { key: "ArrowDown", target: firstRow, preventDefault() {} });
  assert.equal(dom.doc.activeElement.children[1].textContent, expected[1]);
  assert.ok(els.list.scrollTop < 46 * 3, `scrollTop ${els.list.scrollTop}`);
  els.list.dispatch("keydown", { key: "End", target: dom.doc.activeElement, preventDefault() {} });
  assert.equal(dom.doc.activeElement.children[1].textContent, expected.at(-1));
  els.list.dispatch("keydown", { key: "Home", target: dom.doc.activeElement, preventDefault() {} });
  assert.equal(dom.doc.activeElement.children[1].textContent, expected[0]);
  els.list.dispatch("keydown", { key: "ArrowUp", target: dom.doc.activeElement, preventDefault() {} });
  assert.equal(dom.doc.activeElement, els.filter);
});

test("the filter narrows the window; show(id) clears it, scrolls and focuses the friend", () => {
  const { els, list } = setup();
  list.setFilter("friend49");
  // friend4900–4999: 100 friends, online ones first.
  const names = rendered(els);
  assert.ok(names.every((n) => n.startsWith("friend49")), names.join(","));
  assert.equal(names[0], "friend4902");
  assert.equal(els.list.children[1].getAttribute("aria-setsize"), "100");
  assert.equal(els.list.dataset.count, "5000");
  list.setFilter("nobody");
  assert.equal(rendered(els).length, 0);
  assert.equal(els.empty.hidden, false);
  assert.equal(list.show("4000"), true);
  assert.equal(els.filter.value, "");
  assert.equal(dom.doc.activeElement.dataset.userId, "4000");
  assert.ok(rendered(els).includes("friend4000"));
  assert.equal(list.show("123456"), false);
});

test("live changes move a friend, add and remove one, in the model and in the window", () => {
  const { els, list } = setup();
  // friend0001 comes online: it moves into the first rows, after friend0000.
  list.update([friend(1, { online: true })]);
  assert.deepEqual(rendered(els).slice(0, 3), ["friend0000", "friend0001", "friend0003"]);
  // A new friend "aaa" online sorts first; friend0000 is removed.
  list.update([{ ...friend(9000, { online: true, name: "aaa" }) }, { user_id: 0, status: null }]);
  assert.deepEqual(rendered(els).slice(0, 2), ["aaa", "friend0001"]);
  assert.equal(list.size, 5000);
  assert.equal(els.list.dataset.count, "5000");
  // A rendered row's status changes in place.
  list.update([friend(3, { online: false })]);
  const rows = els.list.children.filter((el) => el.className === "friend");
  assert.ok(!rendered(els).slice(0, 3).includes("friend0003"));
  assert.ok(rows.every((row) => row.dataset.status === "online" || row.children[1].textContent !== "aaa"));
  // A resync snapshot with everything keeps the rows of friends that stayed.
  const rowOf = (id) => els.list.children.find((el) => el.dataset.userId === id);
  const kept = rowOf("6");
  assert.ok(kept);
  list.replace(crowd(5000));
  assert.equal(rowOf("6"), kept);
  assert.deepEqual(rendered(els).slice(0, 3), ["friend0000", "friend0003", "friend0006"]);
  list.clear();
  assert.equal(rendered(els).length, 0);
  assert.equal(els.list.dataset.count, "0");
  assert.equal(els.empty.textContent, "No friends yet.");
});
