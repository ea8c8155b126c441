//! `cofw` reader: the COFW `.mat` files (MATLAB v7.3, i.e. HDF5), read with the pure-Rust
//! `hdf5-pure` crate.
//!
//! Source: Caltech Occluded Faces in the Wild (Burgos-Artizzu, Perona, Dollár, ICCV 2013),
//! files `COFW_train_color.mat` / `COFW_test_color.mat`; layout per SPEC §6.3 and the RCPR
//! `shapeGt.m` code of the dataset's authors:
//! - train variables `IsTr`, `phisTr`, `bboxesTr`; test variables `IsT`, `phisT`, `bboxesT`
//!   (the split is detected from the names);
//! - `Is*`: an N×1 cell of `uint8` images, H×W×3 colour or H×W grayscale. A cell is an HDF5
//!   dataset of object references to datasets under `#refs#` (resolved with
//!   `hdf5_pure::Dataset::dereference`). MATLAB is column-major, so an H×W×3 image is stored with
//!   the HDF5 shape `[3, W, H]` and a matrix R×C with the shape `[C, R]`;
//! - `phis*`: N×87 `double`, rows `[x1..x29, y1..y29, occ1..occ29]`, occlusion 1 = occluded.
//!   An N×58 matrix (no occlusion columns) is accepted too and gives `occluded = None`;
//! - `bboxes*`: N×4 `double`, rows `[x y w h]`.
//!
//! Conversions (deviations from the raw file): coordinates are MATLAB 1-based pixels, so 1 is
//! subtracted from every landmark x/y and from the box's x/y (widths are unchanged); grayscale
//! images are replicated to RGB8. Images become [`ImageSource::InMemory`] named `FILE#i`,
//! the sample id too (`i` 0-based). Error locations (`field IsTr[3]`, `field phisTr row 2`) are
//! 0-based as well. The dataset gets one subset, `train` or `test`, holding every sample.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hdf5_pure as h5;

use crate::error::{Error, Result};
use crate::sample::{BoxXywh, Dataset, ImageSource, Sample};
use crate::scheme::{Scheme, SchemeId};

/// Number of COFW landmarks.
const N_POINTS: usize = 29;

/// Reader for the `cofw` format.
pub struct CofwReader;

impl super::Reader for CofwReader {
    fn format(&self) -> &'static str {
        "cofw"
    }
    fn origin(&self) -> u8 {
        1 // MATLAB
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        let (split, samples) = read_cofw_mat(path)?;
        let mut subsets = BTreeMap::new();
        subsets.insert(split.name().to_string(), (0..samples.len()).collect());
        Ok(Dataset {
            format: "cofw".into(),
            source: path.display().to_string(),
            scheme: Scheme::get(SchemeId::Cofw29),
            samples,
            subsets,
        })
    }
}

/// Which half of COFW a `.mat` file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CofwSplit {
    /// `IsTr` / `phisTr` / `bboxesTr`.
    Train,
    /// `IsT` / `phisT` / `bboxesT`.
    Test,
}

impl CofwSplit {
    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            CofwSplit::Train => "train",
            CofwSplit::Test => "test",
        }
    }
    /// Variable-name suffix: `Tr` or `T`.
    pub fn suffix(self) -> &'static str {
        match self {
            CofwSplit::Train => "Tr",
            CofwSplit::Test => "T",
        }
    }
}

