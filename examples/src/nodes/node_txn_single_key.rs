//! Maelstrom `txn-list-append` and `txn-rw-register`: a correct
//! transactor, the whole database in one `lin-kv` key, installed with `cas`
//! and retried when another transaction won the race. See `crate::txn`.

pub fn main() -> std::io::Result<()> {
    crate::txn::run(crate::txn::Mode::SingleKey)
}
