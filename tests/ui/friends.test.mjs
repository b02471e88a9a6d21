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
  return els.list.children.filter((el) => el.className === "friend").map((el) => el.querySelector(".name").textContent);
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
  assert.equal(dom.doc.activeElement.querySelector(".name").textContent, expected[1]);
  assert.ok(els.list.scrollTop < 46 * 3, `scrollTop ${els.list.scrollTop}`);
  els.list.dispatch("keydown", { key: "End", target: dom.doc.activeElement, preventDefault() {} });
  assert.equal(dom.doc.activeElement.querySelector(".name").textContent, expected.at(-1));
  els.list.dispatch("keydown", { key: "Home", target: dom.doc.activeElement, preventDefault() {} });
  assert.equal(dom.doc.activeElement.querySelector(".name").textContent, expected[0]);
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
  assert.ok(rows.every((row) => row.dataset.status === "online" || row.querySelector(".name").textContent !== "aaa"));
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

// --- favourites, counts, since, the row's buttons -------------------------------------

/** The model's order as user_ids. */
const ids = (list) => list.order.map((entry) => entry.id);
const rowOf = (els, id) => els.list.children.find((el) => el.dataset.userId === String(id));

/** Counts the splices of the model's order from now on (a move is two: out, then in). */
function countSplices(list) {
  const counter = { n: 0 };
  const splice = list.order.splice;
  list.order.splice = function (...args) {
    counter.n++;
    return splice.apply(this, args);
  };
  list.order.sort = () => assert.fail("the whole list was re-sorted");
  return counter;
}

test("online favourites come first, then everyone else in the usual order", () => {
  const els = dom.friendsScreen();
  const list = new FriendList(els);
  // 0, 3 online; 1, 2, 4, 5 offline.
  list.replace(crowd(6));
  assert.deepEqual(ids(list), ["0", "3", "1", "2", "4", "5"]);
  list.setAlerts({ favourites: ["3"] });
  assert.deepEqual(ids(list), ["3", "0", "1", "2", "4", "5"]);
  assert.deepEqual(rendered(els), ["friend0003", "friend0000", "friend0001", "friend0002", "friend0004", "friend0005"]);
  const star = rowOf(els, 3).querySelector(".star");
  assert.equal(star.getAttribute("aria-pressed"), "true");
  assert.equal(star.getAttribute("aria-label"), "Unstar friend0003");
  assert.equal(rowOf(els, 0).querySelector(".star").getAttribute("aria-label"), "Star friend0000");

  // A star on an offline friend moves nothing: offline favourites keep their place.
  list.setAlerts({ favourites: ["3", "4"] });
  assert.deepEqual(ids(list), ["3", "0", "1", "2", "4", "5"]);
  assert.equal(rowOf(els, 4).querySelector(".star").getAttribute("aria-pressed"), "true");
  // ...until they come online: then they join the favourites at the top, by name.
  list.update([friend(4, { online: true })]);
  assert.deepEqual(ids(list), ["3", "4", "0", "1", "2", "5"]);
  // A favourite going offline goes back among the offline friends.
  list.update([friend(3, { online: false })]);
  assert.deepEqual(ids(list), ["4", "0", "1", "2", "3", "5"]);
  // Unstarred: back in the usual order.
  list.setAlerts({ favourites: [] });
  assert.deepEqual(ids(list), ["0", "4", "1", "2", "3", "5"]);
  assert.equal(rowOf(els, 4).dataset.favourite, "false");
});

test("a star in a 5,000-friend list moves only that friend, and the same stars move nothing", () => {
  const { els, list } = setup();
  const before = ids(list);
  const keptRow = rowOf(els, 0);
  const splices = countSplices(list);
  list.setAlerts({ favourites: ["3000"], rules: {}, once_online: [] });
  assert.equal(splices.n, 2, "one entry out, one in");
  const after = ids(list);
  assert.equal(after[0], "3000");
  assert.deepEqual(after.filter((id) => id !== "3000"), before.filter((id) => id !== "3000"));
  assert.deepEqual(rendered(els).slice(0, 3), ["friend3000", "friend0000", "friend0003"]);
  assert.equal(rowOf(els, 0), keptRow, "the other rows stay in the page as they were");
  assert.equal(els.list.children[1].getAttribute("aria-posinset"), "1");
  // The same settings again (any settings event): nothing moves.
  list.setAlerts({ favourites: ["3000"] });
  assert.equal(splices.n, 2);
  // A star on an offline friend far down: that one entry, put back where it was.
  list.setAlerts({ favourites: ["3000", "2999"] });
  assert.equal(splices.n, 4);
  assert.deepEqual(ids(list), after);
});

