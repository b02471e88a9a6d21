//! `cargo xtask package`: the desktop app's Linux packages (.deb and .rpm), built offline.
//!
//! Route: the Tauri bundler as a library (`tauri-bundler`), called from here, not the
//! `tauri` CLI. Why:
//! - the CLI treats the directory that holds `tauri.conf.json` as the app crate's and
//!   reads the `Cargo.toml` next to it; Kith keeps the config at the repository root,
//!   where `Cargo.toml` is the workspace's, and the layout wants it there;
//! - the CLI is one more tool to install: `cargo install tauri-cli` compiles for many
//!   minutes on a 2-core machine, npm's prebuilt one needs Node and its registry. The
//!   library is one more dependency of xtask, pinned by `Cargo.lock` and sharing
//!   `tauri-utils` with the app;
//! - with its default features off the library has no TLS, so it cannot download
//!   anything: the build is offline by construction (AppImage, which fetches its tools,
//!   is not offered).
//!
//! The cost is the mapping below from `tauri.conf.json`'s `bundle` section to the
//! bundler's settings (what the CLI does internally). It maps the fields Kith uses and
//! refuses a config that asks for a feature it does not map, rather than ignore it.
//!
//! The binaries are copied to a staging directory and stripped there, so the bundler
//! never touches Cargo's outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use tauri_bundler::{
    AppCategory, BundleBinary, BundleSettings, DebianSettings, PackageSettings, PackageType,
    RpmSettings, SettingsBuilder,
};
use tauri_utils::config::Config;

/// The binaries the packages install in /usr/bin, and their Cargo packages. The first
/// is the bundler's main binary (the icons are named after it); the desktop entry and
/// the launch-at-login entry start the tray role, `kith-tray`, which starts `kith-app`
/// (the window) from next to itself when the window is wanted.
pub const BINARIES: &[(&str, &str)] = &[
    ("kith-app", "kith-app"),
    ("kith", "kith-cli"),
    ("kith-tray", "kith-tray"),
];

/// The tray role, built in a release build of its own: built with the window role,
/// Cargo would unify muda's features with Tauri's (`gtk3`) and link GTK into a process
/// that never shows a GTK widget (and it never links WebKit either way).
pub const TRAY: &str = "kith-tray";

/// Which Cargo profile the packaged binaries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// What users get: `cargo build --release`.
    Release,
    /// The debug build the end-to-end test already made, for the install test: the
    /// same sources, features, linked libraries and packaging, without a second full
    /// build (a release build of the app takes about 9 minutes here).
    Debug,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// The debug build of the tests, the end-to-end test and the install test: the whole
/// workspace with every target, so its features are the ones `cargo test --workspace`
/// resolved (dev-dependencies included, e.g. tauri's `test`). Building only the app's
/// package would resolve them without the dev-dependencies and compile Tauri and
/// everything under it a second time.
pub const DEBUG_BUILD: &[&str] = &["build", "--workspace", "--all-targets"];

/// The packages written.
#[derive(Debug)]
pub struct Packages {
    pub deb: PathBuf,
    pub rpm: PathBuf,
}

/// Builds the binaries in `profile`, then writes the .deb and the .rpm under
/// `<target>/package/<profile>/bundle/`.
pub fn build(root: &Path, target: &Path, profile: Profile) -> Result<Packages> {
    match profile {
        Profile::Release => {
            let mut args = vec!["build", "--release"];
            for (bin, package) in BINARIES.iter().filter(|(bin, _)| *bin != TRAY) {
                args.extend(["--package", package, "--bin", bin]);
            }
            crate::cargo(&args)?;
            crate::cargo(&["build", "--release", "--package", TRAY, "--bin", TRAY])?;
        }
        Profile::Debug => crate::cargo(DEBUG_BUILD)?,
    }

    let config_path = root.join("tauri.conf.json");
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config: Config = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid Tauri config", config_path.display()))?;

    let staging = target.join("package").join(profile.dir());
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)?;
    for (bin, _) in BINARIES {
        let from = target.join(profile.dir()).join(bin);
        let to = staging.join(bin);
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        crate::status(
            Command::new("strip").arg("--strip-unneeded").arg(&to),
            "strip",
        )?;
    }

    let settings = SettingsBuilder::new()
        .project_out_directory(&staging)
        .package_settings(package_settings(&config)?)
        .bundle_settings(bundle_settings(&config, root)?)
        .binaries(
            BINARIES
                .iter()
                .enumerate()
                .map(|(i, (bin, _))| BundleBinary::new(bin.to_string(), i == 0))
                .collect(),
        )
        .package_types(vec![PackageType::Deb, PackageType::Rpm])
        // Binary patching records the package type for Tauri's updater; Kith has none.
        .binary_patching(false)
        .build()
        .context("bundler settings")?;
    let bundles = tauri_bundler::bundle_project(&settings).context("bundling failed")?;
    let find = |kind: PackageType| -> Result<PathBuf> {
        bundles
            .iter()
            .filter(|b| b.package_type == kind)
            .flat_map(|b| b.bundle_paths.iter())
            .next()
            .cloned()
            .with_context(|| format!("the bundler wrote no {kind:?} package"))
    };
    let packages = Packages {
        deb: find(PackageType::Deb)?,
        rpm: find(PackageType::Rpm)?,
    };
    // Keep only the two packages: the staged binaries and the bundler's unpacked trees
    // are copies of what they hold, hundreds of MB for a debug build.
    for (bin, _) in BINARIES {
        std::fs::remove_file(staging.join(bin))?;
    }
    for package in [&packages.deb, &packages.rpm] {
        let dir = package.parent().context("a package has a directory")?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            }
        }
    }
    Ok(packages)
}

