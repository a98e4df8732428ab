//! The `servesim` command-line tool.

fn main() {
    println!("servesim {}", env!("CARGO_PKG_VERSION"));
}
