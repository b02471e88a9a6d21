#!/usr/bin/env bash
# Smoke test of the Next-Auth test peer (bash + curl + node). Builds if .next is
# missing, starts `node server.js` with ACCESS_TTL_SECONDS=4 on an ephemeral
# port and walks the sign-in / session / Socket.IO / sign-out / expiry flows
# documented in README.md. Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "$0")"
PEER_DIR=$(pwd)

if [ ! -d node_modules ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi
if [ ! -f .next/BUILD_ID ]; then
  echo "== npm run build"
  npm run build
fi

T=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$T/server.err" ]; then echo "--- server stderr (tail)" >&2; tail -n 30 "$T/server.err" >&2; fi
  exit 1
}
ok() { echo "ok - $*"; }

start_server() {
  : >"$T/server.out"
  ACCESS_TTL_SECONDS=4 PORT=0 DATA_DIR="$T/data" node server.js >"$T/server.out" 2>>"$T/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if grep -q '^READY ' "$T/server.out"; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited before READY"
    sleep 0.1
  done
  PORT=$(awk '/^READY /{print $2; exit}' "$T/server.out")
  [ -n "$PORT" ] || fail "no READY line within 30 s"
  B="http://127.0.0.1:$PORT"
  ok "server READY on port $PORT"
}
stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# req NAME CURL-ARGS... : headers to $T/NAME.h, body to $T/NAME.b, prints the status code.
req() {
  local name=$1
  shift
  curl -sS -D "$T/$name.h" -o "$T/$name.b" -w '%{http_code}' "$@"
}
# json NAME JS-EXPR : evaluates JS-EXPR with `j` = the parsed body of NAME.
json() {
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = eval(process.argv[2]); process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));' "$T/$1.b" "$2"
}
# set_cookie NAME COOKIE : the Set-Cookie line (without "Set-Cookie: ") for COOKIE in NAME, or nothing.
set_cookie() {
  tr -d '\r' <"$T/$1.h" | sed -n "s/^[Ss]et-[Cc]ookie: \($2=.*\)$/\1/p" | head -n 1
}
# cookie_value NAME COOKIE : the value of COOKIE as set by response NAME.
cookie_value() {
  set_cookie "$1" "$2" | sed -e "s/^$2=//" -e 's/;.*$//'
}
expect_status() { [ "$2" = "$3" ] || fail "$1: HTTP $2, want $3 (body: $(head -c 300 "$T/$1.b" 2>/dev/null))"; }

# sign_in JAR USER PASSWORD NAME : csrf + credentials callback with json=true; prints the status code.
sign_in() {
  local jar=$1 user=$2 pw=$3 name=$4 code csrf
  code=$(req "$name-csrf" -c "$jar" -b "$jar" "$B/api/auth/csrf")
  expect_status "$name-csrf" "$code" 200
  csrf=$(json "$name-csrf" 'j.csrfToken')
  req "$name" -c "$jar" -b "$jar" -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode "csrfToken=$csrf" --data-urlencode "username=$user" --data-urlencode "password=$pw" \
    --data-urlencode "json=true" "$B/api/auth/callback/credentials"
}

control() { # control NAME METHOD PATH [JSON-BODY]
  local name=$1 method=$2 path=$3 body=${4:-}
  if [ -n "$body" ]; then
    req "$name" -X "$method" -H 'X-Test-Control: kith' -H 'Content-Type: application/json' -d "$body" "$B$path"
  else
    req "$name" -X "$method" -H 'X-Test-Control: kith' "$B$path"
  fi
}

# Checks a backend token: HS256 with the test secret, the claims, exp - iat in [4, 5].
check_backend_token() {
  node -e '
    const jwt = require("jsonwebtoken");
    const [token, wantUser] = process.argv.slice(1);
    const h = JSON.parse(Buffer.from(token.split(".")[0], "base64url"));
    if (h.alg !== "HS256") throw new Error("alg " + h.alg);
    const c = jwt.verify(token, "kith-test-peer-secret--not-for-production", { algorithms: ["HS256"] });
    if (c.user_id !== Number(wantUser) || c.sub !== wantUser || c.token_type !== "access" || c.type !== "access") throw new Error("claims " + JSON.stringify(c));
    if (!(c.exp - c.iat >= 4 && c.exp - c.iat <= 5)) throw new Error("lifetime " + (c.exp - c.iat));
  ' "$1" "$2" || fail "backend token check failed: $1"
}

