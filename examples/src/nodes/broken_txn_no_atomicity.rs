//! Deliberately broken transactions: each micro-op applied on its own
//! against `lin-kv`, appends as read-then-write, so concurrent transactions
//! interleave and lose each other's appends. See `crate::txn`.

pub fn main() -> std::io::Result<()> {
    crate::txn::run(crate::txn::Mode::NoAtomicity)
}
