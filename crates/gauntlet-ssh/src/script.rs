//! The shell scripts this crate runs on a host, built here and nowhere
//! else. Each is POSIX `sh` (dash, bash, busybox) over Linux's `/proc`,
//! with `setsid` (util-linux) and `awk`; every value in them is a quoted
//! word ([`quote`](crate::quote)). They are tested by running them on this
//! machine with `/bin/sh`, without ssh.
//!
//! Layout on a host, per connection ([`RunDir`](crate::RunDir)):
//!
//! ```text
//! /tmp/gauntlet-ssh/                 1777, made by whoever comes first
//!   <pid>.<start>.<boot>.<i>.<host>/ 0700, this user's, one per connection
//!     <node>.pid                     "<pgid> <leader start time> <host boot id>"
//!     <name>.undo                    a script run when the directory is cleaned up
//! ```
//!
//! A node's remote command is the *wrapper*: it makes the run directory,
//! enters the working directory, exports the environment and
//! `GAUNTLET_SSH_NODE=<run dir>/<node>` (the marker every process of the
//! node inherits), and starts the program through `setsid` as the leader
//! of a new session and process group, its stdin passed through. That
//! leader, before it `exec`s the program, writes the pid file and then
//! the one line the local side waits for, `gauntlet-ssh started <pgid>
//! <start>`, on stdout; an error before it is `gauntlet-ssh error: ...`
//! instead. The wrapper itself stays, waiting: when the program ends it
//! kills what is left of the group, removes the pid file and exits with
//! the program's status, `128 + N` for a death by signal N (an `exec`ed
//! program's signal death would reach the local `ssh` as its own error,
//! 255).
//!
//! A group is signalled only when it is provably the one this crate
//! started ([`GK`]): its leader still has the start time the pid file
//! records (a zombie leader pins its pid, so the group cannot be
//! another's), or a live member carries the node's marker in its
//! environment. A pid file naming a group of an earlier boot, or a
//! group that is someone else's now, is removed and nothing is
//! signalled.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::SshError;
use crate::quote::{is_env_name, push_quoted, quote_str};

/// Where every run directory lives on a host.
pub const REMOTE_ROOT: &str = "/tmp/gauntlet-ssh";

/// The variable that marks every process of a node (value `<run
/// dir>/<node>`), inherited by whatever it starts.
pub const MARKER_VAR: &str = "GAUNTLET_SSH_NODE";

