#!/usr/bin/env node
// End-to-end check of the OIDC test peer, playing Kith's part of RFC 8252:
// starts server.js (ACCESS_TTL_SECONDS=4, ephemeral port), runs browser.js
// against authorization URLs it builds (PKCE S256, state, nonce, a loopback
// listener at http://127.0.0.1:<ephemeral>/callback), exchanges codes, checks
// the ID token, the presence WebSocket, refresh rotation and reuse, revocation,
// /__test__/revoke-user and a wrong password. Exits non-zero on any failure.
//
//   node smoke.js        (from this folder, after npm ci)

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import WebSocket from "ws";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = "kith-desktop";
const RESOURCE = "urn:kith:presence";
const SCOPE = "openid profile offline_access";
const ACCESS_TTL = 4;
const CONTROL = { "X-Test-Control": "kith" };

let passed = 0;
let failed = 0;
const children = new Set();

function check(cond, what, extra) {
  if (cond) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}${extra === undefined ? "" : `: ${typeof extra === "string" ? extra : JSON.stringify(extra)}`}`);
  }
  return cond;
}

function must(cond, what, extra) {
  if (!check(cond, what, extra)) throw new Error(`required check failed: ${what}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64url = (buf) => Buffer.from(buf).toString("base64url");

// --- the peer --------------------------------------------------------------

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, "server.js")], {
      env: { ...process.env, PORT: "0", ACCESS_TTL_SECONDS: String(ACCESS_TTL), DATA_DIR: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    child.on("exit", () => children.delete(child));
    let out = "";
    let errText = "";
    const timer = setTimeout(() => reject(new Error(`server did not print READY in 15s; stderr:\n${errText}`)), 15000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /^READY (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr.on("data", (d) => {
      errText += d;
      if (process.env.SMOKE_VERBOSE) process.stderr.write(`[server] ${d}`);
    });
    child.on("exit", (code) => reject(new Error(`server exited early (${code}); stderr:\n${errText}`)));
  });
}

// --- the client side (Kith's part) -----------------------------------------

// One-shot loopback listener; resolves with the callback's query.
function startCallbackListener() {
  return new Promise((resolve) => {
    let deliver;
    const received = new Promise((r) => (deliver = r));
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, "http://127.0.0.1");
      if (url.pathname !== "/callback") {
        res.writeHead(404).end("not found");
        return;
      }
      const ok = url.searchParams.has("code");
      res.writeHead(ok ? 200 : 400, { "Content-Type": "text/plain" });
      res.end(ok ? "Signed in. You can close this window.\n" : `Sign-in failed: ${url.searchParams.get("error")}\n`);
      deliver(url.searchParams);
    });
    server.listen(0, "127.0.0.1", () => {
      const port = server.address().port;
      resolve({ port, redirectUri: `http://127.0.0.1:${port}/callback`, received, close: () => server.close() });
    });
  });
}

function runBrowser(authUrl, args = [], env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, "browser.js"), authUrl, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill(), 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (process.env.SMOKE_VERBOSE) process.stderr.write(stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

async function form(url, params) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

async function control(base, method, p, body) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { ...CONTROL, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

// A full sign-in as Kith would do it. Returns the token response and friends.
async function signIn(disco, opts = {}) {
  const cb = await startCallbackListener();
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash("sha256").update(verifier).digest());
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const auth = new URL(disco.authorization_endpoint);
  auth.search = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: cb.redirectUri,
    scope: opts.scope || SCOPE,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...(opts.extra || {}),
  }).toString();
  const browser = await runBrowser(auth.href, opts.browserArgs || [], opts.browserEnv || {});
  const got = await Promise.race([cb.received, sleep(opts.expectNoCallback ? 1500 : 20000).then(() => null)]);
  cb.close();
  return { browser, callback: got, state, nonce, verifier, redirectUri: cb.redirectUri };
}

async function exchange(disco, s) {
  return form(disco.token_endpoint, {
    grant_type: "authorization_code",
    client_id: CLIENT_ID,
    code: s.callback.get("code"),
    redirect_uri: s.redirectUri,
    code_verifier: s.verifier,
  });
}

