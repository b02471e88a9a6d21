#!/usr/bin/env node
// A scripted user agent for the OIDC test peer, usable as a $BROWSER-style
// command (the authorization URL is the single positional argument):
//
//   node browser.js <authorization-url> [--username me] [--password pw] [--deny] [--jar FILE]
//
// It keeps cookies like a browser (host-only, any port, by path), follows the
// provider's redirects by hand, submits the provider's real login form
// (username/password) and consent form ("Authorize", or "Deny" with --deny),
// taking each form's action and hidden fields from the HTML, and finally GETs
// the redirect to the client (the first URL whose origin differs from the
// authorization URL's: Kith's loopback http://127.0.0.1:<port>/callback?…).
//
// Stdout: "STATUS <code>" and then the callback's body. Exit 0 if the
// callback answered 2xx; 1 if it answered otherwise or the flow went wrong;
// 2 if the login form was shown again (wrong username or password), in which
// case the callback is never reached; 64 on bad usage.
//
// Env: KITH_TEST_BROWSER_USERNAME / KITH_TEST_BROWSER_PASSWORD override the
// defaults (me / pw), and the command line overrides them;
// KITH_TEST_BROWSER_DENY=1 is --deny; KITH_TEST_BROWSER_JAR=FILE is --jar
// (cookies loaded from and saved to FILE, so a second run reuses the
// provider's session and skips the login form).

import fs from "node:fs";

const MAX_STEPS = 30;
const TIMEOUT_MS = 15000;

function usage(msg) {
  if (msg) process.stderr.write(`browser.js: ${msg}\n`);
  process.stderr.write(
    "usage: node browser.js <authorization-url> [--username NAME] [--password PW] [--deny] [--jar FILE]\n",
  );
  process.exit(64);
}

function parseArgs(argv) {
  const opts = {
    username: process.env.KITH_TEST_BROWSER_USERNAME || "me",
    password: process.env.KITH_TEST_BROWSER_PASSWORD ?? "pw",
    deny: process.env.KITH_TEST_BROWSER_DENY === "1",
    jar: process.env.KITH_TEST_BROWSER_JAR || "",
    url: "",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--username") opts.username = value();
    else if (a.startsWith("--username=")) opts.username = a.slice(11);
    else if (a === "--password") opts.password = value();
    else if (a.startsWith("--password=")) opts.password = a.slice(11);
    else if (a === "--deny") opts.deny = true;
    else if (a === "--jar") opts.jar = value();
    else if (a.startsWith("--jar=")) opts.jar = a.slice(6);
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else if (!opts.url) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage("missing the authorization URL");
  return opts;
}

const log = (...parts) => process.stderr.write(`browser.js: ${parts.join(" ")}\n`);

// ---------------------------------------------------------------------------
// Cookie jar (RFC 6265, simplified: host-only cookies, path match, expiry)
// ---------------------------------------------------------------------------

class CookieJar {
  constructor(file) {
    this.file = file;
    this.cookies = []; // { name, value, host, path, expires (ms|null) }
    if (file) {
      try {
        const data = JSON.parse(fs.readFileSync(file, "utf8"));
        if (Array.isArray(data)) this.cookies = data;
      } catch (err) {
        if (err.code !== "ENOENT") log(`ignoring unreadable jar ${file}: ${err.message}`);
      }
    }
  }

  save() {
    if (this.file) fs.writeFileSync(this.file, JSON.stringify(this.cookies));
  }

  static defaultPath(url) {
    const p = url.pathname;
    if (!p.startsWith("/") || p.lastIndexOf("/") === 0) return "/";
    return p.slice(0, p.lastIndexOf("/"));
  }

  static pathMatches(reqPath, cookiePath) {
    if (reqPath === cookiePath) return true;
    if (!reqPath.startsWith(cookiePath)) return false;
    return cookiePath.endsWith("/") || reqPath[cookiePath.length] === "/";
  }

  store(url, setCookieHeaders) {
    for (const header of setCookieHeaders) {
      const parts = header.split(";");
      const first = parts.shift();
      const eq = first.indexOf("=");
      if (eq <= 0) continue;
      const name = first.slice(0, eq).trim();
      const value = first.slice(eq + 1).trim();
      let cookiePath = CookieJar.defaultPath(url);
      let expires = null;
      let maxAgeSeen = false;
      for (const attr of parts) {
        const i = attr.indexOf("=");
        const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
        const val = i < 0 ? "" : attr.slice(i + 1).trim();
        if (key === "path" && val.startsWith("/")) cookiePath = val;
        else if (key === "max-age" && /^-?\d+$/.test(val)) {
          maxAgeSeen = true;
          expires = Date.now() + Number(val) * 1000;
        } else if (key === "expires" && !maxAgeSeen) {
          const t = Date.parse(val);
          if (!Number.isNaN(t)) expires = t;
        }
      }
      const host = url.hostname;
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.host === host && c.path === cookiePath));
      if (expires !== null && expires <= Date.now()) continue; // a deletion
      this.cookies.push({ name, value, host, path: cookiePath, expires });
    }
  }

  header(url) {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires === null || c.expires > now);
    const matching = this.cookies
      .filter((c) => c.host === url.hostname && CookieJar.pathMatches(url.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join("; ");
  }
}

