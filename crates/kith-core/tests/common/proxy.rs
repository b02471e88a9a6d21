//! A small HTTP CONNECT proxy on 127.0.0.1 for the proxy tests: real sockets, a log of
//! every CONNECT it was asked for, optional Basic auth, and switches to refuse (403),
//! to change the credentials it wants, and to cut every open tunnel.

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct Rules {
    /// `user:pass` the proxy wants, if any.
    credentials: Option<String>,
    /// Answer every CONNECT with this status instead of tunnelling.
    refuse: Option<u16>,
}

pub struct TestProxy {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    rules: Arc<Mutex<Rules>>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TestProxy {
    pub async fn start(credentials: Option<&str>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(Rules {
            credentials: credentials.map(str::to_owned),
            refuse: None,
        }));
        let (cut, _) = watch::channel(0u64);
        let task = {
            let (log, rules, cut) = (log.clone(), rules.clone(), cut.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (log, rules, cut) = (log.clone(), rules.clone(), cut.subscribe());
                    tokio::spawn(serve(client, log, rules, cut));
                }
            })
        };
        TestProxy {
            port,
            log,
            rules,
            cut,
            task,
        }
    }

    /// `http://[creds@]127.0.0.1:PORT`.
    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(creds) => format!("http://{creds}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every request line seen (`CONNECT host:port HTTP/1.1`), with the auth verdict.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn connects_to(&self, authority: &str) -> usize {
        self.log()
            .iter()
            .filter(|line| {
                line.starts_with(&format!("CONNECT {authority} ")) && line.ends_with(" ok")
            })
            .count()
    }

    pub fn set_credentials(&self, credentials: Option<&str>) {
        self.rules.lock().unwrap().credentials = credentials.map(str::to_owned);
    }

    pub fn set_refuse(&self, status: Option<u16>) {
        self.rules.lock().unwrap().refuse = status;
    }

    /// Closes every open tunnel.
    pub fn cut_tunnels(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn stop(self) {
        self.cut_tunnels();
        self.task.abort();
    }
}

async fn serve(
    client: TcpStream,
    log: Arc<Mutex<Vec<String>>>,
    rules: Arc<Mutex<Rules>>,
    mut cut: watch::Receiver<u64>,
) {
    let mut reader = BufReader::new(client);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("proxy-authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    let request_line = request_line.trim_end().to_owned();
    let (want, refuse) = {
        let rules = rules.lock().unwrap();
        (rules.credentials.clone(), rules.refuse)
    };
    let authorized = match &want {
        None => true,
        Some(creds) => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            );
            authorization.as_deref() == Some(expected.as_str())
        }
    };
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = reader.into_inner();
    let verdict = if method != "CONNECT" {
        "not-connect"
    } else if !authorized {
        "407"
    } else if refuse.is_some() {
        "refused"
    } else {
        "ok"
    };
    log.lock()
        .unwrap()
        .push(format!("{request_line} {verdict}"));
    match verdict {
        "407" => {
            let _ = client
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"kith\"\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
        "refused" => {
            let status = refuse.unwrap_or(403);
            let _ = client
                .write_all(
                    format!("HTTP/1.1 {status} Forbidden\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                )
                .await;
            return;
        }
        "not-connect" => {
            let _ = client
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
        _ => {}
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = cut.changed() => {}
    }
}
