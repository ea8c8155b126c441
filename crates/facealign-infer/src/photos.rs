//! Photos and folders of photos through a [`Predictor`]: what `facealign predict` does, minus the
//! rendering. Folders are walked in name order. With the detector, photos stream through
//! [`Predictor::predict_stream`]: the detector on its own thread a few photos ahead, decoding and
//! landmarks on the calling thread, decoded pixels in memory bounded by a byte budget. With a
//! given box, photos are decoded in parallel in batches bounded by count and bytes. A sequence is
//! optionally smoothed (one-euro filter), and every photo's result returned as the JSON-ready
//! [`PhotoFaces`] (an unreadable photo carries its error and the run goes on). The caller
//! renders: a callback sees each photo as it is done.
use std::path::{Path, PathBuf};

use facealign_core::smooth::{LandmarkSmoother, OneEuroConfig};
use facealign_core::BoxXywh;
use image::RgbImage;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::predictor::{Face, PhotoFaces, Predictor};

/// File extensions taken from a folder (case-insensitive): those of the formats the reader decodes.
pub use facealign_core::imageio::IMAGE_EXTENSIONS;

/// The images of `inputs`: a file as given, a folder's image files (by extension) in name order.
/// A missing input, or no image at all, is an error naming it.
pub fn image_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "inputs",
            format!("no images found in {inputs:?}"),
        ));
    }
    Ok(out)
}

