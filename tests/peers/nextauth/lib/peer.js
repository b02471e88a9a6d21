// Shared state of the Next-Auth test peer: configuration, the seeded users and
// friendships, statuses, counters, backend (HS256) token minting/verification
// and the session-revocation state (revoked session ids, the session epoch).
//
// This is a small RE-IMPLEMENTATION of the parts of ../node/common.js this peer
// needs (users, friendships, password "pw", statuses, presence payloads, token
// claims, timerAt), not a require() of it: the Next-Auth route is bundled by
// webpack at `next build`, and depending on ../node/node_modules being installed
// would couple the two peers. Keep the seed data in step with ../node/common.js.
//
// The module is loaded twice in one process: once by server.js (plain Node) and
// once as part of the webpack bundle of pages/api/auth/[...nextauth].js. Both
// copies must see the same state, so the whole thing is a singleton kept on
// globalThis; whichever copy loads first creates it (server.js, at startup).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const jwt = require("jsonwebtoken");

const KEY = Symbol.for("kith.test-peer.nextauth");

function create() {
  // -------------------------------------------------------------------------
  // Configuration (environment only)
  // -------------------------------------------------------------------------

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

  const accessTtlSeconds = intEnv("ACCESS_TTL_SECONDS", 60, 1);
  const config = {
    // PORT unset or 0: an ephemeral port, reported on the READY line.
    port: intEnv("PORT", 0, 0),
    // Lifetime of the backend (Socket.IO) token in session.token / session.accessToken.
    accessTtlSeconds,
    // Next-Auth session maxAge: lifetime of the session cookie and of the JWE in it,
    // renewed (sliding) on every /api/auth/session read.
    sessionMaxAgeSeconds: intEnv("SESSION_MAX_AGE_SECONDS", 3600, 1),
    // A session read mints a new backend token when the current one has at most
    // this many seconds left (or is already expired): min(10, floor(TTL / 4)).
    refreshMarginSeconds: Math.min(10, Math.floor(accessTtlSeconds / 4)),
    dataDir: process.env.DATA_DIR || "",
  };

  // THIS IS A TEST PEER. Both secrets are fixed and public on purpose (tests may
  // mint or inspect tokens, and sessions survive a restart). Never reuse them.
  // BACKEND_JWT_SECRET signs the HS256 backend tokens; it is the same test secret
  // as the Node peers' (../node/common.js).
  const BACKEND_JWT_SECRET = "kith-test-peer-secret--not-for-production";
  // NEXTAUTH_SECRET (test secret) keys Next-Auth's encrypted session cookie (JWE)
  // and its CSRF token hash.
  const NEXTAUTH_SECRET = "kith-test-peer-nextauth-secret--public-test-secret--not-for-production";

  // -------------------------------------------------------------------------
  // Users, friendships, statuses (same seed as ../node/common.js)
  // -------------------------------------------------------------------------

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
  function checkPassword(username, password) {
    const u = userByName(username);
    return u && password === PASSWORD ? u : null;
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
    const s = statuses.get(u.id);
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

  // -------------------------------------------------------------------------
  // Counters (GET /__test__/counters)
  // -------------------------------------------------------------------------

  const counters = {
    sign_ins: 0, // successful POST /api/auth/callback/credentials
    failed_sign_ins: 0, // authorize() refused the credentials
    session_reads: 0, // every request to /api/auth/session (GET or POST), cookie or not
    session_mints: 0, // session reads that minted a new backend token
    session_rejected: 0, // session reads refused because signed out or expired by epoch
    sign_outs: 0, // events.signOut (POST /api/auth/signout with a session cookie)
    connects: 0, // Socket.IO connections accepted
    rejected_connects: 0, // Socket.IO handshakes refused by the auth middleware
    disconnect_reasons: {}, // Socket.IO disconnect reason -> count
  };

  // -------------------------------------------------------------------------
  // Backend tokens (HS256), claims a superset of the Node peers' access tokens
  // -------------------------------------------------------------------------

  // Returns { token, exp } for `user` ({id, username}).
  function mintAccess(user) {
    const nowMs = Date.now();
    const iat = Math.floor(nowMs / 1000);
    // exp is rounded up so a token is always valid for at least the TTL.
    const exp = Math.ceil(nowMs / 1000) + config.accessTtlSeconds;
    const claims = {
      sub: String(user.id),
      user_id: user.id,
      username: user.username,
      iat,
      exp,
      jti: crypto.randomUUID(),
      type: "access",
      token_type: "access",
    };
    return { token: jwt.sign(claims, BACKEND_JWT_SECRET, { algorithm: "HS256" }), exp };
  }

  // { ok: true, claims, user } or { ok: false, reason: "missing"|"expired"|"malformed"|"invalid" }.
  function verifyAccess(token) {
    if (typeof token !== "string" || token === "") return { ok: false, reason: "missing" };
    let claims;
    try {
      claims = jwt.verify(token, BACKEND_JWT_SECRET, { algorithms: ["HS256"] });
    } catch (err) {
      if (err && err.name === "TokenExpiredError") return { ok: false, reason: "expired" };
      if (err && /malformed|jwt must be/i.test(err.message || "")) return { ok: false, reason: "malformed" };
      return { ok: false, reason: "invalid" };
    }
    if (!claims || typeof claims !== "object" || claims.type !== "access") return { ok: false, reason: "invalid" };
    const user = userById(claims.sub);
    if (!user || user.username !== claims.username || typeof claims.exp !== "number") {
      return { ok: false, reason: "invalid" };
    }
    return { ok: true, claims, user };
  }

  // -------------------------------------------------------------------------
  // Session revocation: revoked session ids (sign-out) and the session epoch
  // (POST /__test__/expire-sessions). Persisted to $DATA_DIR/nextauth-state.json
  // when DATA_DIR is set, in memory only otherwise.
  // -------------------------------------------------------------------------

  const sessions = {
    epoch: 0,
    revoked: new Map(), // sid -> when the entry may be dropped (epoch seconds)
  };

  function statePath() {
    return config.dataDir ? path.join(config.dataDir, "nextauth-state.json") : "";
  }

  function loadState() {
    const file = statePath();
    if (!file) {
      log("DATA_DIR not set: session revocation state is kept in memory only");
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
    if (data && Number.isInteger(data.epoch) && data.epoch >= 0) sessions.epoch = data.epoch;
    const now = Math.floor(Date.now() / 1000);
    for (const [sid, exp] of Object.entries((data && data.revoked) || {})) {
      if (typeof exp === "number" && exp > now) sessions.revoked.set(sid, exp);
    }
    log(`loaded ${file}: epoch ${sessions.epoch}, ${sessions.revoked.size} revoked sessions`);
  }

  function saveState() {
    const file = statePath();
    if (!file) return;
    const now = Math.floor(Date.now() / 1000);
    for (const [sid, exp] of sessions.revoked) if (exp <= now) sessions.revoked.delete(sid);
    const data = { version: 1, epoch: sessions.epoch, revoked: Object.fromEntries(sessions.revoked) };
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(data, null, 1));
    fs.renameSync(tmp, file);
  }

  // Every cookie of a session expires at most SESSION_MAX_AGE_SECONDS after it
  // was issued (before now), plus next-auth's 15 s decode tolerance: after that
  // the revocation entry is no longer needed.
  function revokeSession(sid) {
    if (typeof sid !== "string" || sid === "") return;
    sessions.revoked.set(sid, Math.floor(Date.now() / 1000) + config.sessionMaxAgeSeconds + 15);
    saveState();
  }

  function isRevoked(sid) {
    return sessions.revoked.has(sid);
  }

  function expireAllSessions() {
    sessions.epoch++;
    saveState();
    return sessions.epoch;
  }

  // -------------------------------------------------------------------------
  // Timers
  // -------------------------------------------------------------------------

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

  return {
    config,
    log,
    NEXTAUTH_SECRET,
    USERS,
    userById,
    userByName,
    friendIdsOf,
    checkPassword,
    setStatus,
    statusUpdate,
    presenceSnapshot,
    counters,
    mintAccess,
    verifyAccess,
    sessions,
    loadState,
    revokeSession,
    isRevoked,
    expireAllSessions,
    timerAt,
  };
}

if (!globalThis[KEY]) globalThis[KEY] = create();
module.exports = globalThis[KEY];
