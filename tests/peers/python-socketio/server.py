# Why: a second Socket.IO test peer, built on python-socketio + aiohttp, so that
# Kith's Socket.IO support is proven against an implementation independent of the
# Node `socket.io` one (tests/peers/node/socketio.js). It speaks the same
# SimpleJWT-shaped auth API (login, rotating refresh with blacklist and reuse
# counter, authenticated logout), authenticates CONNECT from auth.token, pushes
# status_update to friends, and takes the same environment and control API:
#   PORT, ACCESS_TTL_SECONDS, DATA_DIR, PING_INTERVAL_MS, PING_TIMEOUT_MS,
#   SIO_NAMESPACE, SIO_SNAPSHOT=0, SIO_EXPIRY_DISCONNECT=0, SIO_ACCEPT_THEN_DISCONNECT=1;
#   POST /__test__/status, GET /__test__/counters, POST /__test__/sio {"action": …}.
# THIS IS A TEST PEER: the HS256 secret is fixed and public on purpose.
import asyncio
import datetime
import json
import os
import sys
import time
import uuid

import jwt
import socketio
from aiohttp import web

JWT_SECRET = "kith-test-peer-secret--not-for-production"
PASSWORD = "pw"
USERS = {1: "me", 2: "alice", 3: "bob", 4: "carol"}
BY_NAME = {name: uid for uid, name in USERS.items()}
FRIENDS = {1: [2, 3, 4], 2: [1], 3: [1], 4: [1]}


def int_env(name, default, minimum):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        log(f"ignoring {name}={raw!r}: want an integer >= {minimum}; using {default}")
        return default
    return value


def log(*parts):
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
    sys.stderr.write(f"[{stamp}] {' '.join(str(p) for p in parts)}\n")
    sys.stderr.flush()


PORT = int_env("PORT", 0, 0)
ACCESS_TTL = int_env("ACCESS_TTL_SECONDS", 60, 1)
REFRESH_TTL = 24 * 60 * 60
DATA_DIR = os.environ.get("DATA_DIR", "")
PING_INTERVAL_MS = int_env("PING_INTERVAL_MS", 25000, 1)
PING_TIMEOUT_MS = int_env("PING_TIMEOUT_MS", 20000, 1)
NAMESPACE = os.environ.get("SIO_NAMESPACE") or "/"
SEND_SNAPSHOT = os.environ.get("SIO_SNAPSHOT") != "0"
EXPIRY_DISCONNECT = os.environ.get("SIO_EXPIRY_DISCONNECT") != "0"
ACCEPT_THEN_DISCONNECT = os.environ.get("SIO_ACCEPT_THEN_DISCONNECT") == "1"

started = datetime.datetime.now(datetime.timezone.utc).isoformat()
statuses = {uid: {"status": "offline", "last_seen": started} for uid in USERS}
counters = {
    "logins": 0,
    "refreshes": 0,
    "refresh_reuse": 0,
    "connects": 0,
    "rejected_connects": 0,
    "acks": 0,
    "disconnect_reasons": {},
}
refresh_valid = {}  # jti -> {"user_id", "exp"}
refresh_blacklist = {}  # jti -> exp
live = {}  # sid -> user id


# ---- tokens ---------------------------------------------------------------------


