//! Maelstrom `txn-list-append` and `txn-rw-register`: a correct
//! transactor, a root map in one `lin-kv` key naming each key's value, an
//! immutable thunk in `lww-kv`; the root is installed with `cas` and the
//! transaction retried when another transaction won the race. See
//! `crate::txn`.

pub fn main() -> std::io::Result<()> {
    crate::txn::run(crate::txn::Mode::MultiKey)
}
