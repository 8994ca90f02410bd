//! Built-in services (`lin-kv`, `seq-kv`, ...) as network endpoints.

use std::sync::Arc;

use gauntlet_proto::Envelope;
use gauntlet_services::Service;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::inbox::Inbox;
use crate::journal::Fate;
use crate::net::Net;

/// Serves requests one at a time in delivery order until the network closes.
/// Replies travel back with the usual node latency.
pub(crate) async fn serve(
    index: u32,
    mut service: Box<dyn Service>,
    mut inbox: Inbox,
    net: Arc<Net>,
    seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    while let Some(packet) = inbox.next_due().await {
        let at = net.now();
        let parsed: Result<Envelope, _> = serde_json::from_str(&packet.line);
        let src = packet.src;
        net.record(packet, Fate::Delivered(at));
        let Ok(env) = parsed else { continue };
        if let Some(reply) = service.handle(&env.src, &env.body) {
            net.send(index, src, &reply.to_string(), &mut rng);
        }
    }
}
