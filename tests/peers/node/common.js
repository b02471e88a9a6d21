// Shared core of the three Node test peers (bearer_cookie.js, auth_message.js,
// socketio.js) that Kith's integration tests run against: one place for the
// seeded users and friendships, in-memory statuses, JWT issuing/verification,
// the refresh-token store (rotation, blacklist, reuse detection, persisted to
// $DATA_DIR/state.json), counters, JSON body handling, closing a WebSocket when
// its token expires and the /__test__ control API. Each peer only adds its own
// auth routes and socket protocol on top.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const jwt = require("jsonwebtoken");

// ---------------------------------------------------------------------------
// Configuration (environment only)
// ---------------------------------------------------------------------------

function intEnv(name, def, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`ignoring ${name}=${JSON.stringify(raw)}: want an integer >= ${min}; using ${def}\n`);
    return def;
  }
  return n;
}

const config = {
  // PORT unset or 0: an ephemeral port, reported on the READY line.
  port: intEnv("PORT", 0, 0),
  accessTtlSeconds: intEnv("ACCESS_TTL_SECONDS", 60, 1),
  refreshTtlSeconds: 24 * 60 * 60,
  dataDir: process.env.DATA_DIR || "",
};

// THIS IS A TEST PEER: the HS256 secret is fixed and public on purpose, so that
// tokens survive a restart and tests can mint or inspect them. Never reuse it.
const JWT_SECRET = "kith-test-peer-secret--not-for-production";
const JWT_ALG = "HS256";

function log(...parts) {
  process.stderr.write(`[${new Date().toISOString()}] ${parts.join(" ")}\n`);
}

// A bug in a handler must not take the peer down in the middle of a test run.
process.on("uncaughtException", (err) => log("uncaught exception:", err && err.stack ? err.stack : String(err)));
process.on("unhandledRejection", (err) => log("unhandled rejection:", err && err.stack ? err.stack : String(err)));

// ---------------------------------------------------------------------------
// Users, friendships, statuses
// ---------------------------------------------------------------------------

const PASSWORD = "pw";
const USERS = [
  { id: 1, username: "me" },
  { id: 2, username: "alice" },
  { id: 3, username: "bob" },
  { id: 4, username: "carol" },
];
const usersById = new Map(USERS.map((u) => [u.id, u]));
const usersByName = new Map(USERS.map((u) => [u.username, u]));

// Undirected friendships: me <-> alice, bob, carol.
const FRIENDSHIPS = [
  [1, 2],
  [1, 3],
  [1, 4],
];
const friends = new Map(USERS.map((u) => [u.id, new Set()]));
for (const [a, b] of FRIENDSHIPS) {
  friends.get(a).add(b);
  friends.get(b).add(a);
}

function userById(id) {
  return usersById.get(Number(id)) || null;
}
function userByName(name) {
  return typeof name === "string" ? usersByName.get(name) || null : null;
}
function friendIdsOf(userId) {
  return [...(friends.get(Number(userId)) || [])].sort((a, b) => a - b);
}

const startedAt = new Date().toISOString();
const statuses = new Map(USERS.map((u) => [u.id, { status: "offline", last_seen: startedAt }]));

function setStatus(userId, status) {
  const entry = { status, last_seen: new Date().toISOString() };
  statuses.set(userId, entry);
  return entry;
}

function statusUpdate(userId) {
  const u = userById(userId);
  const s = statuses.get(userId);
  return { type: "status_update", user_id: u.id, username: u.username, status: s.status, last_seen: s.last_seen };
}

function presenceSnapshot(userId) {
  return {
    type: "presence_snapshot",
    friends: friendIdsOf(userId).map((fid) => {
      const u = userById(fid);
      const s = statuses.get(fid);
      return { user_id: u.id, username: u.username, status: s.status, last_seen: s.last_seen };
    }),
  };
}

function checkPassword(username, password) {
  const u = userByName(username);
  return u && password === PASSWORD ? u : null;
}

// ---------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------

const counters = {
  logins: 0,
  refreshes: 0,
  refresh_reuse: 0,
  connects: 0,
  rejected_connects: 0,
  inband_reauths: 0,
};