/// Split `files` into batches of at most `batch` images and `budget` decoded bytes (RGB, from each
/// file's header; an unreadable header counts 0 and fails at decode). An image over the budget on
/// its own gets a batch of its own and is refused there.
pub fn batches(files: &[PathBuf], batch: usize, budget: u64) -> Vec<Vec<(PathBuf, u64)>> {
    let batch = batch.max(1);
    let mut out: Vec<Vec<(PathBuf, u64)>> = Vec::new();
    let mut cur: Vec<(PathBuf, u64)> = Vec::new();
    let mut bytes = 0u64;
    for f in files {
        let need = decoded_bytes(f);
        if !cur.is_empty() && (cur.len() >= batch || bytes + need > budget) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += need;
        cur.push((f.clone(), need));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// How [`predict_photos`] runs.
#[derive(Debug, Clone)]
pub struct PhotoOptions {
    /// Skip detection: this face box (image_px) in every photo.
    pub given_box: Option<BoxXywh>,
    /// Treat the photos as frames of one sequence and smooth the most confident face's landmarks.
    pub smooth: Option<OneEuroConfig>,
    /// With a given box: images decoded in parallel per batch (at least 1).
    pub batch: usize,
    /// At most this many bytes of decoded pixels at once; a larger image is reported and skipped.
    pub max_decoded_bytes: u64,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        PhotoOptions {
            given_box: None,
            smooth: None,
            batch: 16,
            max_decoded_bytes: 1 << 30,
        }
    }
}

/// Faces and landmarks on every photo of `files`, in order. `each(path, image, result)` is called
/// once per photo as soon as it is done (`image` is `None` for a photo that could not be used;
/// its `result.error` says why); an error it returns stops the run. A model that gives a
/// non-finite landmark is an error (nothing half-written downstream).
pub fn predict_photos(
    pred: &mut Predictor,
    files: &[PathBuf],
    opts: &PhotoOptions,
    mut each: impl FnMut(&Path, Option<&RgbImage>, &PhotoFaces) -> Result<()>,
) -> Result<Vec<PhotoFaces>> {
    let budget = opts.max_decoded_bytes;
    let mut finish = Finish {
        smoother: opts.smooth.map(LandmarkSmoother::new),
        runtime: pred.net.runtime(),
        model: pred.model.name.clone(),
        results: Vec::with_capacity(files.len()),
    };
    let Some(given) = opts.given_box else {
        // Detection: streamed, the detector on its own thread a few photos ahead of the
        // decoding and the landmarks (Predictor::predict_stream).
        let sizes: Vec<u64> = files.iter().map(|f| decoded_bytes(f)).collect();
        let load = |k: usize| checked_decode(&files[k], sizes[k], budget).map(Shared::new);
        pred.predict_stream(&sizes, budget, load, |k, r| match r {
            Ok((img, faces)) => finish.photo(&files[k], &img.0, faces, &mut each),
            Err(e) => finish.failed(&files[k], None, e, &mut each),
        })?;
        return Ok(finish.results);
    };
    // A given box: no detector; photos decoded in parallel in batches, landmarks one by one.
    for chunk in batches(files, opts.batch, budget) {
        let decoded: Vec<(PathBuf, std::result::Result<Photo, String>)> = chunk
            .par_iter()
            .map(|(p, need)| (p.clone(), checked_decode(p, *need, budget)))
            .collect();
        for (path, img) in decoded {
            let photo = match img {
                Ok(p) => p,
                Err(e) => {
                    finish.failed(&path, None, e, &mut each)?;
                    continue;
                }
            };
            let img = &photo.img;
            let b = &given;
            if b.x + b.w < 0.0
                || b.y + b.h < 0.0
                || b.x > img.width() as f32
                || b.y > img.height() as f32
            {
                let e = format!(
                    "{}: the box {},{},{},{} lies wholly outside the {}x{} image",
                    path.display(),
                    b.x,
                    b.y,
                    b.w,
                    b.h,
                    img.width(),
                    img.height()
                );
                finish.failed(&path, Some(img), e, &mut each)?;
                continue;
            }
            let l = pred.landmarks_for_boxes(img, std::slice::from_ref(b))?;
            let faces = vec![Face {
                bbox: given,
                score: 1.0,
                landmarks: l.into_iter().next().unwrap_or_default(),
                detector: None,
            }];
            finish.photo(&path, &photo, faces, &mut each)?;
        }
    }
    Ok(finish.results)
}

/// What every photo's result goes through, in order: the sequence smoother, the check for
/// non-finite landmarks, the caller's callback, the list of results.
struct Finish {
    smoother: Option<LandmarkSmoother>,
    runtime: &'static str,
    model: String,
    results: Vec<PhotoFaces>,
}

impl Finish {
    fn photo(
        &mut self,
        path: &Path,
        photo: &Photo,
        mut faces: Vec<Face>,
        each: &mut impl FnMut(&Path, Option<&RgbImage>, &PhotoFaces) -> Result<()>,
    ) -> Result<()> {
        if let Some(s) = self.smoother.as_mut() {
            // Track the most confident face through the sequence.
            if let Some(f) = faces.first_mut() {
                f.landmarks = s.filter(&f.landmarks);
            }
        }
        if let Some(f) = faces
            .iter()
            .find(|f| f.landmarks.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::Runtime {
                runtime: self.runtime,
                message: format!(
                    "{}: model {} gave a non-finite landmark for the face at {:?}",
                    path.display(),
                    self.model,
                    f.bbox
                ),
            });
        }
        let img = &photo.img;
        let r = PhotoFaces {
            image: path.display().to_string(),
            width: Some(img.width()),
            height: Some(img.height()),
            exif_orientation: (photo.exif_orientation != 1).then_some(photo.exif_orientation),
            faces,
            error: None,
        };
        each(path, Some(img), &r)?;
        self.results.push(r);
        Ok(())
    }

    /// A photo without a result: unreadable (`img` None) or with a box outside it.
    fn failed(
        &mut self,
        path: &Path,
        img: Option<&RgbImage>,
        error: String,
        each: &mut impl FnMut(&Path, Option<&RgbImage>, &PhotoFaces) -> Result<()>,
    ) -> Result<()> {
        let r = PhotoFaces {
            image: path.display().to_string(),
            width: img.map(RgbImage::width),
            height: img.map(RgbImage::height),
            exif_orientation: None,
            faces: vec![],
            error: Some(error),
        };
        each(path, None, &r)?;
        self.results.push(r);
        Ok(())
    }
}