fn package_settings(config: &Config) -> Result<PackageSettings> {
    Ok(PackageSettings {
        product_name: config
            .product_name
            .clone()
            .context("tauri.conf.json has no productName")?,
        version: config
            .version
            .clone()
            .context("tauri.conf.json has no version")?,
        description: config.bundle.short_description.clone().unwrap_or_default(),
        homepage: config.bundle.homepage.clone(),
        authors: None,
        default_run: Some(BINARIES[0].0.to_string()),
    })
}

/// `tauri.conf.json`'s `bundle` section as the bundler's settings. Paths are relative
/// to the repository root, where the config lives.
fn bundle_settings(config: &Config, root: &Path) -> Result<BundleSettings> {
    let bundle = &config.bundle;
    if !bundle.active {
        bail!("bundle.active is false in tauri.conf.json");
    }
    let deb = &bundle.linux.deb;
    let rpm = &bundle.linux.rpm;
    // Fields this mapping leaves out; a config that sets one must extend it first.
    let unmapped = [
        ("bundle.resources", bundle.resources.is_some()),
        ("bundle.externalBin", bundle.external_bin.is_some()),
        (
            "bundle.fileAssociations",
            bundle.file_associations.is_some(),
        ),
        (
            "bundle.linux.deb maintainer scripts",
            deb.pre_install_script.is_some()
                || deb.post_install_script.is_some()
                || deb.pre_remove_script.is_some()
                || deb.post_remove_script.is_some(),
        ),
        (
            "bundle.linux.rpm maintainer scripts",
            rpm.pre_install_script.is_some()
                || rpm.post_install_script.is_some()
                || rpm.pre_remove_script.is_some()
                || rpm.post_remove_script.is_some(),
        ),
    ];
    if let Some((field, _)) = unmapped.iter().find(|(_, set)| *set) {
        bail!("xtask's bundler mapping does not support {field} yet");
    }
    let at_root = |path: &Path| root.join(path);
    let files = |map: &std::collections::HashMap<PathBuf, PathBuf>| {
        map.iter()
            .map(|(to, from)| (to.clone(), at_root(from)))
            .collect()
    };
    let category = match &bundle.category {
        Some(name) => Some(
            name.parse::<AppCategory>()
                .map_err(|error| anyhow::anyhow!("bundle.category {name:?}: {error:?}"))?,
        ),
        None => None,
    };
    Ok(BundleSettings {
        identifier: Some(config.identifier.clone()),
        publisher: bundle.publisher.clone(),
        homepage: bundle.homepage.clone(),
        icon: Some(
            bundle
                .icon
                .iter()
                .map(|icon| root.join(icon).display().to_string())
                .collect(),
        ),
        copyright: bundle.copyright.clone(),
        license: bundle.license.clone(),
        license_file: bundle.license_file.as_deref().map(at_root),
        category,
        short_description: bundle.short_description.clone(),
        long_description: bundle.long_description.clone(),
        deb: DebianSettings {
            depends: deb.depends.clone(),
            recommends: deb.recommends.clone(),
            provides: deb.provides.clone(),
            conflicts: deb.conflicts.clone(),
            replaces: deb.replaces.clone(),
            files: files(&deb.files),
            desktop_template: deb.desktop_template.as_deref().map(at_root),
            section: deb.section.clone(),
            priority: deb.priority.clone(),
            changelog: deb.changelog.as_deref().map(at_root),
            ..DebianSettings::default()
        },
        rpm: RpmSettings {
            depends: rpm.depends.clone(),
            recommends: rpm.recommends.clone(),
            provides: rpm.provides.clone(),
            conflicts: rpm.conflicts.clone(),
            obsoletes: rpm.obsoletes.clone(),
            release: rpm.release.clone(),
            epoch: rpm.epoch,
            files: files(&rpm.files),
            desktop_template: rpm.desktop_template.as_deref().map(at_root),
            ..RpmSettings::default()
        },
        ..BundleSettings::default()
    })
}