/// Shared functions: the run directory, the boot id, a process's start
/// time and state, a group's members, the guarded group kill and the
/// cleanup of a run directory.
///
/// - `fail MSG`: the error line on stdout, exit 126.
/// - `rundir NAME`: makes `$R` (1777) and `$R/NAME` (0700), refusing
///   links and directories of other users.
/// - `bootid`: `B`, the host's boot id.
/// - `st PID`: `S` (start time) and `Z` (state) of a process, or fails.
/// - `grp PGID`: the live pids of a process group.
/// - `gk SIG PGID START MARKER`: signals the group when it is ours (see
///   the module docs); sets `_own`. `SIG` is a name (`KILL`) or a number.
/// - `clean NAME`: SIGKILLs every group the run directory's pid files
///   name (of this boot, and ours), counts them in `K`, runs each of its
///   undo scripts (`*.undo`, see [`set_undo`]), removes the directory.
pub(crate) const FUNCTIONS: &str = r#"R=/tmp/gauntlet-ssh
fail() { printf 'gauntlet-ssh error: %s\n' "$*"; exit 126; }
rundir() {
  [ -h "$R" ] && fail "$R is a symbolic link"
  [ -d "$R" ] || mkdir -m 1777 "$R" 2>/dev/null || [ -d "$R" ] || fail "cannot create $R"
  [ -d "$R/$1" ] || mkdir -m 700 "$R/$1" 2>/dev/null || [ -d "$R/$1" ] || fail "cannot create $R/$1"
  { [ -O "$R/$1" ] && [ ! -h "$R/$1" ]; } || fail "$R/$1 is not this user's own directory"
}
bootid() { read -r B < /proc/sys/kernel/random/boot_id || fail 'cannot read /proc/sys/kernel/random/boot_id (the host must run Linux)'; }
st() { S= Z=; read -r _l < "/proc/$1/stat" 2>/dev/null || return 1; _r=${_l##*) }; set -f; set -- $_r; set +f; Z=$1; S=${20}; }
grp() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ p = $1; sub(/^.*\) /, ""); if ($3 == g && $1 != "Z") print p }'; }
gk() {
  _own=
  case $2 in ''|0|1|*[!0-9]*) return 0 ;; esac
  if st "$2" && [ "$S" = "$3" ]; then _own=1
  else
    for _p in $(grp "$2"); do
      if tr '\000' '\n' < "/proc/$_p/environ" 2>/dev/null | grep -qxF "GAUNTLET_SSH_NODE=$4"; then _own=1; break; fi
    done
  fi
  [ -n "$_own" ] || return 0
  case $1 in
    *[!0-9]*) _e=$(kill -s "$1" -- "-$2" 2>&1) && return 0 ;;
    *) _e=$(kill -"$1" -- "-$2" 2>&1) && return 0 ;;
  esac
  case $_e in *'No such process'*) return 0 ;; esac
  printf '%s\n' "$_e" >&2
  return 1
}
clean() {
  for _f in "$R/$1"/*.pid; do
    [ -f "$_f" ] || continue
    _n=${_f##*/}; _n=${_n%.pid}
    _g= _t= _b=
    read -r _g _t _b < "$_f"
    if [ "$_b" = "$B" ]; then gk KILL "$_g" "$_t" "$1/$_n"; [ -n "$_own" ] && K=$((K + 1)); fi
    rm -f "$_f"
  done
  for _f in "$R/$1"/*.undo; do
    [ -f "$_f" ] && sh "$_f" </dev/null >/dev/null 2>&1
  done
  rm -rf -- "${R:?}/$1"
}
"#;

/// What the local side reads first from a node's stdout.
pub(crate) const STARTED: &str = "gauntlet-ssh started ";
/// The first line when the wrapper could not start the program.
pub(crate) const ERROR: &str = "gauntlet-ssh error: ";
/// The keeper's first line.
pub(crate) const READY: &str = "gauntlet-ssh ready ";

/// What a node's wrapper is asked to start.
pub(crate) struct Launch<'a> {
    /// The run directory's name.
    pub dir: &'a str,
    /// The node's name in it (its pid file's name, without `.pid`).
    pub node: &'a str,
    /// The program, looked up on the host's `PATH` when it has no `/`.
    pub program: &'a OsStr,
    /// Its arguments.
    pub args: &'a [std::ffi::OsString],
    /// Its working directory on the host.
    pub cwd: Option<&'a OsStr>,
    /// Variables set on top of the host's login environment.
    pub env: &'a [(std::ffi::OsString, std::ffi::OsString)],
}

/// The wrapper script for `launch` (see the module docs).
pub(crate) fn wrapper(launch: &Launch<'_>) -> Result<Vec<u8>, SshError> {
    let pid_file = format!("{REMOTE_ROOT}/{}/{}.pid", launch.dir, launch.node);
    let inner = format!(
        r#"B=$1; shift
st() {{ S=; read -r _l < "/proc/$1/stat" 2>/dev/null || return 1; _r=${{_l##*) }}; set -f; set -- $_r; set +f; S=${{20}}; }}
st $$ || {{ printf 'gauntlet-ssh error: %s\n' 'cannot read /proc/self/stat'; exit 126; }}
{{ printf '%s %s %s\n' "$$" "$S" "$B" > {tmp} && mv -f {tmp} {pid}; }} || {{ printf 'gauntlet-ssh error: cannot write %s\n' {pid}; exit 126; }}
printf 'gauntlet-ssh started %s %s\n' "$$" "$S"
exec "$@"
"#,
        tmp = quote_str(&format!("{pid_file}.tmp")),
        pid = quote_str(&pid_file),
    );
    let mut s = Vec::new();
    s.extend_from_slice(FUNCTIONS.as_bytes());
    s.extend_from_slice(
        format!(
            "O={}; N={}; P=\"$R/$O/$N.pid\"\nrundir \"$O\"\nbootid\n\
             command -v setsid >/dev/null 2>&1 || fail 'this host has no setsid (util-linux)'\n",
            quote_str(launch.dir),
            quote_str(launch.node)
        )
        .as_bytes(),
    );
    if let Some(cwd) = launch.cwd {
        s.extend_from_slice(b"c=");
        push_quoted(&mut s, cwd, "working directory")?;
        s.extend_from_slice(
            b"\n[ -d \"$c\" ] || fail \"working directory $c: no such directory\"\n\
              cd -- \"$c\" || fail \"working directory $c: cannot enter it\"\n",
        );
    }
    for (name, value) in launch.env {
        if !is_env_name(name) {
            return Err(SshError::Invalid {
                what: format!("environment variable name {name:?}"),
                why: "a name must be letters, digits and _, not starting with a digit".into(),
            });
        }
        s.extend_from_slice(b"export ");
        s.extend_from_slice(name.as_bytes());
        s.push(b'=');
        push_quoted(&mut s, value, "environment variable value")?;
        s.push(b'\n');
    }
    s.extend_from_slice(format!("{MARKER_VAR}=\"$O/$N\"; export {MARKER_VAR}\np=").as_bytes());
    push_quoted(&mut s, launch.program, "program")?;
    if launch.program.as_bytes().contains(&b'/') {
        s.extend_from_slice(
            b"\n{ [ -f \"$p\" ] && [ -x \"$p\" ]; } || fail \"$p: no such executable file\"\n",
        );
    } else {
        s.extend_from_slice(
            b"\ncommand -v -- \"$p\" >/dev/null 2>&1 || fail \"$p: not found on PATH\"\n",
        );
    }
    s.extend_from_slice(b"I=");
    s.extend_from_slice(quote_str(&inner).as_bytes());
    // Without job control an asynchronous command's stdin is /dev/null
    // before its own redirections: stdin goes through fd 3.
    s.extend_from_slice(b"\nexec 3<&0\nsetsid /bin/sh -c \"$I\" gauntlet-ssh \"$B\" \"$p\"");
    for arg in launch.args {
        s.push(b' ');
        push_quoted(&mut s, arg, "argument")?;
    }
    s.extend_from_slice(
        b" <&3 3<&- &\nc=$!\nexec 3<&-\nwait \"$c\"; s=$?\n\
          kill -s KILL -- \"-$c\" 2>/dev/null\nrm -f \"$P\"\nexit \"$s\"\n",
    );
    Ok(s)
}

/// The keeper: makes the run directory, says `gauntlet-ssh ready
/// <boot>`, then serves requests on its stdin until it ends (the
/// connection's end, however it comes: a drop, a dead gauntlet, a dead
/// master) and cleans the run directory up: every group still running is
/// killed.
///
/// A request is `gauntlet-ssh run <id>`, the script's lines, and
/// `gauntlet-ssh end <id>`; the answer is `gauntlet-ssh begin <id>`, the
/// script's output (stdout and stderr), and `gauntlet-ssh done <id>
/// <status>`. Requests are this crate's control scripts (signals, usage,
/// sweeps), so a control step needs no session of its own: it works when
/// the host's sshd allows no more (`MaxSessions`), and costs one `sh`
/// on the host rather than a local `ssh`. SIGPIPE is ignored: an answer
/// the local side no longer reads must not kill the keeper before its
/// cleanup.
pub(crate) fn keeper(dir: &str) -> String {
    format!(
        "export LC_ALL=C\n{FUNCTIONS}O={}\nrundir \"$O\"\nbootid\n\
         command -v setsid >/dev/null 2>&1 || fail 'this host has no setsid (util-linux)'\n\
         command -v awk >/dev/null 2>&1 || fail 'this host has no awk'\n\
         trap '' PIPE\n\
         printf 'gauntlet-ssh ready %s\\n' \"$B\"\n{KEEPER_LOOP}K=0\nclean \"$O\" >/dev/null 2>&1\n",
        quote_str(dir)
    )
}

/// The keeper's request loop (see [`keeper`]).
const KEEPER_LOOP: &str = r#"while IFS= read -r _q; do
  case $_q in
    'gauntlet-ssh run '*)
      _id=${_q#gauntlet-ssh run } _s= _whole=
      while IFS= read -r _q; do
        if [ "$_q" = "gauntlet-ssh end $_id" ]; then _whole=1; break; fi
        _s="$_s$_q
"
      done
      [ -n "$_whole" ] || break
      _o=$(sh -c "$_s" </dev/null 2>&1); _c=$?
      printf 'gauntlet-ssh begin %s
%s
gauntlet-ssh done %s %s
' "$_id" "$_o" "$_id" "$_c"
      ;;
  esac
done
"#;

/// A keeper request's framing around `script`.
pub(crate) fn request(id: u64, script: &str) -> String {
    debug_assert!(!script.contains("gauntlet-ssh end "));
    format!("gauntlet-ssh run {id}\n{script}\ngauntlet-ssh end {id}\n")
}

/// Sends `signal` (a name without `SIG`, or a number) to a node's group
/// when it is still ours.
pub(crate) fn signal(signal: &str, pgid: i32, start: u64, marker: &str) -> String {
    format!(
        "export LC_ALL=C\n{FUNCTIONS}gk {} {pgid} {start} {}\n",
        quote_str(signal),
        quote_str(marker)
    )
}

/// Kills the group a node's pid file names, if there is one and the
/// group is ours, and removes the file: for a node whose start was not
/// seen through.
pub(crate) fn abandon(dir: &str, node: &str) -> String {
    let marker = format!("{dir}/{node}");
    format!(
        "export LC_ALL=C\n{FUNCTIONS}bootid\nf=\"$R\"/{}/{}.pid\n\
         if [ -f \"$f\" ]; then read -r _g _t _b < \"$f\"; \
         [ \"$_b\" = \"$B\" ] && gk KILL \"$_g\" \"$_t\" {}; rm -f \"$f\"; fi\nexit 0\n",
        quote_str(dir),
        quote_str(node),
        quote_str(&marker)
    )
}

/// The members, CPU ticks and resident pages of a group, then the
/// host's clock ticks per second and page size: three lines.
pub(crate) fn usage(pgid: i32) -> String {
    format!(
        "export LC_ALL=C\ncat /proc/[0-9]*/stat 2>/dev/null | awk -v g={pgid} \
         '{{ sub(/^.*\\) /, \"\"); if ($3 == g && $1 != \"Z\") {{ n++; t += $12 + $13; r += $22 }} }} \
         END {{ printf \"%d %d %d\\n\", n, t, r }}'\ngetconf CLK_TCK\ngetconf PAGESIZE\n"
    )
}

