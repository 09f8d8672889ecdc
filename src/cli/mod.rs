//! The `lumora-hr-mini` command line.

pub mod qr;
