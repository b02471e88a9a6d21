// Test peer for Kith's "sign in with the browser" (RFC 8252): a real OpenID
// provider (oidc-provider 9, mounted at the root of the issuer) with one public
// native client `kith-desktop` (authorization code + PKCE S256, any loopback
// port, refresh token rotation, RFC 7009 revocation, JWT access tokens for the
// resource `urn:kith:presence`), plus a presence WebSocket at
// /ws/friends/status/ that verifies those access tokens against the provider's
// own JWKS, and the /__test__/ control API. See README.md in this folder.
//
//   PORT=0 ACCESS_TTL_SECONDS=60 DATA_DIR= node server.js   ->  "READY <port>"
//
// THIS IS A TEST PEER. Never run it anywhere but on loopback.

import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import Provider, { errors as oidcErrors } from "oidc-provider";
import { WebSocketServer } from "ws";
import { Store } from "./store.js";

// oidc-provider prints its notices with console.info, i.e. on stdout; stdout
// carries only the READY line.
console.info = (...args) => console.error(...args);

// ---------------------------------------------------------------------------
// Configuration (environment only)
// ---------------------------------------------------------------------------

function log(...parts) {
  process.stderr.write(`[${new Date().toISOString()}] ${parts.join(" ")}\n`);
}

function intEnv(name, def, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    log(`ignoring ${name}=${JSON.stringify(raw)}: want an integer >= ${min}; using ${def}`);
    return def;
  }
  return n;
}

const config = {
  port: intEnv("PORT", 0, 0),
  accessTtlSeconds: intEnv("ACCESS_TTL_SECONDS", 60, 1),
  refreshTtlSeconds: 14 * 24 * 60 * 60,
  dataDir: process.env.DATA_DIR || "",
};

const CLIENT_ID = "kith-desktop";
const RESOURCE = "urn:kith:presence";
// The scopes an access token for the presence resource can carry. The OIDC
// scopes are among them so that the access token's `scope` (and the token
// response's) says what was granted, as with most providers, instead of "".
const RESOURCE_SCOPE = "openid profile offline_access presence";
const WS_PATH = "/ws/friends/status/";

process.on("uncaughtException", (err) => log("uncaught exception:", err && err.stack ? err.stack : String(err)));
process.on("unhandledRejection", (err) => log("unhandled rejection:", err && err.stack ? err.stack : String(err)));

// ---------------------------------------------------------------------------
// Users, friendships, statuses: the seed of tests/peers/node/common.js
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

// `sub` is the user id as a decimal string; nothing else maps to a user.
function userBySub(sub) {
  if (typeof sub !== "string" || !/^[1-9][0-9]*$/.test(sub)) return null;
  return usersById.get(Number(sub)) || null;
}
function userByName(name) {
  return typeof name === "string" ? usersByName.get(name) || null : null;
}
function friendIdsOf(userId) {
  return [...(friends.get(userId) || [])].sort((a, b) => a - b);
}
function checkPassword(username, password) {
  const u = userByName(username);
  return u && password === PASSWORD ? u : null;
}

const startedAt = new Date().toISOString();
const statuses = new Map(USERS.map((u) => [u.id, { status: "offline", last_seen: startedAt }]));

function statusUpdate(userId) {
  const u = usersById.get(userId);
  const s = statuses.get(userId);
  return { type: "status_update", user_id: u.id, username: u.username, status: s.status, last_seen: s.last_seen };
}

function presenceSnapshot(userId) {
  return {
    type: "presence_snapshot",
    friends: friendIdsOf(userId).map((fid) => {
      const u = usersById.get(fid);
      const s = statuses.get(fid);
      return { user_id: u.id, username: u.username, status: s.status, last_seen: s.last_seen };
    }),
  };
}

// ---------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------