// ---------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------

function signToken(user, type, ttlSeconds) {
  const nowMs = Date.now();
  const iat = Math.floor(nowMs / 1000);
  // exp is rounded up so a token is always valid for at least ttlSeconds.
  const exp = Math.ceil(nowMs / 1000) + ttlSeconds;
  const jti = crypto.randomUUID();
  const claims = { sub: String(user.id), username: user.username, iat, exp, jti, type };
  return { token: jwt.sign(claims, JWT_SECRET, { algorithm: JWT_ALG }), claims };
}

function issueAccess(user) {
  return signToken(user, "access", config.accessTtlSeconds).token;
}

// Verifies signature, expiry and type. Returns
// { ok: true, claims, user } or { ok: false, reason: "missing"|"expired"|"malformed"|"invalid" }.
function verifyToken(token, type) {
  if (typeof token !== "string" || token === "") return { ok: false, reason: "missing" };
  let claims;
  try {
    claims = jwt.verify(token, JWT_SECRET, { algorithms: [JWT_ALG] });
  } catch (err) {
    if (err && err.name === "TokenExpiredError") return { ok: false, reason: "expired" };
    if (err && /malformed|jwt must be/i.test(err.message || "")) return { ok: false, reason: "malformed" };
    return { ok: false, reason: "invalid" };
  }
  if (!claims || typeof claims !== "object" || claims.type !== type) return { ok: false, reason: "invalid" };
  const user = userById(claims.sub);
  if (!user || user.username !== claims.username || typeof claims.exp !== "number") {
    return { ok: false, reason: "invalid" };
  }
  return { ok: true, claims, user };
}

function verifyAccess(token) {
  return verifyToken(token, "access");
}

// ---------------------------------------------------------------------------
// Refresh-token store: valid jtis + blacklist, persisted to $DATA_DIR/state.json
// ---------------------------------------------------------------------------

const refreshState = {
  valid: new Map(), // jti -> { user_id, exp }
  blacklist: new Map(), // jti -> exp
};

function statePath() {
  return config.dataDir ? path.join(config.dataDir, "state.json") : "";
}

function loadState() {
  const file = statePath();
  if (!file) {
    log("DATA_DIR not set: refresh-token state is kept in memory only");
    return;
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  let raw;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch (err) {
    if (err.code === "ENOENT") return;
    throw err;
  }
  let data;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    log(`ignoring unreadable ${file}: ${err.message}`);
    return;
  }
  const now = Math.floor(Date.now() / 1000);
  for (const [jti, v] of Object.entries((data && data.valid) || {})) {
    if (v && typeof v.exp === "number" && v.exp > now) refreshState.valid.set(jti, { user_id: v.user_id, exp: v.exp });
  }
  for (const [jti, exp] of Object.entries((data && data.blacklist) || {})) {
    if (typeof exp === "number" && exp > now) refreshState.blacklist.set(jti, exp);
  }
  log(`loaded ${file}: ${refreshState.valid.size} valid, ${refreshState.blacklist.size} blacklisted refresh tokens`);
}

function saveState() {
  const file = statePath();
  if (!file) return;
  const data = {
    version: 1,
    valid: Object.fromEntries(refreshState.valid),
    blacklist: Object.fromEntries(refreshState.blacklist),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 1));
  fs.renameSync(tmp, file);
}

function issueRefresh(user) {
  const { token, claims } = signToken(user, "refresh", config.refreshTtlSeconds);
  refreshState.valid.set(claims.jti, { user_id: user.id, exp: claims.exp });
  saveState();
  return token;
}

// Checks a presented refresh token against signature, expiry and the store.
// Blacklisted tokens count as refresh_reuse.
// Returns { ok: true, claims, user } or { ok: false, reason: "missing"|"expired"|"malformed"|"invalid"|"blacklisted" }.
function checkRefresh(token) {
  const v = verifyToken(token, "refresh");
  if (!v.ok) return v;
  const jti = v.claims.jti;
  if (refreshState.blacklist.has(jti)) {
    counters.refresh_reuse++;
    log(`refresh token reuse: jti=${jti} user=${v.user.username}`);
    return { ok: false, reason: "blacklisted" };
  }
  const entry = refreshState.valid.get(jti);
  if (!entry || entry.user_id !== v.user.id) return { ok: false, reason: "invalid" };
  return v;
}

