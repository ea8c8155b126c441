//! Prediction: face crops → network → landmarks in image pixels, batched; and the refinement of a
//! first prediction (issue 13, roll and pose at inference). Training validation, `eval` and the
//! photo pipeline all predict through here, on any [`CropNet`].
use crate::error::{Error, Result};
use crate::net::{mirror_chw, CropNet};
use facealign_core::geometry::{
    crop_aligned_to_shape, crop_u_to_image_px, warp_rgb, Affine2, CropSpec,
};
use facealign_core::loader::{to_chw, CropLoader};
use facealign_core::{Point, Scheme};
use image::RgbImage;

/// Run the network on `n = crops.len()` crops (`chw`: `[n, 3, S, S]`) and map each prediction
/// from crop_u back to image_px through its crop's inverse transform.
pub fn predict_image_px(
    net: &dyn CropNet,
    chw: &[f32],
    crops: &[Affine2],
    size: u32,
) -> Result<Vec<Vec<Point>>> {
    if crops.is_empty() {
        return Ok(Vec::new());
    }
    let flat = net.run(chw, crops.len())?;
    if flat.is_empty() || flat.len() % (2 * crops.len()) != 0 {
        return Err(Error::runtime(
            net.runtime(),
            format!(
                "{} outputs for {} crops: not 2 coordinates per point per crop",
                flat.len(),
                crops.len()
            ),
        ));
    }
    let dim = flat.len() / crops.len();
    crops
        .iter()
        .zip(flat.chunks(dim))
        .map(|(t, f)| {
            let u: Vec<Point> = f.chunks(2).map(|c| [c[0], c[1]]).collect();
            Ok(crop_u_to_image_px(&u, t, size)?)
        })
        .collect()
}

/// How a first prediction is refined (issue 13, roll and pose at inference).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Refine {
    /// Re-crop the face aligned with its predicted eye line and re-centred on the predicted shape
    /// (the training crop of an upright face), then predict again; this many times (0 = off).
    pub passes: u32,
    /// In each refinement pass, average with the prediction on the mirrored crop (relabelled
    /// with the scheme's flip permutation).
    pub flip: bool,
    /// Stop refining a face once its next re-crop would move no corner of the crop by
    /// `still_px` crop pixels or more against the crop of its last pass (the network would see
    /// nearly the same pixels again); 0 = always run every pass. The first refinement pass is
    /// compared with the first crop when the caller passes it (`refine_predictions`).
    #[serde(default)]
    pub still_px: f32,
}

impl Refine {
    /// No refinement.
    pub const OFF: Refine = Refine {
        passes: 0,
        flip: false,
        still_px: 0.0,
    };

    /// What `predict` (and the Python `Predictor`) use on photos, for a model of input `size`:
    /// one pass, skipped for a face whose re-crop would move no crop corner by `size / 8` crop
    /// pixels (12 at 96 px). Chosen on validation faces (docs/RESULTS.md, session 9): turned faces
    /// are still refined (their re-crop turns), and the skipped passes of upright faces cost at most
    /// 0.06 points (AFLW validation 5.05 → 5.06 %, 40 validation infants 8.59 → 8.65 %).
    pub fn photo_default(size: u32) -> Refine {
        Refine {
            passes: 1,
            flip: false,
            still_px: Self::photo_still_px(size),
        }
    }

    /// The `still_px` of [`Refine::photo_default`]: an eighth of the crop side.
    pub fn photo_still_px(size: u32) -> f32 {
        size as f32 / 8.0
    }

    /// With `still_px`, the protocol's note of how many refinement passes `ran` over `faces`
    /// faces on average (passes are then skipped, so the count says what ran); empty otherwise.
    pub fn passes_note(&self, ran: usize, faces: usize) -> String {
        if self.still_px > 0.0 && faces > 0 {
            format!(
                " ({:.2} refinement passes per face on average)",
                ran as f64 / faces as f64
            )
        } else {
            String::new()
        }
    }

    /// The protocol in words (empty when off).
    pub fn describe(&self) -> String {
        if self.passes == 0 {
            return String::new();
        }
        format!(
            "; then re-cropped along the predicted eye line and re-centred on the prediction ({} pass{}{}){}",
            self.passes,
            if self.passes == 1 { "" } else { "es" },
            if self.still_px > 0.0 {
                format!(
                    " at most, a face's passes stopping once its re-crop moves < {} crop px",
                    self.still_px
                )
            } else {
                String::new()
            },
            if self.flip {
                ", each averaged with the mirrored crop"
            } else {
                ""
            }
        )
    }
}

