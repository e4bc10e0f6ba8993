//! `ferrite`: the broker binary.

use std::io::Write;

use clap::Parser;

use broker::config::{CommandLine, LogFormat};
use broker::runtime::signals::{block_termination_signals, wait_for_termination_signal};

fn main() {
    let command_line = CommandLine::parse();
    let config = match command_line.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ferrite: {error}");
            std::process::exit(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|error| {
        eprintln!("ferrite: invalid log filter `{}`: {error}", config.log);
        std::process::exit(2);
    });
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }

    // Before any executor thread starts, so that they inherit the blocked mask.
    if let Err(error) = block_termination_signals() {
        eprintln!("ferrite: cannot block termination signals: {error}");
        std::process::exit(1);
    }
    tracing::info!(
        listen = %config.listen,
        data_dir = %config.data_dir.display(),
        cores = ?config.cores,
        "starting"
    );
    let broker = match broker::server::start(config) {
        Ok(broker) => broker,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            eprintln!("ferrite: {error}");
            std::process::exit(1);
        }
    };
    // The one line on stdout: scripts and tests wait for it.
    println!("ferrite listening on {}", broker.local_addr());
    let _ = std::io::stdout().flush();
    let signal = wait_for_termination_signal();
    tracing::info!(
        signal,
        "stopping: finishing requests in flight and closing logs"
    );
    broker.shutdown();
}
