// A very small stand-in for the DOM, enough for ui/friends.js to run under node: element
// trees with the sibling links, attributes, dataset, focus and scrollTop it uses. No
// layout: an element's clientHeight is whatever the test sets. It lets the windowed
// friends list be tested for what it puts in the page without a webview.

class FakeElement {
  constructor(tag, doc) {
    this.tagName = tag.toUpperCase();
    this.ownerDocument = doc;
    this.children = [];
    this.parentElement = null;
    this.attributes = new Map();
    this.dataset = {};
    this.style = {};
    this.className = "";
    this.hidden = false;
    this.tabIndex = -1;
    this.textContent = "";
    this.dateTime = "";
    this.scrollTopValue = 0;
    this.clientHeight = 0;
    this.listeners = new Map();
  }

  get scrollTop() {
    return this.scrollTopValue;
  }

  set scrollTop(value) {
    // Clamped as an engine does: rows of a fixed height plus the spacers' heights.
    const content = this.children.reduce(
      (sum, child) => sum + (parseFloat(child.style.height) || (child.className === "friend" ? 46 : 0)),
      0,
    );
    this.scrollTopValue = Math.max(0, Math.min(value, Math.max(0, content - this.clientHeight)));
  }

  get isConnected() {
    let node = this;
    while (node.parentElement) node = node.parentElement;
    return node === this.ownerDocument.body;
  }

  get firstElementChild() {
    return this.children[0] ?? null;
  }

  get nextElementSibling() {
    const siblings = this.parentElement?.children;
    if (!siblings) return null;
    return siblings[siblings.indexOf(this) + 1] ?? null;
  }

  get classList() {
    return { contains: (name) => this.className.split(/\s+/).includes(name) };
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  appendChild(child) {
    return this.insertBefore(child, null);
  }

  insertBefore(child, before) {
    child.remove();
    const at = before ? this.children.indexOf(before) : this.children.length;
    this.children.splice(at < 0 ? this.children.length : at, 0, child);
    child.parentElement = this;
    return child;
  }

  remove() {
    const parent = this.parentElement;
    if (!parent) return;
    parent.children.splice(parent.children.indexOf(this), 1);
    this.parentElement = null;
    // A detached or moved element loses focus, as in a browser.
    if (this.ownerDocument.activeElement === this || this.contains(this.ownerDocument.activeElement)) {
      this.ownerDocument.activeElement = this.ownerDocument.body;
    }
  }

  replaceChildren(...nodes) {
    for (const child of [...this.children]) child.remove();
    for (const node of nodes) this.appendChild(node);
  }

  contains(other) {
    for (let node = other; node; node = node.parentElement) if (node === this) return true;
    return false;
  }

  closest(selector) {
    const [tag, cls] = selector.split(".");
    for (let node = this; node; node = node.parentElement) {
      if (node.tagName === tag.toUpperCase() && (!cls || node.classList.contains(cls))) return node;
    }
    return null;
  }

  cloneNode() {
    const copy = new FakeElement(this.tagName, this.ownerDocument);
    copy.className = this.className;
    copy.hidden = this.hidden;
    copy.tabIndex = this.tabIndex;
    for (const child of this.children) copy.appendChild(child.cloneNode(true));
    return copy;
  }

  focus() {
    if (!this.isConnected) return;
    const doc = this.ownerDocument;
    doc.activeElement = this;
    for (const fn of this.listeners.get("focusin") ?? []) fn({ target: this });
    for (const fn of this.parentElement?.listeners.get("focusin") ?? []) fn({ target: this });
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  dispatch(type, event) {
    for (const fn of this.listeners.get(type) ?? []) fn(event);
  }
}

/** Installs document, window, performance marks and animation frames on globalThis. */
export function installFakeDom() {
  const doc = {
    hidden: false,
    body: null,
    activeElement: null,
    createElement: (tag) => new FakeElement(tag, doc),
    addEventListener() {},
  };
  doc.body = new FakeElement("body", doc);
  doc.activeElement = doc.body;
  const frames = new Map();
  let nextFrame = 1;
  globalThis.document = doc;
  globalThis.window = { innerHeight: 600 };
  // Reports the observed element's size once, when observing starts, as engines do.
  globalThis.ResizeObserver = class {
    constructor(callback) {
      this.callback = callback;
    }
    observe(el) {
      queueMicrotask(() => this.callback([{ target: el }]));
    }
  };
  globalThis.getComputedStyle = () => ({
    getPropertyValue: (name) => (name === "--row-height" ? "46px" : ""),
    paddingTop: "4px",
  });
  globalThis.requestAnimationFrame = (fn) => {
    frames.set(nextFrame, fn);
    return nextFrame++;
  };
  globalThis.cancelAnimationFrame = (id) => frames.delete(id);
  const marks = [];
  globalThis.performance.mark = (name, options) => marks.push({ name, detail: options?.detail });
  globalThis.console.debug = () => {};

  /** Runs the pending animation frames, as the next frame would. */
  function runFrames() {
    const pending = [...frames.values()];
    frames.clear();
    for (const fn of pending) fn();
  }

  /** A friends screen: the list, its empty state, the count, the filter, the row template. */
  function friendsScreen() {
    const list = doc.createElement("ul");
    const filter = doc.createElement("input");
    const empty = doc.createElement("p");
    const count = doc.createElement("p");
    filter.value = "";
    filter.focus = () => {
      doc.activeElement = filter;
    };
    for (const el of [count, filter, list, empty]) doc.body.appendChild(el);
    const row = doc.createElement("li");
    row.className = "friend";
    for (const cls of ["dot", "name", "status"]) {
      const span = doc.createElement("span");
      span.className = cls;
      row.appendChild(span);
    }
    const time = doc.createElement("time");
    time.className = "last-seen";
    time.hidden = true;
    row.appendChild(time);
    list.clientHeight = 460;
    return { list, filter, empty, count, template: { content: { firstElementChild: row } } };
  }

  return { doc, marks, runFrames, friendsScreen };
}
