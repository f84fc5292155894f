//! Streamed responses: a runtime that posts `/invocation/{id}/response` with
//! `Lambda-Runtime-Function-Response-Mode: streaming` sends its body in chunks (chunked
//! transfer) and may end it with the trailers `Lambda-Runtime-Function-Error-Type` and
//! `Lambda-Runtime-Function-Error-Body` (base64 of the error's JSON), which say the stream
//! ended in error. The Runtime API hands the chunks to the environment as they arrive
//! ([`Piece`]); the environment forwards them to the caller's [`Tap`] (or gathers them for a
//! caller that wants the response whole) while the function's timeout still runs.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use stratus_core::limits;
use tokio::sync::{mpsc, oneshot};

/// Pieces the Runtime API may hold for the environment before the runtime's POST waits.
const PIECES_IN_FLIGHT: usize = 8;
/// Chunks the caller's body may hold before the environment waits for the caller.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Part of a streamed response, as the Runtime API received it.
#[derive(Debug)]
pub enum Piece {
    Data(Bytes),
    /// The body ended (the last piece). A body cut off before its end sends no `End`: the
    /// channel closes, and the environment treats it as a runtime that went away.
    End(StreamEnd),
}

/// How a streamed body ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    Complete,
    /// The error trailers: the runtime's `errorType` and the error's JSON (may be empty).
    Error {
        error_type: String,
        body: Bytes,
    },
    /// More than [`limits::MAX_STREAMED_RESPONSE`] bytes: the rest was dropped.
    TooLarge,
}

/// A streaming answer from the runtime, as the environment receives it.
#[derive(Debug)]
pub struct Incoming {
    /// The runtime's `Content-Type` (`application/vnd.awslambda.http-integration-response`
    /// when the body starts with an HTTP prelude).
    pub content_type: Option<String>,
    pub pieces: mpsc::Receiver<Piece>,
}

/// Where a caller that can take a streamed response wants it (given with the request).
pub struct Tap {
    head: oneshot::Sender<Head>,
}

/// The start of a streamed response, given to the caller as soon as the runtime starts it.
pub struct Head {
    pub content_type: Option<String>,
    /// The body's chunks, in order, as the function writes them; closed at the end.
    pub body: mpsc::Receiver<Bytes>,
}

impl Tap {
    /// A tap, and where its head arrives (never, if the function answers in one piece).
    pub fn new() -> (Tap, oneshot::Receiver<Head>) {
        let (head, rx) = oneshot::channel();
        (Tap { head }, rx)
    }

    /// Opens the caller's body; `None` if the caller is gone.
    pub(crate) fn open(self, content_type: Option<String>) -> Option<mpsc::Sender<Bytes>> {
        let (tx, body) = mpsc::channel(CHUNKS_IN_FLIGHT);
        self.head
            .send(Head { content_type, body })
            .ok()
            .map(|()| tx)
    }
}

/// Whether a `/response` post streams.
pub(crate) fn is_streaming(headers: &http::HeaderMap) -> bool {
    headers
        .get("Lambda-Runtime-Function-Response-Mode")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("streaming"))
}

/// The channel the Runtime API passes pieces through.
pub(crate) fn channel() -> (mpsc::Sender<Piece>, mpsc::Receiver<Piece>) {
    mpsc::channel(PIECES_IN_FLIGHT)
}

/// Reads a streamed body to its end, passing each chunk on as it arrives. Chunks past the
/// limit, or that nobody takes any more, are read and dropped so the runtime's post completes
/// and its connection stays usable. `None`: the body broke off before its end.
pub(crate) async fn pump<B>(mut body: B, tx: &mpsc::Sender<Piece>) -> Option<StreamEnd>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut total = 0usize;
    let mut passing = true;
    let mut end = StreamEnd::Complete;
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        match frame.into_data() {
            Ok(data) => {
                total = total.saturating_add(data.len());
                if total > limits::MAX_STREAMED_RESPONSE {
                    end = StreamEnd::TooLarge;
                    passing = false;
                } else if passing && !data.is_empty() {
                    passing = tx.send(Piece::Data(data)).await.is_ok();
                }
            }
            Err(frame) => {
                if let (Ok(trailers), StreamEnd::Complete) = (frame.into_trailers(), &end) {
                    end = error_of(&trailers).unwrap_or(StreamEnd::Complete);
                }
            }
        }
    }
    Some(end)
}

/// The error the trailers carry, if any.
fn error_of(trailers: &http::HeaderMap) -> Option<StreamEnd> {
    let error_type = trailers
        .get("Lambda-Runtime-Function-Error-Type")?
        .to_str()
        .ok()?
        .to_string();
    let body = trailers
        .get("Lambda-Runtime-Function-Error-Body")
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .ok()
        })
        .map(Bytes::from)
        .unwrap_or_default();
    Some(StreamEnd::Error { error_type, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    type Frames = std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>;

    fn body(frames: Vec<Frame<Bytes>>) -> StreamBody<futures_util::stream::Iter<Frames>> {
        let items: Vec<_> = frames.into_iter().map(Ok).collect();
        StreamBody::new(futures_util::stream::iter(items))
    }

    async fn run(frames: Vec<Frame<Bytes>>) -> (Vec<Bytes>, Option<StreamEnd>) {
        let (tx, mut rx) = channel();
        let end = tokio::spawn(async move { pump(body(frames), &tx).await });
        let mut got = Vec::new();
        while let Some(p) = rx.recv().await {
            if let Piece::Data(d) = p {
                got.push(d);
            }
        }
        (got, end.await.unwrap())
    }

    #[tokio::test]
    async fn chunks_pass_in_order_and_trailers_end_in_error() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(
            "Lambda-Runtime-Function-Error-Type",
            "Boom".parse().unwrap(),
        );
        let json = base64::engine::general_purpose::STANDARD.encode(r#"{"errorType":"Boom"}"#);
        trailers.insert("Lambda-Runtime-Function-Error-Body", json.parse().unwrap());
        let (got, end) = run(vec![
            Frame::data(Bytes::from_static(b"a")),
            Frame::data(Bytes::from_static(b"")),
            Frame::data(Bytes::from_static(b"bc")),
            Frame::trailers(trailers),
        ])
        .await;
        assert_eq!(
            got,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")]
        );
        assert_eq!(
            end,
            Some(StreamEnd::Error {
                error_type: "Boom".into(),
                body: Bytes::from_static(br#"{"errorType":"Boom"}"#)
            })
        );
    }

    #[tokio::test]
    async fn a_clean_end_and_an_oversized_body() {
        let (got, end) = run(vec![Frame::data(Bytes::from_static(b"x"))]).await;
        assert_eq!((got.len(), end), (1, Some(StreamEnd::Complete)));
        let big = Bytes::from(vec![0u8; limits::MAX_STREAMED_RESPONSE / 2 + 1]);
        let (got, end) = run(vec![Frame::data(big.clone()), Frame::data(big)]).await;
        assert_eq!((got.len(), end), (1, Some(StreamEnd::TooLarge)));
    }

    #[test]
    fn only_the_streaming_mode_streams() {
        let mut h = http::HeaderMap::new();
        assert!(!is_streaming(&h));
        h.insert(
            "lambda-runtime-function-response-mode",
            "Streaming".parse().unwrap(),
        );
        assert!(is_streaming(&h));
        h.insert(
            "lambda-runtime-function-response-mode",
            "buffered".parse().unwrap(),
        );
        assert!(!is_streaming(&h));
    }
}
