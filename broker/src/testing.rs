//! An in-process broker for tests, in this crate and in the crates above it (bench, tools).
//!
//! [`TestBroker`] starts a broker on 127.0.0.1 with a free port, in a fresh directory under
//! the system's temporary directory, on one core and with small memory; it shuts the broker
//! down and removes the directory when dropped. [`TestBroker::restart`] stops the broker and
//! starts it again on the same directory and port, as a restart of the process would.
//!
//! It is plain library code (not behind a feature) so that other crates' tests can use it as
//! `broker::testing::TestBroker` with `broker` as a dev-dependency.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::{available_cores, BrokerConfig};
use crate::server::{start, RunningBroker};

/// A broker running inside the test process.
pub struct TestBroker {
    broker: Option<RunningBroker>,
    config: BrokerConfig,
    directory: TestDirectory,
}

impl TestBroker {
    /// A broker with [`BrokerConfig::for_tests`] settings.
    pub fn start() -> TestBroker {
        Self::start_with(|_| {})
    }

    /// A broker with two shards (one per core of a two-core machine; both on one core if the
    /// machine has only one), for tests of cross-core paths.
    pub fn start_two_shards() -> TestBroker {
        Self::start_with(|config| {
            let cores = available_cores();
            let first = cores.first().copied().unwrap_or(0);
            config.cores = vec![first, cores.get(1).copied().unwrap_or(first)];
        })
    }

    /// A broker with [`BrokerConfig::for_tests`] settings changed by `configure`.
    pub fn start_with(configure: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let directory = TestDirectory::new();
        let mut config = BrokerConfig::for_tests(directory.path());
        configure(&mut config);
        let broker = start(config.clone()).expect("the test broker starts");
        // From now on the broker restarts where it first listened.
        config.listen = broker.local_addr();
        config.advertised_listener.port = broker.local_addr().port();
        TestBroker {
            broker: Some(broker),
            config,
            directory,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.config.listen
    }

    /// `host:port` for clients that take a bootstrap string.
    pub fn bootstrap(&self) -> String {
        self.addr().to_string()
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        self.directory.path()
    }

    /// The configuration the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Stops the broker cleanly (as SIGTERM does) and starts it again on the same directory
    /// and port. Retries the start for a few seconds while the port is still being released.
    pub fn restart(&mut self) {
        self.restart_with(|_| {});
    }

    /// [`TestBroker::restart`] with a configuration change.
    pub fn restart_with(&mut self, configure: impl FnOnce(&mut BrokerConfig)) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown();
        }
        configure(&mut self.config);
        let mut attempts = 0;
        loop {
            match start(self.config.clone()) {
                Ok(broker) => {
                    self.broker = Some(broker);
                    return;
                }
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    tracing::debug!(%error, attempts, "test broker restart retried");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("the test broker restarts: {error}"),
            }
        }
    }

    /// Stops the broker; [`TestBroker::restart`] starts it again.
    pub fn stop(&mut self) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory removed on drop.
struct TestDirectory {
    path: PathBuf,
}

impl TestDirectory {
    fn new() -> TestDirectory {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "ferrite-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("a test directory can be created");
        TestDirectory { path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
