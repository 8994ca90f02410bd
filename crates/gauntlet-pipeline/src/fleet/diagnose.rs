//! A closer look at one node: what `gauntlet diagnose NODE` prints. Each
//! section is one command run on the node with a timeout; a section whose
//! command fails says so in that section, and the others stand. Only the
//! connection failing fails the whole look.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use gauntlet_node::Termination;
use gauntlet_plan::{Fleet, FleetNode, ServiceControl};
use gauntlet_ssh::{Host, SshError, quote};
use serde::{Deserialize, Serialize};

use super::survey::{close, connect, projects_on, run_script};

/// How long one section's command may take.
pub const SECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// How many lines of a systemd unit's journal are shown.
pub const LOG_LINES: u32 = 50;

/// What was seen on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub node: String,
    /// The address that answered (the node's address, or its fallback).
    pub address_used: String,
    pub sections: Vec<Section>,
}

/// One heading's worth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// `service api`, `logs api`, `disk`, `memory`, `listening`, ...
    pub heading: String,
    /// What was run on the node, as a person would type it (empty when
    /// nothing was: a supervised service's logs are not on the node).
    pub command: String,
    /// What it printed (or what there is to say instead).
    pub text: String,
    /// How the command ended when not with 0 (`exited with code 3`:
    /// `systemctl status` of an inactive unit), its output kept.
    pub exit: Option<String>,
    /// Why there is no output: it could not run, or ran past its bound.
    pub failure: Option<String>,
}

/// Connects to `node` and looks: each project's service and recent logs,
/// disk, memory, listening sockets and established connections. Fails
/// only when the node cannot be reached.
pub async fn diagnose(node: &FleetNode, fleet: &Fleet) -> Result<Diagnosis, SshError> {
    let host = connect(node).await?;
    let mut sections = Vec::new();
    // One after another: each is a session on the host, and sshd allows
    // only so many at once over one connection (MaxSessions).
    for project in projects_on(fleet, node) {
        match &project.service.control {
            ServiceControl::Systemd { unit } => {
                // The unit as one shell word: a name with a NUL byte
                // cannot travel, and says so instead.
                let unit = match quote(unit) {
                    Ok(word) => String::from_utf8_lossy(&word).into_owned(),
                    Err(e) => {
                        let mut failed = said(format!("service {}", project.name), "");
                        failed.failure = Some(e.to_string());
                        sections.push(failed);
                        continue;
                    }
                };
                sections.push(
                    section(
                        &host,
                        format!("service {}", project.name),
                        format!("systemctl status {unit} --no-pager"),
                    )
                    .await,
                );
                sections.push(
                    section(
                        &host,
                        format!("logs {}", project.name),
                        format!("journalctl -u {unit} -n {LOG_LINES} --no-pager"),
                    )
                    .await,
                );
            }
            ServiceControl::Supervised { .. } => {
                sections.push(said(
                    format!("service {}", project.name),
                    "supervised by gauntlet: the fleet run that started it knows its state \
                     (it runs as a process group of gauntlet's ssh connection, not as a unit)",
                ));
                sections.push(said(
                    format!("logs {}", project.name),
                    "supervised by gauntlet: its stderr is copied to the machine that ran \
                     gauntlet, into the log of the run that started it (in that run's \
                     directory of the store), not kept on the node",
                ));
            }
        }
    }
    sections.push(section(&host, "system".into(), "uname -srm; uptime".into()).await);
    sections.push(section(&host, "disk".into(), "df -h".into()).await);
    let mut memory = section(
        &host,
        "memory".into(),
        "if command -v free >/dev/null 2>&1; then free -m; else cat /proc/meminfo; fi".into(),
    )
    .await;
    memory.command = "free -m (or /proc/meminfo where free is missing)".into();
    sections.push(memory);
    sections.push(sockets(&host, Sockets::Listening).await);
    sections.push(sockets(&host, Sockets::Established).await);
    let address_used = host.address().to_owned();
    close(host).await;
    Ok(Diagnosis {
        node: node.name.clone(),
        address_used,
        sections,
    })
}

/// A section with nothing run: only something to say.
fn said(heading: String, text: &str) -> Section {
    Section {
        heading,
        command: String::new(),
        text: text.to_owned(),
        exit: None,
        failure: None,
    }
}