const counters = {
  authorization_requests: 0, // GET/POST /auth answered (incl. the resumes after each interaction)
  logins: 0, // login form accepted
  login_failures: 0, // login form re-shown with an error
  consents: 0, // consent form "Authorize"
  denials: 0, // consent form "Deny"
  authorization_codes: 0, // codes issued
  token_requests: { authorization_code: 0, refresh_token: 0 }, // POST /token by grant_type (any outcome)
  token_errors: 0, // POST /token answered with an error, any grant type
  code_exchanges: 0, // authorization_code grants answered 200
  refreshes: 0, // refresh_token grants answered 200
  refresh_invalid_grant: 0, // refresh_token grants answered 400 invalid_grant
  refresh_reuse: 0, // of those: a rotated (already used) refresh token presented again
  revocations: 0, // POST /token/revocation answered 200
  grants_revoked: 0, // grants destroyed (revocation of a refresh token, reuse detection, revoke-user)
  user_revocations: 0, // POST /__test__/revoke-user
  connects: 0, // presence sockets accepted
  rejected_connects: 0, // presence handshakes answered 401
};

// ---------------------------------------------------------------------------
// Keys and storage (persisted in DATA_DIR when set)
// ---------------------------------------------------------------------------

function loadOrCreateKeys() {
  const file = config.dataDir ? path.join(config.dataDir, "oidc-keys.json") : "";
  if (file) {
    try {
      const data = JSON.parse(fs.readFileSync(file, "utf8"));
      if (data && Array.isArray(data.jwks) && Array.isArray(data.cookieKeys)) return data;
    } catch (err) {
      if (err.code !== "ENOENT") log(`ignoring unreadable ${file}: ${err.message}`);
    }
  }
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const data = {
    jwks: [{ ...jwk, kid: crypto.randomBytes(8).toString("hex"), alg: "RS256", use: "sig" }],
    cookieKeys: [crypto.randomBytes(32).toString("base64url")],
  };
  if (file) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(data));
  }
  return data;
}

const keys = loadOrCreateKeys();
const store = new Store(config.dataDir ? path.join(config.dataDir, "oidc-store.json") : "", log);
if (!config.dataDir) log("DATA_DIR not set: keys, grants and refresh tokens are kept in memory only");

// ---------------------------------------------------------------------------
// HTML (interaction pages, errors)
// ---------------------------------------------------------------------------