/// A second model for the refinement passes (`--refine-model`, a cascade): the first crop is
/// predicted by the main model, every refinement pass by this one, on its own crop protocol
/// (input size and margin). Its scheme must be the main model's ([`Refiner::check`]).
#[derive(Clone, Copy)]
pub struct Refiner<'a> {
    pub model: &'a crate::model_file::ModelFile,
    pub net: &'a dyn CropNet,
}

impl Refiner<'_> {
    /// An error unless this refiner predicts the landmark scheme of `first` (same scheme id and
    /// point count): its points replace the first model's point by point.
    pub fn check(&self, first: &crate::model_file::ModelFile) -> Result<()> {
        let (a, b) = (&first.scheme, &self.model.scheme);
        if a.id != b.id || a.n_points() != b.n_points() {
            return Err(Error::invalid(
                format!("refine model `{}`", self.model.name),
                format!(
                    "predicts {} ({} points) but the model `{}` predicts {} ({} points): a refine model must predict the same scheme",
                    b.name(),
                    b.n_points(),
                    first.name,
                    a.name(),
                    a.n_points()
                ),
            ));
        }
        Ok(())
    }

    /// [`refine_predictions`] of the main model's first predictions by this model, on its own
    /// crop protocol; no face's first pass is skipped (its crops are not the main model's).
    pub fn refine(
        &self,
        images: &[&RgbImage],
        first: Vec<Vec<Point>>,
        refine: Refine,
    ) -> Result<(Vec<Vec<Point>>, usize)> {
        refine_predictions(
            self.net,
            &self.model.scheme,
            &self.model.crop,
            images,
            first,
            None,
            refine,
        )
    }

    /// The protocol's words for `refine` run by `refiner` (by the main model when `None`):
    /// [`Refine::describe`], and the refine model when one ran.
    pub fn describe(refiner: Option<&Refiner<'_>>, refine: Refine) -> String {
        match (refiner, refine.passes) {
            (Some(r), 1..) => format!(
                "{} by the refine model `{}` (crop × {} at {} px)",
                refine.describe(),
                r.model.name,
                r.model.crop.enlarge,
                r.model.crop.size
            ),
            _ => refine.describe(),
        }
    }
}

/// How far the crop `next` moves against the crop `prev` (both image_px → crop_px of side
/// `size`): the largest displacement, in crop pixels, of the crop's four corners.
pub fn crop_motion(prev: &Affine2, next: &Affine2, size: u32) -> f32 {
    let Some(back) = prev.inverse() else {
        return f32::INFINITY;
    };
    let s = size as f32;
    [[0.0, 0.0], [s, 0.0], [0.0, s], [s, s]]
        .iter()
        .map(|&c| {
            let q = next.apply(back.apply(c));
            (q[0] - c[0]).hypot(q[1] - c[1])
        })
        .fold(0.0f32, f32::max)
}

