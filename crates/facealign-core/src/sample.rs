//! A labelled face and a dataset of them.
//!
//! Coordinate space: every `landmarks` field here is **image_px**: 0-based pixel
//! coordinates in the full source image (x right, y down, pixel centres at integers).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::scheme::Scheme;

pub use crate::coords::{BoxXywh, Point};

/// Where a sample's pixels come from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// An image file on disk.
    Path(PathBuf),
    /// An image stored inside the annotation file (COFW `.mat`), already decoded (RGB8).
    InMemory {
        name: String,
        image: Arc<image::RgbImage>,
    },
}

impl ImageSource {
    /// A short name for reports: the path, or the in-file name.
    pub fn display_name(&self) -> String {
        match self {
            ImageSource::Path(p) => p.display().to_string(),
            ImageSource::InMemory { name, .. } => name.clone(),
        }
    }

    /// Decode the image as RGB8. Errors name the file.
    pub fn load_rgb(&self) -> Result<Arc<image::RgbImage>> {
        match self {
            // Format sniffed from the bytes; truncation is an error (see `imageio`).
            ImageSource::Path(p) => Ok(Arc::new(crate::imageio::decode_rgb(p)?)),
            ImageSource::InMemory { image, .. } => Ok(image.clone()),
        }
    }
}

/// One annotated face.
#[derive(Debug, Clone)]
pub struct Sample {
    /// A stable identifier (relative image path, plus `#k` when an image holds several faces).
    pub id: String,
    pub image: ImageSource,
    /// Landmarks in image_px (0-based).
    pub landmarks: Vec<Point>,
    /// A face box given by the dataset (image_px), if any.
    pub bbox: Option<BoxXywh>,
    /// Per-landmark occlusion flags (true = occluded but labelled: COFW's flag, COCO `v = 1`),
    /// if the format has them.
    pub occluded: Option<Vec<bool>>,
    /// Per-landmark *labelled* flags (false = the dataset gives no position for this point:
    /// COCO `v = 0`, NaN in `.pts`/lists). `None` = every point is labelled. An unlabelled point's
    /// landmark is stored as NaN, so code that forgets the mask fails loudly instead of using a
    /// made-up position; use [`Sample::is_labelled`] / [`Sample::labelled_points`].
    pub labelled: Option<Vec<bool>>,
    /// Named boolean attributes (WFLW flags, InfAnFace flags, 300W subset membership ...).
    pub attributes: BTreeMap<String, bool>,
    /// Head pose (yaw, pitch, roll) in degrees, if known.
    pub pose: Option<[f32; 3]>,
    /// The square a cascade's refinement pass would crop this face from (a first model's
    /// prediction; `CropSource::Aligned`), if one was computed.
    pub crop_square: Option<crate::geometry::AlignedSquare>,
}

impl Sample {
    /// A sample with only an image and landmarks.
    pub fn new(id: impl Into<String>, image: ImageSource, landmarks: Vec<Point>) -> Sample {
        Sample {
            id: id.into(),
            image,
            landmarks,
            bbox: None,
            occluded: None,
            labelled: None,
            attributes: BTreeMap::new(),
            pose: None,
            crop_square: None,
        }
    }

    /// Mark the points where `labelled[i]` is false as unlabelled (their landmark becomes NaN).
    /// An all-true mask is stored as `None`.
    pub fn set_labelled(&mut self, labelled: Vec<bool>) {
        assert_eq!(
            labelled.len(),
            self.landmarks.len(),
            "one flag per landmark"
        );
        for (p, &l) in self.landmarks.iter_mut().zip(&labelled) {
            if !l {
                *p = [f32::NAN, f32::NAN];
            }
        }
        self.labelled = if labelled.iter().all(|&l| l) {
            None
        } else {
            Some(labelled)
        };
    }

    /// Whether landmark `i` has a position.
    pub fn is_labelled(&self, i: usize) -> bool {
        self.labelled.as_ref().is_none_or(|m| m[i])
    }

