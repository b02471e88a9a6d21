// Test peer in the style of seed 003: a real Socket.IO v4 server (npm
// `socket.io`) authenticating the connection from handshake.auth.token in an
// io.use() middleware, with the SimpleJWT-shaped HTTP auth API on the same
// Node http server. Friends' updates go to rooms user_<id>; at the token's exp
// the socket is disconnected (no in-band re-auth in Socket.IO). Kith's
// integration tests run it as `node socketio.js` with PORT /
// ACCESS_TTL_SECONDS / DATA_DIR / PING_INTERVAL_MS / PING_TIMEOUT_MS.
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

async function onRequest(req, res) {
  // Socket.IO (engine.io) answers /socket.io/ itself before this handler runs.
  const url = new URL(req.url, "http://peer.invalid");
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

function pushToRooms(userIds, payload) {
  if (userIds.length) io.to(userIds.map(room)).emit("status_update", payload);
  // emit() queues the packets on each engine.io socket synchronously; give the
  // transports one turn of the event loop to write them out.
  return new Promise((resolve) => setImmediate(resolve));
}

io.use((socket, next) => {
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

io.on("connection", (socket) => {
  const user = socket.data.user;
  c.counters.connects++;
  c.log(`socket.io connected: ${user.username} (${socket.id})`);
  socket.join(room(user.id));
  socket.emit("presence_snapshot", c.presenceSnapshot(user.id));
  const expiry = c.timerAt(socket.data.exp * 1000, () => {
    c.log(`socket.io token expired: ${user.username} (${socket.id})`);
    socket.disconnect(true);
  });
  socket.on("disconnect", () => expiry.cancel());
  socket.on("error", (err) => c.log("socket.io socket error:", err && err.message));
});

io.engine.on("connection_error", (err) => c.log("engine.io connection error:", err.code, err.message));

c.listen(server, "socketio");
