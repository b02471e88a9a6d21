"""Measures Kith's memory in the tray and with its window, as issue 19 asks, from
/proc/PID/smaps_rollup (RSS, PSS, private clean and private dirty, summed over a
process tree):

1. tray only: the tray role (`kith-tray --hidden`, a login launch), signed in;
2. window open: a tray host clicks the icon as a panel does (tests/e2e/sni_host.py),
   the tray role starts the window role (kith-app) and WebKit's processes under it;
3. window closed again: a second click; the window role exits with WebKit's processes;
4. after 10 more open/close cycles: the tray role's growth.

Signed in to a kith-server running as a process of its own (not `--demo`) with 50
friends, a third of them online: `kith login` stores the session in the keyring, and
the tray role resumes it at start, as it does after a reboot. When KITH_FOOTPRINT_BARE
names a bare Tauri 2 app (tools/bare-tauri), its window-open, window-closed and hidden
cases are measured too, the baseline. Prints a table and writes
target/e2e/footprint.json. A measurement, not a test: it never fails on a number,
only when it cannot measure. Run by `cargo xtask footprint` inside the same desktop
session as the WebDriver test.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sni_host import SniHost  # noqa: E402

TRAY = os.environ.get("KITH_FOOTPRINT_TRAY", os.environ["KITH_TRAY"])
CLI = os.environ.get("KITH_FOOTPRINT_CLI", os.environ["KITH_CLI"])
SERVER = os.environ.get("KITH_FOOTPRINT_SERVER", os.environ["KITH_SERVER"])
BARE = os.environ.get("KITH_FOOTPRINT_BARE")
OUT = Path(os.environ["KITH_E2E_OUT"])
WORK = Path(os.environ["KITH_E2E_WORK"])
SETTLE = float(os.environ.get("KITH_FOOTPRINT_SETTLE", "10"))
CYCLES = int(os.environ.get("KITH_FOOTPRINT_CYCLES", "10"))
FRIENDS = 50
ADMIN = "footprint-admin"
PASSWORD = "footprint-pw-4417"
SETTINGS = Path(os.environ["XDG_CONFIG_HOME"]) / "dev.kith.desktop" / "settings.json"
# The web process's name as /proc/PID/status gives it: cut to 15 characters.
WEB_PROCESS = "WebKitWebProcess"[:15]
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")
# The bare app's window with Kith's window's WebKit settings: the like-for-like case.
KITH_SETTINGS_CASE = "window open, Kith's WebKit settings"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"footprint: timed out waiting for {what}")


def rollup(pid):
    """{field: KiB} from /proc/PID/smaps_rollup; zeros for a process that is gone."""
    out = dict.fromkeys(FIELDS, 0)
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in out:
            out[name] = int(rest.split()[0])
    return out


def processes():
    """pid -> (ppid, name) for every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        table[int(entry.name)] = (int(fields["PPid"]), fields["Name"].strip())
    return table


def tree(root):
    """Totals over `root` and its descendants, per field, with a per-process breakdown
    and the thread count of the root."""
    table = processes()
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    total = dict.fromkeys(FIELDS, 0)
    by_name = {}
    for pid in sorted(members):
        if pid not in table:
            continue
        name = table[pid][1]
        numbers = rollup(pid)
        for field in FIELDS:
            total[field] += numbers[field]
        by_name[name] = by_name.get(name, 0) + numbers["Rss"]
    try:
        threads = int(next(line.split()[1] for line in Path(f"/proc/{root}/status").read_text().splitlines()
                           if line.startswith("Threads:")))
    except (OSError, StopIteration):
        threads = 0
    return {"kib": total, "rss_by_process_kib": by_name, "threads": threads}


def own_heap(pid):
    """KiB of RSS in the process's heap and anonymous mappings (smaps): the memory that
    is the program's own, not a library's or a file's."""
    out = {"heap": 0, "anon": 0}
    kind = None
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:
            path = head[5] if len(head) > 5 else ""
            kind = "heap" if path == "[heap]" else "anon" if path == "" else None
        elif kind and line.startswith("Rss:"):
            out[kind] += int(head[1])
    return out