    /// One flag per landmark (true = labelled).
    pub fn labelled_mask(&self) -> Vec<bool> {
        (0..self.landmarks.len())
            .map(|i| self.is_labelled(i))
            .collect()
    }

    /// Number of labelled landmarks.
    pub fn n_labelled(&self) -> usize {
        self.labelled
            .as_ref()
            .map_or(self.landmarks.len(), |m| m.iter().filter(|&&l| l).count())
    }

    /// True when every landmark is labelled.
    pub fn fully_labelled(&self) -> bool {
        self.labelled.is_none()
    }

    /// The labelled landmarks (image_px), in scheme order, without the unlabelled ones.
    pub fn labelled_points(&self) -> Vec<Point> {
        self.landmarks
            .iter()
            .enumerate()
            .filter(|(i, _)| self.is_labelled(*i))
            .map(|(_, p)| *p)
            .collect()
    }
}

/// A loaded dataset: the samples plus what is known about them.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Reader name (`pts`, `300w`, `cofw`, `wflw`, `mtfl`, `dlib`, `coco`).
    pub format: String,
    /// The spec or path it came from.
    pub source: String,
    pub scheme: Scheme,
    pub samples: Vec<Sample>,
    /// Named subsets: subset name -> indices into `samples`.
    pub subsets: BTreeMap<String, Vec<usize>>,
}