async fn section(host: &Host, heading: String, script: String) -> Section {
    let (text, exit, failure) = match run_script(host, &script, SECTION_TIMEOUT).await {
        Ok(ran) => {
            let exit =
                (ran.termination != Termination::Exited(0)).then(|| ran.termination.to_string());
            // No output at all: what it said on stderr is the section.
            if ran.stdout.trim().is_empty() {
                let failure = exit.as_ref().map(|e| {
                    let stderr = ran.stderr.trim();
                    if stderr.is_empty() {
                        e.clone()
                    } else {
                        format!("{e}: {stderr}")
                    }
                });
                (String::new(), None, failure)
            } else {
                (ran.stdout, exit, None)
            }
        }
        Err(why) => (String::new(), None, Some(why)),
    };
    Section {
        heading,
        command: script,
        text,
        exit,
        failure,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sockets {
    Listening,
    Established,
}

/// `ss`, or the kernel's socket tables where `ss` is missing (a minimal
/// image): the tables are read on the node and decoded here.
async fn sockets(host: &Host, which: Sockets) -> Section {
    let (heading, ss, tables) = match which {
        Sockets::Listening => ("listening", "ss -ltnup", "tcp tcp6 udp udp6"),
        Sockets::Established => ("connections", "ss -tnp state established", "tcp tcp6"),
    };
    let script = format!(
        "if command -v ss >/dev/null 2>&1; then {ss}; else echo ==proc; \
         for t in {tables}; do echo \"==$t\"; cat /proc/net/$t 2>/dev/null; done; fi"
    );
    let mut section = section(host, heading.into(), script).await;
    section.command = format!("{ss} (or /proc/net where ss is missing)");
    if let Some(tables) = section.text.strip_prefix("==proc\n") {
        section.text = format!(
            "(ss is missing on the node: read from /proc/net, without processes)\n{}",
            proc_net_sockets(tables, which)
        );
    }
    section
}

/// Decodes `/proc/net/{tcp,tcp6,udp,udp6}` (each after a `==name` line)
/// into one line per socket in the state asked for: `tcp 127.0.0.1:22`
/// for a listener, `tcp 10.0.0.1:22 <- 10.0.0.9:51234` for an established
/// connection. Lines that do not parse are skipped.
fn proc_net_sockets(text: &str, which: Sockets) -> String {
    let mut out = String::new();
    let mut table = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("==") {
            table = name;
            continue;
        }
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let (Some(local), Some(remote), Some(state)) = (words.get(1), words.get(2), words.get(3))
        else {
            continue;
        };
        let (Some(local), Some(remote)) = (socket_address(local), socket_address(remote)) else {
            continue; // the header line, or something unexpected
        };
        let udp = table.starts_with("udp");
        let proto = if udp { "udp" } else { "tcp" };
        // The kernel's TCP states: 0A is LISTEN, 01 ESTABLISHED; an
        // unconnected UDP socket shows 07 (CLOSE).
        match which {
            Sockets::Listening if (!udp && *state == "0A") || (udp && *state == "07") => {
                let _ = writeln!(out, "{proto} {local}");
            }
            Sockets::Established if !udp && *state == "01" => {
                let _ = writeln!(out, "{proto} {local} <- {remote}");
            }
            _ => {}
        }
    }
    if out.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// `0100007F:0016` → `127.0.0.1:22`; 32 hex digits are IPv6, written
/// `[::1]:22`. The kernel prints each 32-bit word in the host's byte
/// order: read as little-endian, which every Linux host a fleet runs on
/// (x86-64, arm64) is.
fn socket_address(word: &str) -> Option<String> {
    let (ip, port) = word.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = (0..ip.len() / 8)
        .map(|i| {
            ip.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
                .map(u32::swap_bytes)
        })
        .collect::<Option<Vec<u32>>>()?;
    match (ip.len(), words.as_slice()) {
        (8, [a]) => Some(format!("{}:{port}", Ipv4Addr::from(*a))),
        (32, [a, b, c, d]) => {
            let bits = (u128::from(*a) << 96)
                | (u128::from(*b) << 64)
                | (u128::from(*c) << 32)
                | u128::from(*d);
            Some(format!("[{}]:{port}", Ipv6Addr::from(bits)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: &str = "\
==tcp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0
   1: 0100007F:0016 0100007F:C8F2 01 00000000:00000000 02:000A7D4A 00000000     0        0 5678 2 0
==tcp6
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000
==udp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0 0
==udp6
";

    #[test]
    fn the_kernels_tables_read_as_addresses_when_ss_is_missing() {
        assert_eq!(
            proc_net_sockets(TABLES, Sockets::Listening),
            "tcp 127.0.0.1:22\ntcp [::1]:8080\nudp 0.0.0.0:68\n"
        );
        assert_eq!(
            proc_net_sockets(TABLES, Sockets::Established),
            "tcp 127.0.0.1:22 <- 127.0.0.1:51442\n"
        );
        assert_eq!(
            proc_net_sockets("==tcp\ngarbage line here\n", Sockets::Listening),
            "(none)\n"
        );
    }

    #[test]
    fn odd_addresses_are_skipped_not_guessed() {
        assert_eq!(
            socket_address("0100007F:0016").as_deref(),
            Some("127.0.0.1:22")
        );
        assert_eq!(socket_address("0100007F"), None);
        assert_eq!(socket_address("ZZ00007F:0016"), None);
        assert_eq!(socket_address("0100007F00:0016"), None);
        assert_eq!(socket_address("0100007F:10000"), None);
    }

    #[test]
    fn the_sockets_of_this_machine_decode() {
        // This machine's own tables: sshd, a test server or nothing, but
        // never a line that does not parse into the output.
        let mut text = String::new();
        for t in ["tcp", "tcp6", "udp", "udp6"] {
            text.push_str(&format!("=={t}\n"));
            text.push_str(&std::fs::read_to_string(format!("/proc/net/{t}")).unwrap_or_default());
        }
        for line in proc_net_sockets(&text, Sockets::Listening).lines() {
            assert!(
                line == "(none)" || line.starts_with("tcp ") || line.starts_with("udp "),
                "{line}"
            );
        }
    }
}
