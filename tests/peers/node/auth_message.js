// Test peer in the style of seed 002: SimpleJWT-shaped HTTP auth API and a
// WebSocket whose first message must be {"type":"auth","payload":{"token"}}
// (the ?token= in the URL alone is not enough), answered by auth_success or by
// auth_error + close 4001; supports in-band re-auth that moves the socket's
// expiry, closes 4001 "token expired" at exp, and answers PING with PONG.
// Kith's integration tests run it as `node auth_message.js` with PORT /
// ACCESS_TTL_SECONDS / DATA_DIR (and optionally AUTH_TIMEOUT_MS, default 5000).
"use strict";

const http = require("http");
const { WebSocketServer } = require("ws");
const c = require("./common");

const WS_PATH = "/ws/friends/status/";
const AUTH_TIMEOUT_MS = (() => {
  const n = Number(process.env.AUTH_TIMEOUT_MS || 5000);
  return Number.isInteger(n) && n > 0 ? n : 5000;
})();
const CLOSE_AUTH = 4001;

async function onRequest(req, res) {
  const url = new URL(req.url, "http://peer.invalid");
  if (url.pathname.startsWith("/__test__/")) return c.handleTestControl(req, res, c.pushToWsClients);
  if (await c.handleSimpleJwtAuth(req, res, url.pathname)) return;
  req.resume();
  c.sendJson(res, 404, { detail: "Not found." });
}

// --- WebSocket ---------------------------------------------------------------

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

function onUpgrade(req, socket, head) {
  socket.on("error", (err) => c.log("upgrade socket error:", err.message));
  let url;
  try {
    url = new URL(req.url, "http://peer.invalid");
  } catch {
    url = null;
  }
  if (!url || url.pathname !== WS_PATH) {
    const body = "not found";
    socket.once("finish", () => socket.destroy());
    socket.end(
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, url.searchParams.get("token") || ""));
}

function describe(reason) {
  return reason === "expired" ? "token expired" : "invalid token";
}

function onConnection(ws, urlToken) {
  // state: "pending" until the first auth message, then "authed", then "closed".
  const conn = { state: "pending", user: null };
  // Closes 4001 at the token's exp; a re-auth moves the deadline.
  const expiry = c.closeOnExpiry(ws, CLOSE_AUTH, "token expired", () => {
    if (conn.state !== "authed") return false;
    conn.state = "closed";
    return true;
  });

  const fail = (message, countAsRejected) => {
    if (conn.state === "closed") return;
    if (countAsRejected) c.counters.rejected_connects++;
    c.log(`ws auth_error (${conn.user ? conn.user.username : "unauthenticated"}): ${message}`);
    conn.state = "closed";
    expiry.cancel();
    c.sendFrame(ws, { type: "auth_error", message });
    ws.close(CLOSE_AUTH, message);
  };

  const authTimer = setTimeout(() => {
    if (conn.state === "pending") fail("authentication timeout", true);
  }, AUTH_TIMEOUT_MS);

  const onAuth = (msg) => {
    const first = conn.state === "pending";
    const token = msg.payload && typeof msg.payload === "object" ? msg.payload.token : undefined;
    const v = c.verifyAccess(token);
    if (!v.ok) return fail(v.reason === "missing" ? "token missing" : describe(v.reason), first);
    if (first && urlToken) {
      // The URL token is accepted, not trusted alone: it must be valid and name the same user.
      const u = c.verifyAccess(urlToken);
      if (!u.ok) return fail(`url ${describe(u.reason)}`, true);
      if (u.user.id !== v.user.id) return fail("token user mismatch", true);
    }
    if (!first && v.user.id !== conn.user.id) return fail("token user mismatch", false);

    expiry.arm(v.claims.exp, v.user.username);
    if (first) {
      clearTimeout(authTimer);
      conn.state = "authed";
      conn.user = v.user;
      c.counters.connects++;
      c.log(`ws authenticated: ${v.user.username}`);
      c.registerSocket(v.user.id, ws);
      c.sendFrame(ws, { type: "auth_success" });
      c.sendFrame(ws, c.presenceSnapshot(v.user.id));
    } else {
      c.counters.inband_reauths++;
      c.log(`ws re-authenticated: ${v.user.username}, now valid until ${new Date(v.claims.exp * 1000).toISOString()}`);
      c.sendFrame(ws, { type: "auth_success" });
    }
  };

  ws.on("message", (data, isBinary) => {
    if (conn.state === "closed") return;
    let msg = null;
    if (!isBinary) {
      try {
        msg = JSON.parse(data.toString("utf8"));
      } catch {
        msg = null;
      }
    }
    const type = msg && typeof msg === "object" && !Array.isArray(msg) ? msg.type : undefined;
    if (conn.state === "pending") {
      if (type === "auth") return onAuth(msg);
      return fail("authentication required", true);
    }
    // authenticated
    if (type === "auth") return onAuth(msg);
    if (type === "PING") return c.sendFrame(ws, { type: "PONG" });
    // anything else (unknown type, bad JSON, binary) is ignored
  });
  ws.on("error", (err) => c.log("ws error:", err.message));
  ws.on("close", () => {
    clearTimeout(authTimer);
    if (conn.user) c.unregisterSocket(conn.user.id, ws);
    conn.state = "closed";
  });
}

c.loadState();
const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    c.log("request failed:", err && err.stack ? err.stack : String(err));
    c.sendJson(res, 500, { detail: "internal error" });
  });
});
server.on("upgrade", onUpgrade);
c.listen(server, "auth_message");
