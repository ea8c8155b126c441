//! `dlib` reader: dlib imglab XML datasets (`dlib:FILE.xml`).
//!
//! Source: the format written by dlib's `imglab` tool and read by `dlib::load_image_dataset`
//! (e.g. dlib's `examples/faces/training_with_face_landmarks.xml`):
//! `<dataset><images><image file='...'><box top left width height [ignore='1']>
//! <part name='00' x='..' y='..'/>...</box></image></images></dataset>`.
//!
//! One sample per `<box>` that has parts and is not `ignore='1'` (other boxes are skipped
//! silently). Parts are ordered by their numeric `name` and must be exactly `0..n` (dlib writes
//! `00`, `01`, ...); every kept box must have the same `n`, which picks the scheme (68 = iBUG).
//! dlib pixel coordinates are 0-based already, so parts and boxes are taken as they are
//! (`box` -> `Sample::bbox` with x = left, y = top). Image paths are relative to the XML's folder
//! and must exist. Sample ids are `FILE#k`, `k` the 0-based index of the box within its
//! `<image>` (ignored boxes count, so ids do not move when a flag changes).
//! Errors name the XML file and the line of the offending element; a file whose root element is
//! not `<dataset>` (or that holds no element at all) is "not dlib imglab XML".
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};

use crate::error::{Error, Result};
use crate::sample::{BoxXywh, Dataset, ImageSource, Point, Sample};
use crate::scheme::{Scheme, SchemeId};

/// Reader for the `dlib` format.
pub struct DlibReader;

impl super::Reader for DlibReader {
    fn format(&self) -> &'static str {
        "dlib"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        let bytes = crate::fsio::read_file(path)?;
        let text = decode_text(bytes);
        let base = path.parent().unwrap_or(Path::new(""));
        let parsed = parse_dlib_xml(&text, path, base)?;
        let scheme = match parsed.first() {
            None => Scheme::get(SchemeId::Ibug68),
            Some((s, _)) => {
                let n = s.landmarks.len();
                let id = SchemeId::from_n_points(n).ok_or_else(|| {
                    Error::parse(
                        path,
                        "all boxes",
                        format!("{n} parts per box match no known landmark scheme"),
                    )
                })?;
                Scheme::get(id)
            }
        };
        for (s, _) in &parsed {
            let img = match &s.image {
                ImageSource::Path(p) => p,
                ImageSource::InMemory { .. } => continue,
            };
            if !img.is_file() {
                return Err(Error::Image {
                    path: img.clone(),
                    message: format!("file not found (referenced by {})", path.display()),
                });
            }
        }
        Ok(Dataset {
            format: "dlib".into(),
            source: path.display().to_string(),
            scheme,
            samples: parsed.into_iter().map(|(s, _)| s).collect(),
            subsets: BTreeMap::new(),
        })
    }
}

/// UTF-8 if it is, otherwise ISO-8859-1 (what imglab declares); each byte is one char then.
pub(crate) fn decode_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    }
}

/// 1-based line of byte offset `pos` in `text`.
fn line_at(text: &str, pos: u64) -> usize {
    let pos = (pos as usize).min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The attributes of an element, by name.
fn attributes(e: &BytesStart<'_>, path: &Path, line: usize) -> Result<BTreeMap<String, String>> {
    let tag = e.name().as_ref().to_owned();
    let mut out = BTreeMap::new();
    for a in e.attributes() {
        let a = a.map_err(|err| at_element(path, line, &tag, err.to_string()))?;
        let key = a.key.as_ref().to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| {
                Error::parse(path, format!("line {line}, <{tag} {key}>"), err.to_string())
            })?;
        out.insert(key, value.into_owned());
    }
    Ok(out)
}

/// An error at the element `<tag>` on `line`.
fn at_element(path: &Path, line: usize, tag: &str, message: impl Into<String>) -> Error {
    Error::parse(path, format!("line {line}, <{tag}>"), message)
}

/// The attribute `key` of the element `<tag>` on `line`; an error naming both if it is absent.
fn required<'a>(
    attrs: &'a BTreeMap<String, String>,
    key: &str,
    tag: &str,
    path: &Path,
    line: usize,
) -> Result<&'a String> {
    attrs
        .get(key)
        .ok_or_else(|| at_element(path, line, tag, format!("missing attribute `{key}`")))
}

