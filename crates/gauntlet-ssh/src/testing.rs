//! A real OpenSSH server for tests (behind the `testing` feature): Debian's
//! `sshd` on 127.0.0.1 and a free port, as the current user (root), with a
//! host key and a client key made here, and a `known_hosts` that knows the
//! host key. SIGKILLed and reaped on drop, so also when a test panics.
//! [`keys`] and [`Keys::serve`] are the same for many servers (one per
//! host of a network lab, each in its namespace) sharing the keys.
//!
//! Shared by this crate's tests and by every crate whose tests need a host
//! to reach (`gauntlet-ssh = { workspace = true, features = ["testing"] }`
//! as a dev-dependency), so there is one harness. It panics on what a test
//! cannot go on without (no `ssh-keygen`, no port): it is for tests only.
#![allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr"
)]

use std::io::Read;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::HostSpec;

/// Where Debian's openssh-server puts the server.
pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    server: Server,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    /// The host key's `known_hosts` line, without the host part.
    pub host_key: String,
}

/// Says why on stderr and returns `None` when this machine cannot run
/// the server (no sshd, not root).
pub fn sshd() -> Option<Sshd> {
    sshd_with("")
}

/// [`sshd`] with `extra` appended to its `sshd_config` (lines such as
/// `SetEnv PATH=/somewhere` shape what a session on the "host" sees).
pub fn sshd_with(extra: &str) -> Option<Sshd> {
    let keys = keys()?;
    Some(Sshd::start(keys, extra))
}

/// Whether this machine can run sshd servers for a test; says why not on
/// stderr.
fn can_serve() -> bool {
    if !Path::new(SSHD).exists() {
        eprintln!("skipped: needs {SSHD} (Debian openssh-server)");
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: the ssh tests run sshd as root (as CI does)");
        return false;
    }
    if Command::new("ssh").arg("-V").output().is_err() {
        eprintln!("skipped: needs ssh (Debian openssh-client)");
        return false;
    }
    true
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "gauntlet-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
}

/// One host key and one client key, made for a test, for as many servers
/// as it starts ([`Keys::serve`]: the hosts of a lab, each sshd in its own
/// network namespace). Every server presents the same host key, so one
/// `known_hosts` ([`Keys::known_hosts`]) names them all, each by its
/// address: host keys are still checked strictly.
pub struct Keys {
    pub dir: tempfile::TempDir,
    host_key_file: PathBuf,
    authorized: PathBuf,
    pub client_key: PathBuf,
    /// The host key's `known_hosts` line, without the host part.
    pub host_key: String,
}

/// The keys, or `None` (saying why on stderr) when this machine cannot
/// run sshd (no sshd, not root).
pub fn keys() -> Option<Keys> {
    can_serve().then(Keys::new)
}

/// One sshd started by [`Keys::serve`]: SIGKILLed and reaped on drop,
/// so also when a test panics.
pub struct Server {
    child: Child,
    /// What it logs (`-e`).
    pub log: PathBuf,
}

impl Server {
    /// What it logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let host_key_file = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key_file);
        keygen(&client_key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        let public = std::fs::read_to_string(host_key_file.with_extension("pub")).unwrap();
        let host_key = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        Keys {
            dir,
            host_key_file,
            authorized,
            client_key,
            host_key,
        }
    }