/// The run directories of this user on the host, one a line.
pub(crate) fn list_run_dirs() -> String {
    format!(
        "for d in {REMOTE_ROOT}/*; do \
         [ -d \"$d\" ] && [ ! -h \"$d\" ] && [ -O \"$d\" ] && printf '%s\\n' \"${{d##*/}}\"; \
         done; exit 0\n"
    )
}

/// Records (`Some`) or forgets (`None`) the undo script `name` of the run
/// directory `dir`: what the connection changed on the host beyond its
/// processes (a firewall table), undone by `clean` whenever the directory
/// is cleaned up — the keeper's end, however the connection ended, or a
/// later sweep of a dead owner's directory.
pub(crate) fn set_undo(dir: &str, name: &str, undo: Option<&str>) -> String {
    let mut s = format!(
        "export LC_ALL=C\n{FUNCTIONS}O={}\nrundir \"$O\"\nu=\"$R/$O\"/{}.undo\n",
        quote_str(dir),
        quote_str(name)
    );
    match undo {
        Some(script) => s.push_str(&format!(
            "printf '%s\\n' {} > \"$u.new\" && mv -f \"$u.new\" \"$u\"\n",
            quote_str(script)
        )),
        None => s.push_str("rm -f \"$u\"\n"),
    }
    s
}

