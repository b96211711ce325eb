//! The mock exchange: HTTPS on loopback, one endpoint.
//!
//! `GET /api/v1/balance` with `Authorization: Bearer <token>` answers
//! `{"uid":"u-123","balance":12.345,"asset":"ETH"}` for the account of that
//! token, with the account's further values after the balance
//! (`{"uid":"u-123","balance":12.345,"trades":17,"asset":"ETH"}`). Every
//! response has a `Content-Length` and closes the connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::Account;

/// The one endpoint.
pub const BALANCE_PATH: &str = "/api/v1/balance";
/// Largest request head the exchange reads.
const MAX_REQUEST: usize = 8 * 1024;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// Time a client has to finish its handshake and request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The accounts, by bearer token.
pub(crate) type Accounts = Arc<HashMap<String, Account>>;

/// Accepts connections until `shutdown` turns true (or its sender is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    accounts: Accounts,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Accept errors (EMFILE and the like) are transient.
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let acceptor = acceptor.clone();
        let accounts = accounts.clone();
        tokio::spawn(async move {
            // A client that stalls or breaks the connection only loses its
            // own response.
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, connection(stream, acceptor, accounts)).await;
            drop(permit);
        });
    }
}

async fn connection(stream: TcpStream, acceptor: TlsAcceptor, accounts: Accounts) -> std::io::Result<()> {
    let mut tls = acceptor.accept(stream).await?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST {
            break;
        }
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let response = respond(&head, &accounts);
    tls.write_all(&response).await?;
    tls.shutdown().await
}

/// The response to a request head (everything up to the blank line).
pub(crate) fn respond(head: &[u8], accounts: &HashMap<String, Account>) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if version != Some("HTTP/1.1") || parts.next().is_some() {
        return http(400, "Bad Request", r#"{"error":"bad request"}"#);
    }
    if target != Some(BALANCE_PATH) {
        return http(404, "Not Found", r#"{"error":"not found"}"#);
    }
    if method != Some("GET") {
        return http(405, "Method Not Allowed", r#"{"error":"method not allowed"}"#);
    }
    let token = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.trim().strip_prefix("Bearer "))
        .map(str::trim);
    match token.and_then(|t| accounts.get(t)) {
        Some(account) => http(200, "OK", &account.json()),
        None => http(401, "Unauthorized", r#"{"error":"unauthorized"}"#),
    }
}

fn http(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests;