test("a star arriving before the friend does is applied when they are listed", () => {
  const els = dom.friendsScreen();
  const list = new FriendList(els);
  list.setAlerts({ favourites: ["7"], once_online: ["7"] });
  list.replace(crowd(9));
  // 7 is offline (i % 3 != 0): starred, it stays among the offline friends.
  assert.deepEqual(ids(list), ["0", "3", "6", "1", "2", "4", "5", "7", "8"]);
  list.update([friend(7, { online: true })]);
  assert.equal(ids(list)[0], "7");
  assert.equal(rowOf(els, 7).querySelector(".once").hidden, false);
});

test("the header counts online and away apart", () => {
  const els = dom.friendsScreen();
  const list = new FriendList(els);
  const away = (i) => ({ ...friend(i, { online: true }), status: "away", class: "away" });
  list.replace([friend(0, { online: true }), away(1), away(2), friend(3, { online: false }), friend(4, { online: true })]);
  assert.equal(els.count.textContent, "2 online · 2 away · 5 friends");
  list.update([{ ...friend(1, { online: true }), class: "online" }]);
  assert.equal(els.count.textContent, "3 online · 1 away · 5 friends");
  list.update([{ ...friend(2, { online: false }), class: "offline" }]);
  assert.equal(els.count.textContent, "3 online · 0 away · 5 friends");
  // Without kith-core's class, an online friend whose status is "away" counts as away.
  list.update([{ ...friend(0, { online: true }), status: "away" }]);
  assert.equal(els.count.textContent, "2 online · 1 away · 5 friends");
  assert.equal(rowOf(els, 0).dataset.class, "away");
});

test("a row says since when its friend is online or offline, and the one-shot marker", () => {
  const els = dom.friendsScreen();
  const list = new FriendList(els);
  const today = new Date();
  today.setHours(0, 2, 0, 0); // 00:02 today: always earlier than now, and today
  const since = { online: true, at_ms: today.getTime(), at_least: true };
  list.replace([{ ...friend(0, { online: true }), since }, friend(1)]);
  const row = rowOf(els, 0);
  assert.equal(row.querySelector(".since").textContent, "online since at least 00:02");
  assert.equal(row.querySelector(".since").hidden, false);
  assert.equal(rowOf(els, 1).querySelector(".since").hidden, true);
  list.update([{ ...friend(0, { online: true }), since: { ...since, at_least: false } }]);
  assert.equal(row.querySelector(".since").textContent, "online since 00:02");
  assert.deepEqual(list.describe("0"), { name: "friend0000", since: "online since 00:02" });

  const once = row.querySelector(".once");
  assert.equal(once.hidden, true);
  list.setAlerts({ once_online: ["0"] });
  assert.equal(once.hidden, false);
  assert.equal(once.getAttribute("title"), "Kith will tell you once when friend0000 comes online");
  list.setAlerts({ once_online: [] }); // it fired, or was cancelled
  assert.equal(once.hidden, true);
});

test("the row's star and alerts buttons: a click, Enter on the row, and the tab order", () => {
  const els = dom.friendsScreen();
  const calls = [];
  const list = new FriendList(els, {
    onStar: (id, on) => calls.push(["star", id, on]),
    onOpenAlerts: (id) => calls.push(["alerts", id]),
  });
  list.replace(crowd(6));
  list.setAlerts({ favourites: ["3"] });
  rowOf(els, 0).querySelector(".star").click();
  rowOf(els, 3).querySelector(".star").click();
  rowOf(els, 1).querySelector(".friend-alerts-button").click();
  const row = rowOf(els, 0);
  row.focus();
  els.list.dispatch("keydown", { key: "Enter", target: row, preventDefault() {} });
  els.list.dispatch("keydown", { key: " ", target: row, preventDefault() {} });
  // Enter on the row's own button is the button's, not the row's.
  els.list.dispatch("keydown", { key: "Enter", target: row.querySelector(".star"), preventDefault() {} });
  assert.deepEqual(calls, [
    ["star", "0", true],
    ["star", "3", false],
    ["alerts", "1"],
    ["alerts", "0"],
    ["alerts", "0"],
  ]);
  // Only the tab stop's row and its buttons are in the tab order.
  assert.equal(row.tabIndex, 0);
  assert.equal(row.querySelector(".star").tabIndex, 0);
  assert.equal(row.querySelector(".friend-alerts-button").tabIndex, 0);
  assert.equal(rowOf(els, 1).querySelector(".star").tabIndex, -1);
  assert.equal(rowOf(els, 1).querySelector(".friend-alerts-button").getAttribute("aria-label"), "Alerts for friend0001");
  // A focused star keeps the focus when its row moves to the top.
  const star = row.querySelector(".star");
  star.focus();
  list.setAlerts({ favourites: ["3", "0"] });
  assert.deepEqual(ids(list).slice(0, 2), ["0", "3"]);
  assert.equal(dom.doc.activeElement, star);
});
