//! The HTTP/1 accept loop. `axum::serve` exposes none of hyper's connection limits, so the
//! loop is written out here: a bound on concurrent connections, a time limit on reading a
//! request's headers (idle keep-alive connections included), a cap on their size, the peer
//! address for `ConnectInfo`, and a graceful shutdown that lets requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// The most bytes a request's start line and headers may take; more is answered `431`.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most header fields a request may have (hyper's default, kept on the stack); more is
/// answered `431`.
pub const MAX_HEADERS: usize = 100;

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, asks every
/// connection to close after its current request, and returns when all have.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let http = http1_builder(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // `true` once connections should finish their request and close.
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a receiver; the sender sees them all gone when the last ends.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // A response written in more than one piece (headers, then a body streamed from a
        // file) must not wait for the client's delayed ACK of the first: Nagle's algorithm
        // held GetObject's body back ~40 ms.
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            http: http.clone(),
            app: app.clone(),
            stop: stop_rx.clone(),
            open: open_rx.clone(),
            _permit: permit,
        };
        tokio::spawn(conn.run(stream, peer));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// hyper's HTTP/1 settings: the header read time-out needs a timer to take effect.
fn http1_builder(limits: Limits) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout.max(Duration::from_millis(100)))
        .max_header_size(MAX_HEADER_BYTES);
    http
}

/// A failed `accept`: out of file descriptors or memory, wait a moment so the loop does not
/// spin; a connection that died before it was accepted, go on at once.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::warn!(%e, "accepting a connection failed; pausing accepts briefly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// One accepted connection and what it shares with the loop.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    app: Router,
    stop: watch::Receiver<bool>,
    open: watch::Receiver<()>,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // Handlers read the peer address (HTTP API events' `sourceIp`, metering).
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
        });
        let conn = self.http.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let mut stop = self.stop.clone();
        let stopping = async move {
            // The guard `wait_for` returns is not `Send`: drop it here.
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = stopping => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            // Time-outs, oversized headers and clients that hung up: the client's doing.
            tracing::debug!(%peer, %e, "connection ended with an error");
        }
        drop(self.open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/peer",
            axum::routing::get(|ConnectInfo(p): ConnectInfo<SocketAddr>| async move {
                p.ip().to_string()
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(listener, app, limits, async {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    const LIMITS: Limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 4,
    };

    #[tokio::test]
    async fn answers_with_the_peer_address() {
        let (addr, _stop) = start(LIMITS).await;
        let answer = exchange(
            addr,
            b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
    }

    #[tokio::test]
    async fn oversized_or_too_many_headers_are_431() {
        let (addr, _stop) = start(LIMITS).await;
        let big = format!(
            "GET /peer HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_BYTES)
        );
        assert!(exchange(addr, big.as_bytes())
            .await
            .starts_with("HTTP/1.1 431"));
        let many: String = (0..=MAX_HEADERS)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect();
        let many = format!("GET /peer HTTP/1.1\r\nhost: x\r\n{many}\r\n");
        assert!(exchange(addr, many.as_bytes())
            .await
            .starts_with("HTTP/1.1 431"));
    }

    #[tokio::test]
    async fn silent_connections_are_closed_and_do_not_block_others() {
        let (addr, _stop) = start(LIMITS).await;
        // Fill all but one slot with sockets that send nothing (one a partial request line).
        let mut idle = Vec::new();
        for i in 0..LIMITS.max_connections - 1 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            if i == 0 {
                s.write_all(b"GET /pe").await.unwrap();
            }
            idle.push(s);
        }
        let answer = exchange(
            addr,
            b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // Each silent socket is closed by the server after the header time-out.
        for mut s in idle {
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            assert!(
                matches!(read, Ok(Ok(_)) | Ok(Err(_))),
                "closed by the server"
            );
        }
    }

    #[tokio::test]
    async fn shutdown_waits_for_connections_to_finish() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                "done"
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, LIMITS, async {
            let _ = rx.await;
        }));
        let client = tokio::spawn(exchange(addr, b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(()).unwrap();
        let answer = client.await.unwrap();
        assert!(answer.ends_with("done"), "{answer}");
        server.await.unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
