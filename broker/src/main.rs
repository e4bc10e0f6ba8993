//! `ferrite`: the broker binary.

use clap::Parser;

fn main() {
    let command_line = broker::config::CommandLine::parse();
    let config = match command_line.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ferrite: {error}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "ferrite: configuration is valid ({} cores, data in {}), but the request path is not \
         built yet; see README.md for what exists",
        config.cores.len(),
        config.data_dir.display()
    );
    std::process::exit(2);
}
