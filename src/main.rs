fn main() {
    println!("lumora-hr-mini {}", env!("CARGO_PKG_VERSION"));
}
