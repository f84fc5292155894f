//! A panic in one request's handler answers that request with an internal error and leaves
//! the server serving: the real platform and router, plus one route that only this test adds,
//! on a real socket.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The handler only this test adds to the real router.
async fn panicking() -> &'static str {
    panic!("boom in a handler")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_gets_an_internal_error_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = stratus_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        isolation: "process".into(),
        ..Default::default()
    };
    let platform = stratus_server::Platform::start(&cfg).await.unwrap();
    let addr = platform.local_addr().unwrap();
    let routes = stratus_api::routes(platform.state.clone())
        .route("/_test/panic", get(panicking).post(panicking));
    let app = stratus_api::with_edge_layers(routes, platform.state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(platform.serve(app, async {
        let _ = stopped.await;
    }));

    let answer = exchange(
        addr,
        "GET /_test/panic HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert_eq!(
        header(&answer, "x-amzn-ErrorType"),
        Some("ServiceException")
    );
    assert!(header(&answer, "x-amzn-RequestId").is_some_and(|id| !id.is_empty()));
    assert!(answer.contains("An internal error occurred"), "{answer}");

    // A request that names DynamoDB gets DynamoDB's fault shape.
    let answer = exchange(
        addr,
        "POST /_test/panic HTTP/1.1\r\nhost: x\r\nx-amz-target: DynamoDB_20120810.GetItem\r\n\
         content-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(
        answer.contains("com.amazonaws.dynamodb.v20120810#InternalServerError"),
        "{answer}"
    );

    // The server is still serving, and its workers are all running.
    let health = exchange(
        addr,
        "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    for worker in [
        "async_dispatcher",
        "idle_reaper",
        "log_sweeper",
        "metering_writer",
    ] {
        assert!(
            health.contains(&format!("\"{worker}\":\"running\"")),
            "{worker} in {health}"
        );
    }

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
