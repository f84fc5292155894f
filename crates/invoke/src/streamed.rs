//! Invocations whose response the caller takes as a stream (`InvokeWithResponseStream`, and
//! function URLs in `RESPONSE_STREAM` mode). The invocation runs in its own task, metered as
//! any other; the caller gets the body's chunks as the function writes them, and the outcome
//! (how it ended, the log) once the stream has ended. A function that answers in one piece (a
//! buffered handler, an error before any byte, a failed init) gives the same shape: its whole
//! payload as one chunk, the outcome ready at once.
//!
//! In a cluster, a call placed on another node is buffered there and relayed whole: the
//! internal channel carries complete answers only.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use stratus_engine::stream::Tap;
use stratus_engine::InvokeOutcome;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::resolve::Resolved;
use crate::run::{Call, Failure};
use crate::Invoker;

/// A streamed (or whole) answer, available as soon as the function starts answering.
pub struct StreamedOutcome {
    /// The version that runs.
    pub executed_version: String,
    /// Whether the function streamed (`false`: it answered in one piece, the body's one chunk).
    pub streamed: bool,
    /// The runtime's `Content-Type` for a streamed body
    /// (`application/vnd.awslambda.http-integration-response`: a JSON prelude, 8 NUL bytes,
    /// then the body; see [`split_prelude`]).
    pub content_type: Option<String>,
    pub body: Body,
    /// How it ended, once the body has ended.
    pub done: Done,
}

/// The body's chunks, in the order the function wrote them.
pub struct Body(BodyInner);

enum BodyInner {
    Stream(mpsc::Receiver<Bytes>),
    Whole(Option<Bytes>),
}

impl Stream for Body {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match &mut self.0 {
            BodyInner::Stream(rx) => rx.poll_recv(cx),
            BodyInner::Whole(b) => Poll::Ready(b.take()),
        }
    }
}

/// The outcome of a streamed invocation, once it has ended.
pub struct Done(DoneInner);

enum DoneInner {
    Running(JoinHandle<Result<InvokeOutcome, Failure>>),
    Ready(Box<InvokeOutcome>),
}

impl Done {
    /// Waits for the invocation's end: how it ended, its log, its payload (for an error, the
    /// error's JSON; for a streamed success, empty).
    pub async fn outcome(self) -> Result<InvokeOutcome, Failure> {
        match self.0 {
            DoneInner::Ready(out) => Ok(*out),
            DoneInner::Running(task) => task.await.unwrap_or(Err(Failure::Platform)),
        }
    }
}

impl StreamedOutcome {
    /// A whole answer: a function error keeps its payload in the outcome only.
    fn whole(out: InvokeOutcome) -> StreamedOutcome {
        let body = (!out.ending.is_function_error() && !out.payload.is_empty())
            .then(|| out.payload.clone());
        StreamedOutcome {
            executed_version: out.executed_version.clone(),
            streamed: false,
            content_type: None,
            body: Body(BodyInner::Whole(body)),
            done: Done(DoneInner::Ready(Box::new(out))),
        }
    }
}

impl Invoker {
    /// [`Invoker::invoke`] for a caller that takes the response as a stream.
    pub async fn invoke_streaming(
        self: &Arc<Self>,
        call: Call<'_>,
    ) -> Result<StreamedOutcome, Failure> {
        let target = self.resolve(call.region, call.name, call.qualifier)?;
        self.run_streaming(call, target).await
    }

    /// Runs a resolved call, answering when the function starts its response.
    pub async fn run_streaming(
        self: &Arc<Self>,
        mut call: Call<'_>,
        target: Resolved,
    ) -> Result<StreamedOutcome, Failure> {
        if self.cluster().is_some() {
            return self.run(call, target).await.map(StreamedOutcome::whole);
        }
        call.trace = Some(self.next_hop(&call, &target)?);
        let executed_version = target.config.version.clone();
        let (trigger, qualifier) = (call.trigger, call.qualifier.map(str::to_string));
        let (tap, head) = Tap::new();
        let mut req = self.engine_request(call, target);
        req.tap = Some(tap);
        let me = self.clone();
        let mut task =
            tokio::spawn(async move { me.metered_run(req, trigger, qualifier.as_deref()).await });
        tokio::select! {
            // The head is sent before the invocation can end: look at it first.
            biased;
            Ok(head) = head => Ok(StreamedOutcome {
                executed_version,
                streamed: true,
                content_type: head.content_type,
                body: Body(BodyInner::Stream(head.body)),
                done: Done(DoneInner::Running(task)),
            }),
            ran = &mut task => ran.unwrap_or(Err(Failure::Platform)).map(StreamedOutcome::whole),
        }
    }
}

/// The length of the delimiter after an HTTP integration prelude.
const PRELUDE_DELIMITER: [u8; 8] = [0; 8];

/// Splits a body of type `application/vnd.awslambda.http-integration-response` where its JSON
/// prelude (status code, headers, cookies) ends: at the first 8 NUL bytes (JSON text holds no
/// NUL byte). `None` while they have not arrived in `head`.
pub fn split_prelude(head: &[u8]) -> Option<(&[u8], &[u8])> {
    head.windows(PRELUDE_DELIMITER.len())
        .position(|w| w == PRELUDE_DELIMITER)
        .map(|at| (&head[..at], &head[at + PRELUDE_DELIMITER.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_ends_at_eight_nul_bytes() {
        let body = b"{\"statusCode\":201}\0\0\0\0\0\0\0\0hello\0";
        let (prelude, rest) = split_prelude(body).unwrap();
        assert_eq!(prelude, b"{\"statusCode\":201}");
        assert_eq!(rest, b"hello\0");
        assert!(split_prelude(b"{\"statusCode\":201}\0\0\0").is_none());
    }
}