function esc(s) {
  return String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
<h1>${esc(title)}</h1>
${body}
</body>
</html>
`;
}

function sendHtml(res, status, html) {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": Buffer.byteLength(html),
    "Cache-Control": "no-store",
  });
  res.end(html);
}

function loginPage(uid, clientId, error, username) {
  const err = error ? `<p class="error" id="error">${esc(error)}</p>\n` : "";
  return page(
    "Sign in to Kith test OP",
    `<p>Client: <code>${esc(clientId)}</code></p>
${err}<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <input type="hidden" name="prompt" value="login">
  <label>Username <input type="text" name="username" value="${esc(username || "")}" autofocus></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>`,
  );
}

function consentPage(uid, clientId, accountName, scopes) {
  return page(
    "Authorize Kith",
    `<p>Signed in as <b>${esc(accountName)}</b>. <code>${esc(clientId)}</code> asks for: <code>${esc(scopes)}</code></p>
<form method="post" action="/interaction/${esc(uid)}/confirm">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit" name="decision" value="authorize">Authorize</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

// ---------------------------------------------------------------------------
// Provider configuration
// ---------------------------------------------------------------------------

function providerConfiguration() {
  return {
    adapter: store.adapterClass(),
    clients: [
      {
        client_id: CLIENT_ID,
        client_name: "Kith desktop",
        application_type: "native",
        token_endpoint_auth_method: "none",
        // Native client: any port on this loopback host and path is allowed
        // (http://127.0.0.1:<port>/callback); "localhost" is NOT the same host.
        redirect_uris: ["http://127.0.0.1/callback"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        id_token_signed_response_alg: "RS256",
      },
    ],
    jwks: { keys: keys.jwks },
    cookies: { keys: keys.cookieKeys },
    claims: {
      openid: ["sub"],
      profile: ["name", "preferred_username"],
    },
    scopes: ["openid", "offline_access", "profile"],
    responseTypes: ["code"],
    // Profile claims go into the ID token as well, not only to userinfo.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      const user = userBySub(sub);
      if (!user) return undefined;
      return {
        accountId: String(user.id),
        async claims() {
          return { sub: String(user.id), name: user.username, preferred_username: user.username };
        },
      };
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        // A token of another client is silently not revoked (still 200).
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter: the presence API.
        defaultResource: async () => RESOURCE,
        // The refresh token grant (and a code exchange without `resource`)
        // keeps issuing access tokens for the granted resource, not opaque
        // userinfo-only tokens.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new oidcErrors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPE,
            audience: RESOURCE,
            accessTokenFormat: "jwt",
            accessTokenTTL: config.accessTtlSeconds,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    // Refresh tokens for this client always, with or without offline_access.
    // oidc-provider keeps `offline_access` only when the authorization request
    // has prompt=consent (OIDC Core 11); without it the refresh token is still
    // issued but bound to the provider's browser session (expiresWithSession),
    // i.e. it dies with that session (revoke-user, end_session, Session TTL).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: config.accessTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      RefreshToken: config.refreshTtlSeconds,
      Grant: config.refreshTtlSeconds,
      Session: config.refreshTtlSeconds,
      Interaction: 60 * 60,
    },
    clientBasedCORS: () => true,
    async renderError(ctx, out) {
      ctx.type = "html";
      ctx.body = page(
        "Sign-in error",
        `<pre id="error">${esc(JSON.stringify(out, null, 2))}</pre>`,
      );
    },
  };
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

const MAX_BODY_BYTES = 64 * 1024;

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent || res.writableEnded) return;
  const text = body === undefined ? "" : JSON.stringify(body);
  const h = { ...headers, "Content-Length": Buffer.byteLength(text) };
  if (text) h["Content-Type"] = "application/json";
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

async function readForm(req) {
  const buf = await readBody(req);
  return new URLSearchParams(buf.toString("utf8"));
}

function bearerToken(req) {
  const h = req.headers.authorization;
  if (typeof h !== "string") return "";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : "";
}

function isLoopback(addr) {
  return !!addr && (addr === "::1" || /^(::ffff:)?127\./.test(addr));
}

// ---------------------------------------------------------------------------
// Interaction pages: /interaction/<uid>, …/login, …/confirm, …/abort
// ---------------------------------------------------------------------------

let provider = null;
let issuer = "";

async function handleInteraction(req, res, pathname) {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(pathname);
  if (!m) {
    req.resume();
    return sendHtml(res, 404, page("Not found", "<p>No such page.</p>"));
  }
  const [, uid, action] = m;
  const method = action ? "POST" : "GET";
  if (req.method !== method) {
    req.resume();
    res.setHeader("Allow", method);
    return sendHtml(res, 405, page("Method not allowed", `<p>Use ${method}.</p>`));
  }
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    req.resume();
    return sendHtml(res, 400, page("Sign-in error", `<pre id="error">${esc(err.message || String(err))}</pre>`));
  }
  if (details.uid !== uid) {
    req.resume();
    return sendHtml(res, 400, page("Sign-in error", `<pre id="error">interaction ${esc(uid)} is not the current one</pre>`));
  }
  const { prompt, params } = details;

  if (!action) {
    if (prompt.name === "login") return sendHtml(res, 200, loginPage(uid, params.client_id, "", ""));
    if (prompt.name === "consent") {
      const user = userBySub(details.session && details.session.accountId);
      return sendHtml(res, 200, consentPage(uid, params.client_id, user ? user.username : "?", params.scope || ""));
    }
    return sendHtml(res, 400, page("Sign-in error", `<pre id="error">unknown prompt ${esc(prompt.name)}</pre>`));
  }

  const form = await readForm(req);

  if (action === "login") {
    if (prompt.name !== "login") {
      return sendHtml(res, 400, page("Sign-in error", `<pre id="error">this interaction is not a login</pre>`));
    }
    const username = form.get("username") || "";
    const user = checkPassword(username, form.get("password") || "");
    if (!user) {
      counters.login_failures++;
      log(`login failed for ${JSON.stringify(username)}`);
      return sendHtml(res, 200, loginPage(uid, params.client_id, "Invalid username or password.", username));
    }
    counters.logins++;
    log(`login: ${user.username}`);
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: String(user.id) } },
      { mergeWithLastSubmission: false },
    );
  }

  if (action === "abort") {
    counters.denials++;
    return provider.interactionFinished(
      req,
      res,
      { error: "access_denied", error_description: "End-User aborted interaction" },
      { mergeWithLastSubmission: false },
    );
  }

  // action === "confirm"
  if (prompt.name !== "consent") {
    return sendHtml(res, 400, page("Sign-in error", `<pre id="error">this interaction is not a consent</pre>`));
  }
  const accountId = details.session.accountId;
  let grant;
  if (details.grantId) grant = await provider.Grant.find(details.grantId);
  if (!grant) grant = new provider.Grant({ accountId, clientId: params.client_id });
  const d = prompt.details || {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(" "));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
  }
  const grantId = await grant.save();
  counters.consents++;
  const consent = details.grantId ? {} : { grantId };
  return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

