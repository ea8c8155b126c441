//! One module per subcommand: each turns parsed flags into library calls and prints results.
pub mod bench;
pub mod data;
pub mod eval;
pub mod model;
pub mod predict;
pub mod shape;
