//! SQLite storage: users, friendships, the refresh-token blacklist, the presence sequence
//! counter and the JWT signing secret.
//!
//! Everything a restart must keep lives here, so a server re-spawned on the same file
//! accepts the refresh tokens it issued before. One connection behind a `std::sync::Mutex`
//! is enough: every query is short, and holding the lock across "update + broadcast" is
//! what keeps presence sequence numbers in the same order as the messages that carry them.

use crate::error::ServerError;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// A user id, as stored in SQLite's `INTEGER PRIMARY KEY`.
pub type UserId = u64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS presence_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO presence_seq (id, value) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    salt          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    status        TEXT NOT NULL,
    last_seen     INTEGER NOT NULL,
    seq           INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS friendships (
    user_id   INTEGER NOT NULL REFERENCES users(id),
    friend_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (user_id, friend_id)
);
CREATE TABLE IF NOT EXISTS blacklist (
    jti            TEXT PRIMARY KEY,
    expires_at     INTEGER NOT NULL,
    blacklisted_at INTEGER NOT NULL
);
";

const SECRET_KEY: &str = "jwt_signing_secret";

/// A user's public row: who they are and their current presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRow {
    pub id: UserId,
    pub username: String,
    pub status: String,
    /// Unix seconds.
    pub last_seen: i64,
    /// Sequence number of this user's last status change, 0 if none yet.
    pub seq: u64,
}

/// Expired blacklist entries are deleted every this many new entries, so the table
/// stays near the number of unexpired rotated tokens however long the server runs.
const PRUNE_EVERY: u32 = 256;

/// The database: one SQLite connection, locked per operation.
pub(crate) struct Db {
    conn: Mutex<Connection>,
    /// New blacklist entries since the last prune.
    blacklisted_since_prune: AtomicU32,
}

impl Db {
    /// Opens (or creates) the database file, or an in-memory one for `None`. The file
    /// holds the signing secret and password hashes, so it and its WAL companions are
    /// readable by the owner only (0600 on Unix), whatever the umask; an existing file
    /// with wider permissions is narrowed.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, ServerError> {
        let conn = match path {
            Some(path) => {
                create_private(path)?;
                let conn = Connection::open(path)?;
                // WAL keeps writers from blocking a second connection (a restarted server
                // in the same process) and makes each commit cheaper.
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                // SQLite gives -wal and -shm the main file's mode; narrow any left from
                // before that file was private.
                for suffix in ["-wal", "-shm"] {
                    let mut companion = path.as_os_str().to_owned();
                    companion.push(suffix);
                    let companion = std::path::PathBuf::from(companion);
                    if companion.exists() {
                        make_private(&companion)?;
                    }
                }
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            blacklisted_since_prune: AtomicU32::new(0),
        })
    }

    /// Locks the connection. A poisoned lock is recovered: SQLite's own state is consistent
    /// whatever a panicking holder was doing, since every write is one statement or one
    /// transaction.
    pub(crate) fn lock(&self) -> Store<'_> {
        Store {
            conn: self.conn.lock().unwrap_or_else(|p| p.into_inner()),
            blacklisted_since_prune: &self.blacklisted_since_prune,
        }
    }
}

/// Creates `path` with mode 0600 if it does not exist, or narrows it to 0600 if it does.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => make_private(path),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), ServerError> {
    Ok(())
}

#[cfg(unix)]
fn make_private(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> Result<(), ServerError> {
    Ok(())
}

/// The locked connection; all queries go through it.
pub(crate) struct Store<'a> {
    conn: MutexGuard<'a, Connection>,
    blacklisted_since_prune: &'a AtomicU32,
}