def names_below(root):
    table = processes()
    members, frontier = set(), [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, name) in table.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return {table[pid][1] for pid in members if pid in table}


def start_server():
    port = free_port()
    log = open(WORK / "footprint-server.log", "ab")
    proc = subprocess.Popen([SERVER, "--bind", f"127.0.0.1:{port}", "--admin-token", ADMIN,
                             "--db", str(WORK / "footprint.sqlite"), "--access-ttl", "300s",
                             "--fast-password-hashing"], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_for("kith-server", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)

    def admin(path, body):
        request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {ADMIN}",
                                                  "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    admin("/admin/users", {"username": "me", "password": PASSWORD})
    for i in range(FRIENDS):
        admin("/admin/users", {"username": f"friend{i:02}", "password": "pw"})
        admin("/admin/friends", {"a": "me", "b": f"friend{i:02}"})
        if i % 3 == 0:
            admin("/admin/status", {"username": f"friend{i:02}", "status": "online"})
    return proc, url


def sign_in(url):
    """`kith login` stores the session in the keyring; the tray role resumes it."""
    subprocess.run([CLI, "--server", url, "login", "--username", "me", "--password-stdin"],
                   input=PASSWORD.encode(), check=True, capture_output=True, timeout=60)
    SETTINGS.parent.mkdir(parents=True, exist_ok=True)
    SETTINGS.write_text(json.dumps({"server": url, "preset": "django-simplejwt",
                                    "notify_online": False, "notify_offline": False}))


def measure_kith():
    host = SniHost()
    host.start()
    log_path = WORK / "footprint-tray.log"
    log = open(log_path, "ab")
    tray = subprocess.Popen([TRAY, "--hidden"], stdout=log, stderr=log,
                            env={**os.environ, "RUST_LOG": "info"})
    cases = {}
    try:
        wait_for("the signed-in, connected tray role",
                 lambda: 'state="connected"' in log_path.read_text(errors="replace")
                 or "connected" in (host.tooltip()[1] if host.items() else ""), timeout=90)
        wait_for("the tray registered", host.items)
        time.sleep(SETTLE)
        cases["tray only"] = tree(tray.pid)
        cases["tray only"]["own_heap_kib"] = own_heap(tray.pid)

        def open_window():
            host.activate()
            wait_for("the window's web process", lambda: WEB_PROCESS in names_below(tray.pid))

        def close_window():
            host.activate()
            wait_for("the window role to exit",
                     lambda: not ({"kith-app", WEB_PROCESS} & names_below(tray.pid)))

        open_window()
        time.sleep(SETTLE)
        cases["window open"] = tree(tray.pid)
        close_window()
        time.sleep(SETTLE)
        cases["window closed"] = tree(tray.pid)
        for _ in range(CYCLES):
            open_window()
            time.sleep(1)
            close_window()
        time.sleep(SETTLE)
        cases[f"after {CYCLES} more cycles"] = tree(tray.pid)
    finally:
        tray.terminate()
        try:
            tray.wait(15)
        except subprocess.TimeoutExpired:
            tray.kill()
        host.stop()
    return cases


def measure_bare(bare):
    """The bare app's cases, each a fresh process: a window with a page; the window
    destroyed after SETTLE seconds, measured SETTLE seconds later; no window."""
    cases = {}
    for case, args, wait in [
        ("window open", [], SETTLE),
        ("window closed", ["--close-after", str(SETTLE)], 2 * SETTLE + 2),
        ("tray only", ["--hidden"], SETTLE + 5),
        (KITH_SETTINGS_CASE, ["--kith-webkit-settings"], SETTLE),
    ]:
        log = open(WORK / "footprint-bare.log", "ab")
        proc = subprocess.Popen([bare, *args], stdout=log, stderr=log)
        try:
            if case in ("window open", KITH_SETTINGS_CASE):
                wait_for("the bare app's web process", lambda: WEB_PROCESS in names_below(proc.pid), timeout=30)
            time.sleep(wait)
            if proc.poll() is not None:
                raise SystemExit(f"footprint: the bare app exited ({proc.returncode}) in {case!r}")
            cases[case] = tree(proc.pid)
        finally:
            proc.kill()
            proc.wait(10)
    return cases


def mib(kib):
    return f"{kib / 1024:.1f}"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # Pages of a file written moments ago (a binary just linked or installed) are dirty
    # in the page cache until written back, and smaps counts them as the process's
    # private dirty memory: write them back first.
    os.sync()
    server, url = start_server()
    try:
        sign_in(url)
        kith = measure_kith()
    finally:
        server.kill()
        server.wait(10)
    result = {"kith": kith, "tray": TRAY, "friends": FRIENDS}
    print(f"\nKith footprint ({TRAY}, {FRIENDS} friends, kith-server in its own process), MiB")
    print(f"{'case':<24} {'RSS':>7} {'PSS':>7} {'private':>8} {'priv dirty':>10}  threads  RSS by process")
    for name, case in kith.items():
        k = case["kib"]
        parts = ", ".join(f"{p} {mib(v)}" for p, v in case["rss_by_process_kib"].items())
        print(f"{name:<24} {mib(k['Rss']):>7} {mib(k['Pss']):>7} "
              f"{mib(k['Private_Clean'] + k['Private_Dirty']):>8} {mib(k['Private_Dirty']):>10}"
              f"  {case['threads']:>7}  {parts}")
    tray_only = kith["tray only"]["kib"]
    closed = kith["window closed"]["kib"]
    cycled = kith[f"after {CYCLES} more cycles"]["kib"]
    goals = {
        "tray only <= 40 MiB RSS": tray_only["Rss"] <= 40 * 1024,
        "tray only <= 12 MiB private dirty": tray_only["Private_Dirty"] <= 12 * 1024,
        "window closed within 2 MiB private dirty of tray only":
            abs(closed["Private_Dirty"] - tray_only["Private_Dirty"]) <= 2 * 1024,
        "window closed within 5 MiB RSS of tray only": abs(closed["Rss"] - tray_only["Rss"]) <= 5 * 1024,
        f"{CYCLES} cycles grow the tray role by under 1 MiB (private dirty)":
            cycled["Private_Dirty"] - closed["Private_Dirty"] < 1024,
        f"Kith's own heap (heap + anonymous mappings) <= 8 MiB with {FRIENDS} friends":
            sum(kith["tray only"]["own_heap_kib"].values()) <= 8 * 1024,
    }
    heap = kith["tray only"]["own_heap_kib"]
    print(f"\nKith's own heap in the tray role: {mib(heap['heap'] + heap['anon'])} MiB "
          f"([heap] {mib(heap['heap'])}, anonymous {mib(heap['anon'])})")
    if BARE:
        bare = measure_bare(BARE)
        result["bare"] = bare
        result["bare_app"] = BARE
        print(f"\nBare Tauri 2 app ({BARE}), MiB")
        for name, case in bare.items():
            k = case["kib"]
            print(f"{name:<24} {mib(k['Rss']):>7} {mib(k['Pss']):>7} "
                  f"{mib(k['Private_Clean'] + k['Private_Dirty']):>8} {mib(k['Private_Dirty']):>10}")
        goals["window open <= 1.1x the bare app (RSS)"] = (
            kith["window open"]["kib"]["Rss"] <= 1.1 * bare["window open"]["kib"]["Rss"])
        open_rss = kith["window open"]["kib"]["Rss"]
        print(f"\nWindow open, Kith / bare app (RSS): {open_rss / bare['window open']['kib']['Rss']:.2f}x; "
              f"like for like (the bare app with Kith's WebKit settings): "
              f"{open_rss / bare[KITH_SETTINGS_CASE]['kib']['Rss']:.2f}x")
    result["goals"] = goals
    print("\nGoals (issue 19):")
    for goal, met in goals.items():
        print(f"  {'met    ' if met else 'NOT met'}  {goal}")
    (OUT / "footprint.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