/// Decoded RGB bytes of an image file, from its header (0 if unreadable: it fails at decode).
fn decoded_bytes(f: &Path) -> u64 {
    facealign_core::imageio::image_dimensions(f)
        .map(|(w, h)| u64::from(w) * u64::from(h) * 3)
        .unwrap_or(0)
}

/// A decoded photo, upright, and the EXIF orientation that made it so (1 = none).
struct Photo {
    img: RgbImage,
    exif_orientation: u8,
}

/// A decoded photo shared between the detector thread and the landmark stage.
#[derive(Clone)]
struct Shared(std::sync::Arc<Photo>);

impl Shared {
    fn new(p: Photo) -> Self {
        Shared(std::sync::Arc::new(p))
    }
}

impl std::ops::Deref for Shared {
    type Target = RgbImage;
    fn deref(&self) -> &RgbImage {
        &self.0.img
    }
}

/// Decode `p` unless its `need` bytes of pixels exceed `budget` (an error saying so).
fn checked_decode(p: &Path, need: u64, budget: u64) -> std::result::Result<Photo, String> {
    if need > budget {
        return Err(format!(
            "{}: {:.0} MB of decoded pixels, above the limit of {:.0} MB (predict --max-decoded-mb)",
            p.display(),
            need as f64 / f64::from(1 << 20),
            budget as f64 / f64::from(1 << 20)
        ));
    }
    decode(p)
}

/// A photo as it is meant to be seen: its EXIF orientation applied (a phone photo stored
/// sideways is predicted upright, and its points are in the upright image).
fn decode(p: &Path) -> std::result::Result<Photo, String> {
    facealign_core::imageio::decode_rgb_upright(p)
        .map(|(img, exif_orientation)| Photo {
            img,
            exif_orientation,
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32) {
        RgbImage::new(w, h).save(path).unwrap();
    }

    #[test]
    fn folders_give_their_images_in_name_order_and_missing_inputs_are_errors() {
        let d = tempfile::tempdir().unwrap();
        for name in ["b.PNG", "a.png", "c.txt"] {
            if name.ends_with("txt") {
                std::fs::write(d.path().join(name), "x").unwrap();
            } else {
                write_png(&d.path().join(name), 2, 2);
            }
        }
        let files = image_files(&[d.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.png", "b.PNG"]);
        let missing = d.path().join("nope.jpg");
        let e = image_files(&[missing]).unwrap_err().to_string();
        assert!(e.contains("nope.jpg") && e.contains("no such file"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = image_files(&[empty.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no images found"), "{e}");
    }

    #[test]
    fn batches_respect_the_count_and_the_decoded_bytes() {
        let d = tempfile::tempdir().unwrap();
        // 10x10 RGB = 300 bytes each; a 20x20 one = 1200 bytes.
        let mut files = Vec::new();
        for (i, side) in [10, 10, 10, 20, 10].into_iter().enumerate() {
            let f = d.path().join(format!("{i}.png"));
            write_png(&f, side, side);
            files.push(f);
        }
        let sizes = |b: &Vec<Vec<(PathBuf, u64)>>| -> Vec<Vec<u64>> {
            b.iter()
                .map(|c| c.iter().map(|(_, n)| *n).collect())
                .collect()
        };
        // Count 2, budget large: pairs.
        assert_eq!(
            sizes(&batches(&files, 2, 1 << 20)),
            vec![vec![300, 300], vec![300, 1200], vec![300]]
        );
        // Budget 700 bytes: two small ones fit, the big one stands alone (refused later).
        assert_eq!(
            sizes(&batches(&files, 16, 700)),
            vec![vec![300, 300], vec![300], vec![1200], vec![300]]
        );
        // Batch 0 is treated as 1.
        assert_eq!(batches(&files, 0, 1 << 20).len(), 5);
    }
}
