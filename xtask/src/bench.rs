//! `cargo xtask bench`: builds the benchmark harness and the `kith` CLI in release
//! mode, runs every benchmark on 127.0.0.1 (`kith-bench run`, a few minutes), measures
//! the desktop app's footprint when its release binary already exists (or with
//! `--with-app`), and regenerates BENCHMARKS.md and its plots (`kith-bench report`).
//! `--quick` passes through for a short smoke run.

use std::process::Command;

use anyhow::{bail, Result};

pub fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let with_app = args.iter().any(|a| a == "--with-app");
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(unknown) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--with-app" | "--quick"))
    {
        bail!("unknown option {unknown:?}; cargo xtask bench [--quick] [--with-app]");
    }
    // A C compiler for bundled SQLite; dbus and gnome-keyring to measure `kith watch`
    // signed in through the OS keyring.
    super::ensure_debian_packages(&["gcc", "pkg-config", "dbus", "gnome-keyring"])?;
    super::step("cargo build --release -p kith-bench -p kith-cli");
    super::cargo(&[
        "build",
        "--release",
        "--package",
        "kith-bench",
        "--package",
        "kith-cli",
    ])?;

    let target = super::target_dir()?;
    let bench = target.join("release/kith-bench");
    let results = target.join("bench/results.json");
    let mut command = String::from("cargo xtask bench");
    for arg in &args {
        command.push(' ');
        command.push_str(arg);
    }
    super::step("kith-bench run");
    let mut run = Command::new(&bench);
    run.arg("run")
        .arg("--out")
        .arg(&results)
        .args(["--command", &command]);
    if quick {
        run.arg("--quick");
    }
    // Exit code 3: results written, but some benchmark could not measure.
    let measured = run.status()?;
    if !measured.success() && measured.code() != Some(3) {
        bail!("kith-bench run failed ({measured})");
    }

    if with_app || target.join("release/kith-app").exists() {
        super::step("desktop app footprint (cargo xtask footprint)");
        if let Err(error) = super::footprint() {
            eprintln!("xtask: the desktop app's footprint was not measured: {error:#}");
        }
    }

    super::step("kith-bench report");
    super::status(
        Command::new(&bench)
            .arg("report")
            .arg("--results")
            .arg(&results)
            .args(["--out", "BENCHMARKS.md", "--svg-dir", "docs"])
            .arg("--app-footprint")
            .arg(target.join("e2e/footprint.json")),
        "kith-bench report",
    )?;
    if !measured.success() {
        bail!("some benchmarks could not measure; BENCHMARKS.md lists them");
    }
    Ok(())
}