/// Cleans up the named run directories; says how many groups it killed.
pub(crate) fn sweep(dirs: &[String]) -> String {
    let mut s = format!("export LC_ALL=C\n{FUNCTIONS}bootid\nK=0\n");
    for dir in dirs {
        s.push_str(&format!("clean {}\n", quote_str(dir)));
    }
    s.push_str("printf 'gauntlet-ssh swept %s\\n' \"$K\"\n");
    s
}

/// Writes stdin to `tmp` (never over an existing file), checks it holds
/// `size` bytes, sets `mode` and renames it to `path`; on any failure the
/// temporary file is removed and the target left as it was.
pub(crate) fn upload(tmp: &OsStr, path: &OsStr, size: u64, mode: u32) -> Result<Vec<u8>, SshError> {
    let mut s = b"t=".to_vec();
    push_quoted(&mut s, tmp, "temporary path")?;
    s.extend_from_slice(b"; p=");
    push_quoted(&mut s, path, "remote path")?;
    s.extend_from_slice(
        format!(
            "\nset -C\ncat > \"$t\" || {{ rm -f \"$t\"; exit 1; }}\nset +C\n\
             n=$(wc -c < \"$t\")\n\
             [ \"$((n))\" -eq {size} ] || {{ rm -f \"$t\"; printf 'received %s of {size} bytes\\n' \"$((n))\" >&2; exit 1; }}\n\
             chmod {mode:o} \"$t\" && mv -f \"$t\" \"$p\" || {{ rm -f \"$t\"; exit 1; }}\n"
        )
        .as_bytes(),
    );
    Ok(s)
}

