//! `gauntlet client etcd | redis`: the built-in client programs of
//! cluster tests. Each answers the cluster client protocol on stdin and
//! stdout (docs/client-protocol.md) until stdin ends; the work is
//! `gauntlet_client::builtin`'s. Stdout carries answers only: the
//! closing tally goes to stderr, the client's log.

use std::io;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use gauntlet_client::builtin::{self, Served, Store, etcd, redis};

use crate::exit;
use crate::out::note;
use crate::units::{self, Seconds};

const PROTOCOL: &str = "Protocol: one request per stdin line, {\"f\":\"read\"|\"write\"|\"cas\",\"key\":K,\"value\":V} (cas: [from,to]),\n\
    one answer per stdout line, {\"type\":\"ok\"|\"fail\"|\"info\",\"value\"|\"error\":...}; docs/client-protocol.md.";

#[derive(Debug, Args)]
#[command(after_help = format!("Examples:\n  \
    gauntlet client etcd --endpoints http://10.0.0.2:2379,http://10.0.0.3:2379 --reads serializable\n  \
    gauntlet client redis --endpoints redis://10.0.0.2:6379 --timeout 500ms\n\n{PROTOCOL}"))]
pub struct ClientArgs {
    #[command(subcommand)]
    pub system: ClientCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// etcd v3 through its JSON gateway: read is a range, write a put, cas a txn.
    #[command(after_help = format!("Example:\n  \
        printf '{{\"f\":\"write\",\"key\":\"k1\",\"value\":3}}\\n{{\"f\":\"read\",\"key\":\"k1\"}}\\n' \\\n    \
        | gauntlet client etcd --endpoints http://127.0.0.1:2379\n\n{PROTOCOL}"))]
    Etcd(EtcdArgs),
    /// Redis: read is GET, write SET, cas a Lua script.
    #[command(after_help = format!("Example:\n  \
        printf '{{\"f\":\"write\",\"key\":\"k1\",\"value\":3}}\\n{{\"f\":\"cas\",\"key\":\"k1\",\"value\":[3,4]}}\\n' \\\n    \
        | gauntlet client redis --endpoints redis://127.0.0.1:6379\n\n{PROTOCOL}"))]
    Redis(RedisArgs),
}

/// Options both clients take.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// How long one request may take, connecting included (500ms, 2s,
    /// 1m; 1ms to 365 days). Past it a write or cas answers info, a read
    /// fail.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = units::timeout_with_unit)]
    pub timeout: Seconds,
    /// Talk to endpoint N (mod their count), so that a test's workers
    /// spread over the members [default: this process's id].
    #[arg(long, value_name = "N")]
    pub worker: Option<usize>,
    /// After a connection error, a timeout or a server error, move on to
    /// the next endpoint. Without it the client keeps to its endpoint, as
    /// a Jepsen client is bound to its node: what that member answers,
    /// stale, refused or nothing, is what the history shows of it.
    #[arg(long)]
    pub failover: bool,
}

impl CommonArgs {
    fn endpoints_choice(&self) -> builtin::EndpointChoice {
        builtin::EndpointChoice::new(self.worker, self.failover)
    }
}

#[derive(Debug, Args)]
pub struct EtcdArgs {
    /// The members' client URLs, comma-separated: http://HOST:PORT (no
    /// TLS).
    #[arg(long, required = true, value_name = "URLS", value_delimiter = ',', value_parser = etcd_endpoint)]
    pub endpoints: Vec<etcd::Endpoint>,
    /// linearizable (through the leader and a quorum) or serializable
    /// (the member alone, possibly stale).
    #[arg(long, value_enum, default_value_t = Reads::Linearizable)]
    pub reads: Reads,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RedisArgs {
    /// The servers' URLs, comma-separated: redis://HOST:PORT[/DB] (no
    /// TLS).
    #[arg(long, required = true, value_name = "URLS", value_delimiter = ',', value_parser = redis_endpoint)]
    pub endpoints: Vec<redis::Endpoint>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reads {
    Linearizable,
    Serializable,
}

fn etcd_endpoint(text: &str) -> Result<etcd::Endpoint, builtin::EndpointError> {
    etcd::Endpoint::parse(text)
}

fn redis_endpoint(text: &str) -> Result<redis::Endpoint, builtin::EndpointError> {
    redis::Endpoint::parse(text)
}

pub fn run(args: ClientArgs) -> Result<u8> {
    match args.system {
        ClientCommand::Etcd(a) => {
            let config = etcd::EtcdConfig {
                endpoints: a.endpoints,
                reads: match a.reads {
                    Reads::Linearizable => etcd::Reads::Linearizable,
                    Reads::Serializable => etcd::Reads::Serializable,
                },
                timeout: a.common.timeout.0,
                endpoints_choice: a.common.endpoints_choice(),
            };
            let store = etcd::Etcd::new(config).context("no endpoints")?;
            serve("etcd", store)
        }
        ClientCommand::Redis(a) => {
            let config = redis::RedisConfig {
                endpoints: a.endpoints,
                timeout: a.common.timeout.0,
                endpoints_choice: a.common.endpoints_choice(),
            };
            let store = redis::Redis::new(config).context("no endpoints")?;
            serve("redis", store)
        }
    }
}

/// Answers stdin on stdout until stdin ends, then says how it went on
/// stderr.
fn serve(system: &str, mut store: impl Store) -> Result<u8> {
    let served: Served = builtin::serve(&mut store, io::stdin().lock(), io::stdout().lock())
        .with_context(|| format!("client {system}: stdin or stdout failed"))?;
    note!(
        "gauntlet client {system}: {} requests: {} ok, {} fail, {} info",
        served.requests(),
        served.ok,
        served.fail,
        served.info
    );
    Ok(exit::VALID)
}
