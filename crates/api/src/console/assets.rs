//! The console's files, embedded in the binary: `crates/api/console/<path>` is served at
//! `/_stratus/console/<path>`. A new file is one line in [`FILES`].

use std::sync::OnceLock;

use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::refusal;

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../console/", $path)) as &[u8])),*]
    };
}

/// Every file, by its path under the console.
pub const FILES: &[(&str, &[u8])] = files![
    "index.html",
    "assets/console.css",
    "assets/favicon.svg",
    "assets/js/app.js",
    "assets/js/api.js",
    "assets/js/ui.js",
    "assets/js/chart.js",
    "assets/js/graph.js",
    "assets/js/pages/signin.js",
    "assets/js/pages/dashboard.js",
    "assets/js/pages/functions.js",
    "assets/js/pages/function.js",
    "assets/js/pages/function_tabs.js",
    "assets/js/pages/function_test.js",
    "assets/js/pages/create_function.js",
    "assets/js/widgets.js",
    "assets/js/dynamo_json.js",
    "assets/js/pages/buckets.js",
    "assets/js/pages/tables.js",
    "assets/js/pages/item_editor.js",
    "assets/js/pages/topics.js",
    "assets/js/pages/queues.js",
    "assets/js/pages/rules.js",
    "assets/js/pages/apis.js",
    "assets/js/pages/rollouts.js",
    "assets/js/pages/usage.js",
];

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Each file's ETag (a hash of its bytes), computed once.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, bytes)| format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..12])))
            .collect()
    });
    &tags[index]
}

/// `GET /_stratus/console/`: the page every route of the console starts from.
pub async fn index(req: Request) -> Response {
    serve("index.html", &req)
}

/// `GET /_stratus/console/assets/<path>`.
pub async fn file(Path(path): Path<String>, req: Request) -> Response {
    serve(&format!("assets/{path}"), &req)
}

/// The file at `path`, or `304` when the browser's copy is current (it revalidates each time:
/// the files change with the binary, not on a schedule).
fn serve(path: &str, req: &Request) -> Response {
    let Some(i) = FILES.iter().position(|(p, _)| *p == path) else {
        return refusal(StatusCode::NOT_FOUND, "No such console file.");
    };
    let tag = etag(i);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_static(tag)),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, FILES[i].1).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page loads the shell and its own module: all of them together stay under the
    /// 200 KB a page may transfer.
    #[test]
    fn the_console_stays_small() {
        let total: usize = FILES.iter().map(|(_, b)| b.len()).sum();
        assert!(
            total < 200 * 1024,
            "the console's files weigh {total} bytes"
        );
    }

    #[test]
    fn no_file_is_listed_twice_and_each_has_a_type() {
        for (i, (path, _)) in FILES.iter().enumerate() {
            assert!(!FILES[..i].iter().any(|(p, _)| p == path), "{path}");
            assert_ne!(content_type(path), "application/octet-stream", "{path}");
        }
    }

    /// The page's policy forbids inline scripts and handlers: none may be written.
    #[test]
    fn the_html_has_no_inline_script() {
        let html = std::str::from_utf8(FILES[0].1).unwrap();
        assert!(!html.contains("<script>"));
        assert!(!html.contains(" onclick="));
        assert!(!html.contains(" style="));
    }
}
