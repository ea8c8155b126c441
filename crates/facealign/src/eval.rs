//! Evaluation: predictions on a dataset with the field's protocol (SPEC §5).
use tch::Tensor;

use crate::error::Result;
use crate::model::LandmarkModel;
use facealign_core::geometry::crop_u_to_image_px;
use facealign_core::loader::CropLoader;
use facealign_core::Point;

/// Predict every sample of a loader's dataset (in dataset order, no augmentation) and map the
/// predictions back to image_px through each crop's inverse transform.
pub fn predict_crops(net: &dyn LandmarkModel, loader: &CropLoader, batch: usize) -> Result<Vec<Vec<Point>>> {
    let order = loader.epoch_order(0, false);
    let size = loader.crop_size() as i64;
    let mut out = Vec::with_capacity(order.len());
    for chunk in order.chunks(batch.max(1)) {
        let b = loader.batch(chunk, 0)?;
        let n = chunk.len() as i64;
        let xs = Tensor::from_slice(&b.images).view([n, 3, size, size]);
        let pred = tch::no_grad(|| net.forward_t(&xs, false)).landmarks;
        let flat: Vec<f32> = Vec::try_from(&pred.flatten(0, -1).to_kind(tch::Kind::Float))?;
        let dim = flat.len() / chunk.len();
        for (k, t) in b.crop_from_image.iter().enumerate() {
            let u: Vec<Point> = flat[k * dim..(k + 1) * dim].chunks(2).map(|c| [c[0], c[1]]).collect();
            out.push(crop_u_to_image_px(&u, t, loader.crop_size()));
        }
    }
    Ok(out)
}
