//! Newline-delimited JSON with a size bound and deadlines. A message is one line of
//! compact JSON (serde_json never writes a raw newline inside one). A line longer than
//! the bound is an error as soon as the bound is passed, before the rest is read, so a
//! peer cannot make the other side buffer without limit; the connection then ends,
//! since what follows cannot be trusted to start a message.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// What can go wrong on the wire. Never holds a message's content: a sign-in carries a
/// password, so a malformed one is described by where it broke, not what it said.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("the IPC connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("an IPC message of {size} bytes or more is over the {max}-byte limit")]
    Oversize { size: usize, max: usize },
    #[error("an IPC message is not valid for this version of Kith ({category} error at line {line}, column {column})")]
    Malformed {
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("the IPC connection ended inside a message")]
    Truncated,
    #[error("no IPC answer within {0:?}")]
    Deadline(Duration),
}

impl CodecError {
    fn malformed(error: &serde_json::Error) -> Self {
        CodecError::Malformed {
            category: match error.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "eof",
            },
            line: error.line(),
            column: error.column(),
        }
    }
}

/// Reads one line of at most `max` bytes (without its newline); `None` at a clean end
/// of the stream, between messages.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, CodecError> {
    let mut line = Vec::new();
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(CodecError::Truncated)
            };
        }
        let (taken, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (buffer.len(), false),
        };
        if line.len() + taken > max {
            return Err(CodecError::Oversize {
                size: line.len() + taken,
                max,
            });
        }
        line.extend_from_slice(&buffer[..taken]);
        reader.consume(if done { taken + 1 } else { taken });
        if done {
            return Ok(Some(line));
        }
    }
}

/// Reads and decodes one message; `None` at a clean end of the stream.
pub async fn read_message<T: DeserializeOwned, R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<T>, CodecError> {
    match read_line(reader, max).await? {
        None => Ok(None),
        Some(line) => decode(&line).map(Some),
    }
}

/// Decodes one line.
pub fn decode<T: DeserializeOwned>(line: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(line).map_err(|e| CodecError::malformed(&e))
}

/// Encodes one message as a line, newline included; refused if over `max`.
pub fn encode<T: Serialize>(message: &T, max: usize) -> Result<Vec<u8>, CodecError> {
    let mut line = serde_json::to_vec(message).map_err(|e| CodecError::malformed(&e))?;
    if line.len() > max {
        return Err(CodecError::Oversize {
            size: line.len(),
            max,
        });
    }
    line.push(b'\n');
    Ok(line)
}

/// Writes one message within `deadline`.
pub async fn write_message<T: Serialize, W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &T,
    max: usize,
    deadline: Duration,
) -> Result<(), CodecError> {
    let line = encode(message, max)?;
    within(deadline, async {
        writer.write_all(&line).await?;
        writer.flush().await?;
        Ok(())
    })
    .await
}

/// Runs `work`, or fails with [`CodecError::Deadline`] once `deadline` has passed.
pub async fn within<T>(
    deadline: Duration,
    work: impl Future<Output = Result<T, CodecError>>,
) -> Result<T, CodecError> {
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or(Err(CodecError::Deadline(deadline)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{FromTray, Hello, Refusal, Role, ToTray, VERSION};
    use tokio::io::BufReader;

    #[tokio::test]
    async fn messages_round_trip_one_a_line() {
        let (client, server) = tokio::io::duplex(64);
        let mut writer = client;
        let mut reader = BufReader::new(server);
        let write = async {
            for role in [Role::Window, Role::Launcher] {
                write_message(
                    &mut writer,
                    &ToTray::Hello(Hello::new(role)),
                    1024,
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            }
            drop(writer);
        };
        let read = async {
            let mut roles = Vec::new();
            while let Some(ToTray::Hello(hello)) =
                read_message::<ToTray, _>(&mut reader, 1024).await.unwrap()
            {
                assert_eq!(hello.version, VERSION);
                roles.push(hello.role);
            }
            roles
        };
        let ((), roles) = tokio::join!(write, read);
        assert_eq!(roles, [Role::Window, Role::Launcher]);
    }

    #[tokio::test]
    async fn an_oversize_message_is_refused_on_both_sides() {
        // Written: refused before a byte goes out.
        let big = FromTray::Refused {
            refusal: Refusal::Version,
            detail: "x".repeat(200),
        };
        assert!(matches!(
            encode(&big, 100),
            Err(CodecError::Oversize { max: 100, .. })
        ));
        // Read: refused once the bound is passed, without waiting for the newline that
        // never comes (the writer keeps the stream open).
        let (mut client, server) = tokio::io::duplex(1 << 16);
        client.write_all(&[b'a'; 5000]).await.unwrap();
        let mut reader = BufReader::with_capacity(512, server);
        let error = read_line(&mut reader, 4096).await.unwrap_err();
        assert!(
            matches!(error, CodecError::Oversize { max: 4096, size } if size > 4096),
            "{error}"
        );
        // Exactly at the bound is fine.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        client.write_all(&[b'a'; 4096]).await.unwrap();
        client.write_all(b"\n").await.unwrap();
        let line = read_line(&mut BufReader::new(server), 4096).await.unwrap();
        assert_eq!(line.map(|l| l.len()), Some(4096));
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_answers_meets_the_deadline() {
        let (_client, server) = tokio::io::duplex(64);
        let mut reader = BufReader::new(server);
        let started = tokio::time::Instant::now();
        let error = within(
            Duration::from_secs(5),
            read_message::<FromTray, _>(&mut reader, 1024),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, CodecError::Deadline(d) if d == Duration::from_secs(5)));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // A writer whose peer never reads: the pipe fills, the write times out.
        let (mut client, _server) = tokio::io::duplex(16);
        let error = write_message(
            &mut client,
            &ToTray::Hello(Hello::new(Role::Window)),
            1024,
            Duration::from_secs(3),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, CodecError::Deadline(_)), "{error}");
    }

    #[tokio::test]
    async fn a_malformed_message_is_described_without_its_content() {
        let (mut client, server) = tokio::io::duplex(1024);
        client
            .write_all(b"{\"request\":{\"id\":1,\"request\":{\"sign_in\":{\"password\":\"hunter2-secret\"}}}}\n")
            .await
            .unwrap();
        let error = read_message::<ToTray, _>(&mut BufReader::new(server), 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, CodecError::Malformed { .. }), "{error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        // The end of the stream inside a message is not a clean end.
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b"{\"hello\":").await.unwrap();
        drop(client);
        let error = read_line(&mut BufReader::new(server), 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, CodecError::Truncated), "{error}");
    }
}
