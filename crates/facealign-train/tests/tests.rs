//! Integration tests of the facealign library: one module per area.
mod it;