// ---------------------------------------------------------------------------
// Presence: access token verification and the WebSocket
// ---------------------------------------------------------------------------

let jwks = null;

const EXPIRED_TEXT = "Authentication token has expired. Please refresh your token and reconnect.";
const REJECT_TEXT = {
  missing: "Missing authentication token",
  malformed: "Invalid authentication token format",
  invalid: "Invalid authentication token",
  expired: EXPIRED_TEXT,
};

// { ok: true, claims, user } or { ok: false, reason: "missing"|"expired"|"malformed"|"invalid" }
async function verifyAccess(token) {
  if (typeof token !== "string" || token === "") return { ok: false, reason: "missing" };
  let payload;
  try {
    ({ payload } = await jwtVerify(token, jwks, {
      issuer,
      audience: RESOURCE,
      algorithms: ["RS256"],
      typ: "at+jwt",
      requiredClaims: ["sub", "exp"],
    }));
  } catch (err) {
    const code = err && err.code;
    if (code === "ERR_JWT_EXPIRED") return { ok: false, reason: "expired" };
    if (code === "ERR_JWS_INVALID" || code === "ERR_JWT_INVALID") return { ok: false, reason: "malformed" };
    log(`access token rejected: ${code || ""} ${err && err.message}`);
    return { ok: false, reason: "invalid" };
  }
  if (payload.client_id !== CLIENT_ID) return { ok: false, reason: "invalid" };
  const user = userBySub(payload.sub);
  if (!user) return { ok: false, reason: "invalid" };
  return { ok: true, claims: payload, user };
}

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
  for (const id of userIds) for (const ws of sockets.get(id) || []) sends.push(sendFrame(ws, payload));
  return Promise.all(sends);
}

// setTimeout at an absolute epoch-ms time, beyond setTimeout's 2^31-1 ms limit.
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

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

function rejectUpgrade(socket, status, statusText, text) {
  const body = Buffer.from(text, "utf8");
  const head =
    `HTTP/1.1 ${status} ${statusText}\r\n` +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    `Content-Length: ${body.length}\r\n` +
    (status === 401 ? 'WWW-Authenticate: Bearer realm="kith-presence", error="invalid_token"\r\n' : "") +
    "Connection: close\r\n\r\n";
  if (!socket.writable) return socket.destroy();
  socket.once("finish", () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(head, "latin1"), body]));
}

async function onUpgrade(req, socket, head) {
  socket.on("error", (err) => log("upgrade socket error:", err.message));
  let url;
  try {
    url = new URL(req.url, "http://peer.invalid");
  } catch {
    return rejectUpgrade(socket, 400, "Bad Request", "bad request");
  }
  if (url.pathname !== WS_PATH) return rejectUpgrade(socket, 404, "Not Found", "not found");
  if (!provider) return rejectUpgrade(socket, 503, "Service Unavailable", "starting");
  const token = bearerToken(req) || url.searchParams.get("token") || "";
  const v = await verifyAccess(token);
  if (!v.ok) {
    counters.rejected_connects++;
    log(`ws handshake rejected: ${v.reason}`);
    return rejectUpgrade(socket, 401, "Unauthorized", REJECT_TEXT[v.reason] || REJECT_TEXT.invalid);
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, v.user, v.claims));
}

