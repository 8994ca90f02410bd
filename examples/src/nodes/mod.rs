//! Each example node program as a function, so one binary (`gauntlet
//! example-node NAME`) can run any of them; the bins under `src/bin/` call these.

pub mod broken_broadcast_no_retry;
pub mod broken_counter_double;
pub mod broken_echo_crash;
pub mod broken_echo_wrong;
pub mod broken_garbage;
pub mod broken_kafka_reorder;
pub mod broken_lin_kv_cache;
pub mod broken_txn_no_atomicity;
pub mod broken_txn_stale_cache;
pub mod node_broadcast;
pub mod node_echo;
pub mod node_flood;
pub mod node_g_counter;
pub mod node_kafka_lin_kv;
pub mod node_kafka_single;
pub mod node_lin_kv_proxy;
pub mod node_pn_counter;
pub mod node_txn_multi_key;
pub mod node_txn_single_key;
pub mod node_unique_ids;
