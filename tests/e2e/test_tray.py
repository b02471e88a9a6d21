"""Kith's Linux tray as a panel sees it, over D-Bus, with no WebDriver.

Kith is two processes: the tray role (kith-tray), which owns the session and the tray
and never loads WebKit, and the window role (kith-app), a process it starts when the
window is wanted and which exits when the window closes. The real tray role starts
with `--demo` on a session bus where nothing owns
`org.kde.StatusNotifierWatcher` yet: it must run on, window open, and log that it has
no tray. Then a StatusNotifierWatcher and host (tests/e2e/sni_host.py) appears, and the
app's StatusNotifierItem must register with it; its `ToolTip` must name the connection
state, `Activate` (a left click) must close and reopen the window, and the menu,
exported over com.canonical.dbusmenu, must carry Kith's items and act on their
`clicked` events (Open Kith, Do not disturb, Quit Kith). A closed window is a window
process gone and an open one a new process: the window is checked through the X server
with xdotool, as the window of a kith-app process the tray role started. Killing the
window process leaves the tray role running, and the next click opens a fresh window. Run by tests/e2e/session.sh after
test_app.py (one app at a time: a second one would only hand over to the first).
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sni_host import SniHost  # noqa: E402

TRAY = os.environ["KITH_TRAY"]
WORK = Path(os.environ["KITH_E2E_WORK"])
WAIT = 20.0
# Kith's tray retries every 5 s, and a debug build starts slowly.
REGISTER_WAIT = 30.0
APP_LOG = WORK / "tray-app.log"
SETTINGS = Path(os.environ["XDG_CONFIG_HOME"]) / "dev.kith.desktop" / "settings.json"
WINDOW_STATE = SETTINGS.parent / ".window-state.json"
# Not the default 380 × 560, and above the minimum 320 × 400.
RESIZED = (452, 611)
CONNECTED_TOOLTIP = re.compile(r"^Kith — connected · \d+ online · \d+ away · \d+ friends?$")
SNOOZED_TOOLTIP = re.compile(
    r"^Kith — connected · \d+ online · \d+ away · \d+ friends? · Alerts snoozed until (.* )?\d\d:\d\d$")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.")
LOG_LEVELS = "info,kith_app=debug,kith_shell=debug,kith_tray=debug"


def until(what, check, timeout=WAIT):
    """Polls `check` until it returns something truthy; fails with `what` on timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as error:  # the item or the window may be mid-change
            last = error
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def host():
    host = SniHost()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def app():
    log = open(APP_LOG, "ab")
    proc = subprocess.Popen([TRAY, "--demo"], stdout=log, stderr=log,
                            env={**os.environ, "RUST_LOG": LOG_LEVELS})
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def window_processes(tray):
    """Pids of the window processes (kith-app) the tray role has started and that run."""
    pids = []
    for task in Path(f"/proc/{tray.pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "kith-app":
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def windows(tray):
    """X windows titled "Kith" that the tray role's window processes have on screen."""
    found = []
    for pid in window_processes(tray):
        result = subprocess.run(["xdotool", "search", "--all", "--onlyvisible", "--pid", str(pid),
                                 "--name", "^Kith$"], capture_output=True, text=True)
        # 1 is "no window found"; anything else is xdotool failing, which must not pass
        # for a closed window.
        assert result.returncode in (0, 1), result.stderr
        found.extend(result.stdout.split())
    return found


def log_text():
    return APP_LOG.read_text(errors="replace")


def test_1_starts_without_a_tray_host(host, app):
    until("the window", lambda: windows(app), timeout=60)
    until("the log line saying there is no tray", lambda: "no tray" in log_text())
    assert app.poll() is None, log_text()[-2000:]
    assert host.items() == []


def test_2_registers_when_a_host_appears(host, app):
    host.start()
    items = until("the app's item registered with the watcher", host.items, timeout=REGISTER_WAIT)
    # The name ksni takes: the process id, then a counter that each attempt moves on.
    assert len(items) == 1 and re.fullmatch(rf"org\.kde\.StatusNotifierItem-{app.pid}-\d+", items[0]), items
    assert host.property(items[0], "Id") == "kith"
    assert host.property(items[0], "Title") == "Kith"
    until("the log line saying the tray is shown", lambda: "tray shown" in log_text())


def test_3_tooltip_names_the_connection_state(host, app):
    title, text = until("a connected tooltip",
                        lambda: (lambda t: t if CONNECTED_TOOLTIP.match(t[1]) else None)(host.tooltip()))
    assert title == "Kith"
    assert not JWT.search(text), text
    # The status line atop the menu says the same, for hosts that show no tooltips.
    # (The demo's friends keep changing status, so the count may move between reads.)
    status = host.menu_items()[0]
    assert CONNECTED_TOOLTIP.match(status["label"]), status
    assert status["enabled"] is False, status


def test_4_activate_toggles_the_window(host, app):
    assert windows(app), "the window is open before the first click"
    [first] = window_processes(app)
    host.activate()
    until("the window closed by a left click", lambda: not windows(app))
    until("the window process gone with its window", lambda: not window_processes(app))
    assert app.poll() is None, "closing the window leaves the tray role running"
    host.activate()
    until("the window open again after a second left click", lambda: windows(app))
    assert window_processes(app) != [first], "a new window process"
    # A second launch of Kith while the window is open raises it; no second window.
    subprocess.run([TRAY], check=True, env={**os.environ, "RUST_LOG": LOG_LEVELS}, timeout=30)
    time.sleep(1)
    assert len(window_processes(app)) == 1 and len(windows(app)) == 1


def test_4c_a_killed_window_process_leaves_the_tray_and_the_next_click_opens_a_fresh_one(host, app):
    [window] = until("the window process", lambda: window_processes(app))
    os.kill(window, 9)
    until("the window gone", lambda: not windows(app))
    time.sleep(1)
    assert app.poll() is None, "the tray role carries on"
    title, text = host.tooltip()
    assert title == "Kith" and text, "the tray still answers"
    host.activate()
    until("a fresh window after a click", lambda: windows(app))
    assert window not in window_processes(app)


def window_geometry(window_id):
    """(width, height) of an X window, from xdotool."""
    out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", window_id],
                         capture_output=True, text=True, check=True).stdout
    fields = dict(line.split("=", 1) for line in out.split())
    return int(fields["WIDTH"]), int(fields["HEIGHT"])


