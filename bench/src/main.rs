//! `ferrite-bench`: the Kafka-protocol load generator. Not yet implemented; see its issue.

fn main() {
    eprintln!("ferrite-bench: not built yet; see README.md for what exists");
    std::process::exit(2);
}
