//! What can go wrong, typed.

use std::net::SocketAddr;

use gauntlet_store::StoreError;

/// Why the dashboard cannot start, or a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {listen}: {cause}")]
    Bind {
        listen: SocketAddr,
        cause: std::io::Error,
    },
    #[error(
        "{listen} is reachable beyond this machine: give a token (--token-env NAME, or GAUNTLET_SERVE_TOKEN) that every request must carry"
    )]
    TokenRequired { listen: SocketAddr },
    #[error(
        "the token is shorter than {} characters: anyone could guess it",
        crate::MIN_TOKEN_LEN
    )]
    WeakToken,
    #[error("no randomness from /dev/urandom: {0}")]
    Random(std::io::Error),
    #[error(transparent)]
    Io(std::io::Error),
    #[error("a store read was cancelled: {0}")]
    Join(#[from] tokio::task::JoinError),
}