echo "== start"
start_server

# --- control API guard -------------------------------------------------------
code=$(req noctl "$B/__test__/counters")
expect_status noctl "$code" 403
ok "control API without X-Test-Control: 403"

# --- sign in -----------------------------------------------------------------
J1="$T/me.jar"
code=$(sign_in "$J1" me pw signin)
expect_status signin "$code" 200
[ "$(json signin 'j.url')" = "$B" ] || fail "sign-in url $(cat "$T/signin.b"), want {\"url\":\"$B\"}"
SC=$(set_cookie signin next-auth.session-token)
[ -n "$SC" ] || fail "sign-in set no next-auth.session-token cookie"
echo "$SC" | grep -q '; Path=/; Expires=.*; HttpOnly; SameSite=Lax$' || fail "session cookie attributes: $SC"
COOKIE0=$(cookie_value signin next-auth.session-token)
ok "sign-in: 200 {\"url\":\"$B\"} and next-auth.session-token set (Path=/; Expires; HttpOnly; SameSite=Lax)"

# --- session read ------------------------------------------------------------
code=$(req s1 -c "$J1" -b "$J1" "$B/api/auth/session")
expect_status s1 "$code" 200
TOKEN1=$(json s1 'j.token')
[ "$(json s1 'j.accessToken')" = "$TOKEN1" ] || fail "session.accessToken != session.token"
[ "$(json s1 'j.user.id')" = 1 ] || fail "session.user.id: $(cat "$T/s1.b")"
[ "$(json s1 'j.user.name')" = me ] || fail "session.user.name: $(cat "$T/s1.b")"
[ "$(json s1 'typeof j.expires')" = string ] || fail "session.expires missing"
check_backend_token "$TOKEN1" 1
S1_COOKIE=$(set_cookie s1 next-auth.session-token)
[ -n "$S1_COOKIE" ] || fail "session read did not re-set the session cookie"
ok "session: token (HS256 backend JWT, user_id 1, TTL 4 s) = accessToken, user.id 1; cookie re-set"

code=$(req s1b -c "$J1" -b "$J1" "$B/api/auth/session")
expect_status s1b "$code" 200
[ "$(json s1b 'j.token')" = "$TOKEN1" ] || fail "an immediate second read changed the token"
[ -n "$(set_cookie s1b next-auth.session-token)" ] || fail "second session read did not re-set the cookie"
ok "immediate second read: same token, cookie re-set again"

# --- sliding expiry / backend token refresh -----------------------------------
sleep 5
code=$(req s2 -c "$J1" -b "$J1" "$B/api/auth/session")
expect_status s2 "$code" 200
TOKEN2=$(json s2 'j.token')
[ -n "$TOKEN2" ] && [ "$TOKEN2" != "$TOKEN1" ] || fail "no fresh token after 5 s"
check_backend_token "$TOKEN2" 1
S2_COOKIE=$(set_cookie s2 next-auth.session-token)
[ -n "$S2_COOKIE" ] || fail "no re-set cookie after 5 s"
[ "$(cookie_value s2 next-auth.session-token)" != "$COOKIE0" ] || fail "cookie value did not change"
node -e '
  const exp = (s) => Date.parse(/Expires=([^;]+)/.exec(s)[1]);
  if (!(exp(process.argv[2]) > exp(process.argv[1]))) process.exit(1);
' "$S1_COOKIE" "$S2_COOKIE" || fail "cookie Expires did not slide: [$S1_COOKIE] vs [$S2_COOKIE]"
ok "after 5 s: new backend token, new cookie value, later Expires (sliding)"

