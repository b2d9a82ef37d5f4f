//! The `s3gate` binary.
fn main() {}
