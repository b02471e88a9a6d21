//! The smallest Kith client: start the reference server with its demo world on
//! 127.0.0.1, sign in, and print what the session reports, as mini-redis's examples
//! do. Run with `cargo run -p kith-core --example watch`.

use std::sync::Arc;

use kith_core::{MemoryStore, Secret, ServerProfile, Session};
use kith_server::{ServerConfig, DEMO_PASSWORD, DEMO_USER};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = kith_server::spawn(ServerConfig {
        demo: true,
        ..ServerConfig::in_process()
    })
    .await?;
    let profile = ServerProfile::simplejwt(server.http_url());
    let store = Arc::new(MemoryStore::new());
    let mut session = Session::login(profile, store, DEMO_USER, Secret::new(DEMO_PASSWORD)).await?;
    let mut events = session.take_events().ok_or("events are taken once")?;
    for _ in 0..20 {
        match events.recv().await {
            Some(event) => println!("{event:?}"),
            None => break,
        }
    }
    session.stop().await;
    server.shutdown().await;
    Ok(())
}