function blacklist(claims) {
  refreshState.valid.delete(claims.jti);
  refreshState.blacklist.set(claims.jti, claims.exp);
}

// Rotation: the presented token is blacklisted and a new pair is issued.
// Returns { ok: true, user, access, refresh } or the failure of checkRefresh.
function rotateRefresh(token) {
  const v = checkRefresh(token);
  if (!v.ok) return v;
  blacklist(v.claims);
  const refresh = issueRefresh(v.user); // saves state, including the blacklist entry
  counters.refreshes++;
  return { ok: true, user: v.user, access: issueAccess(v.user), refresh };
}

// Logout: blacklists the presented refresh token (must belong to userId).
function revokeRefresh(token, userId) {
  const v = checkRefresh(token);
  if (!v.ok) return v;
  if (v.user.id !== userId) return { ok: false, reason: "invalid" };
  blacklist(v.claims);
  saveState();
  return { ok: true };
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

// setTimeout at an absolute time in epoch ms; copes with delays beyond the
// 2^31-1 ms limit of setTimeout. Returns { cancel() }.
function timerAt(whenMs, fn) {
  let handle = null;
  let cancelled = false;
  const arm = () => {
    if (cancelled) return;
    const delay = whenMs - Date.now();
    if (delay > 0x7fffffff) handle = setTimeout(arm, 0x7fffffff);
    else handle = setTimeout(fn, Math.max(0, delay));
  };
  arm();
  return {
    cancel() {
      cancelled = true;
      if (handle) clearTimeout(handle);
    },
  };
}

// Closes a WebSocket (the `ws` library's) with `code` and `reason` when its access
// token expires. `arm(exp, username)` sets the deadline (JWT exp, epoch seconds) or
// moves it, as an in-band re-auth does; `cancel()` drops it, and so does the socket's
// own close. `beforeClose`, if given, runs at the deadline and may return false to
// leave the socket alone.
function closeOnExpiry(ws, code, reason, beforeClose) {
  let timer = null;
  const cancel = () => {
    if (timer) timer.cancel();
    timer = null;
  };
  ws.on("close", cancel);
  return {
    arm(exp, username) {
      cancel();
      timer = timerAt(exp * 1000, () => {
        timer = null;
        if (beforeClose && beforeClose() === false) return;
        log(`ws token expired: ${username}`);
        ws.close(code, reason);
      });
    },
    cancel,
  };
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

const MAX_BODY_BYTES = 64 * 1024;

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent || res.writableEnded) return;
  const text = body === undefined ? "" : JSON.stringify(body);
  const h = { ...headers };
  if (text) {
    h["Content-Type"] = "application/json";
  }
  h["Content-Length"] = Buffer.byteLength(text);
  res.writeHead(status, h);
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on("data", (c) => {
      if (failed) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        reject(Object.assign(new Error("request body too large"), { status: 413 }));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      if (!failed) {
        failed = true;
        reject(err);
      }
    });
  });
}

// Reads a JSON object body. An empty body reads as {}. On failure answers
// 400 (bad JSON / not an object) or 413 itself and resolves to null.
async function readJson(req, res) {
  let buf;
  try {
    buf = await readBody(req);
  } catch (err) {
    sendJson(res, err.status || 400, { error: err.message || "could not read request body" });
    return null;
  }
  const text = buf.toString("utf8");
  if (text.trim() === "") return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    sendJson(res, 400, { error: `invalid JSON body: ${err.message}` });
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    sendJson(res, 400, { error: "JSON body must be an object" });
    return null;
  }
  return value;
}

function parseCookies(header) {
  const out = {};
  if (typeof header !== "string") return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !(name in out)) out[name] = value;
  }
  return out;
}

