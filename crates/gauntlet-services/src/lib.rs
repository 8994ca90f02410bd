//! Maelstrom's built-in services (lin-kv, seq-kv, lww-kv, lin-tso) as sans-IO request handlers.
