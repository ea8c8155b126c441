//! facealign: face alignment (facial landmark detection) in Rust. The facade.
//!
//! One dependency for users of the library; the crates behind it, arrows pointing down only:
//!
//! | crate | holds | tensors |
//! |---|---|---|
//! | `facealign-core` | schemes and maps, readers, crops, augmentation, the PCA shape model, metrics, drawing | none |
//! | `facealign-detect` | the face detectors | tract |
//! | `facealign-infer` | the pure-Rust landmark runtime, prediction, evaluation, the photo [`Predictor`] | tract |
//! | `facealign-train` (feature `train`) | tch models, losses, objective, trainer, benchmark | libtorch |
//!
//! Without the `train` feature nothing here links libtorch. The tensor-free modules of
//! `facealign-core` are re-exported at the top level, the inference crate as [`infer`] (its
//! evaluation and prediction also as [`eval`] and [`predictor`]), the detectors as [`detect`];
//! with `train`, the training modules ([`train`], `loss`, `model`, `config`, ...) too.
//!
//! ```no_run
//! use facealign::{Locations, Predictor, TractNet, TractOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let loc = Locations::discover(); // $FACEALIGN_HOME, else this checkout's models/
//! // a shipped name, a .safetensors or a run folder; one read gives the metadata and the network
//! let (model, net) = TractNet::open(&loc.resolve("adult68")?, TractOptions::default())?;
//! // "ultraface-rfb,yunet-320": UltraFace, and YuNet (320 px) where it finds no face (predict's default)
//! let mut p = Predictor::new(model, Box::new(net), facealign::infer::DEFAULT_DETECTORS, &loc)?;
//! let (img, _exif_orientation) = facealign::imageio::decode_rgb_upright("photo.jpg".as_ref())?;
//! for face in p.predict(&img)? {
//!     // face.bbox: the detector box; face.landmarks: 68 points in image pixels
//!     println!("{:?} {:?}", face.bbox, face.landmarks[30]);
//! }
//! # Ok(())
//! # }
//! ```
pub use facealign_core::{
    augment, coords, data, draw, fsio, geometry, imageio, inspect, loader, metrics, mixed, sample,
    scheme, scheme_map, shape, smooth,
};
pub use facealign_core::{
    BoxCalibration, BoxXywh, Dataset, ImageSource, Point, Sample, Scheme, SchemeId,
};

/// The face detectors.
pub use facealign_detect as detect;
/// Inference without libtorch: model files, the tract runtime, prediction, evaluation.
pub use facealign_infer as infer;
/// Evaluation with the field's protocol (NME, FR, AUC, CED; `eval`'s library side).
pub use facealign_infer::evaluate as eval;
pub use facealign_infer::predictor;
pub use facealign_infer::{
    CropNet, Error, Face, Locations, ModelFile, Predictor, Refine, Result, TractNet, TractOptions,
};

#[cfg(feature = "train")]
pub use facealign_train::{
    alloc, bench, bundle, checkpoint, config, loss, model, objective, train, Error as TrainError,
    Result as TrainResult,
};