function bearerToken(req) {
  const h = req.headers.authorization;
  if (typeof h !== "string") return "";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : "";
}

function isLoopback(addr) {
  if (!addr) return false;
  return addr === "::1" || /^(::ffff:)?127\./.test(addr);
}

// ---------------------------------------------------------------------------
// Test control API: /__test__/status, /__test__/counters, and /__test__/frame
// ({"username", "frame": {…}, "count"}: `count` copies of a raw JSON message to that
// user's own sockets, for messages Kith does not consume; `ws` peers only)
// ---------------------------------------------------------------------------

// push(friendIds, payload) delivers a status_update to every authenticated
// socket of those users and returns a promise settled once handed over.
async function handleTestControl(req, res, push) {
  if (!isLoopback(req.socket.remoteAddress) || req.headers["x-test-control"] !== "kith") {
    req.resume();
    sendJson(res, 403, { error: "forbidden" });
    return;
  }
  const url = new URL(req.url, "http://peer.invalid");
  if (url.pathname === "/__test__/counters") {
    req.resume();
    if (req.method !== "GET") return sendJson(res, 405, { error: "method not allowed" }, { Allow: "GET" });
    return sendJson(res, 200, { ...counters });
  }
  if (url.pathname === "/__test__/frame") {
    if (req.method !== "POST") {
      req.resume();
      return sendJson(res, 405, { error: "method not allowed" }, { Allow: "POST" });
    }
    const body = await readJson(req, res);
    if (!body) return;
    const user = userByName(body.username);
    if (!user) return sendJson(res, 404, { error: "unknown user" });
    if (!body.frame || typeof body.frame !== "object") return sendJson(res, 400, { error: "frame must be an object" });
    const count = Number.isInteger(body.count) && body.count > 0 && body.count <= 10000 ? body.count : 1;
    for (let i = 0; i < count; i++) await pushToWsClients([user.id], body.frame);
    return sendJson(res, 200, { ok: true });
  }
  if (url.pathname === "/__test__/status") {
    if (req.method !== "POST") {
      req.resume();
      return sendJson(res, 405, { error: "method not allowed" }, { Allow: "POST" });
    }
    const body = await readJson(req, res);
    if (!body) return;
    const user = userByName(body.username);
    if (!user) return sendJson(res, 404, { error: "unknown user" });
    if (typeof body.status !== "string" || body.status === "") {
      return sendJson(res, 400, { error: "status must be a non-empty string" });
    }
    setStatus(user.id, body.status);
    await push(friendIdsOf(user.id), statusUpdate(user.id));
    return sendJson(res, 200, { ok: true });
  }
  req.resume();
  sendJson(res, 404, { error: "not found" });
}

// ---------------------------------------------------------------------------
// SimpleJWT-shaped auth API (auth_message.js and socketio.js)
// ---------------------------------------------------------------------------

const SIMPLEJWT_INVALID = { detail: "Token is invalid or expired", code: "token_not_valid" };
const SIMPLEJWT_BLACKLISTED = { detail: "Token is blacklisted", code: "token_not_valid" };

function simpleJwtRefreshError(reason) {
  return reason === "blacklisted" ? SIMPLEJWT_BLACKLISTED : SIMPLEJWT_INVALID;
}

