// The arithmetic of the friends list, without a DOM: the order friends are shown in,
// the binary search that keeps that order as friends change, which rows of a long list
// exist in the page for a scroll position (only the ones in and near the viewport do),
// where to scroll to bring a row into view, and where a navigation key moves the focus.
// friends.js does the DOM work; these rules are unit-tested in tests/ui/.

/**
 * By group first (friends.js: 0 online favourites, 1 the other online friends, 2 the
 * offline ones), then by name, then by id (so the order is total and a binary search
 * finds a row exactly). Names compare through kith-core's collation key
 * (`sort_key`: case and accents folded, numbers by value), the order the tray and the
 * CLI use too; comparing keys as strings is much cheaper than Intl.Collator.
 * Entries carry { group, key, id }.
 */
export function compare(a, b) {
  if (a.group !== b.group) return a.group - b.group;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Case- and accent-folded text: "Chloé" → "chloe". Used for filtering only. */
export function fold(text) {
  return String(text ?? "").normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase();
}

/** Index of the first entry in the sorted `order` that does not sort before `entry`. */
export function lowerBound(order, entry) {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(order[mid], entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Where `entry` is in the sorted `order`, or -1. Binary search first; a linear scan
 * finds an entry whose key changed since it was placed.
 */
export function indexIn(order, entry) {
  const i = lowerBound(order, entry);
  return order[i] === entry ? i : order.indexOf(entry);
}

/** Puts `entry` (not in `order` yet) in its place; returns the index it got. */
export function insertSorted(order, entry) {
  const i = lowerBound(order, entry);
  order.splice(i, 0, entry);
  return i;
}

/**
 * The rows to have in the page: [start, end) of `count` rows of `rowHeight` pixels,
 * laid out after `padding` pixels, seen through a viewport of `viewportHeight` pixels
 * scrolled to `scrollTop`, with `overscan` pixels more above and below (a screenful by
 * default, so a scroll of up to a screen shows rows that are already there). A
 * scrollTop past the end (the list just got shorter) counts as scrolled to the end.
 */
export function windowRange({
  scrollTop,
  viewportHeight,
  rowHeight,
  count,
  overscan = viewportHeight,
  padding = 0,
}) {
  if (count <= 0 || !(rowHeight > 0)) return { start: 0, end: 0 };
  const viewport = Math.max(0, viewportHeight);
  const content = padding * 2 + count * rowHeight;
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, content - viewport));
  const first = Math.floor((top - overscan - padding) / rowHeight);
  const last = Math.ceil((top + viewport + overscan - padding) / rowHeight);
  const start = Math.min(count, Math.max(0, first));
  const end = Math.min(count, Math.max(start, last));
  return { start, end };
}

/**
 * The scrollTop that shows row `index` whole: unchanged when it is already in view,
 * else just enough to bring it to the nearer edge ("nearest"), or with the row in the
 * middle ("center").
 */
export function scrollTopFor({ index, scrollTop, viewportHeight, rowHeight, padding = 0, block = "nearest" }) {
  const top = padding + index * rowHeight;
  const bottom = top + rowHeight;
  if (block === "center") return Math.max(0, Math.round(top - (viewportHeight - rowHeight) / 2));
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewportHeight) return Math.max(0, bottom - viewportHeight);
  return scrollTop;
}

/** Rows one PageUp/PageDown moves: a screenful less one, so a row stays in sight. */
export function pageRows(viewportHeight, rowHeight) {
  if (!(rowHeight > 0)) return 1;
  return Math.max(1, Math.floor(viewportHeight / rowHeight) - 1);
}

/**
 * Where a key moves the focus from row `index` of `count` shown rows: a row index,
 * "filter" (ArrowUp from the first row goes back to the filter field), or null (the
 * key is not the list's).
 */
export function keyTarget(key, index, count, page) {
  if (count <= 0) return null;
  switch (key) {
    case "ArrowDown":
      return Math.min(count - 1, index + 1);
    case "ArrowUp":
      return index <= 0 ? "filter" : index - 1;
    case "PageDown":
      return Math.min(count - 1, index + page);
    case "PageUp":
      return Math.max(0, index - page);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return null;
  }
}