function refresh(disco, refreshToken) {
  return form(disco.token_endpoint, { grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: refreshToken });
}

function openSocket(base, token, how = "bearer") {
  const wsUrl = `${base.replace(/^http/, "ws")}/ws/friends/status/${how === "query" ? `?token=${encodeURIComponent(token)}` : ""}`;
  const headers = how === "bearer" && token ? { Authorization: `Bearer ${token}` } : {};
  const ws = new WebSocket(wsUrl, { headers });
  const frames = [];
  const waiters = [];
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    frames.push(msg);
    for (const w of [...waiters]) if (w.pred(msg)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(msg);
    }
  });
  const opened = new Promise((resolve) => {
    ws.once("open", () => resolve({ ok: true }));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ ok: false, status: res.statusCode, body }));
    });
    ws.once("error", (err) => resolve({ ok: false, error: err.message }));
  });
  const closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  const next = (pred, ms = 5000) =>
    new Promise((resolve) => {
      const hit = frames.find(pred);
      if (hit) return resolve(hit);
      const w = { pred, resolve };
      waiters.push(w);
      setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) {
          waiters.splice(i, 1);
          resolve(null);
        }
      }, ms);
    });
  return { ws, opened, closed, next, frames };
}

// --- the run -----------------------------------------------------------------