def saved_geometry():
    """The main window's (width, height) as tauri-plugin-window-state saved it."""
    state = json.loads(WINDOW_STATE.read_text())["main"]
    return state["width"], state["height"]


def test_4a_the_window_keeps_its_size_when_closed_and_reopened(host, app):
    [window] = until("the window", lambda: windows(app))
    subprocess.run(["xdotool", "windowsize", window, str(RESIZED[0]), str(RESIZED[1])], check=True)
    until("the resized window", lambda: window_geometry(window) == RESIZED)
    # The X server has the new size; the window process learns it from its own event
    # loop, which a loaded machine may not have run yet when the click's close arrives
    # over the IPC. A person does not resize and click within that instant.
    time.sleep(1)
    host.activate()
    until("the window closed", lambda: not windows(app))
    assert saved_geometry() == RESIZED, "saved to disk before the window was destroyed"
    host.activate()
    [reopened] = until("the window reopened", lambda: windows(app))
    until("the reopened window at the saved size", lambda: window_geometry(reopened) == RESIZED)


def test_4b_clicking_a_notification_opens_the_window_at_that_friend(host, app):
    host.activate()
    until("the window closed", lambda: not windows(app))
    shown = log_text().count("notification shown")
    # The demo's friends change status every few seconds; each change that settles is
    # announced.
    until("a notification", lambda: log_text().count("notification shown") > shown, timeout=60)
    subprocess.run(["dunstctl", "action", "0"], check=True)
    until("the window opened by the click", lambda: windows(app))
    line = until("the click logged with its friend",
                 lambda: [l for l in log_text().splitlines() if "opening the window at a friend" in l])
    assert "friend=" in line[-1], line