/// Refine first predictions (image_px) of faces in `images` (one image per face): `refine.passes`
/// times, re-crop each face aligned with its predicted eye line ([`crop_aligned_to_shape`]) and
/// predict again, optionally averaging with the mirrored crop; with `refine.still_px`, a face
/// whose re-crop has stopped moving is left as it is: against `first_crops` (the crops of the
/// first predictions, when given) from the first refinement pass on, else from the second.
/// Faces are run in batches of 32. Returns the refined shapes and how many face passes ran (at
/// most `faces × refine.passes`).
pub fn refine_predictions(
    net: &dyn CropNet,
    scheme: &Scheme,
    spec: &CropSpec,
    images: &[&RgbImage],
    first: Vec<Vec<Point>>,
    first_crops: Option<&[Affine2]>,
    refine: Refine,
) -> Result<(Vec<Vec<Point>>, usize)> {
    let mut ran = 0;
    let mut current = first;
    let s = spec.size as usize;
    let mut last_crop: Vec<Option<Affine2>> = match first_crops {
        Some(c) if c.len() == current.len() => c.iter().copied().map(Some).collect(),
        Some(c) => {
            return Err(Error::invalid(
                "refine_predictions first_crops",
                format!("{} crops for {} faces", c.len(), current.len()),
            ))
        }
        None => vec![None; current.len()],
    };
    let mut still = vec![false; current.len()];
    for _ in 0..refine.passes {
        // The faces to run this pass, with their new crops.
        let mut todo: Vec<(usize, Affine2)> = Vec::with_capacity(current.len());
        for (i, shape) in current.iter().enumerate() {
            if still[i] {
                continue;
            }
            let t = crop_aligned_to_shape(shape, scheme.roll(shape), spec)?;
            if refine.still_px > 0.0 {
                if let Some(prev) = &last_crop[i] {
                    if crop_motion(prev, &t, spec.size) < refine.still_px {
                        still[i] = true;
                        continue;
                    }
                }
            }
            todo.push((i, t));
        }
        if todo.is_empty() {
            break;
        }
        ran += todo.len();
        for batch in todo.chunks(32) {
            let mut chw = Vec::with_capacity(batch.len() * 3 * s * s);
            for (i, t) in batch {
                chw.extend(to_chw(&warp_rgb(images[*i], t, spec.size)?));
            }
            let crops: Vec<Affine2> = batch.iter().map(|(_, t)| *t).collect();
            let mut pred = predict_image_px(net, &chw, &crops, spec.size)?;
            if refine.flip {
                let mirrored: Vec<Affine2> = crops
                    .iter()
                    .map(|t| t.then(&Affine2::mirror_x(spec.size)))
                    .collect();
                let pm = predict_image_px(net, &mirror_chw(&chw, s), &mirrored, spec.size)?;
                for (p, m) in pred.iter_mut().zip(pm) {
                    // Point i of the mirrored face is point flip[i] of the face.
                    for (i, &j) in scheme.flip.iter().enumerate() {
                        p[j] = [(p[j][0] + m[i][0]) / 2.0, (p[j][1] + m[i][1]) / 2.0];
                    }
                }
            }
            for ((i, t), p) in batch.iter().zip(pred) {
                current[*i] = p;
                last_crop[*i] = Some(*t);
            }
        }
    }
    Ok((current, ran))
}

/// Predict every sample of a loader's dataset (in dataset order, no augmentation) and map the
/// predictions back to image_px through each crop's inverse transform.
pub fn predict_crops(net: &dyn CropNet, loader: &CropLoader) -> Result<Vec<Vec<Point>>> {
    Ok(predict_crops_with_transforms(net, loader)?.0)
}

