//! `[[notify]]`: a URL or a command told of chosen events of a run.

use toml::Spanned;

use super::Cx;
use crate::error::PlanError;
use crate::notify::{MAX_NOTIFY_TIMEOUT, NOTIFY_TIMEOUT, Notify, NotifyEvent, NotifyTarget};
use crate::raw::RawNotify;
use crate::units::format_duration;

impl Cx<'_> {
    pub(super) fn notify(&self, raw: &[Spanned<RawNotify>]) -> Result<Vec<Notify>, PlanError> {
        raw.iter().map(|n| self.notify_one(n)).collect()
    }

    fn notify_one(&self, spanned: &Spanned<RawNotify>) -> Result<Notify, PlanError> {
        let n = spanned.get_ref();
        let target = match (&n.url, &n.command) {
            (None, None) => {
                return Err(self.err(
                    spanned.span(),
                    "a [[notify]] needs `url` (POST the payload there) or `command` (run it, the payload on its stdin)",
                ));
            }
            (Some(_), Some(command)) => {
                return Err(self.err(
                    command.span(),
                    "a [[notify]] has `url` or `command`, not both: write two [[notify]] entries to do both",
                ));
            }
            (Some(url), None) => NotifyTarget::Url {
                url: self.notify_url(url)?,
                bearer_env: n
                    .bearer_env
                    .as_ref()
                    .map(|b| self.bearer_env(b))
                    .transpose()?,
            },
            (None, Some(command)) => {
                if let Some(b) = &n.bearer_env {
                    return Err(self.err(
                        b.span(),
                        "`bearer_env` goes with `url` (an Authorization header); a command has gauntlet's environment",
                    ));
                }
                NotifyTarget::Command {
                    command: self.command_line(command)?,
                    cwd: self.dir.clone(),
                }
            }
        };
        let events = match &n.events {
            None => NotifyEvent::ALL.to_vec(),
            Some(list) => self.notify_events(list)?,
        };
        let timeout = match &n.timeout {
            None => NOTIFY_TIMEOUT,
            Some(t) => {
                let d = self.duration(t, "timeout")?;
                if d.is_zero() || d > MAX_NOTIFY_TIMEOUT {
                    return Err(self.err(
                        t.span(),
                        format!(
                            "`timeout` is more than 0 and at most {}: a delivery still going when the run ends holds gauntlet's exit that long",
                            format_duration(MAX_NOTIFY_TIMEOUT)
                        ),
                    ));
                }
                d
            }
        };
        Ok(Notify {
            target,
            events,
            timeout,
        })
    }

    /// A plain `http://` URL with a host. `https://` is refused here, not
    /// when the first delivery fails: gauntlet is built without TLS.
    fn notify_url(&self, raw: &Spanned<String>) -> Result<String, PlanError> {
        let url = self.expand(raw)?;
        let shown = crate::notify::url_for_log(&url);
        if url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            return Err(self.err(
                raw.span(),
                format!(
                    "{shown}: https:// is not supported (gauntlet is built without TLS); use an http:// URL, such as a relay on this machine, or a `command` (curl) for https"
                ),
            ));
        }
        let Some(rest) = url
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("http://"))
            .map(|_| &url[7..])
        else {
            return Err(self.err(raw.span(), format!("`url` {shown:?} is not an http:// URL")));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.err(
                raw.span(),
                format!(
                    "`url` {shown:?} is not a URL gauntlet can POST to: it needs a host and no spaces"
                ),
            ));
        }
        Ok(url)
    }

    fn bearer_env(&self, raw: &Spanned<String>) -> Result<String, PlanError> {
        let name = raw.get_ref();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(self.err(
                raw.span(),
                format!(
                    "`bearer_env` {name:?} is not an environment variable name (letters, digits and _): it names the variable that holds the token, not the token"
                ),
            ));
        }
        Ok(name.clone())
    }

    fn notify_events(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<Vec<NotifyEvent>, PlanError> {
        if list.get_ref().is_empty() {
            return Err(self.err(
                list.span(),
                "`events` is empty: leave it out to be told of every event",
            ));
        }
        let mut events = Vec::new();
        for word in list.get_ref() {
            let Some(event) = NotifyEvent::from_word(word.get_ref()) else {
                let known: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
                return Err(self.err(
                    word.span(),
                    format!(
                        "unknown event {:?}; the events are {}",
                        word.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            if events.contains(&event) {
                return Err(self.err(word.span(), format!("\"{event}\" is listed twice")));
            }
            events.push(event);
        }
        Ok(events)
    }
}
