//! Requests sent with `Expect: 100-continue` that are answered without their body being
//! read (a failed precondition, a refused signature) end their connection.
//!
//! Clients such as botocore send `Expect: 100-continue` on uploads and hold the body back
//! until the server sends `100 Continue` — but only for about a second: then they send it
//! anyway, as RFC 9110 lets them. hyper sends `100 Continue` when the body is first read, and
//! when the answer comes without reading it, keeps the connection for the next request. If
//! that answer took longer than the client waited, the body is already on its way, and its
//! bytes are read as the start of the next request (a GetObject after a refused conditional
//! PutObject was seen to fail its signature that way). The server cannot tell those bytes
//! from a new request, so it closes the connection instead (RFC 9110 §10.1.1 allows that),
//! as h11 and other servers do.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONNECTION, EXPECT};
use http::HeaderValue;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// Whether a request's body was read to its end; kept by the request-id middleware, which
/// every request passes, so this costs a request that expects nothing one header look-up
/// rather than a middleware of its own.
pub struct Watch(Option<Arc<AtomicBool>>);

/// Starts watching an expecting request's body.
pub fn watch(request: Request) -> (Request, Watch) {
    if !expects_continue(&request) {
        return (request, Watch(None));
    }
    // An empty body has nothing to be sent late.
    let read = Arc::new(AtomicBool::new(request.body().is_end_stream()));
    let request = request.map(|body| {
        Body::new(Tracked {
            inner: body,
            read: read.clone(),
        })
    });
    (request, Watch(Some(read)))
}

impl Watch {
    /// Marks the response to an expecting request whose body was not read to its end with
    /// `Connection: close`, which makes hyper close the connection after it.
    pub fn finish(self, response: &mut Response) {
        if let Some(read) = self.0 {
            if !read.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
        }
    }
}

fn expects_continue(request: &Request) -> bool {
    request
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