/// [`predict_crops`], with each sample's crop (image_px → crop_px) beside its prediction.
pub fn predict_crops_with_transforms(
    net: &dyn CropNet,
    loader: &CropLoader,
) -> Result<(Vec<Vec<Point>>, Vec<Affine2>)> {
    let size = loader.config().crop.size;
    let n = loader.dataset().samples.len();
    let (mut out, mut crops) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for b in loader.iter_epoch(0) {
        let b = b?;
        out.extend(predict_image_px(net, &b.images, &b.crop_from_image, size)?);
        crops.extend_from_slice(&b.crop_from_image);
    }
    Ok((out, crops))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A network that answers with a fixed shape in crop_u for every crop.
    struct Fixed(Vec<f32>);
    impl CropNet for Fixed {
        fn runtime(&self) -> &'static str {
            "fixed"
        }
        fn run(&self, _chw: &[f32], n: usize) -> Result<Vec<f32>> {
            Ok(self.0.repeat(n))
        }
    }

    #[test]
    fn crop_units_map_back_through_each_crop() {
        // Crop 0 is the identity on a 10-px image: u = px / 10 − 0.5, so u = (0, 0) is (5, 5).
        // Crop 1 is shifted by (+20, +30) image px → crop px 0: image (20, 30).
        let net = Fixed(vec![0.0, 0.0, 0.25, -0.5]);
        let id = Affine2::IDENTITY;
        let shifted = Affine2::translation(-20.0, -30.0);
        let chw = vec![0.0; 2 * 3 * 10 * 10];
        let p = predict_image_px(&net, &chw, &[id, shifted], 10).unwrap();
        assert_eq!(p[0], vec![[5.0, 5.0], [7.5, 0.0]]);
        assert_eq!(p[1], vec![[25.0, 35.0], [27.5, 30.0]]);
    }

    #[test]
    fn crop_motion_is_the_largest_corner_displacement() {
        let id = Affine2::IDENTITY;
        // A shift by (3, 4) moves every corner 5 px.
        assert!((crop_motion(&id, &Affine2::translation(3.0, 4.0), 10) - 5.0).abs() < 1e-5);
        // Doubling about the origin: corner (10, 10) goes to (20, 20), 10·√2 away.
        let d = crop_motion(&id, &Affine2::scaling(2.0), 10);
        assert!((d - 200f32.sqrt()).abs() < 1e-4, "{d}");
        assert_eq!(crop_motion(&id, &id, 10), 0.0);
    }

    #[test]
    fn still_faces_stop_refining() {
        // A network that always sees the same upright face filling its crop: after the first
        // re-crop the next one lands where the last one was, so with still_px the face stops
        // after one pass; without it every pass runs. The predictions are the same either way.
        let scheme = Scheme::get(facealign_core::SchemeId::Five);
        // Extents ±0.4 crop_u: × 1.25 = the crop side; shifted by −0.5/S because the crop centre
        // sits on crop_px (S − 1)/2 (geometry.rs), i.e. crop_u −0.5/S.
        let u = [-0.4, -0.4, 0.4, -0.4, 0.0, 0.0, -0.4, 0.4, 0.4, 0.4];
        let net = Fixed(u.iter().map(|v| v - 0.5 / 16.0).collect());
        let spec = CropSpec {
            size: 16,
            enlarge: 1.25,
        };
        let img = RgbImage::new(64, 64);
        let imgs = [&img, &img];
        let first = vec![
            vec![
                [20.0, 22.0],
                [40.0, 20.0],
                [30.0, 30.0],
                [22.0, 40.0],
                [40.0, 41.0],
            ],
            vec![
                [10.0, 10.0],
                [30.0, 14.0],
                [20.0, 20.0],
                [12.0, 30.0],
                [30.0, 32.0],
            ],
        ];
        let every = Refine {
            passes: 3,
            flip: false,
            still_px: 0.0,
        };
        let (a, ran_all) =
            refine_predictions(&net, &scheme, &spec, &imgs, first.clone(), None, every).unwrap();
        assert_eq!(ran_all, 6);
        let still = Refine {
            still_px: 0.5,
            ..every
        };
        let (b, ran) =
            refine_predictions(&net, &scheme, &spec, &imgs, first.clone(), None, still).unwrap();
        assert_eq!(ran, 2, "one pass per face");
        for (p, q) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!(
                (p[0] - q[0]).abs() < 0.1 && (p[1] - q[1]).abs() < 0.1,
                "{p:?} {q:?}"
            );
        }
        // Given the first crops, the first refinement pass is compared with them: a face whose
        // first crop is already where its re-crop would go is not refined at all (its first
        // prediction stands); a face first cropped elsewhere (the identity) runs one pass.
        let aligned = crop_aligned_to_shape(&first[0], scheme.roll(&first[0]), &spec).unwrap();
        let crops = [aligned, Affine2::IDENTITY];
        let (c, ran) = refine_predictions(
            &net,
            &scheme,
            &spec,
            &imgs,
            first.clone(),
            Some(&crops),
            still,
        )
        .unwrap();
        assert_eq!(ran, 1, "only the face first cropped elsewhere");
        assert_eq!(c[0], first[0]);
        assert_eq!(c[1], b[1]);
        // A crop count that does not match the faces is an error.
        let e = refine_predictions(&net, &scheme, &spec, &imgs, first, Some(&crops[..1]), still)
            .unwrap_err();
        assert!(e.to_string().contains("1 crops for 2 faces"), "{e}");
    }

    #[test]
    fn photos_refine_once_unless_the_crop_barely_moves() {
        let r = Refine::photo_default(96);
        assert_eq!((r.passes, r.flip, r.still_px), (1, false, 12.0));
        assert_eq!(Refine::photo_default(80).still_px, 10.0);
        assert!(
            r.describe().contains("moves < 12 crop px"),
            "{}",
            r.describe()
        );
    }

    #[test]
    fn a_wrong_output_size_is_an_error_not_a_panic() {
        let net = Fixed(vec![0.0, 0.0, 1.0]);
        let chw = vec![0.0; 3 * 4 * 4];
        let e = predict_image_px(&net, &chw, &[Affine2::IDENTITY], 4).unwrap_err();
        assert!(e.to_string().contains("not 2 coordinates"), "{e}");
    }
}
