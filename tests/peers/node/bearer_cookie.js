// Test peer in the style of seed 004 (a Go service): access token in a JSON
// body, refresh token in an HttpOnly cookie, WebSocket authenticated at the
// HTTP handshake (Authorization: Bearer, then access_token cookie, then
// ?token=), HTTP 401 with a plain-text reason on rejection, and close 1008 when
// the token expires on an open socket. Kith's integration tests run it as
// `node bearer_cookie.js` with PORT / ACCESS_TTL_SECONDS / DATA_DIR, and, for
// a backend that sends no snapshot and never closes at expiry, WS_SNAPSHOT=0 /
// WS_EXPIRY_CLOSE=0.
"use strict";

const http = require("http");
const { WebSocketServer } = require("ws");
const c = require("./common");

const WS_PATH = "/ws/friends/status/";
const SEND_SNAPSHOT = process.env.WS_SNAPSHOT !== "0";
const EXPIRY_CLOSE = process.env.WS_EXPIRY_CLOSE !== "0";
const EXPIRED_TEXT = "Authentication token has expired. Please refresh your token and reconnect.";
const REJECT_TEXT = {
  missing: "Missing authentication token",
  malformed: "Invalid authentication token format",
  invalid: "Invalid authentication token",
  expired: EXPIRED_TEXT,
};
const COOKIE_ATTRS = "HttpOnly; Path=/api/auth/; SameSite=Strict";

function refreshCookie(token) {
  return `refresh_token=${token}; ${COOKIE_ATTRS}`;
}
const CLEAR_COOKIE = `refresh_token=; ${COOKIE_ATTRS}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;

function refreshFailure(reason) {
  if (reason === "missing") return "missing refresh token";
  if (reason === "blacklisted") return "refresh token has been revoked";
  if (reason === "expired") return "refresh token has expired";
  return "invalid refresh token";
}

async function login(req, res) {
  const body = await c.readJson(req, res);
  if (!body) return;
  if (typeof body.username !== "string" || typeof body.password !== "string") {
    return c.sendJson(res, 400, { error: "username and password are required" });
  }
  const user = c.checkPassword(body.username, body.password);
  if (!user) return c.sendJson(res, 401, { error: "invalid credentials" });
  c.counters.logins++;
  c.sendJson(res, 200, { token: c.issueAccess(user) }, { "Set-Cookie": refreshCookie(c.issueRefresh(user)) });
}

function refresh(req, res) {
  req.resume(); // the body is ignored: only the cookie counts
  const token = c.parseCookies(req.headers.cookie).refresh_token || "";
  const r = c.rotateRefresh(token);
  if (!r.ok) return c.sendJson(res, 401, { error: refreshFailure(r.reason) });
  c.sendJson(res, 200, { token: r.access }, { "Set-Cookie": refreshCookie(r.refresh) });
}

function logout(req, res) {
  req.resume();
  const a = c.verifyAccess(c.bearerToken(req));
  if (!a.ok) {
    return c.sendJson(res, 401, { error: a.reason === "missing" ? "missing bearer token" : "invalid bearer token" });
  }
  const token = c.parseCookies(req.headers.cookie).refresh_token || "";
  if (token) {
    const r = c.revokeRefresh(token, a.user.id);
    if (!r.ok) return c.sendJson(res, 401, { error: refreshFailure(r.reason) });
  }
  c.sendJson(res, 204, undefined, { "Set-Cookie": CLEAR_COOKIE });
}

const ROUTES = {
  "/api/auth/login/": login,
  "/api/auth/token/refresh/": refresh,
  "/api/auth/logout/": logout,
};

async function onRequest(req, res) {
  const url = new URL(req.url, "http://peer.invalid");
  if (url.pathname.startsWith("/__test__/")) return c.handleTestControl(req, res, c.pushToWsClients);
  const route = ROUTES[url.pathname];
  if (!route) {
    req.resume();
    return c.sendJson(res, 404, { error: "not found" });
  }
  if (req.method !== "POST") {
    req.resume();
    return c.sendJson(res, 405, { error: "method not allowed" }, { Allow: "POST" });
  }
  return route(req, res);
}

// --- WebSocket ---------------------------------------------------------------

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

function rejectUpgrade(socket, status, statusText, text) {
  const body = Buffer.from(text, "utf8");
  const head =
    `HTTP/1.1 ${status} ${statusText}\r\n` +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    `Content-Length: ${body.length}\r\n` +
    "Connection: close\r\n\r\n";
  if (!socket.writable) return socket.destroy();
  socket.once("finish", () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(head, "latin1"), body]));
}

function upgradeToken(req, url) {
  const bearer = c.bearerToken(req);
  if (bearer) return bearer;
  const cookie = c.parseCookies(req.headers.cookie).access_token;
  if (cookie) return cookie;
  return url.searchParams.get("token") || "";
}

function onUpgrade(req, socket, head) {
  socket.on("error", (err) => c.log("upgrade socket error:", err.message));
  let url;
  try {
    url = new URL(req.url, "http://peer.invalid");
  } catch {
    return rejectUpgrade(socket, 400, "Bad Request", "bad request");
  }
  if (url.pathname !== WS_PATH) return rejectUpgrade(socket, 404, "Not Found", "not found");
  const v = c.verifyAccess(upgradeToken(req, url));
  if (!v.ok) {
    c.counters.rejected_connects++;
    c.log(`ws handshake rejected: ${v.reason}`);
    return rejectUpgrade(socket, 401, "Unauthorized", REJECT_TEXT[v.reason] || REJECT_TEXT.invalid);
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, v.user, v.claims));
}

function onConnection(ws, user, claims) {
  c.counters.connects++;
  c.log(`ws connected: ${user.username}`);
  // Set at accept: close 1008 when this token's exp passes.
  if (EXPIRY_CLOSE) c.closeOnExpiry(ws, 1008, EXPIRED_TEXT).arm(claims.exp, user.username);
  c.registerSocket(user.id, ws);
  if (SEND_SNAPSHOT) c.sendFrame(ws, c.presenceSnapshot(user.id));

  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(data.toString("utf8"));
    } catch {
      return;
    }
    if (msg && typeof msg === "object" && msg.type === "PING") c.sendFrame(ws, { type: "PONG" });
  });
  ws.on("error", (err) => c.log(`ws error (${user.username}):`, err.message));
  ws.on("close", () => {
    c.unregisterSocket(user.id, ws);
  });
}

c.loadState();
const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    c.log("request failed:", err && err.stack ? err.stack : String(err));
    c.sendJson(res, 500, { error: "internal error" });
  });
});
server.on("upgrade", onUpgrade);
c.listen(server, "bearer_cookie");
