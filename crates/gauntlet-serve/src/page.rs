//! The page every view is drawn in: the report's style sheet and the
//! dashboard's own, a navigation bar, and nothing fetched from elsewhere.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML (the report's one escaper).
pub(crate) fn esc(text: &str) -> String {
    gauntlet_report::escape(text)
}

/// A page being written.
pub(crate) struct Page {
    html: String,
}

impl Page {
    pub fn new(title: &str) -> Page {
        let mut html = String::with_capacity(32 * 1024);
        html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.push_str(&format!("<title>{} · gauntlet</title>\n", esc(title)));
        html.push_str("<link rel=\"stylesheet\" href=\"/assets/report.css\">\n");
        html.push_str("<link rel=\"stylesheet\" href=\"/assets/dash.css\">\n</head>\n<body>\n");
        html.push_str(
            "<nav class=\"top\"><a class=\"brand\" href=\"/\">gauntlet</a><a href=\"/\">Runs</a><a href=\"/fleet\">Fleet</a><a href=\"/metrics\">Metrics</a></nav>\n<main>\n",
        );
        Page { html }
    }

    pub fn push(&mut self, html: &str) {
        self.html.push_str(html);
    }

    /// Adds a script of ours (served from `/assets/`).
    pub fn script(&mut self, name: &str) {
        self.html.push_str(&format!(
            "<script src=\"/assets/{}\" defer></script>\n",
            esc(name)
        ));
    }

    pub fn finish(mut self) -> Html<String> {
        self.html.push_str("</main>\n</body>\n</html>\n");
        Html(self.html)
    }
}

/// A page that says what went wrong.
pub(crate) fn problem(status: StatusCode, title: &str, text: &str) -> Response {
    let mut p = Page::new(title);
    p.push(&format!(
        "<h1>{}</h1><div class=\"callout bad\"><p>{}</p></div><p><a href=\"/\">All runs</a></p>",
        esc(title),
        esc(text)
    ));
    (status, p.finish()).into_response()
}

/// What every answer says about itself: nothing but our own scripts run,
/// no framing, no sniffing, no referrer beyond this origin.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// A store error as the page a person sees: a run that is not there is a
/// 404, anything else the store's own words.
pub(crate) fn store_problem(e: &crate::ServeError) -> Response {
    use gauntlet_store::StoreError;
    match e {
        crate::ServeError::Store(
            StoreError::RunNotFound { .. } | StoreError::AmbiguousRun { .. },
        ) => problem(StatusCode::NOT_FOUND, "No such run", &e.to_string()),
        _ => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The store could not be read",
            &e.to_string(),
        ),
    }
}