/// Read a COFW `.mat` (v7.3) file: the detected split and its samples (image_px, 0-based).
pub fn read_cofw_mat(path: &Path) -> Result<(CofwSplit, Vec<Sample>)> {
    let bytes = crate::fsio::read_file(path)?;
    if !h5::is_hdf5_bytes(&bytes) {
        return Err(Error::parse(
            path,
            "file",
            "not an HDF5 file: COFW .mat files must be MATLAB v7.3 (save -v7.3); older MAT v5 files are not supported",
        ));
    }
    let file = h5::File::from_bytes(bytes)
        .map_err(|e| Error::parse(path, "file", format!("cannot open as HDF5: {e}")))?;
    let names = file
        .root()
        .datasets()
        .map_err(|e| Error::parse(path, "file", format!("cannot list the variables: {e}")))?;
    let split = detect_split(path, &names)?;
    let sfx = split.suffix();
    let (is_name, phis_name, boxes_name) = (
        format!("Is{sfx}"),
        format!("phis{sfx}"),
        format!("bboxes{sfx}"),
    );
    for name in [&is_name, &phis_name, &boxes_name] {
        if !names.iter().any(|n| n == name) {
            return Err(Error::parse(
                path,
                format!("field {name}"),
                "missing (a COFW file needs Is*, phis* and bboxes*)",
            ));
        }
    }

    let phis = read_matrix(path, &file, &phis_name)?;
    let with_occlusion = match phis.cols {
        87 => true,
        58 => false,
        c => {
            return Err(Error::parse(
                path,
                format!("field {phis_name}"),
                format!("expected 87 columns [x1..x29, y1..y29, occ1..occ29] (or 58 without occlusion), found {c}"),
            ))
        }
    };
    let n = phis.rows;
    let boxes = read_matrix(path, &file, &boxes_name)?;
    if boxes.cols != 4 || boxes.rows != n {
        return Err(Error::parse(
            path,
            format!("field {boxes_name}"),
            format!(
                "expected {n}x4 rows [x y w h], found {}x{}",
                boxes.rows, boxes.cols
            ),
        ));
    }
    let images = read_image_cell(path, &file, &is_name)?;
    if images.len() != n {
        return Err(Error::parse(
            path,
            format!("field {is_name}"),
            format!("holds {} images but {phis_name} has {n} rows", images.len()),
        ));
    }

    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let mut samples = Vec::with_capacity(n);
    for (i, image) in images.into_iter().enumerate() {
        let row_loc = |field: &str| format!("field {field} row {i}");
        // Values more than 100 × the image size away are corrupt (the image is known here).
        let (iw, ih) = (f64::from(image.width()), f64::from(image.height()));
        let absurd =
            |x: f64, y: f64| x.abs() > 100.0 * iw.max(1.0) || y.abs() > 100.0 * ih.max(1.0);
        let mut landmarks = Vec::with_capacity(N_POINTS);
        for k in 0..N_POINTS {
            let x = phis.get(i, k);
            let y = phis.get(i, N_POINTS + k);
            if !x.is_finite() || !y.is_finite() {
                return Err(Error::parse(
                    path,
                    row_loc(&phis_name),
                    format!("landmark {k} is not finite ({x}, {y})"),
                ));
            }
            if absurd(x, y) {
                return Err(Error::parse(
                    path,
                    row_loc(&phis_name),
                    format!(
                        "landmark {k} ({x}, {y}) lies more than 100 × the {iw}x{ih} image away"
                    ),
                ));
            }
            // MATLAB 1-based pixels -> 0-based image_px.
            landmarks.push([(x - 1.0) as f32, (y - 1.0) as f32]);
        }
        let occluded = with_occlusion.then(|| {
            (0..N_POINTS)
                .map(|k| phis.get(i, 2 * N_POINTS + k) != 0.0)
                .collect()
        });
        let b: Vec<f64> = (0..4).map(|c| boxes.get(i, c)).collect();
        if b.iter().any(|v| !v.is_finite()) {
            return Err(Error::parse(
                path,
                row_loc(&boxes_name),
                format!("box {b:?} is not finite"),
            ));
        }
        if absurd(b[0], b[1]) || absurd(b[2], b[3]) {
            return Err(Error::parse(
                path,
                row_loc(&boxes_name),
                format!("box {b:?} lies more than 100 × the {iw}x{ih} image away"),
            ));
        }
        let id = format!("{file_name}#{i}");
        let mut s = Sample::new(
            id.clone(),
            ImageSource::InMemory {
                name: id,
                image: Arc::new(image),
            },
            landmarks,
        );
        s.bbox = Some(BoxXywh {
            x: (b[0] - 1.0) as f32,
            y: (b[1] - 1.0) as f32,
            w: b[2] as f32,
            h: b[3] as f32,
        });
        s.occluded = occluded;
        samples.push(s);
    }
    Ok((split, samples))
}

