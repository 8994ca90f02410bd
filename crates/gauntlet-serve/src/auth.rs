//! Who may look and act: the token (when one is set), the session cookie
//! `/login` gives for it, and the checks that keep another site from
//! acting through a logged-in browser (an Origin of our own on every POST,
//! and a CSRF secret in every form, checked by the actions).

use std::io::Read;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::page::{self, Page};
use crate::{App, ServeError};

/// The session cookie's name.
const COOKIE: &str = "gauntlet_session";

pub(crate) struct Auth {
    token: Option<String>,
    /// What the cookie holds: a secret of this process, never the token.
    session: String,
    /// Every form's hidden `csrf` field.
    pub csrf: String,
}

impl Auth {
    pub fn new(token: Option<String>) -> Result<Auth, ServeError> {
        Ok(Auth {
            token,
            session: random_hex(32)?,
            csrf: random_hex(32)?,
        })
    }

    fn required(&self) -> bool {
        self.token.is_some()
    }

    /// A bearer header with the token, or the session cookie.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| same(given.trim(), token));
        bearer || cookie(headers, COOKIE).is_some_and(|c| same(&c, &self.session))
    }

    /// The form's CSRF field is this process's.
    pub fn csrf_ok(&self, given: &str) -> bool {
        same(given, &self.csrf)
    }
}

fn random_hex(bytes: usize) -> Result<String, ServeError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(ServeError::Random)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A POST from a page of another origin is refused: a browser names the
/// page's origin on every POST, and ours is `http://<Host>`.
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin != format!("http://{host}")
}

/// Every request but the login page and the static assets passes here.
pub(crate) async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let open = path == "/login" || path.starts_with("/assets/");
    if req.method() == Method::POST && foreign_origin(req.headers()) {
        return page::problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "This request came from a page of another site; actions are taken only from the dashboard's own pages.",
        );
    }
    if open || app.auth.admits(req.headers()) {
        return next.run(req).await;
    }
    let wants_page = req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        return Redirect::to("/login").into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a token is required: an Authorization: Bearer header, or log in at /login\n",
    )
        .into_response()
}

pub(crate) async fn login_form(State(app): State<Arc<App>>) -> Response {
    login_page(&app, None, StatusCode::OK)
}

fn login_page(app: &App, error: Option<&str>, status: StatusCode) -> Response {
    let mut p = Page::new("Log in");
    if !app.auth.required() {
        p.push(r#"<p>This dashboard needs no token. <a href="/">See the runs.</a></p>"#);
    } else {
        if let Some(e) = error {
            p.push(&format!(
                r#"<div class="callout bad"><strong>{}</strong></div>"#,
                page::esc(e)
            ));
        }
        p.push(
            r#"<form method="post" action="/login" class="action"><label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label> <button type="submit">Log in</button></form>
<p class="muted">The token is the one <code>gauntlet serve</code> was started with. The browser keeps a session cookie, not the token.</p>"#,
        );
    }
    (status, p.finish()).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Login {
    token: String,
}

pub(crate) async fn login(State(app): State<Arc<App>>, Form(form): Form<Login>) -> Response {
    let Some(token) = &app.auth.token else {
        return Redirect::to("/").into_response();
    };
    if !same(form.token.trim(), token) {
        // Slows guessing down; a right token costs nothing.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        return login_page(
            &app,
            Some("That is not the token."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        app.auth.session
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }

    #[test]
    fn a_bearer_header_or_the_session_cookie_admits() {
        let auth = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        let mut h = HeaderMap::new();
        assert!(!auth.admits(&h));
        h.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef0123".parse().unwrap(),
        );
        assert!(auth.admits(&h));
        let mut c = HeaderMap::new();
        c.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={}", auth.session).parse().unwrap(),
        );
        assert!(auth.admits(&c));
        let mut t = HeaderMap::new();
        t.insert(
            header::COOKIE,
            format!("{COOKIE}=0123456789abcdef0123").parse().unwrap(),
        );
        assert!(
            !auth.admits(&t),
            "the cookie holds the session secret, not the token"
        );
    }

    #[test]
    fn another_origin_is_foreign() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
        assert!(
            !foreign_origin(&h),
            "no Origin: not a browser's cross-site POST"
        );
        h.insert(header::ORIGIN, "http://127.0.0.1:7878".parse().unwrap());
        assert!(!foreign_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(foreign_origin(&h));
    }
}
