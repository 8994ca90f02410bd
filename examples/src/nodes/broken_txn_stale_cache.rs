//! Deliberately broken transactions: each node serves every transaction
//! from its own local copy of the database and never sees another node's
//! writes, so nodes read lists in incompatible orders. See `crate::txn`.

pub fn main() -> std::io::Result<()> {
    crate::txn::run(crate::txn::Mode::StaleCache)
}