/// Decide train or test from the top-level variable names.
fn detect_split(path: &Path, names: &[String]) -> Result<CofwSplit> {
    let has = |split: CofwSplit| {
        let sfx = split.suffix();
        ["Is", "phis", "bboxes"]
            .iter()
            .any(|p| names.iter().any(|n| *n == format!("{p}{sfx}")))
    };
    match (has(CofwSplit::Train), has(CofwSplit::Test)) {
        (true, false) => Ok(CofwSplit::Train),
        (false, true) => Ok(CofwSplit::Test),
        (true, true) => Err(Error::parse(
            path,
            "file",
            "holds both train (…Tr) and test (…T) variables; split it into two files",
        )),
        (false, false) => Err(Error::parse(
            path,
            "file",
            format!(
                "no COFW variables: expected IsTr/phisTr/bboxesTr or IsT/phisT/bboxesT, found [{}]",
                names.join(", ")
            ),
        )),
    }
}

/// A MATLAB 2-D numeric matrix, values in column-major (MATLAB) order.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// Element at MATLAB (row, col), both 0-based.
    fn get(&self, row: usize, col: usize) -> f64 {
        self.data[col * self.rows + row]
    }
}

fn is_numeric(dt: &h5::DType) -> bool {
    use h5::DType::*;
    matches!(dt, F32 | F64 | I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64)
}

/// Read the top-level numeric variable `name` as a MATLAB matrix.
fn read_matrix(path: &Path, file: &h5::File, name: &str) -> Result<Matrix> {
    let loc = format!("field {name}");
    let h5err = |e: h5::Error| Error::parse(path, loc.clone(), e.to_string());
    let ds = file.dataset(name).map_err(h5err)?;
    let dt = ds.dtype().map_err(h5err)?;
    if !is_numeric(&dt) {
        return Err(Error::parse(
            path,
            loc.clone(),
            format!("expected a numeric matrix, found {dt}"),
        ));
    }
    let shape = ds.shape().map_err(h5err)?;
    // HDF5 holds the MATLAB dimensions reversed: [cols, rows].
    let [c, r] = shape[..] else {
        return Err(Error::parse(
            path,
            loc.clone(),
            format!("expected a 2-D matrix, found HDF5 shape {shape:?}"),
        ));
    };
    let data = ds.read_f64().map_err(h5err)?;
    let (rows, cols) = (r as usize, c as usize);
    if data.len() != rows * cols {
        return Err(Error::parse(
            path,
            loc,
            format!("holds {} values, shape says {rows}x{cols}", data.len()),
        ));
    }
    Ok(Matrix { rows, cols, data })
}

/// Read the cell array `name` of uint8 images.
fn read_image_cell(path: &Path, file: &h5::File, name: &str) -> Result<Vec<image::RgbImage>> {
    let loc = format!("field {name}");
    let ds = file
        .dataset(name)
        .map_err(|e| Error::parse(path, loc.clone(), e.to_string()))?;
    let members = ds.dereference().map_err(|e| {
        Error::parse(
            path,
            loc.clone(),
            format!("expected a cell array of images (object references): {e}"),
        )
    })?;
    members
        .into_iter()
        .enumerate()
        .map(|(i, member)| {
            let loc = format!("field {name}[{i}]");
            match member {
                h5::Object::Dataset(d) => {
                    read_matlab_image(&d).map_err(|m| Error::parse(path, loc, m))
                }
                _ => Err(Error::parse(
                    path,
                    loc,
                    "is not a dataset (a struct or nested cell?), expected a uint8 image",
                )),
            }
        })
        .collect()
}