function onConnection(ws, user, claims) {
  counters.connects++;
  log(`ws connected: ${user.username}`);
  // Close 1008 when this access token's exp passes.
  const timer = timerAt(claims.exp * 1000, () => {
    log(`ws token expired: ${user.username}`);
    ws.close(1008, EXPIRED_TEXT);
  });
  registerSocket(user.id, ws);
  sendFrame(ws, presenceSnapshot(user.id));
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(data.toString("utf8"));
    } catch {
      return;
    }
    if (msg && typeof msg === "object" && msg.type === "PING") sendFrame(ws, { type: "PONG" });
  });
  ws.on("error", (err) => log(`ws error (${user.username}):`, err.message));
  ws.on("close", () => {
    timer.cancel();
    unregisterSocket(user.id, ws);
  });
}

// ---------------------------------------------------------------------------
// Test control API (X-Test-Control: kith, loopback only)
// ---------------------------------------------------------------------------

// Every grant id that belongs to accountId, from the stored artifacts.
function grantIdsOf(accountId) {
  const ids = new Set();
  for (const [model, id, payload] of store.scan()) {
    if (!payload || payload.accountId !== accountId) continue;
    if (model === "Grant") ids.add(id);
    else if (payload.grantId) ids.add(payload.grantId);
  }
  return ids;
}

async function revokeUser(user) {
  const accountId = String(user.id);
  let refreshTokens = 0;
  for (const [, , payload] of store.scan("RefreshToken")) if (payload.accountId === accountId) refreshTokens++;
  const grantIds = grantIdsOf(accountId);
  for (const grantId of grantIds) {
    await Promise.all([
      provider.AccessToken.adapter.revokeByGrantId(grantId),
      provider.RefreshToken.adapter.revokeByGrantId(grantId),
      provider.AuthorizationCode.adapter.revokeByGrantId(grantId),
      provider.Grant.adapter.destroy(grantId),
    ]);
    counters.grants_revoked++;
  }
  // End the user's browser sessions too: the next sign-in shows the login form.
  let sessions = 0;
  for (const [, id, payload] of [...store.scan("Session")]) {
    if (payload.accountId === accountId) {
      await provider.Session.adapter.destroy(id);
      sessions++;
    }
  }
  counters.user_revocations++;
  log(`revoke-user ${user.username}: ${grantIds.size} grants, ${refreshTokens} refresh tokens, ${sessions} sessions`);
  return { ok: true, grants: grantIds.size, refresh_tokens: refreshTokens, sessions };
}

async function refreshCheck(token) {
  const rt = await provider.RefreshToken.find(token, { ignoreExpiration: true });
  if (!rt) return { active: false, reason: "not_found" };
  const base = { sub: rt.accountId, client_id: rt.clientId, exp: rt.exp };
  if (rt.consumed) return { active: false, reason: "consumed", ...base };
  if (rt.isExpired) return { active: false, reason: "expired", ...base };
  const grant = await provider.Grant.find(rt.grantId, { ignoreExpiration: true });
  if (!grant) return { active: false, reason: "grant_revoked", ...base };
  if (grant.isExpired) return { active: false, reason: "grant_expired", ...base };
  return { active: true, ...base };
}

function methodNotAllowed(req, res, allow) {
  req.resume();
  sendJson(res, 405, { error: "method not allowed" }, { Allow: allow });
}

