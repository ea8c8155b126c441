//! Validation after an epoch: every source with held-out faces, each scored in its own scheme;
//! the first source's mean NME picks the best epoch.
use crate::error::{Error, Result};
use crate::eval::predict_crops;
use crate::model::LandmarkModel;
use facealign_core::loader::CropLoader;
use facealign_core::metrics::{self, FaceScore, Normalizer};
use facealign_core::scheme_map::SchemeMap;
use facealign_core::Dataset;

/// One source's validation faces: their loader and the map from the model's scheme to theirs.
pub struct ValSource {
    pub loader: CropLoader,
    pub map: SchemeMap,
}

/// The scores of one validation pass.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Per source: its name, its number of faces, and the NME (fraction) of each face that
    /// could be normalised.
    pub per_source: Vec<(String, usize, Vec<f64>)>,
    /// The first source's mean NME, FR@0.10 and AUC@0.10.
    pub nme: f64,
    pub fr10: f64,
    pub auc10: f64,
}

/// Predict every validation face (no augmentation, no gradient) and score it with `norm`.
/// Errors when there is no validation data or no face of the first source can be normalised.
pub fn validate(
    net: &LandmarkModel,
    sources: &[ValSource],
    norm: Normalizer,
) -> Result<Validation> {
    let mut per_source = Vec::with_capacity(sources.len());
    for ValSource { loader, map } in sources {
        let val: &Dataset = loader.dataset();
        let preds = predict_crops(net, loader)?;
        let mut nmes = Vec::with_capacity(preds.len());
        for (s, p) in val.samples.iter().zip(&preds) {
            let p = map.apply(p);
            match metrics::score_face(&p, &s.landmarks, &val.scheme, norm)? {
                FaceScore::Nme(v) => nmes.push(v),
                FaceScore::Unscorable(_) => {}
            }
        }
        per_source.push((val.source.clone(), val.samples.len(), nmes));
    }
    let (first, _, nmes) = per_source.first().ok_or_else(|| {
        Error::Data("no validation data (set data.val_ids, data.val or data.val_fraction)".into())
    })?;
    if nmes.is_empty() {
        return Err(Error::Data(format!(
            "no validation face of {first} can be normalised by `{}`; set val_norm = \"box\"",
            norm.name()
        )));
    }
    let nme = nmes.iter().sum::<f64>() / nmes.len() as f64;
    let fr10 = metrics::failure_rate(nmes, 0.10)?;
    let auc10 = metrics::auc(nmes, 0.10)?;
    Ok(Validation {
        per_source,
        nme,
        fr10,
        auc10,
    })
}
