//! Nothing leaks: Ctrl-C and SIGTERM end the run cleanly, a second Ctrl-C or
//! a panic kills every node at once. A SIGKILL of gauntlet is covered by the
//! nodes' parent-death signal (set when they are spawned) and, for what they
//! started in turn, by the next command's sweep of the dead gauntlet's
//! cgroup.

use crate::out::note;
use tokio::sync::watch;

/// Kills and removes what gauntlet processes that died without cleaning up
/// (SIGKILL, OOM kill) left in their cgroups: their nodes' grandchildren and
/// daemons. Called before every command that runs things.
pub fn sweep_dead_gauntlets() {
    let sweep = gauntlet_node::sweep_dead_owners();
    for (path, why) in &sweep.failed {
        note!(
            "gauntlet: warning: cannot clean up {} left by a gauntlet that died: {why}",
            path.display()
        );
    }
}

/// Installs the panic hook that kills every node process group, first. It
/// prints nothing itself; std's default hook, called after, drops its own
/// write errors, so a closed stderr cannot make the hook panic in turn.
pub fn kill_nodes_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        gauntlet_node::kill_all();
        default(info);
    }));
}

/// A channel that turns true on the first SIGINT or SIGTERM. On the second,
/// every node is killed and gauntlet exits with 130 straight away.
pub fn cancel_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                note!("gauntlet: interrupted; stopping the run and tearing down (again to force)");
                let _ = tx.send(true);
            } else {
                gauntlet_node::kill_all();
                std::process::exit(130);
            }
        }
    });
    rx
}