fn number(
    attrs: &BTreeMap<String, String>,
    key: &str,
    tag: &str,
    path: &Path,
    line: usize,
) -> Result<f32> {
    let loc = || format!("line {line}, <{tag}> attribute `{key}`");
    let v = required(attrs, key, tag, path, line)?;
    match v.trim().parse::<f32>() {
        Ok(x) if super::beyond_max_coord(x) => Err(Error::parse(
            path,
            loc(),
            super::beyond_max_coord_message("value", v),
        )),
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(Error::parse(path, loc(), format!("`{v}` is not a number"))),
    }
}

/// A `<box>` being read.
struct OpenBox {
    line: usize,
    /// Index of the box within its `<image>`.
    k: usize,
    bbox: BoxXywh,
    ignore: bool,
    /// (numeric part name, point, line)
    parts: Vec<(usize, Point, usize)>,
}

/// Parse imglab XML `text` (from `path`; images relative to `base`). Returns each kept sample
/// with the line of its `<box>`. Does not check that images exist.
pub fn parse_dlib_xml(text: &str, path: &Path, base: &Path) -> Result<Vec<(Sample, usize)>> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut image: Option<(String, PathBuf, usize)> = None; // (file attr, path, boxes seen)
    let mut open_box: Option<OpenBox> = None;
    let mut out: Vec<(Sample, usize)> = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            Error::parse(
                path,
                format!("line {}", line_at(text, reader.error_position())),
                format!("malformed XML: {e}"),
            )
        })?;
        let line = line_at(text, reader.buffer_position());
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                let name = e.name().as_ref().to_owned();
                stack.pop();
                match name.as_str() {
                    "box" => finish_box(open_box.take(), image.as_ref(), path, &mut out)?,
                    "image" => image = None,
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = e.name().as_ref().to_owned();
        if stack.is_empty() {
            if name != "dataset" {
                return Err(Error::parse(
                    path,
                    format!("line {line}"),
                    format!(
                        "not dlib imglab XML: the root element is <{name}>, expected <dataset>"
                    ),
                ));
            }
            saw_root = true;
        }
        let inside = |tag: &str| stack.iter().any(|(n, _)| n == tag);
        match name.as_str() {
            "image" => {
                let attrs = attributes(&e, path, line)?;
                let file = required(&attrs, "file", "image", path, line)?;
                image = Some((file.clone(), base.join(file), 0));
            }
            "box" => {
                if !inside("image") {
                    return Err(at_element(path, line, "box", "<box> outside an <image>"));
                }
                let attrs = attributes(&e, path, line)?;
                let bbox = BoxXywh {
                    x: number(&attrs, "left", "box", path, line)?,
                    y: number(&attrs, "top", "box", path, line)?,
                    w: number(&attrs, "width", "box", path, line)?,
                    h: number(&attrs, "height", "box", path, line)?,
                };
                let ignore = attrs
                    .get("ignore")
                    .is_some_and(|v| v.trim() != "0" && !v.trim().is_empty());
                let k = image.as_mut().map_or(0, |im| {
                    im.2 += 1;
                    im.2 - 1
                });
                open_box = Some(OpenBox {
                    line,
                    k,
                    bbox,
                    ignore,
                    parts: Vec::new(),
                });
            }
            "part" => {
                let Some(b) = open_box.as_mut() else {
                    return Err(at_element(path, line, "part", "<part> outside a <box>"));
                };
                let attrs = attributes(&e, path, line)?;
                let pname = required(&attrs, "name", "part", path, line)?;
                let idx = pname.trim().parse::<usize>().map_err(|_| {
                    Error::parse(
                        path,
                        format!("line {line}, <part> attribute `name`"),
                        format!("`{pname}` is not a number"),
                    )
                })?;
                let x = number(&attrs, "x", "part", path, line)?;
                let y = number(&attrs, "y", "part", path, line)?;
                b.parts.push((idx, [x, y], line));
            }
            _ => {}
        }
        if empty {
            if name == "box" {
                finish_box(open_box.take(), image.as_ref(), path, &mut out)?;
            }
        } else {
            stack.push((name, line));
        }
    }
    if let Some((tag, line)) = stack.last() {
        return Err(Error::parse(
            path,
            format!("line {line}"),
            format!("malformed XML: <{tag}> is never closed"),
        ));
    }
    if !saw_root {
        return Err(Error::parse(
            path,
            "whole file",
            "not dlib imglab XML: no <dataset> element (expected \
             `<dataset><images><image file=...><box ...><part .../>`)",
        ));
    }
    Ok(out)
}