// ---------------------------------------------------------------------------
// HTML forms (just enough for the peer's pages)
// ---------------------------------------------------------------------------

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
    const k = e.toLowerCase();
    if (k === "amp") return "&";
    if (k === "lt") return "<";
    if (k === "gt") return ">";
    if (k === "quot") return '"';
    if (k === "apos") return "'";
    if (k.startsWith("#x")) return String.fromCodePoint(parseInt(k.slice(2), 16));
    if (k.startsWith("#")) return String.fromCodePoint(parseInt(k.slice(1), 10));
    return m;
  });
}

function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  // Skip the tag name.
  const inner = tag.replace(/^<\s*[a-zA-Z0-9]+/, "").replace(/\/?>$/, "");
  let m;
  while ((m = re.exec(inner))) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return out;
}

function stripTags(s) {
  return decodeEntities(s.replace(/<[^>]*>/g, "")).replace(/\s+/g, " ").trim();
}

// [{ action, method, fields: [[name, value]], inputs: [{name,type,value}], buttons: [{name,value,text}] }]
function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi;
  let fm;
  while ((fm = formRe.exec(html))) {
    const open = /^<form\b[^>]*>/i.exec(fm[0])[0];
    const a = attrs(open);
    const body = fm[1];
    const inputs = [];
    for (const im of body.matchAll(/<input\b[^>]*>/gi)) {
      const ia = attrs(im[0]);
      inputs.push({ name: ia.name || "", type: (ia.type || "text").toLowerCase(), value: ia.value ?? "" });
    }
    const buttons = [];
    for (const bm of body.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button\s*>/gi)) {
      const ba = attrs(`<button${bm[1]}>`);
      const type = (ba.type || "submit").toLowerCase();
      if (type === "submit") buttons.push({ name: ba.name || "", value: ba.value ?? "", text: stripTags(bm[2]) });
    }
    for (const inp of inputs) {
      if (inp.type === "submit") buttons.push({ name: inp.name, value: inp.value, text: inp.value });
    }
    forms.push({ action: a.action ?? "", method: (a.method || "get").toLowerCase(), inputs, buttons });
  }
  return forms;
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

