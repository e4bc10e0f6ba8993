//! Timers for code that must not name the runtime.

use std::future::Future;
use std::time::Duration;

/// Waits for `duration`.
pub async fn sleep(duration: Duration) {
    glommio::timer::sleep(duration).await
}

/// Runs `work`, giving up after `limit`: `None` when the time ran out first.
pub async fn within<T>(limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    glommio::timer::timeout(limit, async { Ok(work.await) })
        .await
        .ok()
}
