//! `facealign data inspect`: what a dataset holds and whether its annotations are sane.
use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::sample::{Dataset, ImageSource};

/// One problem found in a sample.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Issue {
    pub sample: String,
    pub message: String,
}

/// The report printed by `data inspect` (`--json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub format: String,
    pub source: String,
    pub scheme: String,
    pub samples: usize,
    pub points: usize,
    pub images: usize,
    pub subsets: BTreeMap<String, usize>,
    pub missing_images: Vec<String>,
    /// Samples with at least one landmark outside the image.
    pub points_outside_image: usize,
    pub with_box: usize,
    pub with_occlusion: usize,
    /// Samples with at least one unlabelled point (COCO `v = 0`, NaN in `.pts`).
    pub partly_labelled: usize,
    /// Per landmark, the share of samples that label it (1.0 = every sample).
    pub labelled_share: Vec<f64>,
    /// Mean inter-ocular distance in pixels over the samples that label both outer eye corners
    /// (a scale sanity check); `None` (JSON `null`) when no sample labels both.
    pub mean_ocular_px: Option<f64>,
    pub issues: Vec<Issue>,
}

/// Inspect a dataset: reads image headers (not pixels) to check coordinates. Images are read with
/// [`crate::imageio::image_dimensions`] (format from the bytes, truncated files unreadable), the
/// same rules as decoding for training, `eval` and `predict`.
pub fn inspect(ds: &Dataset) -> InspectReport {
    let checks: Vec<(Option<(String, String)>, bool, Vec<Issue>)> = ds
        .samples
        .par_iter()
        .map(|s| {
            let mut issues = Vec::new();
            // A shape whose labelled points all coincide has no extent: nothing to crop around.
            let labelled: Vec<&[f32; 2]> = s
                .landmarks
                .iter()
                .enumerate()
                .filter(|(i, _)| s.is_labelled(*i))
                .map(|(_, p)| p)
                .collect();
            if labelled.len() >= 2 && labelled.iter().all(|p| **p == *labelled[0]) {
                issues.push(Issue {
                    sample: s.id.clone(),
                    message: format!(
                        "degenerate shape: all {} labelled points are at ({}, {})",
                        labelled.len(),
                        labelled[0][0],
                        labelled[0][1]
                    ),
                });
            }
            let dims = match &s.image {
                ImageSource::Path(p) => crate::imageio::image_dimensions(p),
                ImageSource::InMemory { image, .. } => Ok(image.dimensions()),
            };
            let (w, h) = match dims {
                Ok(d) => d,
                Err(e) => return (Some((s.image.display_name(), e.to_string())), false, issues),
            };
            let outside: Vec<usize> = s
                .landmarks
                .iter()
                .enumerate()
                .filter(|(i, p)| {
                    s.is_labelled(*i)
                        && (p[0] < -0.5
                            || p[1] < -0.5
                            || p[0] > w as f32 - 0.5
                            || p[1] > h as f32 - 0.5)
                })
                .map(|(i, _)| i)
                .collect();
            if !outside.is_empty() {
                issues.push(Issue {
                    sample: s.id.clone(),
                    message: format!(
                        "{} landmark(s) outside the {w}x{h} image (first: index {})",
                        outside.len(),
                        outside[0]
                    ),
                });
            }
            (None, !outside.is_empty(), issues)
        })
        .collect();
    let mut missing = Vec::new();
    let mut outside = 0;
    let mut issues = Vec::new();
    for (m, o, i) in checks {
        if let Some((name, why)) = m {
            issues.push(Issue {
                sample: name.clone(),
                message: format!("image missing or unreadable: {why}"),
            });
            missing.push(name);
        }
        outside += o as usize;
        issues.extend(i);
    }
    let mut images: Vec<String> = ds.samples.iter().map(|s| s.image.display_name()).collect();
    images.sort();
    images.dedup();
    let (o0, o1) = ds.scheme.ocular;
    let with_eyes: Vec<f64> = ds
        .samples
        .iter()
        .filter(|s| s.is_labelled(o0) && s.is_labelled(o1))
        .map(|s| ds.scheme.ocular_distance(&s.landmarks) as f64)
        .collect();
    let ocular =
        (!with_eyes.is_empty()).then(|| with_eyes.iter().sum::<f64>() / with_eyes.len() as f64);
    let m = ds.scheme.n_points();
    let mut labelled = vec![0usize; m];
    for s in &ds.samples {
        for (i, l) in labelled.iter_mut().enumerate() {
            *l += usize::from(i < s.landmarks.len() && s.is_labelled(i));
        }
    }
    let labelled_share = labelled
        .iter()
        .map(|&c| c as f64 / ds.samples.len().max(1) as f64)
        .collect();
    InspectReport {
        format: ds.format.clone(),
        source: ds.source.clone(),
        scheme: ds.scheme.name().to_string(),
        samples: ds.samples.len(),
        points: ds.scheme.n_points(),
        images: images.len(),
        subsets: ds
            .subsets
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect(),
        missing_images: missing,
        points_outside_image: outside,
        with_box: ds.samples.iter().filter(|s| s.bbox.is_some()).count(),
        with_occlusion: ds.samples.iter().filter(|s| s.occluded.is_some()).count(),
        partly_labelled: ds.samples.iter().filter(|s| !s.fully_labelled()).count(),
        labelled_share,
        mean_ocular_px: ocular,
        issues,
    }
}

