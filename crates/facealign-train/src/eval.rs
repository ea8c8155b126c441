//! Evaluation (SPEC §5): the runtime-independent protocol of `facealign-infer`, re-exported; the
//! torch models take part through their [`facealign_infer::CropNet`] implementation
//! (`LandmarkModel`, `bundle::LoadedModel`).
pub use facealign_infer::evaluate::*;
pub use facealign_infer::predict::*;