async function handleTestControl(req, res, pathname) {
  if (!isLoopback(req.socket.remoteAddress) || req.headers["x-test-control"] !== "kith") {
    req.resume();
    return sendJson(res, 403, { error: "forbidden" });
  }
  if (pathname === "/__test__/counters") {
    if (req.method !== "GET") return methodNotAllowed(req, res, "GET");
    req.resume();
    return sendJson(res, 200, { ...counters, token_requests: { ...counters.token_requests } });
  }
  const routes = ["/__test__/status", "/__test__/frame", "/__test__/revoke-user", "/__test__/refresh-check"];
  if (!routes.includes(pathname)) {
    req.resume();
    return sendJson(res, 404, { error: "not found" });
  }
  if (req.method !== "POST") return methodNotAllowed(req, res, "POST");
  const body = await readJson(req, res);
  if (!body) return;
  if (pathname === "/__test__/refresh-check") {
    if (typeof body.refresh_token !== "string" || body.refresh_token === "") {
      return sendJson(res, 400, { error: "refresh_token must be a non-empty string" });
    }
    return sendJson(res, 200, await refreshCheck(body.refresh_token));
  }
  const user = userByName(body.username);
  if (!user) return sendJson(res, 404, { error: "unknown user" });
  if (pathname === "/__test__/revoke-user") return sendJson(res, 200, await revokeUser(user));
  if (pathname === "/__test__/frame") {
    if (!body.frame || typeof body.frame !== "object") return sendJson(res, 400, { error: "frame must be an object" });
    const count = Number.isInteger(body.count) && body.count > 0 && body.count <= 10000 ? body.count : 1;
    for (let i = 0; i < count; i++) await pushToWsClients([user.id], body.frame);
    return sendJson(res, 200, { ok: true });
  }
  // /__test__/status
  if (typeof body.status !== "string" || body.status === "") {
    return sendJson(res, 400, { error: "status must be a non-empty string" });
  }
  statuses.set(user.id, { status: body.status, last_seen: new Date().toISOString() });
  await pushToWsClients(friendIdsOf(user.id), statusUpdate(user.id));
  return sendJson(res, 200, { ok: true });
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

function instrument(p) {
  p.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc && ctx.oidc.route;
    if (route === "authorization" || route === "resume") {
      counters.authorization_requests++;
    } else if (route === "token") {
      const params = ctx.oidc.params || ctx.oidc.body || {};
      const gt = typeof params.grant_type === "string" && params.grant_type ? params.grant_type : "unknown";
      counters.token_requests[gt] = (counters.token_requests[gt] || 0) + 1;
      const error = ctx.status >= 400 && ctx.body && typeof ctx.body === "object" ? ctx.body.error : undefined;
      if (ctx.status >= 400) counters.token_errors++;
      if (gt === "authorization_code" && ctx.status === 200) counters.code_exchanges++;
      if (gt === "refresh_token") {
        if (ctx.status === 200) counters.refreshes++;
        else if (error === "invalid_grant") counters.refresh_invalid_grant++;
      }
      if (error) log(`token endpoint (${gt}): ${ctx.status} ${error}`);
    } else if (route === "revocation" && ctx.status === 200) {
      counters.revocations++;
    }
  });
  p.on("authorization_code.saved", () => {
    counters.authorization_codes++;
  });
  p.on("grant.revoked", () => {
    counters.grants_revoked++;
  });
  p.on("grant.error", (ctx, err) => {
    if (err && err.message === "invalid_grant" && /already used/.test(err.error_detail || "")) counters.refresh_reuse++;
    log(`grant error: ${err && err.message} (${err && err.error_detail ? err.error_detail : ""})`);
  });
  p.on("server_error", (ctx, err) => log("provider server_error:", err && err.stack ? err.stack : String(err)));
}

async function onRequest(req, res) {
  const pathname = (req.url || "/").split("?")[0];
  if (pathname.startsWith("/__test__/")) return handleTestControl(req, res, pathname);
  if (!provider) {
    req.resume();
    return sendJson(res, 503, { error: "starting" });
  }
  if (pathname === "/interaction" || pathname.startsWith("/interaction/")) return handleInteraction(req, res, pathname);
  if (pathname === WS_PATH) {
    req.resume();
    return sendJson(res, 426, { error: "WebSocket upgrade required" }, { Upgrade: "websocket" });
  }
  return providerCallback(req, res);
}

let providerCallback = null;

const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    log("request failed:", err && err.stack ? err.stack : String(err));
    sendJson(res, 500, { error: "internal error" });
  });
});
server.on("upgrade", (req, socket, head) => {
  onUpgrade(req, socket, head).catch((err) => {
    log("upgrade failed:", err && err.stack ? err.stack : String(err));
    rejectUpgrade(socket, 500, "Internal Server Error", "internal error");
  });
});
server.on("clientError", (err, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  else socket.destroy();
});

server.listen(config.port, "127.0.0.1", () => {
  const port = server.address().port;
  issuer = `http://127.0.0.1:${port}`;
  provider = new Provider(issuer, providerConfiguration());
  instrument(provider);
  providerCallback = provider.callback();
  jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  log(`oidc peer listening on ${issuer} (ACCESS_TTL_SECONDS=${config.accessTtlSeconds}, DATA_DIR=${config.dataDir || "-"})`);
  process.stdout.write(`READY ${port}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
