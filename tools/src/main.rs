//! `ferritectl`: the operator CLI. Not yet implemented; see its issue.

fn main() {
    eprintln!("ferritectl: not built yet; see README.md for what exists");
    std::process::exit(2);
}