# --- wrong password ------------------------------------------------------------
code=$(sign_in "$T/bad.jar" me wrong badpw)
expect_status badpw "$code" 401
[ "$(json badpw 'j.url')" = "$B/api/auth/error?error=CredentialsSignin&provider=credentials" ] ||
  fail "wrong-password body $(cat "$T/badpw.b")"
[ -z "$(set_cookie badpw next-auth.session-token)" ] || fail "wrong password set a session cookie"
ok "wrong password: 401 {\"url\":\"$B/api/auth/error?error=CredentialsSignin&provider=credentials\"}"

# --- Socket.IO ------------------------------------------------------------------
node smoke_socket.js "$B" reject:invalid\ token "not-a-jwt" >"$T/sio-bad.b" || fail "bad token not rejected"
ok "socket.io with a garbage token: connect_error \"invalid token\""
node smoke_socket.js "$B" reject:token\ expired "$TOKEN1" >"$T/sio-exp.b" || fail "expired token not rejected"
ok "socket.io with the expired first token: connect_error \"token expired\""
node smoke_socket.js "$B" websocket "$TOKEN2" >"$T/sio-ws.b" || fail "websocket-only connect failed"
[ "$(json sio-ws 'j.transport')" = websocket ] || fail "transport $(cat "$T/sio-ws.b")"
ok "socket.io websocket-only: presence_snapshot of alice,bob,carol"
# Let TOKEN2 expire, so this read mints a fresh token (TTL 4 s) for the status/expiry run.
sleep 4
code=$(req s3 -c "$J1" -b "$J1" "$B/api/auth/session")
expect_status s3 "$code" 200
TOKEN3=$(json s3 'j.token')
node smoke_socket.js "$B" snapshot-status "$TOKEN3" >"$T/sio.b" || fail "snapshot/status run failed"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const exp = JSON.parse(Buffer.from(process.argv[2].split(".")[1], "base64url")).exp;
  if (r.at < exp - 1 || r.at > exp + 2) { console.error("disconnected at", r.at, "token exp", exp); process.exit(1); }
' "$T/sio.b" "$TOKEN3" || fail "socket not disconnected at the token exp"
ok "socket.io: presence_snapshot, status_update after POST /__test__/status, server disconnect at token exp"

# --- sign-out kills the cookie ----------------------------------------------------
OLD=$(awk -F '\t' '$6 == "next-auth.session-token" {print $7}' "$J1")
[ -n "$OLD" ] || fail "no session cookie in the jar"
CSRF=$(json signin-csrf 'j.csrfToken')
code=$(req signout -c "$J1" -b "$J1" -X POST --data-urlencode "csrfToken=$CSRF" --data-urlencode json=true "$B/api/auth/signout")
expect_status signout "$code" 200
[ "$(json signout 'j.url')" = "$B" ] || fail "signout body $(cat "$T/signout.b")"
[ "$(set_cookie signout next-auth.session-token)" = "next-auth.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" ] ||
  fail "signout Set-Cookie: $(set_cookie signout next-auth.session-token)"
ok "signout (json=true): 200 {\"url\":\"$B\"}, session cookie cleared (Max-Age=0)"
for v in "$OLD" "$COOKIE0"; do
  code=$(req after -H "Cookie: next-auth.session-token=$v" "$B/api/auth/session")
  expect_status after "$code" 200
  [ "$(cat "$T/after.b")" = "{}" ] || fail "session after sign-out: $(cat "$T/after.b")"
  [ "$(set_cookie after next-auth.session-token)" = "next-auth.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" ] ||
    fail "session after sign-out did not clear the cookie"
done
ok "session with the old cookie values after sign-out: 200 {} and the cookie cleared"

