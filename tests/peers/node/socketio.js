// Test peer in the style of seed 003: a real Socket.IO v4 server (npm
// `socket.io`) authenticating the connection from handshake.auth.token in an
// io.use() middleware, with the SimpleJWT-shaped HTTP auth API on the same
// Node http server. Friends' updates go to rooms user_<id>; at the token's exp
// the socket is disconnected (no in-band re-auth in Socket.IO). Kith's
// integration tests run it as `node socketio.js` with PORT /
// ACCESS_TTL_SECONDS / DATA_DIR / PING_INTERVAL_MS / PING_TIMEOUT_MS, and the
// protocol scenarios shared with the python-socketio peer
// (tests/peers/python-socketio/server.py):
//   SIO_NAMESPACE=/name          serve presence on that namespace instead of "/"
//   SIO_SNAPSHOT=0               send no presence_snapshot on connect
//   SIO_EXPIRY_DISCONNECT=0      leave sockets open when their token expires
//   SIO_ACCEPT_THEN_DISCONNECT=1 accept CONNECT, then disconnect at once
// POST /__test__/sio {"action": …} makes the server emit: "binary_status"
// (a status_update with a binary avatar), "ack_status" (a status_update asking
// for an ack), "binary_other" (an event Kith does not use, with bytes), "chat"
// (`count` chat events at `per_second`), "disconnect" (a server-side namespace
// disconnect of every socket). Counters add `acks` and `disconnect_reasons`.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const c = require("./common");

function msEnv(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    c.log(`ignoring ${name}=${JSON.stringify(raw)}: want a positive integer; using ${def}`);
    return def;
  }
  return n;
}

const NAMESPACE = process.env.SIO_NAMESPACE || "/";
const SEND_SNAPSHOT = process.env.SIO_SNAPSHOT !== "0";
const EXPIRY_DISCONNECT = process.env.SIO_EXPIRY_DISCONNECT !== "0";
const ACCEPT_THEN_DISCONNECT = process.env.SIO_ACCEPT_THEN_DISCONNECT === "1";

c.counters.acks = 0;
c.counters.disconnect_reasons = {};

// Connected presence sockets, by socket id.
const live = new Map();

function isControl(req) {
  const addr = req.socket.remoteAddress || "";
  return (addr === "::1" || /^(::ffff:)?127\./.test(addr)) && req.headers["x-test-control"] === "kith";
}

function emitToFriendsOf(userId, event, payload, withAck) {
  const friendIds = new Set(c.friendIdsOf(userId));
  for (const socket of live.values()) {
    if (!friendIds.has(socket.data.user.id)) continue;
    if (withAck) socket.emit(event, payload, () => c.counters.acks++);
    else socket.emit(event, payload);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function handleSioControl(req, res) {
  if (!isControl(req) || req.method !== "POST") {
    req.resume();
    return c.sendJson(res, 403, { error: "forbidden" });
  }
  const body = await c.readJson(req, res);
  if (!body) return;
  const user = c.userByName(body.username || "alice");
  switch (body.action) {
    case "binary_status":
    case "ack_status": {
      if (!user || typeof body.status !== "string" || body.status === "") {
        return c.sendJson(res, 400, { error: "username and status wanted" });
      }
      c.setStatus(user.id, body.status);
      const update = c.statusUpdate(user.id);
      if (body.action === "binary_status") update.avatar = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);
      emitToFriendsOf(user.id, "status_update", update, body.action === "ack_status");
      break;
    }
    case "binary_other":
      for (const socket of live.values()) socket.emit("file", { name: "a.bin", data: Buffer.from([1, 2, 3]) });
      break;
    case "chat": {
      const count = Number.isInteger(body.count) && body.count > 0 ? body.count : 100;
      const perSecond = Number.isInteger(body.per_second) && body.per_second > 0 ? body.per_second : 100;
      for (let i = 0; i < count; i++) {
        for (const socket of live.values()) socket.emit("chat", { from: "alice", text: `message ${i}` });
        await sleep(1000 / perSecond);
      }
      break;
    }
    case "disconnect":
      for (const socket of live.values()) socket.disconnect();
      break;
    default:
      return c.sendJson(res, 400, { error: "unknown action" });
  }
  await new Promise((resolve) => setImmediate(resolve));
  return c.sendJson(res, 200, { ok: true });
}

async function onRequest(req, res) {
  // Socket.IO (engine.io) answers /socket.io/ itself before this handler runs.
  const url = new URL(req.url, "http://peer.invalid");
  if (url.pathname === "/__test__/sio") return handleSioControl(req, res);
  if (url.pathname.startsWith("/__test__/")) return c.handleTestControl(req, res, pushToRooms);
  if (await c.handleSimpleJwtAuth(req, res, url.pathname)) return;
  req.resume();
  c.sendJson(res, 404, { detail: "Not found." });
}

c.loadState();
const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    c.log("request failed:", err && err.stack ? err.stack : String(err));
    c.sendJson(res, 500, { detail: "internal error" });
  });
});

const io = new Server(server, {
  transports: ["polling", "websocket"],
  pingInterval: msEnv("PING_INTERVAL_MS", 25000),
  pingTimeout: msEnv("PING_TIMEOUT_MS", 20000),
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
});

const room = (userId) => `user_${userId}`;

const nsp = io.of(NAMESPACE);

function pushToRooms(userIds, payload) {
  if (userIds.length) nsp.to(userIds.map(room)).emit("status_update", payload);
  // emit() queues the packets on each engine.io socket synchronously; give the
  // transports one turn of the event loop to write them out.
  return new Promise((resolve) => setImmediate(resolve));
}

nsp.use((socket, next) => {
  const auth = socket.handshake.auth;
  const token = auth && typeof auth === "object" ? auth.token : undefined;
  const v = c.verifyAccess(token);
  if (!v.ok) {
    c.counters.rejected_connects++;
    const message = v.reason === "expired" ? "token expired" : "invalid token";
    c.log(`socket.io connect rejected: ${message}`);
    return next(new Error(message));
  }
  socket.data.user = v.user;
  socket.data.exp = v.claims.exp;
  next();
});

nsp.on("connection", (socket) => {
  const user = socket.data.user;
  c.counters.connects++;
  c.log(`socket.io connected: ${user.username} (${socket.id}) on ${NAMESPACE}`);
  if (ACCEPT_THEN_DISCONNECT) {
    socket.disconnect();
    return;
  }
  live.set(socket.id, socket);
  socket.join(room(user.id));
  if (SEND_SNAPSHOT) socket.emit("presence_snapshot", c.presenceSnapshot(user.id));
  const expiry = EXPIRY_DISCONNECT
    ? c.timerAt(socket.data.exp * 1000, () => {
        c.log(`socket.io token expired: ${user.username} (${socket.id})`);
        socket.disconnect(true);
      })
    : { cancel() {} };
  socket.on("disconnect", (reason) => {
    expiry.cancel();
    live.delete(socket.id);
    c.counters.disconnect_reasons[reason] = (c.counters.disconnect_reasons[reason] || 0) + 1;
    c.log(`socket.io disconnected: ${user.username} (${socket.id}): ${reason}`);
  });
  socket.on("error", (err) => c.log("socket.io socket error:", err && err.message));
});

io.engine.on("connection_error", (err) => c.log("engine.io connection error:", err.code, err.message));

c.listen(server, "socketio");