async function main() {
  const { port } = await startServer();
  const base = `http://127.0.0.1:${port}`;
  console.log(`peer at ${base}`);

  // Discovery
  const disco = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
  check(disco.issuer === base, "discovery issuer is http://127.0.0.1:<port>", disco.issuer);
  for (const k of ["authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"]) {
    check(typeof disco[k] === "string" && disco[k].startsWith(base), `discovery lists ${k}`, disco[k]);
  }
  check((disco.code_challenge_methods_supported || []).includes("S256"), "discovery: PKCE S256");
  const jwks = createRemoteJWKSet(new URL(disco.jwks_uri));

  // 1. Sign in through the scripted browser (prompt=consent: offline_access is kept).
  const s1 = await signIn(disco, { extra: { prompt: "consent" } });
  check(s1.browser.code === 0, "browser.js exits 0 after the callback answered 2xx", s1.browser);
  check(/^STATUS 200\n/.test(s1.browser.stdout), "browser.js prints the callback status", s1.browser.stdout);
  must(s1.callback && s1.callback.get("code"), "callback got a code", s1.browser.stderr);
  check(s1.callback.get("state") === s1.state, "callback echoes state");
  check(s1.callback.get("iss") === base, "callback carries iss (RFC 9207)", s1.callback.get("iss"));

  // 2. Code exchange
  const t1 = await exchange(disco, s1);
  must(t1.status === 200, "code exchange answers 200", t1);
  console.log(`     token response keys: ${Object.keys(t1.json).sort().join(", ")}; token_type=${t1.json.token_type} expires_in=${t1.json.expires_in} scope=${JSON.stringify(t1.json.scope)}`);
  check(t1.json.token_type === "Bearer", "token_type Bearer");
  check(t1.json.scope === "openid profile offline_access", "with prompt=consent the granted scope keeps offline_access", t1.json.scope);
  check(t1.json.expires_in === ACCESS_TTL, "expires_in = ACCESS_TTL_SECONDS", t1.json.expires_in);
  check(typeof t1.json.refresh_token === "string" && t1.json.refresh_token.length > 0, "refresh_token issued");
  check(typeof t1.json.id_token === "string", "id_token issued");

  // ID token
  const { payload: idt } = await jwtVerify(t1.json.id_token, jwks, { issuer: base, audience: CLIENT_ID });
  check(idt.nonce === s1.nonce, "ID token echoes the nonce", idt);
  check(idt.sub === "1", "ID token sub is the user id of `me`", idt.sub);
  check(idt.preferred_username === "me", "ID token carries preferred_username", idt);
  console.log(`     id_token claims: ${JSON.stringify(idt)}`);

  // Access token
  const { payload: at, protectedHeader: ath } = await jwtVerify(t1.json.access_token, jwks, {
    issuer: base,
    audience: RESOURCE,
    typ: "at+jwt",
  });
  check(at.sub === "1" && at.client_id === CLIENT_ID, "access token: sub and client_id", at);
  check(at.exp - at.iat === ACCESS_TTL, "access token lifetime", at);
  console.log(`     access_token header: ${JSON.stringify(ath)} claims: ${JSON.stringify(at)}`);

  // 3. Presence WebSocket
  const sock = openSocket(base, t1.json.access_token);
  const o = await sock.opened;
  must(o.ok, "presence socket opens with the access token", o);
  const snap = await sock.next((m) => m.type === "presence_snapshot");
  check(
    snap && snap.friends.map((f) => f.username).join(",") === "alice,bob,carol",
    "presence snapshot lists alice, bob, carol",
    snap,
  );
  const st = await control(base, "POST", "/__test__/status", { username: "alice", status: "online" });
  check(st.status === 200, "/__test__/status answers 200", st);
  const upd = await sock.next((m) => m.type === "status_update" && m.username === "alice");
  check(upd && upd.status === "online" && upd.user_id === 2, "status_update for alice arrives", upd);
  const byQuery = openSocket(base, t1.json.access_token, "query");
  check((await byQuery.opened).ok, "presence socket also opens with ?token=");
  byQuery.ws.close();
  const bad = await openSocket(base, `${t1.json.access_token.slice(0, -4)}AAAA`).opened;
  check(!bad.ok && bad.status === 401, "a forged token is answered 401", bad);
  const none = await openSocket(base, "").opened;
  check(!none.ok && none.status === 401 && none.body === "Missing authentication token", "no token: 401", none);

  // 4. Refresh twice: rotation
  const r1 = await refresh(disco, t1.json.refresh_token);
  must(r1.status === 200, "first refresh answers 200", r1);
  check(r1.json.refresh_token && r1.json.refresh_token !== t1.json.refresh_token, "first refresh rotates the refresh token");
  check(r1.json.access_token !== t1.json.access_token, "first refresh gives a new access token");
  console.log(`     refresh response keys: ${Object.keys(r1.json).sort().join(", ")}`);
  const { payload: at2 } = await jwtVerify(r1.json.access_token, jwks, { issuer: base, audience: RESOURCE });
  check(at2.sub === "1", "refreshed access token is for the presence resource", at2);
  const r2 = await refresh(disco, r1.json.refresh_token);
  must(r2.status === 200, "second refresh answers 200", r2);
  check(r2.json.refresh_token && r2.json.refresh_token !== r1.json.refresh_token, "second refresh rotates again");
  const sock2 = openSocket(base, r2.json.access_token);
  check((await sock2.opened).ok, "refreshed access token opens the presence socket");

  // The first socket is closed 1008 when its token's exp passes.
  const closeWait = Math.max(0, at.exp * 1000 - Date.now()) + 3000;
  const c1 = await Promise.race([sock.closed, sleep(closeWait).then(() => null)]);
  check(c1 && c1.code === 1008, "socket closed 1008 when the access token expired", c1);
  const expired = await openSocket(base, t1.json.access_token).opened;
  check(!expired.ok && expired.status === 401 && /expired/.test(expired.body), "an expired token is answered 401", expired);
  sock2.ws.close();

  // Reuse of a rotated refresh token: invalid_grant, and the whole grant dies.
  const reuse = await refresh(disco, r1.json.refresh_token);
  check(reuse.status === 400 && reuse.json.error === "invalid_grant", "reused (rotated) refresh token: 400 invalid_grant", reuse);
  console.log(`     invalid_grant body: ${reuse.text}`);
  const afterReuse = await refresh(disco, r2.json.refresh_token);
  check(afterReuse.status === 400 && afterReuse.json.error === "invalid_grant", "reuse detection revoked the newest refresh token too", afterReuse);

  // 5. Revocation endpoint (RFC 7009)
  const s2 = await signIn(disco);
  must(s2.browser.code === 0 && s2.callback && s2.callback.get("code"), "second sign-in", s2.browser);
  const t2 = await exchange(disco, s2);
  must(t2.status === 200, "second code exchange", t2);
  check(t2.json.scope === "openid profile" && typeof t2.json.refresh_token === "string", "without prompt=consent: offline_access dropped, refresh token still issued", t2.json.scope);
  let chk = await control(base, "POST", "/__test__/refresh-check", { refresh_token: t2.json.refresh_token });
  check(chk.status === 200 && chk.json.active === true, "refresh-check: fresh refresh token is active", chk);
  const rv = await form(disco.revocation_endpoint, {
    token: t2.json.refresh_token,
    token_type_hint: "refresh_token",
    client_id: CLIENT_ID,
  });
  check(rv.status === 200 && rv.text === "", "revocation answers 200 with an empty body", rv);
  chk = await control(base, "POST", "/__test__/refresh-check", { refresh_token: t2.json.refresh_token });
  check(chk.json.active === false, "refresh-check: revoked refresh token is inactive", chk);
  const afterRevoke = await refresh(disco, t2.json.refresh_token);
  check(afterRevoke.status === 400 && afterRevoke.json.error === "invalid_grant", "refresh with a revoked token: invalid_grant", afterRevoke);
  const rv2 = await form(disco.revocation_endpoint, { token: t2.json.refresh_token, client_id: CLIENT_ID });
  check(rv2.status === 200, "revoking an unknown/revoked token still answers 200", rv2);
  const rvAt = await form(disco.revocation_endpoint, { token: t2.json.access_token, client_id: CLIENT_ID });
  console.log(`     revoking a JWT access token: ${rvAt.status} ${rvAt.text}`);
  chk = await control(base, "POST", "/__test__/refresh-check", { refresh_token: r1.json.refresh_token });
  check(chk.json.active === false, "refresh-check: rotated refresh token is inactive", chk);
  chk = await control(base, "POST", "/__test__/refresh-check", { refresh_token: "garbage" });
  check(chk.json.active === false && chk.json.reason === "not_found", "refresh-check: unknown token", chk);

  // 6. revoke-user
  const s3 = await signIn(disco, { browserEnv: { KITH_TEST_BROWSER_USERNAME: "alice" } });
  must(s3.browser.code === 0 && s3.callback && s3.callback.get("code"), "sign-in as alice (env username)", s3.browser);
  const t3 = await exchange(disco, s3);
  must(t3.status === 200, "alice's code exchange", t3);
  check(decodeJwt(t3.json.access_token).sub === "2", "alice's access token has sub 2");
  const r3 = await refresh(disco, t3.json.refresh_token);
  must(r3.status === 200, "alice's refresh before revoke-user", r3);
  const ru = await control(base, "POST", "/__test__/revoke-user", { username: "alice" });
  check(ru.status === 200 && ru.json.ok === true && ru.json.grants >= 1, "/__test__/revoke-user answers 200", ru);
  console.log(`     revoke-user: ${JSON.stringify(ru.json)}`);
  const afterUser = await refresh(disco, r3.json.refresh_token);
  check(afterUser.status === 400 && afterUser.json.error === "invalid_grant", "refresh after revoke-user: invalid_grant", afterUser);
  chk = await control(base, "POST", "/__test__/refresh-check", { refresh_token: r3.json.refresh_token });
  check(chk.json.active === false, "refresh-check after revoke-user: inactive", chk);

  // 7. Wrong password: browser.js fails and never reaches the callback.
  const s4 = await signIn(disco, { browserArgs: ["--password", "nope"], expectNoCallback: true });
  check(s4.browser.code !== 0, "browser.js with a wrong password exits non-zero", s4.browser.code);
  check(s4.browser.code === 2, "… with exit code 2 (login form re-shown)", s4.browser.code);
  check(s4.callback === null, "… and the callback is never reached");
  check(/Invalid username or password/.test(s4.browser.stdout), "… the re-shown form carries the error", s4.browser.stdout);

  // 8. Deny: the callback gets error=access_denied (the smoke listener answers 400 to it).
  const s5 = await signIn(disco, { browserArgs: ["--deny"] });
  check(s5.callback && s5.callback.get("error") === "access_denied" && s5.callback.get("state") === s5.state, "--deny: callback gets error=access_denied", s5.callback && Object.fromEntries(s5.callback));
  check(s5.browser.code === 1, "--deny: browser.js exits 1 because the callback answered 400", s5.browser.code);

  // 9. A PKCE mismatch and a wrong redirect_uri port.
  const s6 = await signIn(disco);
  must(s6.callback && s6.callback.get("code"), "sign-in for the PKCE check");
  const badPkce = await exchange(disco, { ...s6, verifier: b64url(crypto.randomBytes(32)) });
  check(badPkce.status === 400 && badPkce.json.error === "invalid_grant", "wrong code_verifier: invalid_grant", badPkce);
  const t6 = await exchange(disco, s6);
  check(t6.status === 200, "the right code_verifier still works after a wrong one", t6);
  const replay = await exchange(disco, s6);
  check(replay.status === 400 && replay.json.error === "invalid_grant", "a code is single-use: replay gives invalid_grant", replay);
  const afterReplay = await refresh(disco, t6.json.refresh_token);
  check(afterReplay.status === 400 && afterReplay.json.error === "invalid_grant", "a replayed code revokes the grant (its refresh token dies)", afterReplay);
  const noPkce = new URL(disco.authorization_endpoint);
  noPkce.search = new URLSearchParams({ response_type: "code", client_id: CLIENT_ID, redirect_uri: "http://127.0.0.1:1/callback", scope: SCOPE, state: "x" }).toString();
  const np = await fetch(noPkce, { redirect: "manual" });
  const npLoc = new URL(np.headers.get("location"));
  check(np.status === 303 && npLoc.searchParams.get("error") === "invalid_request", "no code_challenge: redirected back with invalid_request", { status: np.status, location: npLoc.href });
  const badHost = new URL(disco.authorization_endpoint);
  badHost.search = new URLSearchParams({ response_type: "code", client_id: CLIENT_ID, redirect_uri: "http://localhost:5000/callback", scope: SCOPE, code_challenge: "x".repeat(43), code_challenge_method: "S256" }).toString();
  const bh = await fetch(badHost, { redirect: "manual" });
  check(bh.status === 400, "redirect_uri with host localhost is refused (400 page, no redirect)", bh.status);

  // Counters
  const counters = await control(base, "GET", "/__test__/counters");
  console.log(`     counters: ${JSON.stringify(counters.json)}`);
  const c = counters.json;
  // codes: s1 s2 s3 s6 (s4 wrong password, s5 denied)
  check(c.authorization_codes === 4, "counters.authorization_codes", c.authorization_codes);
  check(c.code_exchanges === 4, "counters.code_exchanges", c.code_exchanges);
  check(c.refreshes === 3, "counters.refreshes", c.refreshes);
  // reuse, after reuse, after revoke, after revoke-user, after code replay
  check(c.refresh_invalid_grant === 5, "counters.refresh_invalid_grant", c.refresh_invalid_grant);
  check(c.refresh_reuse === 1, "counters.refresh_reuse", c.refresh_reuse);
  check(c.revocations === 2, "counters.revocations (answered 200)", c.revocations);
  check(c.token_requests.authorization_code === 6 && c.token_requests.refresh_token === 8, "counters.token_requests", c.token_requests);
  check(c.connects === 3 && c.rejected_connects === 3, "counters.connects / rejected_connects", c);
  check(c.login_failures === 1 && c.denials === 1, "counters.login_failures / denials", c);
  const forbidden = await fetch(`${base}/__test__/counters`);
  check(forbidden.status === 403, "control API without X-Test-Control: 403", forbidden.status);
}

let code = 0;
try {
  await main();
} catch (err) {
  failed++;
  console.log(`FAIL ${err && err.stack ? err.stack : String(err)}`);
}
for (const child of children) child.kill("SIGTERM");
console.log(`${passed} passed, ${failed} failed`);
if (failed) code = 1;
process.exit(code);
