// Next-Auth test peer for Kith (seed 003): a built Next.js 15 app (pages
// router, next-auth 4 with CredentialsProvider and JWT sessions) and a
// Socket.IO 4 server in one Node process and on one port, through this custom
// server (next({dev:false}) + getRequestHandler() + one http.createServer +
// new Server(httpServer)). Build first with `npm run build`, then run
// `node server.js`. Environment: PORT (0/unset = ephemeral), ACCESS_TTL_SECONDS,
// SESSION_MAX_AGE_SECONDS, DATA_DIR, PING_INTERVAL_MS, PING_TIMEOUT_MS.
// Prints `READY <port>` on stdout once it listens and Next is prepared.
//
// The Socket.IO protocol is the one of ../node/socketio.js (default scenario):
// io.use() checks handshake.auth.token (HS256 backend token from
// session.token), connect_error "invalid token"/"token expired" otherwise;
// presence_snapshot on connect; status_update to friends' rooms user_<id>;
// the socket is disconnected by the server at its token's exp.
//
// Test control API (loopback + header `X-Test-Control: kith`):
//   POST /__test__/status {"username","status"}  set a status, push to friends
//   GET  /__test__/counters                      counters (see lib/peer.js)
//   POST /__test__/expire-sessions               every existing session -> {}
"use strict";

process.env.NODE_ENV = "production";
process.env.NEXT_TELEMETRY_DISABLED = "1";

const http = require("http");
const next = require("next");
const { Server } = require("socket.io");
const peer = require("./lib/peer");

process.on("uncaughtException", (err) => peer.log("uncaught exception:", err && err.stack ? err.stack : String(err)));
process.on("unhandledRejection", (err) => peer.log("unhandled rejection:", err && err.stack ? err.stack : String(err)));

function msEnv(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    peer.log(`ignoring ${name}=${JSON.stringify(raw)}: want a positive integer; using ${def}`);
    return def;
  }
  return n;
}

// ---------------------------------------------------------------------------
// HTTP helpers and the test control API
// ---------------------------------------------------------------------------

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req, res) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk) => {
      if (failed) return;
      size += chunk.length;
      if (size > 64 * 1024) {
        failed = true;
        sendJson(res, 413, { error: "request body too large" });
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", () => {
      if (!failed) {
        failed = true;
        sendJson(res, 400, { error: "could not read request body" });
        resolve(null);
      }
    });
    req.on("end", () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "") return resolve({});
      let value;
      try {
        value = JSON.parse(text);
      } catch (err) {
        sendJson(res, 400, { error: `invalid JSON body: ${err.message}` });
        return resolve(null);
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        sendJson(res, 400, { error: "JSON body must be an object" });
        return resolve(null);
      }
      resolve(value);
    });
  });
}

function isControl(req) {
  const addr = req.socket.remoteAddress || "";
  return (addr === "::1" || /^(::ffff:)?127\./.test(addr)) && req.headers["x-test-control"] === "kith";
}

function methodNotAllowed(req, res, allow) {
  req.resume();
  sendJson(res, 405, { error: "method not allowed" }, { Allow: allow });
}

async function handleTestControl(req, res, pathname) {
  if (!isControl(req)) {
    req.resume();
    return sendJson(res, 403, { error: "forbidden" });
  }
  if (pathname === "/__test__/counters") {
    if (req.method !== "GET") return methodNotAllowed(req, res, "GET");
    req.resume();
    const c = peer.counters;
    // `logins` and `refreshes` repeat sign_ins and session_mints under the Node peers' names.
    return sendJson(res, 200, {
      ...c,
      disconnect_reasons: { ...c.disconnect_reasons },
      logins: c.sign_ins,
      refreshes: c.session_mints,
    });
  }
  if (pathname === "/__test__/status") {
    if (req.method !== "POST") return methodNotAllowed(req, res, "POST");
    const body = await readJson(req, res);
    if (!body) return;
    const user = peer.userByName(body.username);
    if (!user) return sendJson(res, 404, { error: "unknown user" });
    if (typeof body.status !== "string" || body.status === "") {
      return sendJson(res, 400, { error: "status must be a non-empty string" });
    }
    peer.setStatus(user.id, body.status);
    await pushToRooms(peer.friendIdsOf(user.id), peer.statusUpdate(user.id));
    return sendJson(res, 200, { ok: true });
  }
  if (pathname === "/__test__/expire-sessions") {
    if (req.method !== "POST") return methodNotAllowed(req, res, "POST");
    req.resume();
    const epoch = peer.expireAllSessions();
    peer.log(`all sessions expired: epoch is now ${epoch}`);
    return sendJson(res, 200, { ok: true, epoch });
  }
  req.resume();
  sendJson(res, 404, { error: "not found" });
}

