//! `ferrite`: the broker binary. Not yet implemented; see the broker issue.

fn main() {
    eprintln!("ferrite: the broker is not built yet; see README.md for what exists");
    std::process::exit(2);
}
