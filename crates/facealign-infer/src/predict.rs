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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refine {
    /// Re-crop the face aligned with its predicted eye line and re-centred on the predicted shape
    /// (the training crop of an upright face), then predict again; this many times (0 = off).
    pub passes: u32,
    /// In each refinement pass, average with the prediction on the mirrored crop (relabelled
    /// with the scheme's flip permutation).
    pub flip: bool,
}

impl Refine {
    /// No refinement.
    pub const OFF: Refine = Refine {
        passes: 0,
        flip: false,
    };

    /// The protocol in words (empty when off).
    pub fn describe(&self) -> String {
        if self.passes == 0 {
            return String::new();
        }
        format!(
            "; then re-cropped along the predicted eye line and re-centred on the prediction ({} pass{}){}",
            self.passes,
            if self.passes == 1 { "" } else { "es" },
            if self.flip {
                ", each averaged with the mirrored crop"
            } else {
                ""
            }
        )
    }
}

/// Refine first predictions (image_px) of faces in `images` (one image per face): `refine.passes`
/// times, re-crop each face aligned with its predicted eye line ([`crop_aligned_to_shape`]) and
/// predict again, optionally averaging with the mirrored crop. Faces are run in batches of 32.
pub fn refine_predictions(
    net: &dyn CropNet,
    scheme: &Scheme,
    spec: &CropSpec,
    images: &[&RgbImage],
    first: Vec<Vec<Point>>,
    refine: Refine,
) -> Result<Vec<Vec<Point>>> {
    let mut current = first;
    let s = spec.size as usize;
    for _ in 0..refine.passes {
        let mut next = Vec::with_capacity(current.len());
        for (imgs, shapes) in images.chunks(32).zip(current.chunks(32)) {
            let mut crops = Vec::with_capacity(imgs.len());
            let mut chw = Vec::with_capacity(imgs.len() * 3 * s * s);
            for (img, shape) in imgs.iter().zip(shapes) {
                let t = crop_aligned_to_shape(shape, scheme.roll(shape), spec)?;
                chw.extend(to_chw(&warp_rgb(img, &t, spec.size)?));
                crops.push(t);
            }
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
            next.extend(pred);
        }
        current = next;
    }
    Ok(current)
}

/// Predict every sample of a loader's dataset (in dataset order, no augmentation) and map the
/// predictions back to image_px through each crop's inverse transform.
pub fn predict_crops(net: &dyn CropNet, loader: &CropLoader) -> Result<Vec<Vec<Point>>> {
    let size = loader.config().crop.size;
    let mut out = Vec::with_capacity(loader.dataset().samples.len());
    for b in loader.iter_epoch(0) {
        let b = b?;
        out.extend(predict_image_px(net, &b.images, &b.crop_from_image, size)?);
    }
    Ok(out)
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
    fn a_wrong_output_size_is_an_error_not_a_panic() {
        let net = Fixed(vec![0.0, 0.0, 1.0]);
        let chw = vec![0.0; 3 * 4 * 4];
        let e = predict_image_px(&net, &chw, &[Affine2::IDENTITY], 4).unwrap_err();
        assert!(e.to_string().contains("not 2 coordinates"), "{e}");
    }
}
