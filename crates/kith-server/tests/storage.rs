//! What the SQLite file holds and who may read it: it carries the JWT signing secret and
//! the password hashes, so it and its WAL companions are owner-only (0600), and the
//! passwords in it are Argon2id hashes, not the passwords.

mod common;

use common::{remove_db, start, temp_db};
use kith_server::ServerConfig;

fn file_config(path: &std::path::Path) -> ServerConfig {
    ServerConfig {
        db_path: Some(path.to_owned()),
        ..ServerConfig::in_process()
    }
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_is_owner_only() {
    let path = temp_db("mode-new");
    let (server, admin) = start(file_config(&path)).await;
    admin.set_status("bob", "online").expect("a write");
    for file in [
        path.clone(),
        with_suffix(&path, "-wal"),
        with_suffix(&path, "-shm"),
    ] {
        assert_eq!(mode_of(&file), 0o600, "{}", file.display());
    }
    server.shutdown().await;
    remove_db(&path);
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_readable_database_is_narrowed() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_db("mode-old");
    let (server, _admin) = start(file_config(&path)).await;
    server.shutdown().await;
    for file in [
        path.clone(),
        with_suffix(&path, "-wal"),
        with_suffix(&path, "-shm"),
    ] {
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
    }
    assert_eq!(mode_of(&path), 0o644);
    let server = kith_server::spawn(file_config(&path)).await.expect("spawn");
    for file in [
        path.clone(),
        with_suffix(&path, "-wal"),
        with_suffix(&path, "-shm"),
    ] {
        if file.exists() {
            assert_eq!(mode_of(&file), 0o600, "{}", file.display());
        }
    }
    server.shutdown().await;
    remove_db(&path);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let path = temp_db("hashes");
    let (server, _admin) = start(file_config(&path)).await;
    let conn = rusqlite::Connection::open(&path).expect("open");
    let hashes: Vec<String> = conn
        .prepare("SELECT password_hash FROM users")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(hashes.len(), 3);
    for hash in &hashes {
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(!hash.contains("pw$") && hash != "pw");
    }
    assert_ne!(hashes[0], hashes[1], "each hash has its own salt");
    drop(conn);
    server.shutdown().await;
    remove_db(&path);
}