# --- sign-out without json=true ----------------------------------------------------
J3="$T/bob.jar"
code=$(sign_in "$J3" bob pw bob)
expect_status bob "$code" 200
CSRF3=$(json bob-csrf 'j.csrfToken')
BOB=$(cookie_value bob next-auth.session-token)
code=$(req signout2 -b "$J3" -X POST --data-urlencode "csrfToken=$CSRF3" "$B/api/auth/signout")
expect_status signout2 "$code" 302
tr -d '\r' <"$T/signout2.h" | grep -qx "Location: $B" || fail "signout without json: no Location: $B"
[ -n "$(set_cookie signout2 next-auth.session-token)" ] || fail "signout without json did not clear the cookie"
code=$(req after2 -H "Cookie: next-auth.session-token=$BOB" "$B/api/auth/session")
[ "$(cat "$T/after2.b")" = "{}" ] || fail "bob's session after sign-out: $(cat "$T/after2.b")"
ok "signout without json: 302 Location: $B, cookie cleared, session {}"

# --- expire-sessions ----------------------------------------------------------------
J2="$T/alice.jar"
code=$(sign_in "$J2" alice pw alice)
expect_status alice "$code" 200
ALICE=$(cookie_value alice next-auth.session-token)
code=$(req a1 -H "Cookie: next-auth.session-token=$ALICE" "$B/api/auth/session")
[ "$(json a1 'j.user.id')" = 2 ] || fail "alice session: $(cat "$T/a1.b")"
code=$(control expire POST /__test__/expire-sessions)
expect_status expire "$code" 200
[ "$(json expire 'j.ok')" = true ] || fail "expire-sessions: $(cat "$T/expire.b")"
code=$(req a2 -H "Cookie: next-auth.session-token=$ALICE" "$B/api/auth/session")
expect_status a2 "$code" 200
[ "$(cat "$T/a2.b")" = "{}" ] || fail "alice session after expire-sessions: $(cat "$T/a2.b")"
ok "POST /__test__/expire-sessions: an existing session answers {}"
code=$(sign_in "$T/carol.jar" carol pw carol)
expect_status carol "$code" 200
CAROL=$(cookie_value carol next-auth.session-token)
code=$(req c1 -H "Cookie: next-auth.session-token=$CAROL" "$B/api/auth/session")
[ "$(json c1 'j.user.id')" = 4 ] || fail "new sign-in after expire-sessions: $(cat "$T/c1.b")"
ok "a sign-in after expire-sessions works"

# --- counters -------------------------------------------------------------------------
code=$(control counters GET /__test__/counters)
expect_status counters "$code" 200
echo "   counters: $(cat "$T/counters.b")"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const want = { sign_ins: 4, failed_sign_ins: 1, sign_outs: 2, connects: 2, rejected_connects: 2 };
  for (const [k, v] of Object.entries(want)) if (c[k] !== v) { console.error(k, c[k], "want", v); process.exit(1); }
  if (!(c.session_mints >= 2)) { console.error("session_mints", c.session_mints); process.exit(1); }
  if (c.session_reads !== 10) { console.error("session_reads", c.session_reads); process.exit(1); }
  if (c.session_rejected !== 4) { console.error("session_rejected", c.session_rejected); process.exit(1); }
' "$T/counters.b" || fail "unexpected counters"
ok "counters"

# --- restart with the same DATA_DIR: revocations and the epoch persist -------------------
stop_server
start_server
code=$(req r1 -H "Cookie: next-auth.session-token=$OLD" "$B/api/auth/session")
[ "$(cat "$T/r1.b")" = "{}" ] || fail "signed-out session alive after restart: $(cat "$T/r1.b")"
code=$(req r2 -H "Cookie: next-auth.session-token=$ALICE" "$B/api/auth/session")
[ "$(cat "$T/r2.b")" = "{}" ] || fail "expired session alive after restart: $(cat "$T/r2.b")"
code=$(req r3 -H "Cookie: next-auth.session-token=$CAROL" "$B/api/auth/session")
[ "$(json r3 'j.user.id')" = 4 ] || fail "carol's session lost on restart: $(cat "$T/r3.b")"
ok "restart with the same DATA_DIR: signed-out and expired sessions stay {}, others stay valid"

echo "PASS"