/// `gauntlet-ssh size <bytes>` then at most `max` bytes of the file.
pub(crate) fn read_file(path: &OsStr, max: u64) -> Result<Vec<u8>, SshError> {
    let mut s = b"f=".to_vec();
    push_quoted(&mut s, path, "remote path")?;
    s.extend_from_slice(
        format!(
            "\n[ -f \"$f\" ] || {{ printf 'gauntlet-ssh error: %s\\n' \"$f: no such regular file\"; exit 1; }}\n\
             n=$(wc -c < \"$f\") || exit 1\n\
             printf 'gauntlet-ssh size %s\\n' \"$((n))\"\nexec head -c {max} < \"$f\"\n"
        )
        .as_bytes(),
    );
    Ok(s)
}

/// The signal's name as `kill -s` takes it (`KILL`), or its number for
/// one without a portable name (real-time signals).
pub(crate) fn signal_spec(signal: i32) -> String {
    let name = gauntlet_node::signal_name(signal);
    match name.strip_prefix("SIG") {
        Some(short) if !short.contains('+') && !short.contains("RT") => short.to_owned(),
        _ => signal.to_string(),
    }
}

/// `exec /bin/sh -c '<script>'`: what the host's login shell runs.
pub(crate) fn remote_command(script: &[u8]) -> Result<std::ffi::OsString, SshError> {
    let mut command = b"exec /bin/sh -c ".to_vec();
    push_quoted(&mut command, OsStr::from_bytes(script), "script")?;
    Ok(std::os::unix::ffi::OsStringExt::from_vec(command))
}

#[cfg(test)]
mod tests;