impl Dataset {
    /// The samples at `keep` (in that order) as a new dataset; the subsets are re-indexed onto
    /// them (empty ones dropped) and `suffix` is appended to the source.
    pub fn subset_of(&self, keep: &[usize], suffix: &str) -> Dataset {
        let pos: BTreeMap<usize, usize> = keep
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new))
            .collect();
        let subsets = self
            .subsets
            .iter()
            .map(|(k, v)| {
                let v: Vec<usize> = v.iter().filter_map(|i| pos.get(i).copied()).collect();
                (k.clone(), v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Dataset {
            format: self.format.clone(),
            source: format!("{}{suffix}", self.source),
            scheme: self.scheme.clone(),
            samples: keep.iter().map(|&i| self.samples[i].clone()).collect(),
            subsets,
        }
    }

    /// Every sample reduced to the points `points` (in that order), as a dataset of `scheme`
    /// (which must have `points.len()` points): landmarks, labelled and occlusion flags follow
    /// the points; ids, images, boxes, poses and subsets are kept. Used to score a dataset in a
    /// model's smaller scheme (AFLW-19 faces as 5-point faces: [`SchemeMap::one_to_one_sources`]).
    ///
    /// [`SchemeMap::one_to_one_sources`]: crate::scheme_map::SchemeMap::one_to_one_sources
    pub fn select_points(&self, scheme: Scheme, points: &[usize]) -> Result<Dataset> {
        if points.len() != scheme.n_points() {
            return Err(Error::Spec {
                spec: self.source.clone(),
                message: format!(
                    "{} points selected for the {}-point scheme {}",
                    points.len(),
                    scheme.n_points(),
                    scheme.name()
                ),
            });
        }
        if let Some(&bad) = points.iter().find(|&&i| i >= self.scheme.n_points()) {
            return Err(Error::Spec {
                spec: self.source.clone(),
                message: format!(
                    "point {bad} selected, but {} has {} points",
                    self.scheme.name(),
                    self.scheme.n_points()
                ),
            });
        }
        let pick = |v: &Vec<bool>| points.iter().map(|&i| v[i]).collect::<Vec<bool>>();
        let samples = self
            .samples
            .iter()
            .map(|s| Sample {
                landmarks: points.iter().map(|&i| s.landmarks[i]).collect(),
                occluded: s.occluded.as_ref().map(pick),
                labelled: s.labelled.as_ref().map(pick),
                ..s.clone()
            })
            .collect();
        Ok(Dataset {
            format: self.format.clone(),
            source: format!("{} as {}", self.source, scheme.name()),
            scheme,
            samples,
            subsets: self.subsets.clone(),
        })
    }

    /// Keep only the samples of `subset`; an unknown subset is an error listing the known ones.
    pub fn select_subset(self, subset: &str) -> Result<Dataset> {
        let Some(idx) = self.subsets.get(subset) else {
            let known: Vec<&str> = self.subsets.keys().map(String::as_str).collect();
            let has = if known.is_empty() {
                "this dataset has no named subsets (`#@ids.txt` selects samples by id)".to_string()
            } else {
                format!("this dataset has: {}", known.join(", "))
            };
            return Err(Error::Spec {
                spec: self.source.clone(),
                message: format!("unknown subset `{subset}`; {has}"),
            });
        };
        let ds = self.subset_of(idx, &format!("#{subset}"));
        ds.ensure_not_empty()?;
        Ok(ds)
    }

    /// Indices (sorted, unique) of the samples whose ids are listed in `list` (one per line; blank
    /// lines and `#` comments ignored). Every listed id must exist, so a typo cannot silently
    /// shrink a split; the error names the file and line.
    pub fn indices_of_ids(&self, list: &std::path::Path) -> Result<Vec<usize>> {
        let text = crate::fsio::read_text(list)?;
        let pos: BTreeMap<&str, usize> = self
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut keep = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let id = line.trim();
            if id.is_empty() || id.starts_with('#') {
                continue;
            }
            let i = pos.get(id).ok_or_else(|| {
                Error::parse(
                    list,
                    format!("line {}", n + 1),
                    format!("no sample with id `{id}` in {}", self.source),
                )
            })?;
            keep.push(*i);
        }
        keep.sort_unstable();
        keep.dedup();
        Ok(keep)
    }

    /// Keep only the samples whose ids are listed in `list` (see [`Dataset::indices_of_ids`]).
    pub fn select_ids(self, list: &std::path::Path) -> Result<Dataset> {
        let keep = self.indices_of_ids(list)?;
        let ds = self.subset_of(&keep, &format!("#@{}", list.display()));
        ds.ensure_not_empty()?;
        Ok(ds)
    }

    /// Append the samples of `other` (same landmark scheme, else an error naming both sources).
    /// Subsets of the same name are merged; the source becomes `a + b`.
    pub fn append(&mut self, other: Dataset) -> Result<()> {
        if other.scheme.id != self.scheme.id {
            return Err(Error::Spec {
                spec: other.source.clone(),
                message: format!(
                    "has {} landmarks but {} has {}",
                    other.scheme.name(),
                    self.source,
                    self.scheme.name()
                ),
            });
        }
        let offset = self.samples.len();
        for (k, v) in other.subsets {
            self.subsets
                .entry(k)
                .or_default()
                .extend(v.into_iter().map(|i| i + offset));
        }
        self.samples.extend(other.samples);
        self.source = format!("{} + {}", self.source, other.source);
        if self.format != other.format {
            self.format = format!("{}+{}", self.format, other.format);
        }
        Ok(())
    }

    /// An empty dataset is an error.
    pub fn ensure_not_empty(&self) -> Result<()> {
        if self.samples.is_empty() {
            return Err(Error::EmptyDataset(self.source.clone()));
        }
        Ok(())
    }

    /// Number of landmarks per sample.
    pub fn n_points(&self) -> usize {
        self.scheme.n_points()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::SchemeId;

    fn ds(source: &str, id: SchemeId, ids: &[&str], subset: Option<(&str, Vec<usize>)>) -> Dataset {
        let n = id.n_points();
        Dataset {
            format: "pts".into(),
            source: source.into(),
            scheme: Scheme::get(id),
            samples: ids
                .iter()
                .map(|i| {
                    Sample::new(
                        *i,
                        ImageSource::Path(PathBuf::from(format!("{i}.jpg"))),
                        vec![[0.0, 0.0]; n],
                    )
                })
                .collect(),
            subsets: subset
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    #[test]
    fn select_points_keeps_the_chosen_points_and_their_flags() {
        let mut d = ds(
            "aflw",
            SchemeId::Aflw19,
            &["a", "b"],
            Some(("hard", vec![1])),
        );
        for s in &mut d.samples {
            s.landmarks = (0..19).map(|i| [i as f32, 10.0 * i as f32]).collect();
        }
        let mut lab = vec![true; 19];
        lab[10] = false;
        d.samples[1].labelled = Some(lab);
        d.samples[1].landmarks[10] = [f32::NAN, f32::NAN];
        let five = d
            .select_points(Scheme::get(SchemeId::Five), &[7, 10, 13, 15, 17])
            .unwrap();
        assert_eq!(five.scheme.id, SchemeId::Five);
        assert_eq!(five.samples[0].landmarks[1], [10.0, 100.0]);
        assert_eq!(five.samples[0].landmarks[4], [17.0, 170.0]);
        assert!(five.samples[0].labelled.is_none());
        assert_eq!(
            five.samples[1].labelled,
            Some(vec![true, false, true, true, true])
        );
        assert!(!five.samples[1].is_labelled(1));
        assert_eq!(five.subsets["hard"], vec![1]);
        assert_eq!(five.samples[1].id, "b");
        // Wrong count or an index past the scheme: errors naming the data.
        let e = d
            .select_points(Scheme::get(SchemeId::Five), &[7, 10])
            .unwrap_err();
        assert!(e.to_string().contains("2 points selected"), "{e}");
        let e = d
            .select_points(Scheme::get(SchemeId::Five), &[7, 10, 13, 15, 19])
            .unwrap_err();
        assert!(e.to_string().contains("point 19"), "{e}");
    }

    #[test]
    fn append_offsets_subsets_and_checks_the_scheme() {
        let mut a = ds(
            "a",
            SchemeId::Ibug68,
            &["a0", "a1"],
            Some(("hard", vec![1])),
        );
        let b = ds(
            "b",
            SchemeId::Ibug68,
            &["b0", "b1", "b2"],
            Some(("hard", vec![0, 2])),
        );
        a.append(b).unwrap();
        let ids: Vec<&str> = a.samples.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a0", "a1", "b0", "b1", "b2"]);
        assert_eq!(a.subsets["hard"], vec![1, 2, 4]);
        assert_eq!(a.source, "a + b");
        let five = ds("m", SchemeId::Five, &["m0"], None);
        let err = a.append(five).unwrap_err().to_string();
        assert!(err.contains("five") && err.contains("ibug68"), "{err}");
    }

    #[test]
    fn unknown_subset_of_a_dataset_without_subsets_says_so() {
        let d = ds("mtfl:x.txt", SchemeId::Five, &["m0"], None);
        let err = d.select_subset("hard").unwrap_err().to_string();
        assert_eq!(
            err,
            "data spec `mtfl:x.txt`: unknown subset `hard`; this dataset has no named subsets \
             (`#@ids.txt` selects samples by id)"
        );
        let d = ds("a", SchemeId::Five, &["m0"], Some(("easy", vec![0])));
        let err = d.select_subset("hard").unwrap_err().to_string();
        assert!(
            err.ends_with("unknown subset `hard`; this dataset has: easy"),
            "{err}"
        );
    }

    #[test]
    fn id_list_that_is_not_utf8_names_the_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let list = dir.path().join("ids.txt");
        std::fs::write(&list, b"a0\n\xff\xfe\n").expect("write");
        let d = ds("a", SchemeId::Five, &["a0", "a1"], None);
        let err = d.indices_of_ids(&list).unwrap_err();
        assert!(
            matches!(&err, Error::Parse { location, .. } if location == "line 2"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: line 2: not UTF-8 text (invalid byte at offset 3)",
                list.display()
            )
        );
    }
}
