#!/usr/bin/env bash
# The desktop session of the end-to-end test. Run it as
#   xvfb-run -a dbus-run-session -- bash tests/e2e/session.sh
# (in that order: D-Bus-activated services must reach the X display). It gives the
# app a throwaway HOME and XDG dirs, an unlocked gnome-keyring, dunst as notification
# daemon and a dbus-monitor log of Notify calls, then runs the WebDriver test and the
# tray test (or, with the argument `footprint`, the memory footprint measurement).
# Kith is two processes: the tray role (kith-tray, KITH_TRAY) and the window role it
# starts (kith-app, KITH_APP); XDG_RUNTIME_DIR below holds the socket between them.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/kith-e2e.XXXXXX)"
export HOME="$work/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
export XDG_CACHE_HOME="$HOME/.cache" XDG_STATE_HOME="$HOME/.local/state"
export XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

# The empty line is what unlocks the keyring; zero bytes does not.
echo "" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
dunst >"$work/dunst.log" 2>&1 &
dbus-monitor "interface='org.freedesktop.Notifications',member='Notify'" >"$work/notify.log" 2>&1 &
sleep 0.5

export KITH_E2E_WORK="$work"
export KITH_E2E_NOTIFY_LOG="$work/notify.log"
target="${CARGO_TARGET_DIR:-$root/target}"
export KITH_E2E_OUT="$target/e2e"
export KITH_APP="$target/debug/kith-app"
export KITH_TRAY="$target/debug/kith-tray"
export KITH_SERVER="$target/debug/kith-server"
export KITH_CLI="$target/debug/kith"
mkdir -p "$KITH_E2E_OUT"
status=0
if [ "${1:-}" = "footprint" ]; then
  python3 "$root/tests/e2e/footprint.py" || status=$?
else
  python3 -m pytest -v -p no:cacheprovider "$root/tests/e2e/test_app.py" "$root/tests/e2e/test_tray.py" || status=$?
fi
cp "$work"/*.log "$KITH_E2E_OUT"/ 2>/dev/null || true
exit "$status"