// Handles /api/auth/login/, /api/auth/token/refresh/, /api/auth/logout/.
// Returns false if the path is not one of them.
async function handleSimpleJwtAuth(req, res, pathname) {
  const routes = ["/api/auth/login/", "/api/auth/token/refresh/", "/api/auth/logout/"];
  if (!routes.includes(pathname)) return false;
  if (req.method !== "POST") {
    req.resume();
    sendJson(res, 405, { detail: `Method "${req.method}" not allowed.` }, { Allow: "POST" });
    return true;
  }
  if (pathname === "/api/auth/logout/") {
    // Authenticate first, as DRF does, then read the body.
    const a = verifyAccess(bearerToken(req));
    if (!a.ok) {
      req.resume();
      const body =
        a.reason === "missing"
          ? { detail: "Authentication credentials were not provided." }
          : { detail: "Given token not valid for any token type", code: "token_not_valid" };
      sendJson(res, 401, body, { "WWW-Authenticate": 'Bearer realm="api"' });
      return true;
    }
    const body = await readJson(req, res);
    if (!body) return true;
    if (typeof body.refresh !== "string" || body.refresh === "") {
      sendJson(res, 400, { refresh: ["This field is required."] });
      return true;
    }
    const r = revokeRefresh(body.refresh, a.user.id);
    if (!r.ok) sendJson(res, 401, simpleJwtRefreshError(r.reason));
    else sendJson(res, 205, undefined);
    return true;
  }
  const body = await readJson(req, res);
  if (!body) return true;
  if (pathname === "/api/auth/login/") {
    const missing = {};
    for (const f of ["username", "password"]) {
      if (typeof body[f] !== "string" || body[f] === "") missing[f] = ["This field is required."];
    }
    if (Object.keys(missing).length) {
      sendJson(res, 400, missing);
      return true;
    }
    const user = checkPassword(body.username, body.password);
    if (!user) {
      sendJson(res, 401, { detail: "No active account found with the given credentials" });
      return true;
    }
    counters.logins++;
    sendJson(res, 200, {
      access: issueAccess(user),
      refresh: issueRefresh(user),
      user: { id: user.id, username: user.username },
    });
    return true;
  }
  // /api/auth/token/refresh/
  if (typeof body.refresh !== "string" || body.refresh === "") {
    sendJson(res, 400, { refresh: ["This field is required."] });
    return true;
  }
  const r = rotateRefresh(body.refresh);
  if (!r.ok) sendJson(res, 401, simpleJwtRefreshError(r.reason));
  else sendJson(res, 200, { access: r.access, refresh: r.refresh });
  return true;
}

// ---------------------------------------------------------------------------
// Registry of authenticated raw-WebSocket clients (the two `ws` peers)
// ---------------------------------------------------------------------------

const sockets = new Map(); // user id -> Set<WebSocket>

function registerSocket(userId, ws) {
  if (!sockets.has(userId)) sockets.set(userId, new Set());
  sockets.get(userId).add(ws);
}
function unregisterSocket(userId, ws) {
  const set = sockets.get(userId);
  if (set) {
    set.delete(ws);
    if (!set.size) sockets.delete(userId);
  }
}

// Sends a JSON text frame; resolves when ws has written it (or failed to).
function sendFrame(ws, obj) {
  return new Promise((resolve) => {
    if (ws.readyState !== 1 /* OPEN */) return resolve(false);
    const guard = setTimeout(() => resolve(false), 2000);
    ws.send(JSON.stringify(obj), (err) => {
      clearTimeout(guard);
      resolve(!err);
    });
  });
}

function pushToWsClients(userIds, payload) {
  const sends = [];
  for (const id of userIds) {
    for (const ws of sockets.get(id) || []) sends.push(sendFrame(ws, payload));
  }
  return Promise.all(sends);
}

// ---------------------------------------------------------------------------
// Startup
// ---------------------------------------------------------------------------

function listen(server, name) {
  server.on("clientError", (err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  server.listen(config.port, "127.0.0.1", () => {
    const port = server.address().port;
    log(`${name} listening on 127.0.0.1:${port} (ACCESS_TTL_SECONDS=${config.accessTtlSeconds})`);
    process.stdout.write(`READY ${port}\n`);
  });
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
}

module.exports = {
  config,
  log,
  USERS,
  userById,
  userByName,
  friendIdsOf,
  checkPassword,
  statusUpdate,
  setStatus,
  presenceSnapshot,
  counters,
  issueAccess,
  issueRefresh,
  verifyAccess,
  rotateRefresh,
  revokeRefresh,
  loadState,
  timerAt,
  closeOnExpiry,
  sendJson,
  readJson,
  parseCookies,
  bearerToken,
  handleTestControl,
  handleSimpleJwtAuth,
  registerSocket,
  unregisterSocket,
  sendFrame,
  pushToWsClients,
  listen,
};