    /// Writes `name` in the keys' directory: a `known_hosts` with a line
    /// for each `(address, port)`, all with the one host key.
    pub fn known_hosts(&self, name: &str, hosts: &[(String, u16)]) -> PathBuf {
        let path = self.dir.path().join(name);
        let text: String = hosts
            .iter()
            // OpenSSH names a host on the standard port by its address
            // alone, any other as `[address]:port`.
            .map(|(addr, port)| match port {
                22 => format!("{addr} {}\n", self.host_key),
                _ => format!("[{addr}]:{port} {}\n", self.host_key),
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts sshd listening on `listen:port` (its config and log named by
    /// `name` in the keys' directory, `extra` appended to the config), run
    /// through `prefix` (empty, or e.g. `["ip", "netns", "exec", NS]`: the
    /// server then lives in that network namespace, and each session with
    /// it). Waits up to 5 s for its banner at `listen:port` from here; an
    /// error (with what it logged) if it exited or never answered.
    pub fn serve(
        &self,
        name: &str,
        prefix: &[&str],
        listen: IpAddr,
        port: u16,
        extra: &str,
    ) -> Result<Server, String> {
        // sshd's privilege separation directory, when run as root.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = self.dir.path().join(format!("{name}.sshd_config"));
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {listen}\nHostKey {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPidFile none\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nLogLevel ERROR\n{extra}\n",
                self.host_key_file.display(),
                self.authorized.display()
            ),
        )
        .unwrap();
        let log = self.dir.path().join(format!("{name}.sshd.log"));
        let (program, args) = match prefix.split_first() {
            Some((first, rest)) => (*first, rest),
            None => (SSHD, &[][..]),
        };
        let mut command = Command::new(program);
        command.args(args);
        if !prefix.is_empty() {
            command.arg(SSHD);
        }
        let child = command
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .map_err(|e| format!("{program}: {e}"))?;
        let mut server = Server { child, log };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("sshd exited ({status}): {}", server.log()));
            }
            if let Ok(mut stream) =
                TcpStream::connect_timeout(&(listen, port).into(), Duration::from_secs(1))
            {
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut banner = [0u8; 8];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0-" {
                    return Ok(server);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "sshd did not answer at {listen}:{port} in 5 s: {}",
            server.log()
        ))
    }
}

impl Sshd {
    fn start(keys: Keys, extra: &str) -> Sshd {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // An error: the port was taken in between; another.
            let Ok(server) = keys.serve("sshd", &[], loopback, port, extra) else {
                continue;
            };
            let known_hosts = keys.known_hosts("known_hosts", &[("127.0.0.1".to_owned(), port)]);
            return Sshd {
                server,
                port,
                dir: keys.dir,
                client_key: keys.client_key,
                known_hosts,
                host_key: keys.host_key,
            };
        }
        panic!("sshd did not come up on any of 20 ports");
    }

    /// A spec for this server at 127.0.0.1, with the test's key and
    /// known_hosts, and short bounds.
    pub fn spec(&self, name: &str) -> HostSpec {
        let mut spec = HostSpec::new(name, "127.0.0.1");
        spec.port = Some(self.port);
        spec.identity = Some(self.client_key.clone());
        spec.known_hosts = Some(self.known_hosts.clone());
        spec.connect_timeout = Duration::from_secs(5);
        spec.command_timeout = Duration::from_secs(5);
        spec
    }

    /// What sshd logged so far (for failure messages).
    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// Pids of live processes whose environment holds `NAME=value` exactly
/// (the "remote" host is this machine).
pub fn pids_with_env(entry: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rfind(')')
                        .is_some_and(|i| s[i + 1..].trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == entry.as_bytes()))
        })
        .collect()
}

/// Waits up to `bound` for `check` to hold.
pub async fn eventually(bound: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + bound;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `State:` of `/proc/<pid>/status`: its first letter.
pub fn state(pid: u32) -> Option<char> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))?
        .trim()
        .chars()
        .next()
}

/// A marker unique to one test: an environment entry to find its
/// processes by.
pub fn marker(test: &str) -> (String, String) {
    (
        "GAUNTLET_TEST_MARK".to_owned(),
        format!("{test}-{}", std::process::id()),
    )
}

/// A port on 127.0.0.1 that nothing listens on: bound, then released (a
/// connection to it is refused at once, unless something takes it in
/// between, which a test's bounds cover).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on loopback");
    listener.local_addr().expect("a bound address").port()
}
