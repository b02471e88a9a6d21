//! Kith's own commands, so that running and testing the project is one command each on
//! a fresh Debian or Ubuntu machine:
//!
//! - `cargo xtask run`: the demo (`kith demo --human`), after installing what it needs;
//! - `cargo xtask test`: fmt check, clippy with `-D warnings`, every test (the UI's pure
//!   modules with `node --test`), the tests that need a desktop session (the OS
//!   keyring) inside `dbus-run-session` with an unlocked gnome-keyring, and the Linux
//!   package installed and run;
//! - `cargo xtask package`: the .deb and .rpm of the desktop app (see `package.rs`).
//!
//! Plain `std::process` is enough here; a task-runner crate would add nothing.

mod bench;
mod package;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Debian packages the build needs: a C compiler for bundled SQLite, and WebKitGTK and
/// friends for the Tauri app.
const BUILD_PACKAGES: &[&str] = &[
    "gcc",
    "pkg-config",
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libxdo-dev",
    "libssl-dev",
];
/// Debian packages the tests need: a D-Bus session bus, a Secret Service, an X server,
/// WebKit's WebDriver, a notification daemon, secret-tool to inspect the keyring,
/// openssl to make the WebDriver test's private CA, and xdotool to see whether the
/// tray test's window is on screen.
const TEST_PACKAGES: &[&str] = &[
    "dbus",
    "dbus-x11",
    "gnome-keyring",
    "libsecret-tools",
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "dunst",
    "openssl",
    "xdotool",
    "python3-pip",
    "python3-venv",
];
/// Debian packages of the install test: the validators of the desktop entry and the
/// AppStream metainfo, and rpm to read the .rpm.
const PACKAGE_TEST_PACKAGES: &[&str] = &["desktop-file-utils", "appstream", "rpm", "binutils"];
/// Python packages of the WebDriver test and of the tray test's StatusNotifierItem
/// host, pinned.
const PYTHON_PACKAGES: &[&str] = &["selenium==4.51.0", "pytest==9.2.0", "dbus-next==0.2.3"];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = workspace_root()?;
    std::env::set_current_dir(&root).context("cannot enter the workspace")?;
    match task.as_str() {
        "run" => run(&rest),
        "run-cli" => run_cli(&rest),
        "test" => test(&root),
        "e2e" => {
            let mut packages = BUILD_PACKAGES.to_vec();
            packages.extend(TEST_PACKAGES);
            ensure_debian_packages(&packages)?;
            e2e()
        }
        "footprint" => footprint(),
        "package" => {
            ensure_debian_packages(BUILD_PACKAGES)?;
            ensure_debian_packages(&["binutils"])?;
            let profile = if rest.iter().any(|a| a == "--debug") {
                package::Profile::Debug
            } else {
                package::Profile::Release
            };
            let packages = package::build(&root, &target_dir()?, profile)?;
            println!("{}\n{}", packages.deb.display(), packages.rpm.display());
            Ok(())
        }
        "package-test" => {
            let mut packages = BUILD_PACKAGES.to_vec();
            packages.extend(TEST_PACKAGES);
            packages.extend(PACKAGE_TEST_PACKAGES);
            ensure_debian_packages(&packages)?;
            package_test(&root)
        }
        "bench" => bench::run(),
        _ => {
            eprintln!("usage: cargo xtask <run|run-cli|test|e2e|footprint|package|package-test|bench>\n\n  run      start the desktop app with the demo (kith-app --demo)\n  run-cli  the demo in a terminal (kith demo --human)\n  test     fmt, clippy and every test, including the keyring and end-to-end tests\n  e2e      only the end-to-end test of the desktop app\n  footprint  memory of the installed release package (window open, closed, --hidden) next to a bare Tauri app\n  package  the .deb and .rpm of the app under <target>/package/release/bundle/ [--debug]\n  package-test  package the debug build, install the .deb, run it, remove it\n  bench    build in release mode, run the benchmarks, regenerate BENCHMARKS.md [--quick] [--with-app]");
            bail!("unknown task {task:?}")
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

/// The desktop app with the demo (`kith-tray --demo`, which opens the window).
/// Without a display (a bare server), it says so.
fn run(extra: &[String]) -> Result<()> {
    ensure_debian_packages(BUILD_PACKAGES)?;
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!("xtask: no display; `cargo xtask run-cli` runs the same demo in the terminal");
    }
    // The tray role runs the demo and starts the window role (kith-app) from next to
    // itself, so both are built first.
    cargo(&["build", "--package", "kith-app", "--package", "kith-tray"])?;
    let mut args = vec!["run", "--package", "kith-tray", "--", "--demo"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
}

fn run_cli(extra: &[String]) -> Result<()> {
    ensure_debian_packages(&["gcc", "pkg-config"])?;
    let mut args = vec![
        "run",
        "--package",
        "kith-cli",
        "--bin",
        "kith",
        "--",
        "demo",
    ];
    if extra.is_empty() {
        args.push("--human");
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    args.extend(extra);
    cargo(&args)
}

fn test(root: &Path) -> Result<()> {
    let mut packages = BUILD_PACKAGES.to_vec();
    packages.extend(TEST_PACKAGES);
    packages.extend(PACKAGE_TEST_PACKAGES);
    ensure_debian_packages(&packages)?;
    ensure_rust_components()?;
    step("cargo fmt --check");
    cargo(&["fmt", "--all", "--check"])?;
    step("cargo clippy -D warnings");
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    step("cargo test (all crates)");
    cargo(&["test", "--workspace"])?;
    step("peer backends: Django venv, Node packages");
    let peer_python = install_peer_packages()?;
    step("UI modules: node --test");
    status(
        Command::new("node").args(["--test", "tests/ui/"]),
        "node --test tests/ui/",
    )?;
    // tests/tinyproxy.rs runs Kith through Debian's tinyproxy (the binary only).
    ensure_debian_packages(&["tinyproxy-bin"])?;
    step("desktop-session and peer tests: OS keyring in a D-Bus session, real peer backends");
    // The empty line on stdin is what unlocks gnome-keyring; zero bytes does not.
    let script = "set -e\n\
        echo '' | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n\
        cargo test --workspace -- --ignored --test-threads=1 --skip locked_keyring\n";
    status(
        Command::new("dbus-run-session")
            .args(["--", "bash", "-c", script])
            .env("KITH_PEER_PYTHON", peer_python),
        "dbus-run-session",
    )?;
    step("a keyring that locks while Kith runs, in a D-Bus session of its own");
    // It locks the session's keyring for good, so it cannot share one.
    let script = "set -e\n\
        echo '' | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n\
        cargo test -p kith-core --test keyring_locked -- --ignored\n";
    status(
        Command::new("dbus-run-session").args(["--", "bash", "-c", script]),
        "dbus-run-session (locked keyring)",
    )?;
    e2e()?;
    package_test(root)
}

/// Packages the debug build (see [`package::Profile::Debug`] for why not release),
/// then `tests/package/install.sh` installs the .deb with apt, checks its files, runs
/// both binaries from /usr/bin, and removes it. Needs root (sudo otherwise).
fn package_test(root: &Path) -> Result<()> {
    step("the Linux packages: build, install, run from /usr/bin, remove");
    let started = std::time::Instant::now();
    let packages = package::build(root, &target_dir()?, package::Profile::Debug)?;
    eprintln!(
        "xtask: packaged in {:.1} s: {}, {}",
        started.elapsed().as_secs_f64(),
        packages.deb.display(),
        packages.rpm.display()
    );
    let mut command = if is_root() {
        Command::new("bash")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["--preserve-env=PATH", "bash"]);
        sudo
    };
    command
        .arg("tests/package/install.sh")
        .arg(&packages.deb)
        .arg(&packages.rpm);
    status(&mut command, "the install test")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Memory of the installed release package in issue 19's four cases: the tray role
/// alone (`/usr/bin/kith-tray --hidden`, signed in), the window open (a tray click
/// starts `/usr/bin/kith-app`), the window closed again, and after ten more
/// open/close cycles; signed in to a release kith-server in its own process, next to a
/// bare Tauri 2 app (tools/bare-tauri) built in the same run. The .deb is installed
/// with apt for the measurement and removed afterwards, whether it succeeded or not
/// (root, or sudo).
fn footprint() -> Result<()> {
    let mut packages = BUILD_PACKAGES.to_vec();
    packages.extend(TEST_PACKAGES);
    ensure_debian_packages(&packages)?;
    ensure_debian_packages(&["binutils"])?;
    ensure_tauri_driver()?;
    ensure_python_packages()?;
    let root = workspace_root()?;
    let target = target_dir()?;
    let built = package::build(&root, &target, package::Profile::Release)?;
    // Alone, so the bare app's Tauri has only its own features, not Kith's.
    cargo(&["build", "--release", "--package", "bare-tauri-app"])?;
    // The server the measured Kith signs in to, in a process of its own.
    cargo(&["build", "--release", "--package", "kith-server"])?;
    let deb = built.deb.to_string_lossy().into_owned();
    as_root(&["apt-get", "install", "-y", "--no-install-recommends", &deb])?;
    let measured = status(
        desktop_session(&["footprint"])
            .env("KITH_FOOTPRINT_TRAY", "/usr/bin/kith-tray")
            .env("KITH_FOOTPRINT_CLI", "/usr/bin/kith")
            .env("KITH_FOOTPRINT_SERVER", target.join("release/kith-server"))
            .env("KITH_FOOTPRINT_BARE", target.join("release/bare-tauri-app")),
        "the footprint measurement",
    );
    // The .deb's package name: tauri.conf.json's productName, as tauri-bundler writes
    // it and tests/package/install.sh checks it.
    let removed = as_root(&["apt-get", "remove", "-y", "kith"]);
    measured.and(removed)
}

/// Runs a command as root: directly when xtask already is root (CI), else with sudo.
fn as_root(args: &[&str]) -> Result<()> {
    let mut command = if is_root() {
        Command::new(args[0])
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(args[0]);
        sudo
    };
    command
        .args(&args[1..])
        .env("DEBIAN_FRONTEND", "noninteractive");
    status(&mut command, &args.join(" "))
}

/// `tests/e2e/session.sh` in a headless desktop session. xvfb-run first, then
/// dbus-run-session: D-Bus-activated services must reach the display.
fn desktop_session(args: &[&str]) -> Command {
    let mut command = Command::new("xvfb-run");
    command.args([
        "-a",
        "-s",
        "-screen 0 1280x800x24",
        "dbus-run-session",
        "--",
        "bash",
        "tests/e2e/session.sh",
    ]);
    command.args(args);
    command
}

fn ensure_python_packages() -> Result<()> {
    let mut pip = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
    if pip_needs_break_system_packages() {
        pip.push("--break-system-packages");
    }
    pip.extend(PYTHON_PACKAGES);
    status(Command::new("python3").args(&pip), "pip install")
}

/// The real app through WebDriver, in a headless desktop session.
fn e2e() -> Result<()> {
    step("end-to-end: the desktop app through WebDriver");
    ensure_tauri_driver()?;
    ensure_python_packages()?;
    cargo(package::DEBUG_BUILD)?;
    status(&mut desktop_session(&[]), "the end-to-end test")
}

/// A venv with the Python peers' packages (Django, python-socketio), and the Node
/// peers' packages; returns the venv's Python.
fn install_peer_packages() -> Result<PathBuf> {
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_node {
        ensure_debian_packages(&["nodejs", "npm"])?;
    }
    let venv = target_dir()?.join("peer-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        status(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
    }
    status(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            "tests/peers/django/requirements.txt",
            "-r",
            "tests/peers/python-socketio/requirements.txt",
            "-r",
            "tests/peers/channels_presence/requirements.txt",
        ]),
        "pip install (Django, django-channels-presence and python-socketio peers)",
    )?;
    status(
        Command::new("npm").args([
            "ci",
            "--prefix",
            "tests/peers/node",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]),
        "npm ci (Node peers)",
    )?;
    // The Next-Auth app (seed 003) and the OpenID provider: their own packages, and
    // the Next.js app built once per run (`next build`, about half a minute).
    for peer in ["tests/peers/nextauth", "tests/peers/oidc"] {
        status(
            Command::new("npm").args([
                "ci",
                "--prefix",
                peer,
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ]),
            &format!("npm ci ({peer})"),
        )?;
    }
    status(
        Command::new("npm")
            .args(["run", "build", "--prefix", "tests/peers/nextauth"])
            .env("NEXT_TELEMETRY_DISABLED", "1"),
        "next build (the Next-Auth peer)",
    )?;
    Ok(python)
}

fn ensure_tauri_driver() -> Result<()> {
    let present = Command::new("tauri-driver")
        .arg("--help")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !present {
        cargo(&["install", "tauri-driver", "--version", "^2", "--locked"])?;
    }
    Ok(())
}

/// Debian 12's pip refuses to install into the system Python without this flag.
fn pip_needs_break_system_packages() -> bool {
    Command::new("python3")
        .args(["-c", "import sys, sysconfig, os; p = os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'); sys.exit(0 if os.path.exists(p) else 1)"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/`.
fn target_dir() -> Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(std::env::current_dir()?.join("target")),
    }
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    status(
        Command::new(cargo).args(args),
        &format!("cargo {}", args.join(" ")),
    )
}

fn status(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn ensure_rust_components() -> Result<()> {
    for (probe, component) in [("clippy", "clippy"), ("fmt", "rustfmt")] {
        let present = Command::new("cargo")
            .args([probe, "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !present {
            status(
                Command::new("rustup").args(["component", "add", component]),
                "rustup component add",
            )?;
        }
    }
    Ok(())
}

/// Installs the Debian packages that are missing (with sudo when not root).
fn ensure_debian_packages(packages: &[&str]) -> Result<()> {
    if !Path::new("/usr/bin/dpkg").exists() {
        eprintln!("xtask: not a Debian system; make sure these are installed: {packages:?}");
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    let is_root = is_root();
    let apt = |args: &[&str]| -> Result<()> {
        let mut command = if is_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        status(&mut command, "apt-get")
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)
}