/// Decode one MATLAB uint8 image dataset (H×W or H×W×3, column-major) to RGB8.
fn read_matlab_image(ds: &h5::Dataset) -> std::result::Result<image::RgbImage, String> {
    let dt = ds.dtype().map_err(|e| e.to_string())?;
    if dt != h5::DType::U8 {
        return Err(format!("expected a uint8 image, found {dt}"));
    }
    let shape = ds.shape().map_err(|e| e.to_string())?;
    // HDF5 shape [W, H] (grayscale) or [C, W, H] (colour), MATLAB's H×W(×C) reversed.
    let (channels, w, h) = match shape[..] {
        [w, h] => (1usize, w as usize, h as usize),
        [c, w, h] if c == 3 || c == 1 => (c as usize, w as usize, h as usize),
        _ => {
            return Err(format!(
                "expected an HxW or HxWx3 image, found HDF5 shape {shape:?}"
            ))
        }
    };
    if w == 0 || h == 0 {
        return Err(format!("empty image (HDF5 shape {shape:?})"));
    }
    let data = ds.read_u8().map_err(|e| e.to_string())?;
    if data.len() != channels * w * h {
        return Err(format!(
            "holds {} bytes, shape {shape:?} needs {}",
            data.len(),
            channels * w * h
        ));
    }
    Ok(matlab_to_rgb(&data, channels, w, h))
}

