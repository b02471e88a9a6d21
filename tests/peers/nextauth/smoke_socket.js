// Socket.IO part of smoke.sh (socket.io-client is a devDependency for this only).
// Usage: node smoke_socket.js <base-url> <mode> <token>
//   snapshot-status  connect (polling, then upgrade) with auth {token}, expect a
//                    presence_snapshot of me's friends, POST /__test__/status
//                    alice=<random>, expect that status_update, then expect the
//                    server to disconnect the socket at the token's exp
//                    (reason "io server disconnect").
//   websocket        connect with transports ["websocket"], expect the snapshot.
//   reject:<message> expect connect_error with that message.
// Prints one JSON line describing what it saw; exits 1 on any failure.
"use strict";

const { io } = require("socket.io-client");

const [base, mode, token] = process.argv.slice(2);

function fail(msg) {
  process.stderr.write(`smoke_socket (${mode}): ${msg}\n`);
  process.exit(1);
}

const deadline = setTimeout(() => fail("timed out"), 15000);

function done(report) {
  clearTimeout(deadline);
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(0);
}

function checkSnapshot(snap) {
  if (!snap || snap.type !== "presence_snapshot" || !Array.isArray(snap.friends)) fail(`bad snapshot ${JSON.stringify(snap)}`);
  const names = snap.friends.map((f) => f.username).join(",");
  if (names !== "alice,bob,carol") fail(`snapshot friends ${names}, want alice,bob,carol`);
  for (const f of snap.friends) {
    if (typeof f.user_id !== "number" || typeof f.status !== "string" || typeof f.last_seen !== "string") {
      fail(`bad snapshot entry ${JSON.stringify(f)}`);
    }
  }
}

const opts = { auth: { token }, reconnection: false, forceNew: true };
if (mode === "websocket") opts.transports = ["websocket"];
const socket = io(base, opts);

if (mode.startsWith("reject:")) {
  const want = mode.slice("reject:".length);
  socket.on("connect", () => fail("connected, want connect_error"));
  socket.on("connect_error", (err) => {
    if (err.message !== want) fail(`connect_error ${JSON.stringify(err.message)}, want ${JSON.stringify(want)}`);
    socket.close();
    done({ connect_error: err.message });
  });
} else if (mode === "websocket") {
  socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
  socket.on("presence_snapshot", (snap) => {
    checkSnapshot(snap);
    const transport = socket.io.engine.transport.name;
    socket.close();
    done({ transport, snapshot: snap });
  });
} else if (mode === "snapshot-status") {
  const status = `busy-${Math.random().toString(36).slice(2, 8)}`;
  let snapshot = null;
  let update = null;
  socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
  socket.on("presence_snapshot", async (snap) => {
    checkSnapshot(snap);
    snapshot = snap;
    const res = await fetch(`${base}/__test__/status`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Test-Control": "kith" },
      body: JSON.stringify({ username: "alice", status }),
    });
    if (res.status !== 200) fail(`/__test__/status answered ${res.status}`);
  });
  socket.on("status_update", (u) => {
    if (!snapshot) fail("status_update before presence_snapshot");
    if (u.type !== "status_update" || u.user_id !== 2 || u.username !== "alice" || u.status !== status) {
      fail(`unexpected status_update ${JSON.stringify(u)}`);
    }
    update = u;
  });
  socket.on("disconnect", (reason) => {
    if (!update) fail(`disconnected (${reason}) before the status_update`);
    if (reason !== "io server disconnect") fail(`disconnect reason ${reason}, want io server disconnect`);
    done({ snapshot, status_update: update, disconnect: reason, at: Math.floor(Date.now() / 1000) });
  });
} else {
  fail("unknown mode");
}
