//! End-to-end tests of the `facealign` binary: one module per area.
mod cli;