impl InspectReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} ({}): {} samples x {} points ({}), {} images\n",
            self.source, self.format, self.samples, self.points, self.scheme, self.images
        );
        if !self.subsets.is_empty() {
            let subs: Vec<String> = self
                .subsets
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("subsets: {}\n", subs.join(", ")));
        }
        let ocular = self.mean_ocular_px.map_or_else(
            || "n/a (no sample labels both outer eye corners)".to_string(),
            |d| format!("{d:.1} px"),
        );
        s.push_str(&format!(
            "boxes: {}, occlusion flags: {}, mean inter-ocular distance: {ocular}\n",
            self.with_box, self.with_occlusion
        ));
        if self.partly_labelled > 0 {
            let share: Vec<String> = self
                .labelled_share
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{i}:{:.0}%", v * 100.0))
                .collect();
            s.push_str(&format!(
                "partly labelled samples: {}; labelled share per point: {}\n",
                self.partly_labelled,
                share.join(" ")
            ));
        }
        s.push_str(&format!(
            "missing images: {}, samples with points outside the image: {}\n",
            self.missing_images.len(),
            self.points_outside_image
        ));
        for i in self.issues.iter().take(10) {
            s.push_str(&format!("  {}: {}\n", i.sample, i.message));
        }
        if self.issues.len() > 10 {
            s.push_str(&format!("  ... and {} more\n", self.issues.len() - 10));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;
    use crate::scheme::{Scheme, SchemeId};
    use std::sync::Arc;

    #[test]
    fn counts_outside_points_and_subsets() {
        let img = Arc::new(image::RgbImage::new(10, 10));
        let mk = |id: &str, x: f32| {
            Sample::new(
                id,
                ImageSource::InMemory {
                    name: id.into(),
                    image: img.clone(),
                },
                vec![[x, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]],
            )
        };
        let ds = Dataset {
            format: "test".into(),
            source: "mem".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples: vec![mk("a", 1.0), mk("b", 9.6)],
            subsets: [("x".to_string(), vec![1])].into_iter().collect(),
        };
        let r = inspect(&ds);
        assert_eq!((r.samples, r.points, r.points_outside_image), (2, 5, 1));
        assert_eq!(r.subsets["x"], 1);
        assert_eq!(r.issues[0].sample, "b");
        // ocular = |p0 - p1|: a: (1,1)-(2,2) = sqrt 2; b: (9.6,1)-(2,2) = sqrt(57.76+1)
        let want = (2f64.sqrt() + (57.76f64 + 1.0).sqrt()) / 2.0;
        assert!((r.mean_ocular_px.unwrap() - want).abs() < 1e-4);
        assert_eq!(r.partly_labelled, 0);
        assert_eq!(r.labelled_share, vec![1.0; 5]);
    }

    /// Issue 14, item 10: a shape whose labelled points all coincide is flagged (unlabelled
    /// points do not count, and one labelled point alone is not "degenerate").
    #[test]
    fn a_shape_with_all_points_equal_is_flagged() {
        let img = Arc::new(image::RgbImage::new(10, 10));
        let mk = |id: &str, pts: Vec<[f32; 2]>, lab: Vec<bool>| {
            let mut s = Sample::new(
                id,
                ImageSource::InMemory {
                    name: id.into(),
                    image: img.clone(),
                },
                pts,
            );
            s.set_labelled(lab);
            s
        };
        let same = vec![[3.0, 4.0]; 5];
        let mut mixed = same.clone();
        mixed[4] = [f32::NAN, f32::NAN];
        let ds = Dataset {
            format: "test".into(),
            source: "mem".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples: vec![
                mk("flat", same.clone(), vec![true; 5]),
                mk("flat-but-one", mixed, vec![true, true, true, true, false]),
                mk("one", same, vec![true, false, false, false, false]),
                mk(
                    "fine",
                    vec![[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]],
                    vec![true; 5],
                ),
            ],
            subsets: BTreeMap::new(),
        };
        let r = inspect(&ds);
        let flagged: Vec<&str> = r.issues.iter().map(|i| i.sample.as_str()).collect();
        assert_eq!(flagged, vec!["flat", "flat-but-one"], "{:?}", r.issues);
        assert_eq!(
            r.issues[0].message,
            "degenerate shape: all 5 labelled points are at (3, 4)"
        );
        assert!(r.issues[1].message.contains("all 4 labelled points"));
    }

    #[test]
    fn labelled_share_per_point() {
        let img = Arc::new(image::RgbImage::new(10, 10));
        let mk = |id: &str, lab: Vec<bool>| {
            let mut s = Sample::new(
                id,
                ImageSource::InMemory {
                    name: id.into(),
                    image: img.clone(),
                },
                vec![[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]],
            );
            s.set_labelled(lab);
            s
        };
        let ds = Dataset {
            format: "test".into(),
            source: "mem".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples: vec![
                mk("a", vec![true, false, true, true, false]),
                mk("b", vec![true, true, true, true, false]),
                mk("c", vec![true; 5]),
                mk("d", vec![false, true, true, true, true]),
            ],
            subsets: BTreeMap::new(),
        };
        let r = inspect(&ds);
        assert_eq!(r.partly_labelled, 3);
        assert_eq!(r.labelled_share, vec![0.75, 0.75, 1.0, 1.0, 0.5]);
        // Ocular (points 0, 1) only from b and c: both |(1,1)-(2,2)| = sqrt 2; no NaN.
        assert!((r.mean_ocular_px.unwrap() - 2f64.sqrt()).abs() < 1e-6);
        assert_eq!(
            r.points_outside_image, 0,
            "NaN (unlabelled) points are not 'outside'"
        );
        assert!(r.to_text().contains("4:50%"), "{}", r.to_text());

        // No sample labels both outer eye corners: no mean at all (it printed "-0.0 px").
        let ds = Dataset {
            samples: vec![
                mk("e", vec![false, true, true, true, true]),
                mk("f", vec![true, false, true, true, true]),
            ],
            ..ds
        };
        let r = inspect(&ds);
        assert_eq!(r.mean_ocular_px, None);
        assert!(
            r.to_text()
                .contains("inter-ocular distance: n/a (no sample labels both outer eye corners)"),
            "{}",
            r.to_text()
        );
        assert!(serde_json::to_string(&r)
            .unwrap()
            .contains("\"mean_ocular_px\":null"));
    }

    #[test]
    fn png_named_jpg_is_read_and_truncated_jpeg_is_unreadable() {
        use std::io::Cursor;
        let dir = tempfile::tempdir().expect("tempdir");
        let img = image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, ((x * y) % 256) as u8])
        });
        let encode = |f| {
            let mut v = Vec::new();
            img.write_to(&mut Cursor::new(&mut v), f).expect("encode");
            v
        };
        let png_as_jpg = dir.path().join("png_named.jpg");
        std::fs::write(&png_as_jpg, encode(image::ImageFormat::Png)).expect("write");
        let jpeg = encode(image::ImageFormat::Jpeg);
        let cut = dir.path().join("cut.jpg");
        std::fs::write(&cut, &jpeg[..jpeg.len() / 2]).expect("write");
        let mk = |p: &std::path::Path| {
            Sample::new(
                p.file_name().unwrap().to_string_lossy(),
                ImageSource::Path(p.to_path_buf()),
                vec![[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]],
            )
        };
        let ds = Dataset {
            format: "test".into(),
            source: "tmp".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples: vec![mk(&png_as_jpg), mk(&cut)],
            subsets: Default::default(),
        };
        let r = inspect(&ds);
        assert_eq!(r.missing_images, [cut.display().to_string()]);
        assert_eq!(r.issues.len(), 1);
        assert!(
            r.issues[0].message.contains("truncated JPEG")
                && r.issues[0].message.contains("cut.jpg"),
            "{:?}",
            r.issues
        );
        // The same rule for decoding (eval, predict, training).
        assert!(ds.samples[0].image.load_rgb().is_ok());
        let e = ds.samples[1].image.load_rgb().expect_err("truncated");
        assert!(e.to_string().contains("truncated JPEG"), "{e}");
    }
}
