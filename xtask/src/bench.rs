//! `cargo xtask bench`: builds the benchmark harness and the `kith` CLI in release
//! mode, runs every benchmark on 127.0.0.1 (`kith-bench run`, a few minutes), measures
//! the desktop app's footprint when its release binary already exists (or with
//! `--with-app`), and regenerates BENCHMARKS.md and its plots (`kith-bench report`).
//! `--quick` passes through for a short smoke run.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

const RESULTS: &str = "target/bench/results.json";
const APP: &str = "target/release/kith-app";

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

    let mut command = String::from("cargo xtask bench");
    for arg in &args {
        command.push(' ');
        command.push_str(arg);
    }
    super::step("kith-bench run");
    let bench = Path::new("target/release/kith-bench");
    let mut run = Command::new(bench);
    run.args(["run", "--out", RESULTS, "--command", &command]);
    if quick {
        run.arg("--quick");
    }
    // Exit code 3: results written, but some benchmark could not measure.
    let measured = run.status()?;
    if !measured.success() && measured.code() != Some(3) {
        bail!("kith-bench run failed ({measured})");
    }

    if with_app || Path::new(APP).exists() {
        super::step("desktop app footprint (cargo xtask footprint)");
        if let Err(error) = super::footprint() {
            eprintln!("xtask: the desktop app's footprint was not measured: {error:#}");
        }
    }

    super::step("kith-bench report");
    super::status(
        Command::new(bench).args([
            "report",
            "--results",
            RESULTS,
            "--out",
            "BENCHMARKS.md",
            "--svg-dir",
            "docs",
        ]),
        "kith-bench report",
    )?;
    if !measured.success() {
        bail!("some benchmarks could not measure; BENCHMARKS.md lists them");
    }
    Ok(())
}
