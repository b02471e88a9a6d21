// A very small stand-in for the DOM, enough for the UI modules to run under node: element
// trees with the sibling links, attributes, dataset, focus and scrollTop they use, simple
// selectors, dialogs, and a reader for ui/index.html so tests use the page's real ids and
// row template. No layout: an element's clientHeight is whatever the test sets. It lets
// the windowed friends list and the panels be tested without a webview.

import { readFileSync } from "node:fs";

const selectors = new Map();

/** "tag#id.class[attr=value]" → its parts, parsed once per selector. */
function parseSelector(selector) {
  let parsed = selectors.get(selector);
  if (!parsed) {
    const m = /^([\w-]*)(?:#([\w-]+))?((?:\.[\w-]+)*)(?:\[([\w-]+)(?:="([^"]*)")?\])?$/.exec(selector.trim());
    if (!m) throw new Error(`fake-dom cannot match ${selector}`);
    const [, tag, id, classes, attr, value] = m;
    parsed = { tag: tag.toUpperCase(), id, classes: classes.split(".").filter(Boolean), attr, value };
    selectors.set(selector, parsed);
  }
  return parsed;
}

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
    this.tabIndex = -1;
    this.textContent = "";
    this.dateTime = "";
    this.scrollTopValue = 0;
    this.clientHeight = 0;
    this.listeners = new Map();
    this.id = "";
    this.value = "";
    this.checked = false;
    this.disabled = false;
    this.open = false;
  }

  // Reflected to the attribute, as in a browser (so [hidden] selectors see it).
  get hidden() {
    return this.attributes.has("hidden");
  }

  set hidden(value) {
    if (value) this.attributes.set("hidden", "");
    else this.attributes.delete("hidden");
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
    const names = () => this.className.split(/\s+/).filter(Boolean);
    return {
      contains: (name) => names().includes(name),
      add: (name) => {
        if (!names().includes(name)) this.className = [...names(), name].join(" ");
      },
      remove: (name) => {
        this.className = names().filter((n) => n !== name).join(" ");
      },
    };
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

  /** Simple selectors only: tag, #id, .class, [attr] or [attr="value"], combined. */
  matches(selector) {
    const { tag, id, classes, attr, value } = parseSelector(selector);
    if (tag && this.tagName !== tag) return false;
    if (id && this.id !== id) return false;
    if (classes.length > 0) {
      const own = this.className.split(/\s+/);
      if (!classes.every((cls) => own.includes(cls))) return false;
    }
    if (attr) {
      const actual = this.getAttribute(attr) ?? (this[attr] === true ? "" : null);
      if (actual === null || (value !== undefined && actual !== value)) return false;
    }
    return true;
  }

  closest(selector) {
    for (let node = this; node; node = node.parentElement) {
      if (node.matches && node.matches(selector)) return node;
    }
    return null;
  }

  querySelectorAll(selector) {
    const found = [];
    const walk = (node) => {
      for (const child of node.children) {
        if (child.matches(selector)) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  cloneNode() {
    const copy = new FakeElement(this.tagName, this.ownerDocument);
    for (const key of ["className", "hidden", "tabIndex", "id", "type", "name", "value", "checked", "textContent"]) {
      if (key in this) copy[key] = this[key];
    }
    copy.attributes = new Map(this.attributes);
    copy.dataset = { ...this.dataset };
    for (const child of this.children) copy.appendChild(child.cloneNode(true));
    return copy;
  }

  showModal() {
    this.open = true;
  }

  close() {
    if (!this.open) return;
    this.open = false;
    this.dispatch("close", { target: this });
  }

  select() {}

  blur() {
    if (this.ownerDocument.activeElement === this) this.ownerDocument.activeElement = this.ownerDocument.body;
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

  /** A user's click: the element's own listeners, then its ancestors' (bubbling). */
  click() {
    const event = { target: this, type: "click", preventDefault() {}, stopPropagation() {} };
    for (let node = this; node; node = node.parentElement) node.dispatch("click", event);
  }
}

const VOID = new Set(["br", "hr", "img", "input", "link", "meta", "path", "circle", "rect", "source"]);
const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'", nbsp: "\u00a0" };
const decode = (text) => text.replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_, name) => ENTITIES[name]);

/** Sets a parsed attribute, and the property a browser reflects it to. */
function applyAttribute(el, name, value) {
  el.setAttribute(name, value);
  if (name === "class") el.className = value;
  else if (name === "tabindex") el.tabIndex = Number(value);
  else if (name.startsWith("data-")) {
    el.dataset[name.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
  } else if (["hidden", "checked", "disabled", "readonly", "open"].includes(name)) el[name] = true;
  else if (["id", "type", "name", "value"].includes(name)) el[name] = value;
}

/**
 * Reads HTML (as ui/index.html writes it) into fake elements under a root; a
 * <template>'s children go to its `content`. Text is kept only in elements without
 * element children (enough for labels and buttons).
 */
export function parseHtml(html, doc) {
  const root = new FakeElement("#root", doc);
  const stack = [root];
  const token =
    /<!--[\s\S]*?-->|<![^>]*>|<(\/?)([a-zA-Z][\w-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*(\/?)>|([^<]+)/g;
  for (const [, closing, tag, attrs, selfClosing, text] of html.matchAll(token)) {
    const top = stack.at(-1);
    if (text !== undefined) {
      if (text.trim() !== "" && top.children.length === 0) {
        top.textContent = `${top.textContent} ${decode(text)}`.replace(/\s+/g, " ").trim();
      }
      continue;
    }
    if (!tag) continue; // a comment or the doctype
    if (closing) {
      const at = stack.findLastIndex((el) => el.tagName === tag.toUpperCase());
      if (at > 0) stack.length = at;
      continue;
    }
    const el = new FakeElement(tag, doc);
    for (const [, name, quoted, single, bare] of (attrs ?? "").matchAll(
      /([^\s=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g,
    )) {
      applyAttribute(el, name.toLowerCase(), decode(quoted ?? single ?? bare ?? ""));
    }
    top.appendChild(el);
    if (tag.toLowerCase() === "template") {
      el.content = new FakeElement("template", doc);
      stack.push(el.content);
    } else if (!selfClosing && !VOID.has(tag.toLowerCase())) {
      stack.push(el);
    }
  }
  return root;
}

const PAGE = new URL("../../ui/index.html", import.meta.url);

/** Installs document, window, performance marks and animation frames on globalThis. */
export function installFakeDom() {
  const doc = {
    hidden: false,
    body: null,
    activeElement: null,
    createElement: (tag) => new FakeElement(tag, doc),
    addEventListener() {},
    getElementById: (id) => doc.body.querySelector(`#${id}`),
    querySelector: (selector) => doc.body.querySelector(selector),
    execCommand: () => false,
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

  const html = readFileSync(PAGE, "utf8");
  const body = /<body[^>]*>([\s\S]*)<\/body>/.exec(html)[1];

  /** Puts ui/index.html's body in the page (anew) and returns getElementById. */
  function loadPage() {
    const root = parseHtml(body, doc);
    doc.body.replaceChildren(...root.children);
    doc.activeElement = doc.body;
    return (id) => {
      const el = doc.getElementById(id);
      if (!el) throw new Error(`no #${id} in ui/index.html`);
      return el;
    };
  }

  /** The friend row template of ui/index.html. */
  function rowTemplate() {
    return parseHtml(body, doc).querySelector("#friend-row");
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
    list.clientHeight = 460;
    return { list, filter, empty, count, template: rowTemplate() };
  }

  return { doc, marks, runFrames, friendsScreen, loadPage };
}
