//! `kith`: Kith's core in a terminal.
//!
//! `login` stores a session in the OS keyring, `watch` follows friends' presence as
//! JSON lines (or readable lines with `--human`), `logout` ends the session on the
//! server and in the keyring, `status` tells what is stored, and `demo` runs a
//! reference server in-process and watches it, with no setup at all.
//!
//! With no keyring running, `watch --username` signs in for this run only (the refresh
//! token stays in memory, never in a file) and says so on stderr; `login`, whose only
//! job is to store a session, refuses before sending the password.

mod output;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use kith_core::{
    ConnectionState, CredentialStore, KeyringStore, MemoryStore, ProfileSource, Secret,
    ServerProfile, Session, SessionError, SessionEvent, StoreError, TokenError, TokenManager,
};

#[derive(Parser)]
#[command(
    name = "kith",
    version,
    about = "Friends' presence from your terminal",
    after_help = "Exit codes: 0 stopped (Ctrl-C, SIGTERM) or done; 1 an error; 2 the session \
                  ended (signed out, refresh rejected); 3 logged out locally but the server \
                  did not revoke the session; 4 `watch` gave up connecting (the socket \
                  refused a fresh token, a certificate problem, max_attempts), the \
                  session kept for the next run."
)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ServerArgs {
    /// Server profile (TOML). Without it, the SimpleJWT profile is used.
    #[arg(long, global = true, env = "KITH_CONFIG")]
    config: Option<PathBuf>,
    /// A built-in profile: django-simplejwt, bearer-cookie, auth-message or socketio.
    #[arg(long, global = true, env = "KITH_PRESET", conflicts_with = "config")]
    preset: Option<String>,
    /// Server base URL; overrides the profile's `server`.
    #[arg(long, global = true, env = "KITH_SERVER")]
    server: Option<String>,
    /// Allow `http://` and `ws://` to a host that is not this machine. Passwords and
    /// tokens then cross the network in the clear; a profile file cannot opt in alone.
    #[arg(long, global = true)]
    allow_insecure: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Log in and store the session in the OS keyring (refused, before the password is
    /// sent, when no keyring is running: use `watch --username` then).
    Login {
        #[arg(long, required_unless_present = "browser")]
        username: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Sign in through the system browser (a profile with `auth.kind = "oidc"`):
        /// prints the address, opens the browser where there is one ($BROWSER first),
        /// and waits for it to come back; Ctrl-C cancels.
        #[arg(long, conflicts_with_all = ["username", "password_stdin"])]
        browser: bool,
    },
    /// Follow friends' presence: one JSON object per line.
    Watch {
        /// Log in first instead of resuming the stored session.
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        /// Readable lines instead of JSON.
        #[arg(long)]
        human: bool,
        /// Keep the session in memory only and never touch the keyring: nothing is
        /// stored, and the session lasts as long as this process. (With no keyring
        /// running, a sign-in is kept for this run only anyway, and `kith` says so.)
        #[arg(long, requires = "username")]
        ephemeral: bool,
    },
    /// End the session: the server blacklists it and the keyring entry is removed.
    Logout,
    /// Show whether a session is stored for the server.
    Status,
    /// Start a demo server on 127.0.0.1 and watch it.
    Demo {
        #[arg(long)]
        human: bool,
    },
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kith: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // Errors can quote the server (an error detail): no control characters.
            eprintln!("kith: {}", output::terminal_text(&format!("{error:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to stderr as `RUST_LOG` says, except debug and trace from the targets that
/// log secrets (kith_core::secret::SECRET_BEARING_LOG_TARGETS): a per-layer filter
/// drops them whatever the directives enable.
fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let secret_safe = tracing_subscriber::filter::filter_fn(|meta| {
        kith_core::secret::log_allowed(meta.target(), meta.level())
    });
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_filter(secret_safe);
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .init();
}

async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    match cli.command {
        Command::Login {
            username,
            password_stdin,
            browser,
        } => {
            let profile = load_profile(&cli.server)?;
            let password = match (&username, browser) {
                (Some(_), false) => Some(read_password(password_stdin)?),
                _ => None,
            };
            let store = keyring()?;
            let tokens = TokenManager::new(profile, store.clone())?;
            // `login` exists to store a session: with no keyring it would sign in for
            // nothing, so it stops before the password leaves this machine.
            if let Err(error @ StoreError::NoKeyring(_)) =
                stored_session(store, tokens.account()).await
            {
                bail!(login_without_keyring(&error));
            }
            let username = match (username, password) {
                (Some(username), Some(password)) => {
                    tokens
                        .login(&username, password)
                        .await
                        .context("login failed")?;
                    username
                }
                _ => tokens
                    .login_with_browser(open_browser, shutdown_signal())
                    .await
                    .context("sign-in through the browser failed")?,
            };
            if tokens.has_unsaved_credentials().await {
                // The keyring went away between the check and the save: end the
                // session just made rather than leave it valid and unused.
                let _ = tokens.logout().await;
                tokens.close().await;
                bail!(login_without_keyring(&StoreError::NoKeyring(
                    "it stopped answering during the sign-in".into()
                )));
            }
            tokens.close().await;
            println!(
                "{}",
                serde_json::json!({"event": "logged_in", "username": username, "server": tokens.account()})
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Watch {
            username,
            password_stdin,
            human,
            ephemeral,
        } => {
            let profile = load_profile(&cli.server)?;
            let store: Arc<dyn CredentialStore> = if ephemeral {
                Arc::new(MemoryStore::new())
            } else {
                keyring()?
            };
            let session = match username {
                Some(username) => {
                    let password = read_password(password_stdin)?;
                    Session::login(profile, store, &username, password)
                        .await
                        .context("login failed")?
                }
                None => match Session::resume(profile, store).await {
                    Err(SessionError::Token(TokenError::NotSignedIn)) => {
                        bail!("no stored session: run `kith login` first, or pass --username and --password-stdin")
                    }
                    Err(SessionError::Token(TokenError::Store(
                        error @ StoreError::NoKeyring(_),
                    ))) => {
                        bail!(
                            "no stored session: {error}, so nothing was remembered from an earlier run. \
                             Sign in with --username NAME --password-stdin (for this run only until a \
                             keyring runs)."
                        )
                    }
                    other => other?.0,
                },
            };
            watch(session, human).await
        }
        Command::Logout => {
            let profile = load_profile(&cli.server)?;
            let tokens = TokenManager::new(profile, keyring()?)?;
            match tokens.resume().await {
                Ok(_) => {}
                Err(TokenError::NotSignedIn) => {
                    println!(
                        "{}",
                        serde_json::json!({"event": "logged_out", "was_signed_in": false})
                    );
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                // Nothing can be stored without a keyring; a session kept for one run
                // ended with that run.
                Err(TokenError::Store(error @ StoreError::NoKeyring(_))) => {
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "logged_out", "was_signed_in": false,
                            "detail": format!("{error}: no session is stored"),
                        })
                    );
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                Err(error) => return Err(error.into()),
            }
            let result = tokens.logout().await;
            tokens.close().await;
            match result {
                Ok(()) => {
                    println!(
                        "{}",
                        serde_json::json!({"event": "logged_out", "was_signed_in": true, "revoked": true})
                    );
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(TokenError::NotRevoked(error)) => {
                    // The keyring entry is gone, but the refresh token may still be valid
                    // on the server: say so, and fail.
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "logged_out", "was_signed_in": true, "revoked": false,
                            "detail": format!("local credentials removed; the server did not revoke the session: {error}"),
                        })
                    );
                    Ok(std::process::ExitCode::from(3))
                }
                Err(error) => Err(error.into()),
            }
        }
        Command::Status => {
            let profile = load_profile(&cli.server)?;
            let store = keyring()?;
            let tokens = TokenManager::new(profile, store.clone())?;
            let status = match tokens.resume().await {
                Ok(username) => serde_json::json!({
                    "signed_in": true, "username": username, "server": tokens.account(), "store": store.describe()
                }),
                Err(TokenError::NotSignedIn) => serde_json::json!({
                    "signed_in": false, "server": tokens.account(), "store": store.describe()
                }),
                Err(TokenError::Store(error @ StoreError::NoKeyring(_))) => serde_json::json!({
                    "signed_in": false, "server": tokens.account(), "store": store.describe(),
                    "detail": error.to_string(),
                }),
                Err(error) => return Err(error.into()),
            };
            println!("{status}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Demo { human } => demo(human).await,
    }
}

fn load_profile(args: &ServerArgs) -> Result<ServerProfile> {
    let source = match (&args.config, &args.preset) {
        (Some(path), _) => ProfileSource::File(path),
        (None, Some(preset)) => ProfileSource::Preset(preset),
        (None, None) => ProfileSource::Default,
    };
    Ok(ServerProfile::resolve(
        source,
        args.server.as_deref(),
        args.allow_insecure,
    )?)
}

fn keyring() -> Result<Arc<dyn CredentialStore>> {
    let store = KeyringStore::open()
        .context("Kith keeps the session in the OS keyring and will not write it to a file")?;
    Ok(Arc::new(store))
}

/// What the keyring holds for `account`, within the store deadline: `login` asks before
/// it signs in, so that no keyring is found out before the password is sent.
async fn stored_session(
    store: Arc<dyn CredentialStore>,
    account: &str,
) -> Result<Option<kith_core::token::StoredCredentials>, StoreError> {
    let account = account.to_string();
    let load = tokio::task::spawn_blocking(move || store.load(&account));
    match tokio::time::timeout(kith_core::token::STORE_TIMEOUT, load).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(StoreError::Backend("keyring task failed".into())),
        Err(_) => Err(StoreError::Timeout(kith_core::token::STORE_TIMEOUT)),
    }
}

/// Why `kith login` signed nobody in.
fn login_without_keyring(error: &StoreError) -> String {
    format!(
        "nothing was signed in: `kith login` only stores a session in the OS keyring, and \
         {error}. Install gnome-keyring or enable KeePassXC's Secret Service, or sign in for \
         this run only with `kith watch --username NAME --password-stdin`."
    )
}

fn read_password(from_stdin: bool) -> Result<Secret> {
    if !from_stdin {
        bail!("pass --password-stdin and send the password on standard input");
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        bail!("the password on standard input is empty");
    }
    Ok(Secret::new(password))
}

/// Prints events until Ctrl-C, SIGTERM or the end of the session.
async fn watch(mut session: Session, human: bool) -> Result<std::process::ExitCode> {
    let Some(mut events) = session.take_events() else {
        bail!("the session's events were already taken");
    };
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut stdout = std::io::stdout().lock();
    let mut ended = false;
    let mut gave_up = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = events.recv() => {
                let Some(event) = event else { break };
                // Whether this run's sign-in will be remembered is said on stderr, in
                // both forms; the readable form then needs no line of its own for it.
                let notice = output::stderr_notice(&event);
                if let Some(notice) = &notice {
                    let _ = writeln!(std::io::stderr(), "{notice}");
                }
                let line = if human {
                    notice.is_none().then(|| output::event_human(&event))
                } else {
                    output::event_json(&event).map(|v| v.to_string())
                };
                if let Some(line) = line {
                    // A closed stdout (e.g. `| head`) ends the watch quietly.
                    if writeln!(stdout, "{line}").and_then(|_| stdout.flush()).is_err() {
                        break;
                    }
                }
                match event {
                    SessionEvent::SessionEnded { .. } => {
                        ended = true;
                        break;
                    }
                    // Nothing more will happen without someone asking: a script or a
                    // service manager learns it from the exit code.
                    SessionEvent::State(change) if change.to == ConnectionState::GaveUp => {
                        gave_up = true;
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    drop(stdout);
    session.stop().await;
    Ok(if ended {
        std::process::ExitCode::from(2)
    } else if gave_up {
        std::process::ExitCode::from(4)
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Shows the sign-in address and opens it in the user's browser: `$BROWSER` first,
/// then the desktop's default (the `webbrowser` crate). Where there is none (a remote
/// shell), the printed address is for the user to open elsewhere.
fn open_browser(url: &url::Url) {
    eprintln!("Sign in through your browser. If it does not open, visit:\n  {url}");
    if let Err(error) = webbrowser::open(url.as_str()) {
        eprintln!("(no browser could be opened here: {error})");
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn demo(human: bool) -> Result<std::process::ExitCode> {
    let mut config = kith_server::ServerConfig::in_process();
    config.demo = true;
    config.admin_token = None;
    config.access_ttl = std::time::Duration::from_secs(60);
    let server = kith_server::spawn(config)
        .await
        .context("cannot start the demo server")?;
    eprintln!(
        "kith demo: server on {} — signed in as demo; Ctrl-C to quit",
        server.http_url()
    );
    let profile = ServerProfile::simplejwt(server.http_url());
    // The demo keeps its session in memory: nothing to set up, nothing left behind.
    let session = Session::login(
        profile,
        Arc::new(MemoryStore::new()),
        "demo",
        Secret::new("demo"),
    )
    .await
    .context("cannot sign in to the demo server")?;
    let code = watch(session, human).await;
    server.shutdown().await;
    code
}
