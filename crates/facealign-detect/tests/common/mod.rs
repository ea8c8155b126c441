//! Test helpers: the dlib example XML boxes (a string scan, independent of the core's dlib
//! reader), detector evaluation against them, and the shared models directory.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::time::Instant;

use facealign_detect::geometry::iou_xywh;
use facealign_detect::{BoxXywh, FaceDetector};

/// The shared detector models.
pub const MODELS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/models/detectors"
);
/// The dlib example photos and XML.
pub const DLIB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/fixtures/dlib"
);

/// One photo and its annotated face boxes (image_px).
pub struct Photo {
    pub path: PathBuf,
    pub boxes: Vec<BoxXywh>,
    /// Per box, its 68 landmarks in image_px (empty where the source has none).
    pub landmarks: Vec<Vec<[f32; 2]>>,
}

/// The value of `name='...'` (or `"..."`) inside one tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let rest = &tag[at + 1..];
    Some(rest[..rest.find(quote)?].to_string())
}

/// Parse a dlib imglab XML: every `<image file=...>` with its `<box top left width height>`.
/// dlib boxes are inclusive pixel rectangles: pixels left .. left + width − 1, so in image_px
/// (pixel centres at integers) the box spans left − 0.5 .. left + width − 0.5.
pub fn dlib_photos(xml_name: &str) -> Vec<Photo> {
    let path = Path::new(DLIB).join(xml_name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut photos: Vec<Photo> = Vec::new();
    for tag in text.split('<').filter_map(|t| t.split('>').next()) {
        if tag.starts_with("image ") {
            let file = attr(tag, "file").expect("image tag should have a file");
            photos.push(Photo {
                path: Path::new(DLIB).join(file),
                boxes: Vec::new(),
                landmarks: Vec::new(),
            });
        } else if tag.starts_with("box ") {
            let num = |n: &str| -> f32 {
                attr(tag, n)
                    .and_then(|v| v.parse().ok())
                    .expect("box attribute")
            };
            let b = BoxXywh {
                x: num("left") - 0.5,
                y: num("top") - 0.5,
                w: num("width"),
                h: num("height"),
            };
            let photo = photos.last_mut().expect("box inside an image");
            photo.boxes.push(b);
            photo.landmarks.push(Vec::new());
        } else if tag.starts_with("part ") {
            // dlib part coordinates are pixel positions: image_px as they are.
            let num = |n: &str| -> f32 {
                attr(tag, n)
                    .and_then(|v| v.parse().ok())
                    .expect("part attribute")
            };
            let photo = photos.last_mut().expect("part inside an image");
            photo
                .landmarks
                .last_mut()
                .expect("part inside a box")
                .push([num("x"), num("y")]);
        }
    }
    photos
}

/// Loaded RGB image.
pub fn load(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// How a detector did on a set of photos.
#[derive(Debug, Default, Clone)]
pub struct Score {
    pub annotated: usize,
    /// Annotated boxes with a detection at IoU ≥ the threshold.
    pub found: usize,
    /// Sum of the best IoU of the found boxes.
    pub iou_sum: f32,
    /// Detections that match no annotated box.
    pub unmatched: usize,
    pub detections: usize,
    pub images: usize,
    pub millis: f64,
}

impl Score {
    pub fn recall(&self) -> f32 {
        self.found as f32 / self.annotated.max(1) as f32
    }
    pub fn mean_iou(&self) -> f32 {
        if self.found == 0 {
            0.0
        } else {
            self.iou_sum / self.found as f32
        }
    }
}

/// Run `det` on `photos` and match its boxes to the annotations at IoU ≥ `thr`.
pub fn evaluate(det: &mut dyn FaceDetector, photos: &[Photo], thr: f32) -> Score {
    let mut s = Score::default();
    for p in photos {
        let img = load(&p.path);
        let t = Instant::now();
        let dets = det
            .detect(&img)
            .unwrap_or_else(|e| panic!("{}: {e}", det.name()));
        s.millis += t.elapsed().as_secs_f64() * 1000.0;
        s.images += 1;
        s.annotated += p.boxes.len();
        s.detections += dets.len();
        for a in &p.boxes {
            let best = dets
                .iter()
                .map(|d| iou_xywh(a, &d.bbox))
                .fold(0.0f32, f32::max);
            if best >= thr {
                s.found += 1;
                s.iou_sum += best;
            }
        }
        s.unmatched += dets
            .iter()
            .filter(|d| p.boxes.iter().all(|a| iou_xywh(a, &d.bbox) < thr))
            .count();
    }
    s
}

/// Photos of a `.pts` folder (68 points, 1-based 300-W convention), each with one box: the
/// extent of its landmarks in image_px (tight: chin to brows, no forehead). At most `limit`
/// photos, in file-name order.
pub fn pts_photos(dir: &Path, limit: usize) -> Vec<Photo> {
    let mut pts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pts"))
        .collect();
    pts.sort();
    pts.truncate(limit);
    pts.into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let body = text.split('{').nth(1)?.split('}').next()?;
            let points: Vec<[f32; 2]> = body
                .lines()
                .filter_map(|l| {
                    let mut it = l.split_whitespace().map(|v| v.parse::<f32>());
                    match (it.next(), it.next()) {
                        (Some(Ok(x)), Some(Ok(y))) => Some([x - 1.0, y - 1.0]),
                        _ => None,
                    }
                })
                .collect();
            let image = ["jpg", "png", "jpeg"]
                .iter()
                .map(|x| p.with_extension(x))
                .find(|i| i.is_file())?;
            Some(Photo {
                path: image,
                boxes: vec![BoxXywh::around(&points)?],
                landmarks: vec![points],
            })
        })
        .collect()
}