/// Close a `<box>`: keep it as a sample if it has parts and is not ignored.
fn finish_box(
    b: Option<OpenBox>,
    image: Option<&(String, PathBuf, usize)>,
    path: &Path,
    out: &mut Vec<(Sample, usize)>,
) -> Result<()> {
    let (Some(mut b), Some((file, img_path, _))) = (b, image) else {
        return Ok(());
    };
    if b.ignore || b.parts.is_empty() {
        return Ok(());
    }
    b.parts.sort_by_key(|p| p.0);
    for (want, (got, _, line)) in b.parts.iter().enumerate() {
        if *got != want {
            return Err(at_element(
                path,
                *line,
                "part",
                format!(
                    "part names must be 0..{} without gaps or repeats; expected {want}, found {got}",
                    b.parts.len()
                ),
            ));
        }
    }
    if let Some((first, first_line)) = out.first() {
        if first.landmarks.len() != b.parts.len() {
            return Err(at_element(
                path,
                b.line,
                "box",
                format!(
                    "{} parts, but the box at line {first_line} has {}; all boxes need the same points",
                    b.parts.len(),
                    first.landmarks.len()
                ),
            ));
        }
    }
    let mut s = Sample::new(
        format!("{file}#{}", b.k),
        ImageSource::Path(img_path.clone()),
        b.parts.iter().map(|p| p.1).collect(),
    );
    s.bbox = Some(b.bbox);
    out.push((s, b.line));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Reader;

    /// `<repo>/../shared/data/fixtures/dlib`; `FACEALIGN_SHARED` overrides the shared dir (for a
    /// checkout that does not sit beside `shared/`, e.g. a git worktree).
    fn fixtures() -> PathBuf {
        let shared = std::env::var_os("FACEALIGN_SHARED").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
            PathBuf::from,
        );
        shared.join("data/fixtures/dlib")
    }

    fn err_text<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn training_fixture_has_18_faces_of_68_points() {
        let path = fixtures().join("training_with_face_landmarks.xml");
        let ds = DlibReader.read(&path).expect("fixture should load");
        assert_eq!(ds.samples.len(), 18);
        assert_eq!(ds.scheme.id, SchemeId::Ibug68);
        assert!(ds.samples.iter().all(|s| s.landmarks.len() == 68));
        // Second box of 2007_007763.jpg (XML line 81): <box top='114' left='158' width='37'
        // height='37'>, <part name='00' x='165' y='131'/>, <part name='30' x='173' y='137'/>.
        let s = &ds.samples[1];
        assert_eq!(s.id, "2007_007763.jpg#1");
        assert_eq!(
            s.bbox,
            Some(BoxXywh {
                x: 158.0,
                y: 114.0,
                w: 37.0,
                h: 37.0
            })
        );
        assert_eq!(s.landmarks[0], [165.0, 131.0]);
        assert_eq!(s.landmarks[30], [173.0, 137.0]);
        match &s.image {
            ImageSource::Path(p) => assert_eq!(p, &fixtures().join("2007_007763.jpg")),
            other => panic!("expected a path, got {other:?}"),
        }
    }

    #[test]
    fn testing_fixture_has_25_faces() {
        // grep -c '<box' gives 25 boxes and grep -c '<part' 1700 = 25 x 68 parts.
        let path = fixtures().join("testing_with_face_landmarks.xml");
        let ds = DlibReader.read(&path).expect("fixture should load");
        assert_eq!(ds.samples.len(), 25);
        assert!(ds.samples.iter().all(|s| s.landmarks.len() == 68));
    }

    fn parse(xml: &str) -> Result<Vec<(Sample, usize)>> {
        parse_dlib_xml(xml, Path::new("mem.xml"), Path::new("/imgs"))
    }

    #[test]
    fn parts_are_ordered_by_numeric_name_and_boxes_filtered() {
        let xml = "<dataset><images>\n<image file='a.jpg'>\n\
            <box top='1' left='2' width='3' height='4'>\
              <part name='2' x='20' y='21'/><part name='00' x='0' y='1'/><part name='1' x='10' y='11'/>\
            </box>\n\
            <box top='1' left='2' width='3' height='4' ignore='1'><part name='0' x='0' y='0'/></box>\n\
            <box top='1' left='2' width='3' height='4'/>\n\
            <box top='5' left='6' width='7' height='8'><part name='0' x='1' y='2'/>\
              <part name='1' x='3' y='4'/><part name='2' x='5' y='6'/></box>\n\
            </image></images></dataset>";
        let out = parse(xml).expect("valid xml");
        // 4 boxes: #0 kept, #1 ignored, #2 without parts, #3 kept.
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].0.landmarks,
            vec![[0.0, 1.0], [10.0, 11.0], [20.0, 21.0]]
        );
        assert_eq!(out[0].0.id, "a.jpg#0");
        assert_eq!(out[1].0.id, "a.jpg#3");
        assert_eq!(
            out[1].0.bbox,
            Some(BoxXywh {
                x: 6.0,
                y: 5.0,
                w: 7.0,
                h: 8.0
            })
        );
        assert_eq!(out[1].1, 6, "the kept box starts on line 6");
    }

    #[test]
    fn bad_numbers_name_file_line_and_attribute() {
        // (box attributes, part attributes, the line, the attribute, a word of the message)
        let cases = [
            ("width='3'", "x='abc' y='1'", "line 4", "`x`", "abc"),
            ("width='3'", "x='1' y='1e10'", "line 4", "`y`", "beyond"),
            ("width='3e7'", "x='1' y='1'", "line 3", "`width`", "beyond"),
            ("", "x='1' y='1'", "line 3", "`width`", "missing"),
        ];
        for (box_attrs, part_attrs, line, attr, word) in cases {
            let xml = format!(
                "<dataset><images>\n<image file='a.jpg'>\n<box top='1' left='2' {box_attrs} \
                 height='4'>\n<part name='0' {part_attrs}/>\n</box></image></images></dataset>"
            );
            let e = err_text(parse(&xml));
            assert!(
                e.contains("mem.xml") && e.contains(line) && e.contains(attr) && e.contains(word),
                "{box_attrs} {part_attrs}: {e}"
            );
        }
    }

    #[test]
    fn malformed_xml_is_an_error() {
        let e = err_text(parse(
            "<dataset><images>\n<image file='a.jpg'>\n</images></dataset>",
        ));
        assert!(
            e.contains("mem.xml: line 3") && e.contains("malformed XML"),
            "{e}"
        );
        let e = err_text(parse("<dataset><images>\n<image file='a.jpg'>\n"));
        assert!(
            e.contains("mem.xml: line 2") && e.contains("<image> is never closed"),
            "{e}"
        );
        let e = err_text(parse(
            "<dataset><images><image file='a.jpg'><box top='1' left='2' width='3' height='4'>\
                                <part name='x0' x='1' y='1'/></box></image></images></dataset>",
        ));
        assert!(e.contains("`name`") && e.contains("x0"), "{e}");
    }

    #[test]
    fn non_imglab_files_say_so() {
        // Plain text (quick-xml reads it as character data), an empty file, another XML root.
        for (text, needle) in [
            ("lfw/a.jpg 1 2 3 4 5 6 7 8 9 10\n", "no <dataset> element"),
            ("", "no <dataset> element"),
            (
                "<?xml version='1.0'?>\n<annotation><object/></annotation>",
                "line 2",
            ),
        ] {
            let e = err_text(parse(text));
            assert!(
                e.contains("mem.xml") && e.contains("not dlib imglab XML") && e.contains(needle),
                "{text:?}: {e}"
            );
        }
        // Through a data spec it no longer says only "the dataset is empty".
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("list.txt");
        std::fs::write(&p, "a.jpg 1 2\n").expect("write");
        let e = err_text(crate::data::load(&format!("dlib:{}", p.display())));
        assert!(
            e.contains("list.txt") && e.contains("not dlib imglab XML"),
            "{e}"
        );
    }

    #[test]
    fn missing_image_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let xml = dir.path().join("set.xml");
        std::fs::write(
            &xml,
            "<dataset><images><image file='nope.jpg'><box top='1' left='2' width='3' height='4'>\
             <part name='0' x='1' y='1'/><part name='1' x='1' y='1'/><part name='2' x='1' y='1'/>\
             <part name='3' x='1' y='1'/><part name='4' x='1' y='1'/></box></image></images></dataset>",
        )
        .expect("write");
        let e = err_text(DlibReader.read(&xml));
        assert!(e.contains("nope.jpg") && e.contains("set.xml"), "{e}");
    }
}