impl Store<'_> {
    /// The HS256 secret, generated and stored on first use so it survives restarts.
    pub(crate) fn signing_secret(&mut self) -> Result<Vec<u8>, ServerError> {
        let existing: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![SECRET_KEY],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(hex_secret) = existing {
            return hex::decode(hex_secret.trim())
                .ok()
                .filter(|s| s.len() >= 32)
                .ok_or_else(|| {
                    ServerError::Corrupt("the stored signing secret is not valid".into())
                });
        }
        let mut secret = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![SECRET_KEY, hex::encode(&secret)],
        )?;
        Ok(secret)
    }

    /// Creates a user with status "offline" and `last_seen = now`; `password_hash` is
    /// a PHC string from `password::Hasher`.
    pub(crate) fn create_user(
        &mut self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<UserId, ServerError> {
        if self.user_by_name(username)?.is_some() {
            return Err(ServerError::UserExists(username.to_owned()));
        }
        // The PHC string carries its own salt; the column stays for legacy rows.
        self.conn.execute(
            "INSERT INTO users (username, salt, password_hash, status, last_seen, seq)
             VALUES (?1, '', ?2, 'offline', ?3, 0)",
            params![username, password_hash, now],
        )?;
        let id = self.conn.last_insert_rowid();
        UserId::try_from(id).map_err(|_| ServerError::Corrupt(format!("negative user id {id}")))
    }

    /// A user's id and stored `(salt, password_hash)`, for checking a password outside
    /// the lock.
    pub(crate) fn password_record(
        &mut self,
        username: &str,
    ) -> Result<Option<(UserId, String, String)>, ServerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, salt, password_hash FROM users WHERE username = ?1",
                params![username],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Replaces a user's password hash (a legacy row upgraded to Argon2).
    pub(crate) fn set_password_hash(
        &mut self,
        user: UserId,
        password_hash: &str,
    ) -> Result<(), ServerError> {
        self.conn.execute(
            "UPDATE users SET salt = '', password_hash = ?2 WHERE id = ?1",
            params![user, password_hash],
        )?;
        Ok(())
    }

    pub(crate) fn user_by_name(&mut self, username: &str) -> Result<Option<UserRow>, ServerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, username, status, last_seen, seq FROM users WHERE username = ?1",
                params![username],
                user_row,
            )
            .optional()?)
    }

    pub(crate) fn user_by_id(&mut self, id: UserId) -> Result<Option<UserRow>, ServerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, username, status, last_seen, seq FROM users WHERE id = ?1",
                params![id],
                user_row,
            )
            .optional()?)
    }

    /// Makes `a` and `b` friends of each other. Returns false if they already were.
    pub(crate) fn befriend(&mut self, a: UserId, b: UserId) -> Result<bool, ServerError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO friendships (user_id, friend_id) VALUES (?1, ?2), (?2, ?1)",
            params![a, b],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// `user`'s friends with their presence, ordered by id.
    pub(crate) fn friends_of(&mut self, user: UserId) -> Result<Vec<UserRow>, ServerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.id, u.username, u.status, u.last_seen, u.seq
             FROM friendships f JOIN users u ON u.id = f.friend_id
             WHERE f.user_id = ?1 ORDER BY u.id",
        )?;
        let rows = stmt.query_map(params![user], user_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The last sequence number handed out (0 before the first status change).
    pub(crate) fn current_seq(&mut self) -> Result<u64, ServerError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM presence_seq WHERE id = 1", [], |r| {
                r.get(0)
            })?)
    }

    /// Sets a status, takes the next global sequence number for it and returns the new row.
    pub(crate) fn set_status(
        &mut self,
        user: UserId,
        status: &str,
        now: i64,
    ) -> Result<UserRow, ServerError> {
        let tx = self.conn.transaction()?;
        let seq: u64 = tx.query_row(
            "UPDATE presence_seq SET value = value + 1 WHERE id = 1 RETURNING value",
            [],
            |r| r.get(0),
        )?;
        let row = tx
            .query_row(
                "UPDATE users SET status = ?2, last_seen = ?3, seq = ?4 WHERE id = ?1
                 RETURNING id, username, status, last_seen, seq",
                params![user, status, now, seq],
                user_row,
            )
            .optional()?;
        let Some(row) = row else {
            // Dropping `tx` rolls the sequence bump back.
            return Err(ServerError::UnknownUser(format!("#{user}")));
        };
        tx.commit()?;
        Ok(row)
    }

    /// Blacklists a refresh token's `jti`. Returns false if it already was blacklisted,
    /// which makes check-and-blacklist one atomic step for concurrent refreshes. Every
    /// `PRUNE_EVERY` new entries, expired ones are deleted.
    pub(crate) fn blacklist(
        &mut self,
        jti: &str,
        expires_at: u64,
        now: i64,
    ) -> Result<bool, ServerError> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO blacklist (jti, expires_at, blacklisted_at) VALUES (?1, ?2, ?3)",
            params![jti, expires_at, now],
        )?;
        if n > 0 && self.blacklisted_since_prune.fetch_add(1, Ordering::Relaxed) + 1 >= PRUNE_EVERY
        {
            self.blacklisted_since_prune.store(0, Ordering::Relaxed);
            let pruned = self.prune_blacklist(now)?;
            tracing::debug!(pruned, "expired blacklist entries pruned");
        }
        Ok(n > 0)
    }

    pub(crate) fn is_blacklisted(&mut self, jti: &str) -> Result<bool, ServerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM blacklist WHERE jti = ?1",
                params![jti],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Forgets blacklist entries whose tokens have expired anyway.
    pub(crate) fn prune_blacklist(&mut self, now: i64) -> Result<usize, ServerError> {
        Ok(self
            .conn
            .execute("DELETE FROM blacklist WHERE expires_at < ?1", params![now])?)
    }

    #[cfg(test)]
    fn blacklist_len(&mut self) -> Result<u64, ServerError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM blacklist", [], |r| r.get(0))?)
    }
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        status: r.get(2)?,
        last_seen: r.get(3)?,
        seq: r.get(4)?,
    })
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_sequence() -> Result<(), ServerError> {
        let db = Db::open(None)?;
        let mut s = db.lock();
        let alice = s.create_user("alice", "$h1", 100)?;
        let bob = s.create_user("bob", "$h2", 100)?;
        assert!(matches!(
            s.create_user("alice", "$x", 1),
            Err(ServerError::UserExists(_))
        ));
        assert_eq!(
            s.password_record("alice")?,
            Some((alice, String::new(), "$h1".to_owned()))
        );
        assert_eq!(s.password_record("nobody")?, None);
        s.set_password_hash(bob, "$h3")?;
        assert_eq!(
            s.password_record("bob")?.map(|r| r.2).as_deref(),
            Some("$h3")
        );
        assert!(s.befriend(alice, bob)?);
        assert!(!s.befriend(bob, alice)?);
        assert_eq!(s.current_seq()?, 0);
        let row = s.set_status(bob, "online", 200)?;
        assert_eq!((row.seq, row.last_seen), (1, 200));
        assert!(s.set_status(999, "online", 200).is_err());
        assert_eq!(s.set_status(alice, "away", 201)?.seq, 2);
        let friends = s.friends_of(alice)?;
        assert_eq!(friends.len(), 1);
        assert_eq!(friends[0].status, "online");
        assert!(s.blacklist("j1", 10, 0)?);
        assert!(!s.blacklist("j1", 10, 0)?);
        assert!(s.is_blacklisted("j1")?);
        assert_eq!(s.prune_blacklist(11)?, 1);
        let secret = s.signing_secret()?;
        assert_eq!(s.signing_secret()?, secret);
        Ok(())
    }

    #[test]
    fn the_blacklist_is_pruned_as_it_grows() -> Result<(), ServerError> {
        let db = Db::open(None)?;
        let mut s = db.lock();
        let now = 1_000;
        // Two entries whose tokens expired long ago, then live ones up to the prune.
        assert!(s.blacklist("old1", 10, 20)?);
        assert!(s.blacklist("old2", 10, 20)?);
        for i in 2..PRUNE_EVERY - 1 {
            assert!(s.blacklist(&format!("live{i}"), 5_000, now)?);
        }
        assert_eq!(s.blacklist_len()?, u64::from(PRUNE_EVERY) - 1);
        // A repeated jti is not a new entry and does not count towards the prune.
        assert!(!s.blacklist("live2", 5_000, now)?);
        assert_eq!(s.blacklist_len()?, u64::from(PRUNE_EVERY) - 1);
        assert!(s.blacklist("last", 5_000, now)?);
        assert_eq!(s.blacklist_len()?, u64::from(PRUNE_EVERY) - 2);
        assert!(!s.is_blacklisted("old1")?);
        assert!(s.is_blacklisted("live2")?);
        Ok(())
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
