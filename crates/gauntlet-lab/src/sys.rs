//! The lab's edge to the kernel: entering a namespace on one thread, and
//! running `ip`, `nft` and `iptables` there.
//!
//! A thread that calls `setns(CLONE_NEWNET)` moves alone, and every process
//! it forks starts in that namespace. So each command runs from a short
//! scoped thread that entered the namespace first: no `ip netns exec`
//! (which also remounts `/sys` for each command), and gauntlet's own
//! threads never change namespace.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::LabError;

/// Where `ip netns add` puts a namespace's handle.
pub const NETNS_DIR: &str = "/run/netns";

/// The file of the namespace called `name`.
pub fn netns_path(name: &str) -> PathBuf {
    crate::netns::named(name)
}

/// Runs `f` on a thread inside the namespace `name`, and returns what it
/// returned.
pub fn in_netns<T: Send>(
    name: &str,
    f: impl FnOnce() -> Result<T, LabError> + Send,
) -> Result<T, LabError> {
    crate::netns::run_in(&netns_path(name), f)?
}

/// Runs `program args` with `input` on stdin in the calling thread's
/// namespace (`place` names it in errors), and returns its stdout.
pub fn run(
    program: &str,
    args: &[&str],
    input: Option<&str>,
    place: &str,
) -> Result<String, LabError> {
    let command_text = || {
        let mut text = program.to_owned();
        for a in args {
            text.push(' ');
            text.push_str(a);
        }
        text
    };
    let resolved = find_program(program).unwrap_or_else(|| PathBuf::from(program));
    let mut child = Command::new(resolved)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::io(format!("cannot run `{}`", command_text()), e))?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped");
        // A write error shows up as the command's failure below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::io(format!("cannot run `{}`", command_text()), e))?;
    if !out.status.success() {
        let mut command = command_text();
        if let Some(input) = input {
            command.push_str(" <<< ");
            command.push_str(&first_lines(input, 40));
        }
        return Err(LabError::Command {
            command,
            place: place.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut shown = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        shown.push_str(&format!("\n… {} more lines", lines.len() - n));
    }
    shown
}

/// Writes a sysctl of the calling thread's namespace (`net.ipv4.ip_forward`
/// → `/proc/sys/net/ipv4/ip_forward`).
pub fn sysctl(key: &str, value: &str, place: &str) -> Result<(), LabError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value)
        .map_err(|e| LabError::io(format!("cannot set {key} = {value} in {place}"), e))
}

/// Refuses early, before anything is made, when the lab cannot work here.
pub fn preflight(needs_iptables: bool) -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    let mut tools = vec![("ip", "iproute2"), ("nft", "nftables")];
    if needs_iptables {
        tools.push(("iptables", "iptables"));
    }
    for (program, package) in tools {
        if find_program(program).is_none() {
            return Err(LabError::MissingTool { program, package });
        }
    }
    Ok(())
}

/// `program` on `PATH`, or in the sbin directories a non-login root shell
/// may lack.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
