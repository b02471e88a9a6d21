// Test peer that speaks presence in its own words, for Kith's [messages] mapping
// (profiles/samples/custom-shape.toml): a SimpleJWT-shaped auth API (common.js), and a
// WebSocket at /ws/presence (?token=<access>) that sends
//   {"event":"presence.changed","data":{"user":{"id":"u_2","name":"alice"},"state":…,"at":1733450000}}
// to a user's friends on every change of theirs: string ids, epoch seconds, and the
// state as the test set it (true, false, "idle", or anything else); no snapshot. On
// the same socket it sends an unrelated
//   {"event":"typing","data":{"user":{"id":"u_3"}}}
// every TYPING_INTERVAL_MS (default 50; 0 turns it off). A socket is closed 4001 when
// its token expires. Control: POST /__test__/state {"username","state"} (any JSON
// state, pushed to the user's friends before the answer), GET /__test__/counters
// (common.js's, plus typing_sent). Run as `node custom_shape.js` with PORT /
// ACCESS_TTL_SECONDS / DATA_DIR.
"use strict";

const http = require("http");
const { WebSocketServer } = require("ws");
const c = require("./common");

const WS_PATH = "/ws/presence";
const CLOSE_AUTH = 4001;
const TYPING_INTERVAL_MS = (() => {
  const n = Number(process.env.TYPING_INTERVAL_MS || 50);
  return Number.isInteger(n) && n >= 0 ? n : 50;
})();

c.counters.typing_sent = 0;

// user id -> { state: <any JSON>, at: epoch seconds }
const states = new Map(c.USERS.map((u) => [u.id, { state: false, at: Math.floor(Date.now() / 1000) }]));

function wireUser(user) {
  return { id: `u_${user.id}`, name: user.username };
}

function changed(userId) {
  const s = states.get(userId);
  return { event: "presence.changed", data: { user: wireUser(c.userById(userId)), state: s.state, at: s.at } };
}

async function handleState(req, res) {
  if (req.method !== "POST") {
    req.resume();
    return c.sendJson(res, 405, { error: "method not allowed" }, { Allow: "POST" });
  }
  const body = await c.readJson(req, res);
  if (!body) return;
  const user = c.userByName(body.username);
  if (!user) return c.sendJson(res, 404, { error: "unknown user" });
  if (!("state" in body)) return c.sendJson(res, 400, { error: "state is required" });
  states.set(user.id, { state: body.state, at: Math.floor(Date.now() / 1000) });
  await c.pushToWsClients(c.friendIdsOf(user.id), changed(user.id));
  return c.sendJson(res, 200, { ok: true });
}

async function onRequest(req, res) {
  const url = new URL(req.url, "http://peer.invalid");
  if (url.pathname === "/__test__/state") {
    if (!/^(::ffff:)?127\.|^::1$/.test(req.socket.remoteAddress || "") || req.headers["x-test-control"] !== "kith") {
      req.resume();
      return c.sendJson(res, 403, { error: "forbidden" });
    }
    return handleState(req, res);
  }
  if (url.pathname.startsWith("/__test__/")) return c.handleTestControl(req, res, c.pushToWsClients);
  if (await c.handleSimpleJwtAuth(req, res, url.pathname)) return;
  req.resume();
  c.sendJson(res, 404, { detail: "Not found." });
}

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

function refuse(socket, status, text) {
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`,
  );
}

function onUpgrade(req, socket, head) {
  socket.on("error", (err) => c.log("upgrade socket error:", err.message));
  let url;
  try {
    url = new URL(req.url, "http://peer.invalid");
  } catch {
    url = null;
  }
  if (!url || url.pathname.replace(/\/$/, "") !== WS_PATH) return refuse(socket, 404, "Not Found");
  const v = c.verifyAccess(url.searchParams.get("token") || "");
  if (!v.ok) {
    c.counters.rejected_connects++;
    return refuse(socket, 401, "Unauthorized");
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    c.counters.connects++;
    c.registerSocket(v.user.id, ws);
    c.closeOnExpiry(ws, CLOSE_AUTH, "token expired").arm(v.claims.exp, v.user.username);
    ws.on("close", () => c.unregisterSocket(v.user.id, ws));
    ws.on("error", (err) => c.log("ws error:", err.message));
    // Anything the client sends is ignored.
    ws.on("message", () => {});
  });
}

if (TYPING_INTERVAL_MS > 0) {
  setInterval(() => {
    const frame = { event: "typing", data: { user: { id: "u_3" } } };
    for (const user of c.USERS) {
      c.pushToWsClients([user.id], frame).then((sent) => {
        c.counters.typing_sent += sent.filter(Boolean).length;
      });
    }
  }, TYPING_INTERVAL_MS);
}

c.loadState();
const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    c.log("request failed:", err && err.stack ? err.stack : String(err));
    c.sendJson(res, 500, { detail: "internal error" });
  });
});
server.on("upgrade", onUpgrade);
c.listen(server, "custom_shape");
