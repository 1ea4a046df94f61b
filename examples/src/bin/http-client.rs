//! An HTTP client (hyper-util's pooled client) whose connections are MPTCP: a custom
//! connector built on `mptcp_socket::tokio::connect`.
//!
//! ```text
//! cargo run -p mptcp-examples --bin http-client -- http://127.0.0.1:8080/
//! ```
//!
//! The connector is a `tower_service::Service<Uri>` returning tokio's `TcpStream` (wrapped
//! in hyper-util's `TokioIo`): everything else is hyper as usual.

use mptcp_examples::{out, outln};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mptcp_socket::MptcpExt;
use tokio::net::TcpStream;

/// Fetches URLs over MPTCP and prints the responses.
#[derive(Parser)]
struct Args {
    /// `http://` URLs to fetch, in order, over the client's connection pool.
    #[arg(required = true)]
    urls: Vec<Uri>,
}

/// Opens MPTCP connections for hyper (plain TCP where the kernel has no MPTCP).
#[derive(Clone, Copy, Debug, Default)]
struct MptcpConnector;

impl tower_service::Service<Uri> for MptcpConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            if uri.scheme_str() != Some("http") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{uri}: only http:// URLs are supported by this example"),
                ));
            }
            let host = uri.host().unwrap_or("localhost");
            // Uri keeps the brackets of an IPv6 literal; the resolver wants it bare.
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(80);
            let stream = mptcp_socket::tokio::connect((host.as_str(), port)).await?;
            let kind = stream
                .connection_kind()
                .map_or_else(|e| e.to_string(), |k| k.to_string());
            outln!(
                "http-client: connected to {} over {kind}",
                stream.peer_addr()?
            );
            Ok(TokioIo::new(stream))
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client: Client<MptcpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(MptcpConnector);
    for url in args.urls {
        let response = match client.get(url.clone()).await {
            Ok(response) => response,
            Err(err) => {
                // hyper-util's error says "client error (Connect)"; the cause says why.
                let cause = std::error::Error::source(&err)
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                eprintln!("http-client: GET {url}: {err}{cause}");
                return ExitCode::FAILURE;
            }
        };
        outln!("http-client: GET {url}: {}", response.status());
        match response.into_body().collect().await {
            Ok(body) => out!("{}", String::from_utf8_lossy(&body.to_bytes())),
            Err(err) => {
                eprintln!("http-client: reading the body of {url}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
