//! facealign inference without libtorch.
//!
//! A landmark network is anything that implements [`CropNet`] (face crops in, landmarks in crop
//! units out): the pure-Rust runtime of this crate ([`TractNet`]) or the libtorch models of the
//! `facealign` crate. The pure-Rust runtime reads a model file (safetensors with the training
//! config in its metadata) into plain tensors ([`weights`]), turns it into an ONNX graph with
//! BatchNorm folded into the convolutions ([`graph`]; also written to disk by [`export_onnx`]) and
//! runs it with tract ([`runtime`]). On top of the seam, written once for every runtime: model
//! files and their metadata ([`model_file`]), prediction and refinement ([`predict`]), evaluation
//! with the field's protocol ([`evaluate`]), and the photo pipeline, detector → calibrated crop →
//! landmarks ([`predictor`]), over photos and folders ([`photos`]).
//!
//! ```no_run
//! use facealign_infer::{TractNet, TractOptions};
//! # fn main() -> facealign_infer::Result<()> {
//! let net = TractNet::from_model_file("models/adult68.safetensors".as_ref(), TractOptions::default())?;
//! let s = net.input_size();
//! let crop = vec![0.5f32; 3 * s * s]; // [1, 3, S, S] RGB in [0, 1]
//! let u = net.run(&crop, 1)?; // 2M values: x0, y0, x1, y1, … in crop_u
//! assert_eq!(u.len(), 2 * net.n_points());
//! # Ok(())
//! # }
//! ```
pub mod error;
pub mod evaluate;
pub mod graph;
pub mod model_file;
pub mod net;
pub mod photos;
pub mod predict;
pub mod predictor;
pub mod runtime;
pub mod weights;

pub use error::{Error, Result};
/// The face detectors (`facealign-detect`), so that callers reach the whole photo pipeline here.
pub use facealign_detect as detect;
pub use graph::{build_graph, export_onnx, net_spec, Arch, LandmarkGraph, NetSpec};
pub use model_file::{Locations, ModelFile};
pub use net::CropNet;
pub use predict::Refine;
pub use predictor::{Face, Predictor, DEFAULT_DETECTORS};
pub use runtime::{BatchPlans, OpTime, TractNet, TractOptions};
pub use weights::{WeightTensor, Weights};
