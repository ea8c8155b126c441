//! Landmarks on photos (detector → calibrated crop → landmarks → image pixels): the
//! runtime-independent pipeline of `facealign-infer`, re-exported.
pub use facealign_infer::model_file::{store_calibration, META_CALIBRATION};
pub use facealign_infer::predictor::*;