/// Convert MATLAB column-major pixel data to a row-major RGB8 image. The value of channel `c`
/// at pixel (x, y) sits at `c*W*H + x*H + y`; one channel is replicated to three.
fn matlab_to_rgb(data: &[u8], channels: usize, w: usize, h: usize) -> image::RgbImage {
    let plane = w * h;
    let mut out = image::RgbImage::new(w as u32, h as u32);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let at = x as usize * h + y as usize;
        px.0 = if channels == 3 {
            [data[at], data[plane + at], data[2 * plane + at]]
        } else {
            [data[at]; 3]
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matlab_to_rgb_is_column_major() {
        // A 2x3 (H=2, W=3) colour image. MATLAB order: index = c*6 + x*2 + y.
        // Pixel (x=2, y=1): R at 0*6+2*2+1 = 5, G at 6+5 = 11, B at 12+5 = 17.
        let data: Vec<u8> = (0..18).collect();
        let img = matlab_to_rgb(&data, 3, 3, 2);
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.get_pixel(2, 1).0, [5, 11, 17]);
        // Pixel (x=1, y=0): 1*2+0 = 2 -> [2, 8, 14].
        assert_eq!(img.get_pixel(1, 0).0, [2, 8, 14]);
    }

    #[test]
    fn matlab_to_rgb_replicates_gray() {
        // H=2, W=2 grayscale [10 30; 20 40] stored column-major as 10, 20, 30, 40.
        let img = matlab_to_rgb(&[10, 20, 30, 40], 1, 2, 2);
        assert_eq!(img.get_pixel(0, 1).0, [20, 20, 20]);
        assert_eq!(img.get_pixel(1, 0).0, [30, 30, 30]);
    }

    #[test]
    fn matrix_get_is_column_major() {
        // MATLAB [1 2 3; 4 5 6] is stored 1 4 2 5 3 6.
        let m = Matrix {
            rows: 2,
            cols: 3,
            data: vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
        };
        assert_eq!(m.get(0, 2), 3.0);
        assert_eq!(m.get(1, 0), 4.0);
        assert_eq!(m.cols, 3);
    }

    #[test]
    fn split_detection() {
        let p = Path::new("x.mat");
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            detect_split(p, &v(&["IsTr", "phisTr", "bboxesTr"])).ok(),
            Some(CofwSplit::Train)
        );
        assert_eq!(
            detect_split(p, &v(&["IsT", "phisT"])).ok(),
            Some(CofwSplit::Test)
        );
        let err = detect_split(p, &v(&["foo"]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("x.mat") && err.contains("IsTr"), "{err}");
        assert!(detect_split(p, &v(&["IsTr", "phisT"])).is_err());
    }

    // ---- fixture files (tests/fixtures/cofw, made by make_cofw_fixture.py with hdf5storage) ----

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cofw");

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(FIXTURES).join(name)
    }

    /// Compare one fixture file against `expected.json`, which holds hdf5storage's own read-back
    /// (phis - 1, bboxes x/y - 1, pixels indexed [y, x] in MATLAB orientation).
    fn check_against_expected(name: &str, split: CofwSplit) {
        let text =
            std::fs::read_to_string(fixture("expected.json")).expect("expected.json should exist");
        let all: serde_json::Value =
            serde_json::from_str(&text).expect("expected.json should parse");
        let exp = &all[name];
        let ds =
            super::super::Reader::read(&CofwReader, &fixture(name)).expect("fixture should load");
        assert_eq!(ds.samples.len() as u64, exp["n"].as_u64().expect("n"));
        assert_eq!(ds.scheme.id, SchemeId::Cofw29);
        assert_eq!(
            ds.subsets.get(split.name()).map(Vec::len),
            Some(ds.samples.len())
        );
        let f = |v: &serde_json::Value| v.as_f64().expect("number") as f32;
        for (i, (s, e)) in ds
            .samples
            .iter()
            .zip(exp["samples"].as_array().expect("samples"))
            .enumerate()
        {
            assert_eq!(s.id, format!("{name}#{i}"));
            assert_eq!(s.landmarks.len(), 29);
            for (p, q) in s
                .landmarks
                .iter()
                .zip(e["landmarks"].as_array().expect("landmarks"))
            {
                assert!(
                    (p[0] - f(&q[0])).abs() < 1e-4 && (p[1] - f(&q[1])).abs() < 1e-4,
                    "{p:?} vs {q}"
                );
            }
            let occ: Vec<bool> = e["occluded"]
                .as_array()
                .expect("occ")
                .iter()
                .map(|b| b.as_bool().expect("bool"))
                .collect();
            assert_eq!(s.occluded.as_ref(), Some(&occ));
            let b = s.bbox.expect("bbox");
            let eb = &e["bbox"];
            assert_eq!(
                [b.x, b.y, b.w, b.h],
                [f(&eb[0]), f(&eb[1]), f(&eb[2]), f(&eb[3])]
            );
            let img = s.image.load_rgb().expect("in-memory image");
            assert_eq!(img.width() as u64, e["width"].as_u64().expect("width"));
            assert_eq!(img.height() as u64, e["height"].as_u64().expect("height"));
            for probe in e["pixels"].as_array().expect("pixels") {
                let (x, y) = (
                    probe[0].as_u64().expect("x") as u32,
                    probe[1].as_u64().expect("y") as u32,
                );
                let rgb: Vec<u8> = probe[2]
                    .as_array()
                    .expect("rgb")
                    .iter()
                    .map(|v| v.as_u64().expect("u8") as u8)
                    .collect();
                assert_eq!(
                    img.get_pixel(x, y).0.to_vec(),
                    rgb,
                    "{name}#{i} pixel ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn fixture_train_matches_hdf5storage() {
        check_against_expected("cofw_train_tiny.mat", CofwSplit::Train);
    }

    #[test]
    fn fixture_test_matches_hdf5storage() {
        check_against_expected("cofw_test_tiny.mat", CofwSplit::Test);
    }

    #[test]
    fn fixture_train_hand_checked() {
        let (split, samples) =
            read_cofw_mat(&fixture("cofw_train_tiny.mat")).expect("fixture should load");
        assert_eq!(split, CofwSplit::Train);
        assert_eq!(samples.len(), 2);
        // Sample 1 is mmpose test_cofw.json face 1766; its point 0 = (46.5625345, 120.0757555), halved
        // about pixel centres: (46.5625345 + 0.5) / 2 - 0.5 = 23.0312673, (120.0757555 + 0.5) / 2 - 0.5
        // = 59.7878777.
        let p = samples[1].landmarks[0];
        assert!(
            (p[0] - 23.031_267).abs() < 1e-4 && (p[1] - 59.787_878).abs() < 1e-4,
            "{p:?}"
        );
        // Face 1766 has v = 1 (occluded) exactly at points 22..=27 in the JSON.
        let want: Vec<bool> = (0..29).map(|k| (22..=27).contains(&k)).collect();
        assert_eq!(samples[1].occluded.as_ref(), Some(&want));
        // Box [38, 102, 105, 180] / 2 = [19, 51, 52.5, 90] (0-based; the file holds x, y + 1).
        assert_eq!(
            samples[1].bbox,
            Some(BoxXywh {
                x: 19.0,
                y: 51.0,
                w: 52.5,
                h: 90.0
            })
        );
        // Face 1805 (sample 0): JSON v = 1 at points 0, 2, 4, 5, 8, 12, 13, 16, 22.
        let occ0: Vec<usize> = (0..29)
            .filter(|&k| samples[0].occluded.as_ref().is_some_and(|o| o[k]))
            .collect();
        assert_eq!(occ0, vec![0, 2, 4, 5, 8, 12, 13, 16, 22]);
        // Image sizes: 352x253 -> 176x126 colour; 235x322 -> 117x161 stored 2-D gray, so R = G = B.
        let a = samples[0].image.load_rgb().expect("image");
        assert_eq!(a.dimensions(), (176, 126));
        assert!(
            a.pixels().any(|p| p.0[0] != p.0[2]),
            "the colour image should not be gray"
        );
        let b = samples[1].image.load_rgb().expect("image");
        assert_eq!(b.dimensions(), (117, 161));
        assert!(b.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
    }

    #[test]
    fn data_spec_loads_with_split_subset() {
        let spec = format!("cofw:{}#test", fixture("cofw_test_tiny.mat").display());
        let ds = crate::data::load(&spec).expect("spec should load");
        assert_eq!(ds.samples.len(), 1);
        let spec = format!("cofw:{}#train", fixture("cofw_test_tiny.mat").display());
        assert!(
            crate::data::load(&spec).is_err(),
            "a test file has no train subset"
        );
    }

    // ---- malformed files, written with hdf5-pure's MATLAB builder ----

    /// A valid two-sample COFW-like file with `phis` of the given width; `skip` names a variable
    /// to leave out.
    fn write_mat(dir: &Path, sfx: &str, phis_cols: usize, skip: &str) -> std::path::PathBuf {
        // Column-major N x cols: column c holds value 1 + c for sample 0 and 2 + c for sample 1.
        let phis: Vec<f64> = (0..phis_cols)
            .flat_map(|c| [1.0 + c as f64, 2.0 + c as f64])
            .collect();
        let boxes = [1.0, 2.0, 1.0, 2.0, 5.0, 5.0, 5.0, 5.0];
        write_mat_values(dir, sfx, phis_cols, skip, &phis, &boxes)
    }

    /// [`write_mat`] with the given `phis` (column-major 2 x `phis_cols`) and `bboxes` (2 x 4).
    fn write_mat_values(
        dir: &Path,
        sfx: &str,
        phis_cols: usize,
        skip: &str,
        phis: &[f64],
        boxes: &[f64; 8],
    ) -> std::path::PathBuf {
        let mut mb = h5::mat::builder::MatBuilder::new(h5::mat::options::Options::default());
        let n = 2;
        if skip != "Is" {
            mb.cell(&format!("Is{sfx}"), &[n, 1], |cw| {
                // 2x3 colour image (MATLAB H x W x 3, column-major) and a 2x2 grayscale one.
                cw.push_u8(&[2, 3, 3], &(0..18).collect::<Vec<u8>>())?;
                cw.push_u8(&[2, 2], &[1, 2, 3, 4])?;
                Ok(())
            })
            .expect("cell");
        }
        if skip != "phis" {
            mb.write_f64(&format!("phis{sfx}"), &[n, phis_cols], phis)
                .expect("phis");
        }
        if skip != "bboxes" {
            mb.write_f64(&format!("bboxes{sfx}"), &[n, 4], boxes)
                .expect("boxes");
        }
        let path = dir.join(format!("m_{sfx}_{phis_cols}_{skip}.mat"));
        mb.write(&path).expect("write mat");
        path
    }

    #[test]
    fn builder_file_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (split, s) = read_cofw_mat(&write_mat(dir.path(), "T", 87, "")).expect("valid file");
        assert_eq!(split, CofwSplit::Test);
        assert_eq!(s.len(), 2);
        // Sample 1, x of point 3 = column 3 -> 2 + 3 = 5 (1-based) -> 4.0; y of point 3 = column 32
        // -> 34 -> 33.0; occ of point 0 = column 58 -> 60 != 0 -> occluded.
        assert_eq!(s[1].landmarks[3], [4.0, 33.0]);
        assert_eq!(s[1].occluded.as_ref().map(|o| o[0]), Some(true));
        // bboxes column-major [1 2 | 1 2 | 5 5 | 5 5]: row 1 = [2 2 5 5] -> [1 1 5 5].
        assert_eq!(
            s[1].bbox,
            Some(BoxXywh {
                x: 1.0,
                y: 1.0,
                w: 5.0,
                h: 5.0
            })
        );
        let img = s[0].image.load_rgb().expect("image");
        // (x=2, y=1) -> index 2*2+1 = 5: [5, 11, 17] as in matlab_to_rgb_is_column_major.
        assert_eq!(img.get_pixel(2, 1).0, [5, 11, 17]);
        // 58 columns: no occlusion flags.
        let (_, s) = read_cofw_mat(&write_mat(dir.path(), "Tr", 58, "")).expect("58-column file");
        assert!(s[0].occluded.is_none());
    }

    fn err_text(r: Result<(CofwSplit, Vec<Sample>)>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_field_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_mat(dir.path(), "Tr", 87, "bboxes");
        let e = err_text(read_cofw_mat(&p));
        assert!(
            e.contains("m_Tr_87_bboxes.mat")
                && e.contains("field bboxesTr")
                && e.contains("missing"),
            "{e}"
        );
        let e = err_text(read_cofw_mat(&write_mat(dir.path(), "T", 87, "Is")));
        assert!(e.contains("field IsT") && e.contains("missing"), "{e}");
    }

    #[test]
    fn wrong_phis_width_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = err_text(read_cofw_mat(&write_mat(dir.path(), "Tr", 80, "")));
        assert!(
            e.contains("m_Tr_80_.mat") && e.contains("field phisTr") && e.contains("found 80"),
            "{e}"
        );
    }

    #[test]
    fn absurd_coordinates_are_errors() {
        // Sample 1's image is 2x2: values beyond ±200 px are corrupt.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut phis: Vec<f64> = (0..58).flat_map(|c| [1.0 + c as f64, 2.0]).collect();
        phis[2 * 3 + 1] = 1e10; // sample 1, x of landmark 3
        let boxes = [1.0, 2.0, 1.0, 2.0, 5.0, 5.0, 5.0, 5.0];
        let p = write_mat_values(dir.path(), "Tr", 58, "", &phis, &boxes);
        let e = err_text(read_cofw_mat(&p));
        assert!(
            e.contains(".mat")
                && e.contains("field phisTr row 1")
                && e.contains("landmark 3")
                && e.contains("100 ×"),
            "{e}"
        );
        let phis: Vec<f64> = (0..58).flat_map(|c| [1.0 + c as f64, 2.0]).collect();
        let boxes = [1.0, 2.0, 1.0, 2.0, 5.0, -5e4, 5.0, 5.0];
        let p = write_mat_values(dir.path(), "T", 58, "", &phis, &boxes);
        let e = err_text(read_cofw_mat(&p));
        assert!(
            e.contains("field bboxesT row 1") && e.contains("100 ×"),
            "{e}"
        );
    }

    #[test]
    fn not_hdf5_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("fake.mat");
        std::fs::write(&p, b"MATLAB 5.0 MAT-file, not HDF5 at all").expect("write");
        let e = err_text(read_cofw_mat(&p));
        assert!(
            e.contains("fake.mat") && e.contains("not an HDF5 file"),
            "{e}"
        );
        let e = err_text(read_cofw_mat(&dir.path().join("absent.mat")));
        assert!(e.contains("absent.mat"), "{e}");
    }
}