async function request(jar, method, url, body) {
  const headers = {
    "User-Agent": "kith-test-browser/1",
    Accept: "text/html,application/xhtml+xml,*/*;q=0.8",
  };
  const cookie = jar.header(url);
  if (cookie) headers.Cookie = cookie;
  if (body !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
  const res = await fetch(url, {
    method,
    headers,
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  jar.store(url, res.headers.getSetCookie());
  const text = await res.text();
  log(`${method} ${url.origin}${url.pathname} -> ${res.status}`);
  return { status: res.status, headers: res.headers, text };
}

function submission(form, pageUrl, pick) {
  const params = new URLSearchParams();
  for (const inp of form.inputs) {
    if (!inp.name || inp.type === "submit" || inp.type === "button" || inp.type === "image") continue;
    if (inp.type === "checkbox" || inp.type === "radio") continue; // none on the peer's pages
    params.append(inp.name, pick(inp));
  }
  return { url: new URL(form.action || pageUrl.href, pageUrl), method: form.method, params };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let url;
  try {
    url = new URL(opts.url);
  } catch {
    usage(`not a URL: ${opts.url}`);
  }
  const providerOrigin = url.origin;
  const jar = new CookieJar(opts.jar);
  let method = "GET";
  let body;
  let loginsSubmitted = 0;

  for (let step = 0; step < MAX_STEPS; step++) {
    if (url.origin !== providerOrigin) {
      // The redirect to the client (Kith's loopback listener): the last request.
      log(`callback ${url.href}`);
      let res;
      try {
        res = await request(jar, "GET", url);
      } catch (err) {
        log(`callback request failed: ${err.message}`);
        process.stdout.write("STATUS 0\n");
        return 1;
      }
      jar.save();
      process.stdout.write(`STATUS ${res.status}\n${res.text}${res.text.endsWith("\n") || !res.text ? "" : "\n"}`);
      return res.status >= 200 && res.status < 300 ? 0 : 1;
    }

    const res = await request(jar, method, url, body);
    method = "GET";
    body = undefined;

    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get("location");
      if (!location) {
        log(`redirect ${res.status} without Location`);
        break;
      }
      url = new URL(location, url);
      continue;
    }

    const forms = res.status === 200 ? parseForms(res.text) : [];
    const login = forms.find((f) => f.inputs.some((i) => i.type === "password"));
    if (login) {
      if (loginsSubmitted > 0) {
        const err = /id="error"[^>]*>([\s\S]*?)</.exec(res.text);
        log(`login rejected${err ? `: ${stripTags(err[1])}` : ""}`);
        jar.save();
        process.stdout.write(`STATUS ${res.status}\n${res.text}`);
        return 2;
      }
      loginsSubmitted++;
      const s = submission(login, url, (inp) => {
        if (inp.type === "password") return opts.password;
        if (inp.name === "username" || inp.name === "login" || inp.name === "email") return opts.username;
        return inp.value;
      });
      log(`submitting login form as ${JSON.stringify(opts.username)}`);
      ({ url } = s);
      if (s.method === "post") {
        method = "POST";
        body = s.params.toString();
      } else {
        url.search = s.params.toString();
      }
      continue;
    }

    const wanted = opts.deny ? /^(deny|cancel|abort)/i : /^(authorize|allow|continue|accept|yes)/i;
    let chosen = null;
    for (const f of forms) {
      const b = f.buttons.find((btn) => wanted.test(btn.text));
      if (b) {
        chosen = { form: f, button: b };
        break;
      }
    }
    if (chosen) {
      const s = submission(chosen.form, url, (inp) => inp.value);
      if (chosen.button.name) s.params.append(chosen.button.name, chosen.button.value);
      log(`pressing ${JSON.stringify(chosen.button.text)}`);
      ({ url } = s);
      if (s.method === "post") {
        method = "POST";
        body = s.params.toString();
      } else {
        url.search = s.params.toString();
      }
      continue;
    }

    log(`stuck at ${url.href}: status ${res.status}, no form to submit`);
    jar.save();
    process.stdout.write(`STATUS ${res.status}\n${res.text}${res.text.endsWith("\n") || !res.text ? "" : "\n"}`);
    return 1;
  }
  log(`gave up after ${MAX_STEPS} steps`);
  jar.save();
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`failed: ${err && err.stack ? err.stack : String(err)}`);
    process.exit(1);
  },
);