def test_5_menu_items_act_through_dbusmenu(host, app):
    labels = [entry.get("label", "") for entry in host.menu_items()]
    for label in ["Open Kith", "Reconnect now", "Do not disturb", "Snooze alerts", "For 30 minutes",
                  "For 1 hour", "Until tomorrow morning", "Resume alerts", "Launch at login", "Sign out",
                  "Quit Kith"]:
        assert label in labels, labels
    until("an online friend listed in the menu",
          lambda: any(entry.get("label", "").startswith("● ") for entry in host.menu_items()))
    # dbusmenu leaves out properties at their defaults: no "enabled" means enabled.
    assert host.menu_item("Sign out").get("enabled", True) is True, "signed in to the demo"
    assert host.menu_item("Reconnect now").get("enabled", True) is False, "connected: nothing to retry"

    host.activate()
    until("the window closed", lambda: not windows(app))
    host.click_menu("Open Kith")
    until("the window opened by Open Kith", lambda: windows(app))

    before = json.loads(SETTINGS.read_text()).get("do_not_disturb", False) if SETTINGS.exists() else False
    host.click_menu("Do not disturb")
    until("Do not disturb saved", lambda: json.loads(SETTINGS.read_text())["do_not_disturb"] == (not before))
    until("Do not disturb checked in the exported menu",
          lambda: host.menu_item("Do not disturb").get("toggle-state", 0) == (0 if before else 1))
    host.click_menu("Do not disturb")
    until("Do not disturb restored", lambda: json.loads(SETTINGS.read_text())["do_not_disturb"] == before)

    # Snooze from the menu: saved, said in the tooltip and the status line, undone by
    # Resume alerts, which is offered only while snoozed.
    assert host.menu_item("Resume alerts").get("enabled", True) is False, "not snoozed yet"
    host.click_menu("For 1 hour")
    until("the snooze saved", lambda: json.loads(SETTINGS.read_text()).get("snoozed_until"))
    until("a snoozed tooltip", lambda: SNOOZED_TOOLTIP.match(host.tooltip()[1]))
    until("the snooze in the menu's status line",
          lambda: any(SNOOZED_TOOLTIP.match(entry.get("label", "")) for entry in host.menu_items()))
    until("Resume alerts offered", lambda: host.menu_item("Resume alerts").get("enabled", True) is True)
    host.click_menu("Resume alerts")
    until("the snooze ended", lambda: json.loads(SETTINGS.read_text()).get("snoozed_until") is None)
    until("a tooltip without the snooze", lambda: CONNECTED_TOOLTIP.match(host.tooltip()[1]))


def test_6_quit_from_the_menu_ends_the_app(host, app):
    host.click_menu("Quit Kith")
    code = until("the app to exit", lambda: app.poll() is not None and [app.returncode])
    assert code == [0], log_text()[-2000:]


def test_7_a_new_start_opens_the_window_at_its_last_size():
    log = open(APP_LOG, "ab")
    proc = subprocess.Popen([TRAY, "--demo"], stdout=log, stderr=log,
                            env={**os.environ, "RUST_LOG": LOG_LEVELS})
    try:
        [window] = until("the window of the new start", lambda: windows(proc), timeout=60)
        try:
            until("the window at the size it had when Kith quit",
                  lambda: window_geometry(window) == RESIZED)
        except AssertionError as error:
            raise AssertionError(f"{error}; the window is {window_geometry(window)}, the saved "
                                 f"state {saved_geometry()}, expected {RESIZED}") from None
    finally:
        proc.terminate()
        proc.wait(10)
