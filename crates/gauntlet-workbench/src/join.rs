//! Running a few node operations at once.

/// Runs futures concurrently, each on its own task, and collects their
/// outputs in order. A task that panicked panics the caller with its own
/// payload, so the message that reaches the user is the first one.
pub(crate) async fn futures_join<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(joined(h.await));
    }
    out
}

/// A joined task's output; its panic, carried on, if it panicked. (No
/// task of a run is ever aborted, so a cancelled one is a bug too.)
pub(crate) fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a run task was cancelled: {e}"),
    }
}