def sign(uid, kind, ttl):
    now = time.time()
    claims = {
        "sub": str(uid),
        "username": USERS[uid],
        "iat": int(now),
        "exp": int(-(-now // 1)) + ttl,
        "jti": str(uuid.uuid4()),
        "type": kind,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256"), claims


def verify(token, kind):
    """(claims, uid) or (None, reason)."""
    if not isinstance(token, str) or not token:
        return None, "missing"
    try:
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        return None, "expired"
    except jwt.InvalidTokenError:
        return None, "invalid"
    try:
        uid = int(claims.get("sub"))
    except (TypeError, ValueError):
        return None, "invalid"
    if claims.get("type") != kind or USERS.get(uid) != claims.get("username"):
        return None, "invalid"
    return claims, uid


def state_path():
    return os.path.join(DATA_DIR, "state.json") if DATA_DIR else ""


def load_state():
    path = state_path()
    if not path:
        return
    os.makedirs(DATA_DIR, exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as error:
        log(f"ignoring unreadable {path}: {error}")
        return
    now = time.time()
    for jti, entry in (data.get("valid") or {}).items():
        if isinstance(entry, dict) and entry.get("exp", 0) > now:
            refresh_valid[jti] = entry
    for jti, exp in (data.get("blacklist") or {}).items():
        if isinstance(exp, (int, float)) and exp > now:
            refresh_blacklist[jti] = exp


def save_state():
    path = state_path()
    if not path:
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"valid": refresh_valid, "blacklist": refresh_blacklist}, f)
    os.replace(tmp, path)


def issue_refresh(uid):
    token, claims = sign(uid, "refresh", REFRESH_TTL)
    refresh_valid[claims["jti"]] = {"user_id": uid, "exp": claims["exp"]}
    save_state()
    return token


def check_refresh(token):
    claims, uid = verify(token, "refresh")
    if claims is None:
        return None, uid
    jti = claims["jti"]
    if jti in refresh_blacklist:
        counters["refresh_reuse"] += 1
        log(f"refresh token reuse: jti={jti}")
        return None, "blacklisted"
    entry = refresh_valid.get(jti)
    if not entry or entry.get("user_id") != uid:
        return None, "invalid"
    return claims, uid


def blacklist(claims):
    refresh_valid.pop(claims["jti"], None)
    refresh_blacklist[claims["jti"]] = claims["exp"]


# ---- HTTP -------------------------------------------------------------------------

INVALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}
BLACKLISTED = {"detail": "Token is blacklisted", "code": "token_not_valid"}


async def read_json(request):
    if request.content_length and request.content_length > 64 * 1024:
        raise web.HTTPRequestEntityTooLarge(max_size=64 * 1024, actual_size=request.content_length)
    text = await request.text()
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def login(request):
    body = await read_json(request)
    if body is None:
        return web.json_response({"error": "JSON object wanted"}, status=400)
    missing = {f: ["This field is required."] for f in ("username", "password") if not body.get(f)}
    if missing:
        return web.json_response(missing, status=400)
    uid = BY_NAME.get(body["username"])
    if uid is None or body["password"] != PASSWORD:
        return web.json_response({"detail": "No active account found with the given credentials"}, status=401)
    counters["logins"] += 1
    access, _ = sign(uid, "access", ACCESS_TTL)
    return web.json_response({"access": access, "refresh": issue_refresh(uid)})


async def refresh(request):
    body = await read_json(request)
    if body is None or not body.get("refresh"):
        return web.json_response({"refresh": ["This field is required."]}, status=400)
    claims, uid = check_refresh(body["refresh"])
    if claims is None:
        return web.json_response(BLACKLISTED if uid == "blacklisted" else INVALID, status=401)
    blacklist(claims)
    new_refresh = issue_refresh(uid)
    counters["refreshes"] += 1
    access, _ = sign(uid, "access", ACCESS_TTL)
    return web.json_response({"access": access, "refresh": new_refresh})


async def logout(request):
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    claims, uid = verify(token, "access")
    if claims is None:
        return web.json_response(
            {"detail": "Authentication credentials were not provided."}, status=401
        )
    body = await read_json(request)
    if body is None or not body.get("refresh"):
        return web.json_response({"refresh": ["This field is required."]}, status=400)
    rclaims, ruid = check_refresh(body["refresh"])
    if rclaims is None or ruid != uid:
        return web.json_response(INVALID, status=401)
    blacklist(rclaims)
    save_state()
    return web.Response(status=205)


def is_control(request):
    peer = request.remote or ""
    loopback = peer == "::1" or peer.startswith("127.") or peer.startswith("::ffff:127.")
    return loopback and request.headers.get("X-Test-Control") == "kith"


def set_status(uid, status):
    statuses[uid] = {
        "status": status,
        "last_seen": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }


def status_update(uid):
    s = statuses[uid]
    return {"type": "status_update", "user_id": uid, "username": USERS[uid], **s}


def snapshot(uid):
    friends = [{"user_id": f, "username": USERS[f], **statuses[f]} for f in FRIENDS[uid]]
    return {"type": "presence_snapshot", "friends": friends}


def friend_sids(uid):
    friends = set(FRIENDS[uid])
    return [sid for sid, user in list(live.items()) if user in friends]


async def control_status(request):
    if not is_control(request):
        return web.json_response({"error": "forbidden"}, status=403)
    body = await read_json(request) or {}
    uid = BY_NAME.get(body.get("username"))
    if uid is None:
        return web.json_response({"error": "unknown user"}, status=404)
    if not isinstance(body.get("status"), str) or not body["status"]:
        return web.json_response({"error": "status must be a non-empty string"}, status=400)
    set_status(uid, body["status"])
    await sio.emit("status_update", status_update(uid), room=[f"user_{f}" for f in FRIENDS[uid]], namespace=NAMESPACE)
    return web.json_response({"ok": True})


async def control_counters(request):
    if not is_control(request):
        return web.json_response({"error": "forbidden"}, status=403)
    return web.json_response(counters)


def count_ack(*_args):
    counters["acks"] += 1


async def control_sio(request):
    if not is_control(request):
        return web.json_response({"error": "forbidden"}, status=403)
    body = await read_json(request) or {}
    action = body.get("action")
    uid = BY_NAME.get(body.get("username") or "alice")
    if action in ("binary_status", "ack_status"):
        if uid is None or not isinstance(body.get("status"), str) or not body["status"]:
            return web.json_response({"error": "username and status wanted"}, status=400)
        set_status(uid, body["status"])
        update = status_update(uid)
        if action == "binary_status":
            update["avatar"] = bytes([0x89, 0x50, 0x4E, 0x47, 0x00, 0xFF])
        for sid in friend_sids(uid):
            callback = count_ack if action == "ack_status" else None
            await sio.emit("status_update", update, to=sid, namespace=NAMESPACE, callback=callback)
    elif action == "binary_other":
        for sid in list(live):
            await sio.emit("file", {"name": "a.bin", "data": b"\x01\x02\x03"}, to=sid, namespace=NAMESPACE)
    elif action == "chat":
        count = body.get("count") if isinstance(body.get("count"), int) and body["count"] > 0 else 100
        per_second = body.get("per_second") if isinstance(body.get("per_second"), int) and body["per_second"] > 0 else 100
        for i in range(count):
            for sid in list(live):
                await sio.emit("chat", {"from": "alice", "text": f"message {i}"}, to=sid, namespace=NAMESPACE)
            await asyncio.sleep(1 / per_second)
    elif action == "disconnect":
        for sid in list(live):
            await sio.disconnect(sid, namespace=NAMESPACE)
    else:
        return web.json_response({"error": "unknown action"}, status=400)
    return web.json_response({"ok": True})


# ---- Socket.IO ----------------------------------------------------------------------

sio = socketio.AsyncServer(
    async_mode="aiohttp",
    ping_interval=PING_INTERVAL_MS / 1000,
    ping_timeout=PING_TIMEOUT_MS / 1000,
    max_http_buffer_size=64 * 1024,
    cors_allowed_origins=[],
)


async def on_connect(sid, environ, auth):
    token = auth.get("token") if isinstance(auth, dict) else None
    claims, uid = verify(token, "access")
    if claims is None:
        counters["rejected_connects"] += 1
        message = "token expired" if uid == "expired" else "invalid token"
        log(f"socket.io connect rejected: {message}")
        raise socketio.exceptions.ConnectionRefusedError(message)
    counters["connects"] += 1
    log(f"socket.io connected: {USERS[uid]} ({sid}) on {NAMESPACE}")
    sio.start_background_task(after_connect, sid, uid, claims["exp"])


async def after_connect(sid, uid, exp):
    # After the handler returned, so that CONNECT has gone out first.
    await asyncio.sleep(0.05)
    if ACCEPT_THEN_DISCONNECT:
        await sio.disconnect(sid, namespace=NAMESPACE)
        return
    live[sid] = uid
    await sio.enter_room(sid, f"user_{uid}", namespace=NAMESPACE)
    if SEND_SNAPSHOT:
        await sio.emit("presence_snapshot", snapshot(uid), to=sid, namespace=NAMESPACE)
    if EXPIRY_DISCONNECT:
        await asyncio.sleep(max(0.0, exp - time.time()))
        if sid in live:
            log(f"socket.io token expired: {USERS[uid]} ({sid})")
            await sio.disconnect(sid, namespace=NAMESPACE)


async def on_disconnect(sid, reason):
    live.pop(sid, None)
    reasons = counters["disconnect_reasons"]
    reasons[reason] = reasons.get(reason, 0) + 1
    log(f"socket.io disconnected: {sid}: {reason}")


sio.on("connect", on_connect, namespace=NAMESPACE)
sio.on("disconnect", on_disconnect, namespace=NAMESPACE)


async def main():
    load_state()
    app = web.Application(client_max_size=64 * 1024)
    sio.attach(app, socketio_path="socket.io")
    app.router.add_post("/api/auth/login/", login)
    app.router.add_post("/api/auth/token/refresh/", refresh)
    app.router.add_post("/api/auth/logout/", logout)
    app.router.add_post("/__test__/status", control_status)
    app.router.add_get("/__test__/counters", control_counters)
    app.router.add_post("/__test__/sio", control_sio)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", PORT)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    log(f"python-socketio listening on 127.0.0.1:{port} (ACCESS_TTL_SECONDS={ACCESS_TTL})")
    print(f"READY {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
