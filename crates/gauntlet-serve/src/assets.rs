//! The few files the pages load, compiled into the binary.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const LIVE_JS: &str = include_str!("assets/live.js");
const DASH_CSS: &str = include_str!("assets/dash.css");

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &'static str) = match name.as_str() {
        "live.js" => (LIVE_JS, "text/javascript; charset=utf-8"),
        "dash.css" => (DASH_CSS, "text/css; charset=utf-8"),
        "report.css" => (gauntlet_report::run::REPORT_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}