// ---------------------------------------------------------------------------
// HTTP server: /__test__/* here, /socket.io/ by Socket.IO, the rest by Next
// ---------------------------------------------------------------------------

let nextHandle = null;
let resolveNextReady;
const nextReady = new Promise((resolve) => (resolveNextReady = resolve));

async function onRequest(req, res) {
  // Socket.IO (engine.io) answers /socket.io/ itself before this handler runs.
  const url = new URL(req.url, "http://peer.invalid");
  if (url.pathname.startsWith("/__test__/")) return handleTestControl(req, res, url.pathname);
  if (url.pathname === "/api/auth/session") peer.counters.session_reads++;
  if (!nextHandle) await nextReady;
  return nextHandle(req, res);
}

const httpServer = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    peer.log("request failed:", err && err.stack ? err.stack : String(err));
    sendJson(res, 500, { error: "internal error" });
  });
});

httpServer.on("clientError", (err, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  else socket.destroy();
});

// ---------------------------------------------------------------------------
// Socket.IO: same protocol as ../node/socketio.js (default scenario)
// ---------------------------------------------------------------------------

const io = new Server(httpServer, {
  transports: ["polling", "websocket"],
  pingInterval: msEnv("PING_INTERVAL_MS", 25000),
  pingTimeout: msEnv("PING_TIMEOUT_MS", 20000),
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
});

const room = (userId) => `user_${userId}`;
const nsp = io.of("/");

function pushToRooms(userIds, payload) {
  if (userIds.length) nsp.to(userIds.map(room)).emit("status_update", payload);
  // emit() queues the packets on each engine.io socket synchronously; give the
  // transports one turn of the event loop to write them out.
  return new Promise((resolve) => setImmediate(resolve));
}

nsp.use((socket, next) => {
  const auth = socket.handshake.auth;
  const token = auth && typeof auth === "object" ? auth.token : undefined;
  const v = peer.verifyAccess(token);
  if (!v.ok) {
    peer.counters.rejected_connects++;
    const message = v.reason === "expired" ? "token expired" : "invalid token";
    peer.log(`socket.io connect rejected: ${message}`);
    return next(new Error(message));
  }
  socket.data.user = v.user;
  socket.data.exp = v.claims.exp;
  next();
});

nsp.on("connection", (socket) => {
  const user = socket.data.user;
  peer.counters.connects++;
  peer.log(`socket.io connected: ${user.username} (${socket.id})`);
  socket.join(room(user.id));
  socket.emit("presence_snapshot", peer.presenceSnapshot(user.id));
  const expiry = peer.timerAt(socket.data.exp * 1000, () => {
    peer.log(`socket.io token expired: ${user.username} (${socket.id})`);
    socket.disconnect(true);
  });
  socket.on("disconnect", (reason) => {
    expiry.cancel();
    const reasons = peer.counters.disconnect_reasons;
    reasons[reason] = (reasons[reason] || 0) + 1;
    peer.log(`socket.io disconnected: ${user.username} (${socket.id}): ${reason}`);
  });
  socket.on("error", (err) => peer.log("socket.io socket error:", err && err.message));
});

io.engine.on("connection_error", (err) => peer.log("engine.io connection error:", err.code, err.message));

// ---------------------------------------------------------------------------
// Startup: listen first (the port may be ephemeral), then point NEXTAUTH_URL at
// it, prepare Next, and only then report READY. next-auth 4 reads
// process.env.NEXTAUTH_URL on every request (utils/detect-origin.js), so
// setting it here, before Next serves anything, is enough.
// ---------------------------------------------------------------------------

peer.loadState();

httpServer.listen(peer.config.port, "127.0.0.1", () => {
  const port = httpServer.address().port;
  process.env.NEXTAUTH_URL = `http://127.0.0.1:${port}`;
  const app = next({ dev: false, dir: __dirname, hostname: "127.0.0.1", port });
  app
    .prepare()
    .then(() => {
      nextHandle = app.getRequestHandler();
      resolveNextReady();
      const c = peer.config;
      peer.log(
        `nextauth peer listening on 127.0.0.1:${port} (NEXTAUTH_URL=${process.env.NEXTAUTH_URL}, ` +
          `ACCESS_TTL_SECONDS=${c.accessTtlSeconds}, SESSION_MAX_AGE_SECONDS=${c.sessionMaxAgeSeconds}, ` +
          `refresh margin ${c.refreshMarginSeconds}s)`,
      );
      process.stdout.write(`READY ${port}\n`);
    })
    .catch((err) => {
      peer.log("next prepare failed (did you run `npm run build`?):", err && err.stack ? err.stack : String(err));
      process.exit(1);
    });
});

for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
