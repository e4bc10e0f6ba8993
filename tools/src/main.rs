//! `ferritectl`: the operator CLI for Ferrite (and any Kafka broker), plus offline log tools.
//!
//! Online commands talk to brokers through the `client` crate (plain Kafka requests); the
//! `log` commands read a data directory through `storage::inspect` without a running broker.
//! Every command prints text for people or JSON (`--format json`) for scripts; every failure
//! is one line on stderr and a non-zero exit.

mod cli;
mod commands;
mod interrupt;
mod output;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    match commands::run(&cli) {
        Ok(()) => {}
        Err(error) => {
            for line in error.lines() {
                eprintln!("ferritectl: {line}");
            }
            std::process::exit(1);
        }
    }
}
