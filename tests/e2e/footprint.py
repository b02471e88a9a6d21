"""Measures the desktop app's memory: the app plus its WebKit child processes, with
the window open, after the window is closed (the webview is destroyed), and after a
`--hidden` start (tray only). When KITH_FOOTPRINT_BARE names a bare Tauri 2 app
(tools/bare-tauri), it measures the same three cases of that app, the baseline.
Prints a table and writes target/e2e/footprint.json.
A measurement, not a test: it never fails on a number, only when it cannot measure.
Run by `cargo xtask footprint` inside the same desktop session as the WebDriver test.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions

APP = os.environ.get("KITH_FOOTPRINT_APP", os.environ["KITH_APP"])
BARE = os.environ.get("KITH_FOOTPRINT_BARE")
OUT = Path(os.environ["KITH_E2E_OUT"])
WORK = Path(os.environ["KITH_E2E_WORK"])
SETTLE = float(os.environ.get("KITH_FOOTPRINT_SETTLE", "10"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_kib(pid):
    """Memory only this process holds (Private_Clean + Private_Dirty from smaps_rollup):
    unlike RSS it leaves out the shared libraries' pages (WebKit, GTK), which stay
    mapped after the webview is gone and cost nothing extra per process."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    total = 0
    for line in text.splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total


def processes():
    """pid -> (ppid, name, rss KiB) for every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss = int(fields.get("VmRSS", "0 kB").split()[0])
        table[int(entry.name)] = (int(fields["PPid"]), fields["Name"].strip(), rss)
    return table


def app_pids():
    real = os.path.realpath(APP)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.path.realpath(entry / "exe") == real:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def tree_rss(root):
    """Total RSS (KiB) of `root` and all its descendants, and a per-name breakdown."""
    table = processes()
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in table.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    breakdown = {}
    private = 0
    for pid in members:
        if pid in table:
            _, name, rss = table[pid]
            breakdown[name] = breakdown.get(name, 0) + rss
            private += private_kib(pid)
    breakdown["private (all processes)"] = private
    return sum(v for k, v in breakdown.items() if not k.startswith("private")), breakdown


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"footprint: timed out waiting for {what}")


def measure_window_open_then_closed():
    driver_bin = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
    port = free_port()
    log = open(WORK / "footprint-driver.log", "ab")
    driver_proc = subprocess.Popen([driver_bin, "--port", str(port)], stdout=log, stderr=log)
    try:
        wait_for("tauri-driver", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": APP, "args": ["--demo"]})
        drv = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        wait_for("the demo friend list",
                 lambda: drv.execute_script("return document.querySelectorAll('#friends li.friend').length") > 0)
        pid = wait_for("the app process", lambda: app_pids())[0]
        time.sleep(SETTLE)
        window_open = tree_rss(pid)
        # Close the window as Ctrl+W does; the WebDriver session dies with the webview.
        threading.Thread(
            target=lambda: drv.execute_script("window.__TAURI__.core.invoke('close_window')"),
            daemon=True).start()
        wait_for("the web process to go",
                 lambda: WEB_PROCESS not in tree_rss(pid)[1], timeout=20)
        time.sleep(SETTLE)
        window_closed = tree_rss(pid)
        os.kill(pid, 15)
        return window_open, window_closed
    finally:
        driver_proc.kill()
        driver_proc.wait(10)
        for pid in app_pids():
            os.kill(pid, 9)


def measure_hidden_start():
    log = open(WORK / "footprint-hidden.log", "ab")
    proc = subprocess.Popen([APP, "--hidden", "--demo"], stdout=log, stderr=log)
    try:
        time.sleep(SETTLE + 5)
        return tree_rss(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)


def measure_bare(bare):
    """The bare app's three cases, each a fresh process: a window with a page; the
    window destroyed after SETTLE seconds, measured SETTLE seconds later; no window."""
    cases = {}
    for case, args, wait in [
        ("window open", [], SETTLE),
        ("window closed", ["--close-after", str(SETTLE)], 2 * SETTLE + 2),
        ("--hidden start", ["--hidden"], SETTLE + 5),
    ]:
        log = open(WORK / "footprint-bare.log", "ab")
        proc = subprocess.Popen([bare, *args], stdout=log, stderr=log)
        try:
            if case == "window open":
                wait_for("the bare app's web process",
                         lambda: WEB_PROCESS in tree_rss(proc.pid)[1], timeout=30)
            time.sleep(wait)
            if proc.poll() is not None:
                raise SystemExit(f"footprint: the bare app exited ({proc.returncode}) in {case!r}")
            cases[case] = tree_rss(proc.pid)
        finally:
            proc.kill()
            proc.wait(10)
    return cases


# The web process's name as /proc/PID/status gives it: cut to 15 characters.
WEB_PROCESS = "WebKitWebProcess"[:15]


def mib(kib):
    return f"{kib / 1024:.0f} MiB"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    open_, closed = measure_window_open_then_closed()
    time.sleep(2)
    hidden = measure_hidden_start()
    rows = [("window open", open_), ("window closed", closed), ("--hidden start", hidden)]
    print(f"\nKith desktop footprint ({APP})")
    print(f"{'case':<16} {'total RSS':>10}  breakdown")
    for name, (total, breakdown) in rows:
        parts = ", ".join(f"{k} {mib(v)}" for k, v in breakdown.items())
        print(f"{name:<16} {mib(total):>10}  {parts}")
    result = {name: {"total_kib": total, "breakdown_kib": breakdown} for name, (total, breakdown) in rows}
    result["app"] = APP
    if BARE:
        bare = measure_bare(BARE)
        print(f"\nBare Tauri 2 app ({BARE})")
        for name, (total, breakdown) in bare.items():
            kith_total = result[name]["total_kib"]
            print(f"{name:<16} {mib(total):>10}  Kith ÷ bare {kith_total / total:.2f}×")
        result["bare"] = {name: {"total_kib": total, "breakdown_kib": breakdown}
                          for name, (total, breakdown) in bare.items()}
        result["bare_app"] = BARE
    (OUT / "footprint.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
