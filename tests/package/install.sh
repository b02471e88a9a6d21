#!/usr/bin/env bash
# The install test of the Linux packages (`cargo xtask test`, `cargo xtask package-test`):
# installs the .deb with apt, checks its files, metadata and dependencies, runs both
# binaries from /usr/bin, checks the autostart entry, removes the package and checks
# that nothing of it is left in /usr. Also reads the .rpm's file list and requirements.
# Runs as root (CI does); xtask uses sudo otherwise.
# Usage: tests/package/install.sh KITH.deb KITH.rpm
set -euo pipefail
deb=$(realpath "$1")
rpm_file=$(realpath "$2")
package=kith
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "install test FAILED: $*" >&2
    exit 1
}
ok() { echo "install test: ok: $*"; }

# Waits up to $3 seconds for the extended regex $2 to appear in file $1.
wait_for() {
    local file=$1 pattern=$2 seconds=$3
    for _ in $(seq $((seconds * 10))); do
        grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "--- $file:" >&2
    tail -n 40 "$file" >&2 || true
    return 1
}

# Starts a command in its own process group (so the whole tree can be stopped).
start() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 &
    pids+=("$!")
}
# "pid name" of every process below $1 (names cut to 15 characters, as ps shows them).
descendants() {
    local table frontier=("$1") next parent pid ppid comm
    table=$(ps -e -o pid=,ppid=,comm=)
    while [ ${#frontier[@]} -gt 0 ]; do
        next=()
        for parent in "${frontier[@]}"; do
            while read -r pid ppid comm; do
                if [ "$ppid" = "$parent" ]; then
                    next+=("$pid")
                    echo "$pid $comm"
                fi
            done <<<"$table"
        done
        frontier=("${next[@]}")
    done
}
# Waits up to $3 seconds for a process named $2 below $1.
wait_for_process() {
    for _ in $(seq $(($3 * 10))); do
        descendants "$1" | grep -q " $2" && return 0
        sleep 0.1
    done
    return 1
}
stop_all() {
    for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

expected_files=(
    /usr/bin/kith-app
    /usr/bin/kith-tray
    /usr/bin/kith
    /usr/share/applications/Kith.desktop
    /usr/share/metainfo/dev.kith.desktop.metainfo.xml
)
for size in 32x32 48x48 64x64 128x128 256x256 512x512; do
    expected_files+=("/usr/share/icons/hicolor/$size/apps/kith-app.png")
done
depends_required=(libwebkit2gtk-4.1-0 libgtk-3-0)

# --- The .rpm: its files and requirements (it is not installed on Debian).
rpm_files=$(rpm -qpl "$rpm_file" 2>/dev/null)
for file in "${expected_files[@]}"; do
    grep -qxF "$file" <<<"$rpm_files" || fail "the .rpm lacks $file"
done
rpm_requires=$(rpm -qp --requires "$rpm_file" 2>/dev/null)
for dep in webkit2gtk4.1 gtk3; do
    grep -qx "$dep" <<<"$rpm_requires" || fail "the .rpm does not require $dep"
done
ok "the .rpm holds every file and requires WebKitGTK 4.1 and GTK 3"

# --- Install the .deb as a user would.
if dpkg -s "$package" >/dev/null 2>&1; then
    apt-get remove -y -qq "$package" >/dev/null
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
dpkg -s "$package" | grep -qx 'Status: install ok installed' || fail "dpkg does not list $package as installed"
ok "apt-get installed $deb"

listing=$(dpkg -L "$package")
for file in "${expected_files[@]}"; do
    grep -qxF "$file" <<<"$listing" || fail "dpkg -L $package lacks $file"
    [ -s "$file" ] || fail "$file is missing or empty"
done
[ -x /usr/bin/kith-app ] && [ -x /usr/bin/kith-tray ] && [ -x /usr/bin/kith ] || fail "the binaries are not executable"
ok "dpkg -L lists the three binaries, the desktop entry, the metainfo and ${#expected_files[@]} files in all"

depends=$(dpkg-query -W -f='${Depends}' "$package")
for dep in "${depends_required[@]}"; do
    grep -Eq "(^|, )$dep( |,|$)" <<<"$depends" || fail "Depends ($depends) lacks $dep"
done
# Every library the binaries link must come from a package (none bundled, none missing).
for bin in /usr/bin/kith-app /usr/bin/kith-tray /usr/bin/kith; do
    if ldd "$bin" | grep -q 'not found'; then
        fail "$bin links a library that is not installed: $(ldd "$bin" | grep 'not found')"
    fi
done
ok "Depends: $depends"
# The tray role never links WebKit: that is what keeps Kith light in the tray.
if ldd /usr/bin/kith-tray | grep -i -E 'webkit|javascriptcore'; then
    fail "/usr/bin/kith-tray links WebKit"
fi
ok "/usr/bin/kith-tray links no WebKit"

desktop-file-validate /usr/share/applications/Kith.desktop || fail "desktop-file-validate"
grep -qx 'Exec=kith-tray' /usr/share/applications/Kith.desktop || fail "the desktop entry does not start kith-tray"
appstreamcli validate --no-net /usr/share/metainfo/dev.kith.desktop.metainfo.xml >/dev/null ||
    fail "appstreamcli validate --no-net: $(appstreamcli validate --no-net /usr/share/metainfo/dev.kith.desktop.metainfo.xml)"
ok "the desktop entry passes desktop-file-validate, the metainfo appstreamcli validate --no-net"

# --- /usr/bin/kith-tray --demo in a headless desktop session, with launch at login on:
# the tray role, which starts the window role (/usr/bin/kith-app) next to it.
home="$work/home"
mkdir -p "$home/.config/dev.kith.desktop"
echo '{"launch_at_login": true}' >"$home/.config/dev.kith.desktop/settings.json"
app_env=(env -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u XDG_CACHE_HOME HOME="$home"
    RUST_LOG=kith_core=debug,kith_app=debug,kith_shell=debug,kith_tray=debug,warn)
start "$work/app.log" "${app_env[@]}" xvfb-run -a dbus-run-session -- /usr/bin/kith-tray --demo
# Its log file (stderr has colours): the Linux log directory under the test's HOME.
app_log="$home/.local/share/dev.kith.desktop/logs/kith.log"
wait_for "$app_log" 'connection state state="connected"' 60 ||
    fail "kith-tray --demo never connected: $(tail -n 20 "$work/app.log")"
ok "/usr/bin/kith-tray --demo connected to its demo server"
# Its window is open: the window role runs, and WebKit's web process under it, which
# is what the login launch must not start.
wait_for_process "${pids[-1]}" kith-app 30 || fail "kith-tray --demo started no window (kith-app)"
wait_for_process "${pids[-1]}" WebKitWeb 30 || fail "the window of kith-tray --demo has no web process"
ok "/usr/bin/kith-tray --demo opened its window: /usr/bin/kith-app with a web process"

autostart="$home/.config/autostart/Kith.desktop"
[ -f "$autostart" ] || fail "launch at login wrote no $autostart"
exec_line=$(grep '^Exec=' "$autostart")
[ "$exec_line" = "Exec=/usr/bin/kith-tray --hidden" ] || fail "the autostart entry says $exec_line"
ok "the autostart entry: $exec_line"
stop_all

# What a login launch runs: the autostart entry's command, tray only.
read -r -a login_command <<<"${exec_line#Exec=}"
start "$work/hidden.log" "${app_env[@]}" xvfb-run -a dbus-run-session -- "${login_command[@]}"
wait_for_process "${pids[-1]}" kith-tray 30 || fail "the login launch did not start: $(tail -n 20 "$work/hidden.log")"
sleep 5
descendants "${pids[-1]}" | grep -q " kith-tray" || fail "the login launch exited: $(tail -n 20 "$work/hidden.log")"
if descendants "${pids[-1]}" | grep -q -E " WebKitWeb| kith-app"; then
    fail "the login launch (--hidden) started a window or a web process"
fi
ok "the login launch runs the tray role alone, with no window and no web process"
stop_all

# --- /usr/bin/kith demo prints presence events.
start "$work/cli.log" env HOME="$home" /usr/bin/kith demo
wait_for "$work/cli.log" '"event":"presence"' 60 || fail "kith demo printed no presence event"
ok "/usr/bin/kith demo printed: $(grep -m1 '"event":"presence"' "$work/cli.log")"
stop_all

# --- Remove it; nothing of it may stay in /usr.
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$package" >/dev/null
if dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
    fail "$package is still installed"
fi
left=()
while IFS= read -r path; do
    case "$path" in /usr/*) ;; *) continue ;; esac
    [ -e "$path" ] || continue
    # A directory that stays must belong to another package (e.g. hicolor's own).
    if [ -d "$path" ] && dpkg -S "$path" >/dev/null 2>&1; then continue; fi
    left+=("$path")
done <<<"$listing"
[ ${#left[@]} -eq 0 ] || fail "left in /usr after removal: ${left[*]}"
ok "apt-get remove left nothing of $package in /usr"
echo "install test: passed in ${SECONDS} s"
