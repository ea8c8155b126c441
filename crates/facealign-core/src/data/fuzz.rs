//! Byte-mutation fuzzing of the text readers (`.pts`, MTFL lists, dlib imglab XML, COCO JSON):
//! every input must give a sample list or an error, never a panic or a hang, and whatever parses
//! must hold plausible coordinates (finite within ±`MAX_COORD`, or an unlabelled NaN pair).
//!
//! Each case starts from a valid file and applies a few random edits (overwrite, insert, delete,
//! truncate, duplicate a slice, put a token from a small dictionary of format words and absurd
//! numbers in place of a word or a line, or splice it in), or is random bytes; COCO also gets
//! JSON-level edits (a node replaced, removed or duplicated), which reach past the JSON syntax.
//! Cases per property: 1000 by default (well under a second in `cargo test`);
//! `FACEALIGN_FUZZ_CASES=1000000 cargo test -p facealign-core fuzz` runs a longer campaign.
use std::path::Path;

use proptest::prelude::*;

use super::MAX_COORD;
use crate::sample::{Point, Sample};

fn cases() -> u32 {
    std::env::var("FACEALIGN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Format words and troublesome values spliced into the inputs.
const DICTIONARY: &[&str] = &[
    "nan",
    "NaN NaN",
    "inf",
    "-inf",
    "1e10",
    "-1e39",
    "99999999999999999999",
    "0x10",
    "-",
    ".",
    "\n",
    "\r\n",
    " ",
    "\u{feff}",
    "\u{e9}",
    "#",
    "{",
    "}",
    "version: 2",
    "n_points: 4294967295",
    "n_points: 68",
    "<",
    ">",
    "/>",
    "'",
    "\"",
    "&amp;",
    "&#0;",
    "<dataset>",
    "</box>",
    "<part name='4' x='1' y='2'/>",
    "<box top='1' left='2' width='3' height='4'>",
    "ignore='1'",
    "<!--",
    "<![CDATA[",
    "[",
    "]",
    ",",
    ":",
    "null",
    "\"keypoints\": [",
    "\"image_id\": 1",
    "1e308",
    "-0",
    "\\",
    "a.jpg",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "1e6",
    "1000000.1",
    "4294967296",
    "-9223372036854775809",
    "3.4028236e38",
    "1e-50",
    "nan nan",
    "1 nan",
];

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Overwrite(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize, usize),
    Token(usize, usize),
    /// Replace the word (run of bytes without space, newline, quote, comma, bracket) around a
    /// position by a dictionary token.
    Word(usize, usize),
    /// Replace the line around a position by a dictionary token.
    Line(usize, usize),
}

/// Mostly printable ASCII, so that edits do not all end in "not UTF-8".
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 0x20u8..0x7f, 1 => Just(b'\n'), 1 => any::<u8>()]
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = 0..DICTIONARY.len();
    prop_oneof![
        1 => (any::<usize>(), byte()).prop_map(|(p, b)| Edit::Overwrite(p, b)),
        1 => (any::<usize>(), byte()).prop_map(|(p, b)| Edit::Insert(p, b)),
        1 => (any::<usize>(), 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), 1usize..200, any::<usize>())
            .prop_map(|(p, n, q)| Edit::Duplicate(p, n, q)),
        2 => (any::<usize>(), token.clone()).prop_map(|(p, t)| Edit::Token(p, t)),
        5 => (any::<usize>(), token.clone()).prop_map(|(p, t)| Edit::Word(p, t)),
        2 => (any::<usize>(), token).prop_map(|(p, t)| Edit::Line(p, t)),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match *e {
            Edit::Overwrite(p, x) if !b.is_empty() => {
                let i = p % b.len();
                b[i] = x;
            }
            Edit::Overwrite(..) => {}
            Edit::Insert(p, x) => b.insert(at(p, b.len()), x),
            Edit::Delete(p, n) => {
                let i = at(p, b.len());
                b.drain(i..(i + n).min(b.len()));
            }
            Edit::Truncate(p) => b.truncate(at(p, b.len())),
            Edit::Duplicate(p, n, q) => {
                let i = at(p, b.len());
                let part: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
                let j = at(q, b.len());
                b.splice(j..j, part);
            }
            Edit::Token(p, t) => {
                let i = at(p, b.len());
                b.splice(i..i, DICTIONARY[t].bytes());
            }
            Edit::Word(p, t) | Edit::Line(p, t) => {
                let ends: &[u8] = if matches!(e, Edit::Word(..)) {
                    b" \t\r\n'\",:[]{}<>="
                } else {
                    b"\n"
                };
                let i = at(p, b.len());
                let start = b[..i]
                    .iter()
                    .rposition(|c| ends.contains(c))
                    .map_or(0, |k| k + 1);
                let end = b[i..]
                    .iter()
                    .position(|c| ends.contains(c))
                    .map_or(b.len(), |k| i + k);
                b.splice(start..end, DICTIONARY[t].bytes());
            }
        }
    }
    b
}

/// A fuzz input: a mutated seed (most cases) or random bytes.
fn input(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (0..seeds.len(), prop::collection::vec(edit(), 1..5))
            .prop_map(move |(s, edits)| apply(seeds[s].as_bytes(), &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Values a JSON mutation puts in place of a node.
fn json_values() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!(1e10),
        json!(-1e7),
        json!(-1),
        json!(0),
        json!(1),
        json!(2),
        json!(3),
        json!(0.5),
        json!(1e308),
        json!(4_294_967_296_u64),
        json!(i64::MIN),
        json!(u64::MAX),
        json!("x"),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!([1, 2, 1]),
        json!({"id": 1, "file_name": "a.jpg"}),
    ]
}

/// One JSON edit: walk down by `path` (each step picks a child, or stops), then replace the node
/// by `json_values()[value]` (`op` 0), remove one of its children (1) or duplicate one (2). The
/// root is never the edited node.
fn json_edit(root: &mut serde_json::Value, path: &[usize], value: usize, op: u8) {
    use serde_json::Value;
    let mut node = root;
    for (depth, &step) in path.iter().enumerate() {
        let len = match &*node {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        // The root (images + annotations) is always entered.
        if len == 0 || (depth > 0 && step % (len + 1) == len) {
            break;
        }
        node = match node {
            Value::Array(a) => &mut a[step % len],
            Value::Object(o) => o.values_mut().nth(step % len).expect("index below len"),
            _ => unreachable!("len is 0 for scalars"),
        };
    }
    match (op, &mut *node) {
        (1, Value::Array(a)) if !a.is_empty() => {
            a.remove(value % a.len());
        }
        (1, Value::Object(o)) if !o.is_empty() => {
            let key = o
                .keys()
                .nth(value % o.len())
                .cloned()
                .expect("index below len");
            o.remove(&key);
        }
        (2, Value::Array(a)) if !a.is_empty() => {
            let x = a[value % a.len()].clone();
            a.push(x);
        }
        _ => *node = json_values()[value % json_values().len()].clone(),
    }
}

/// A COCO seed with a few JSON-level edits (the structure survives, the values do not).
fn coco_json_input() -> impl Strategy<Value = String> {
    let edit = (
        prop::collection::vec(any::<usize>(), 1..6),
        any::<usize>(),
        0u8..3,
    );
    prop::collection::vec(edit, 1..5).prop_map(|edits| {
        let mut v: serde_json::Value = serde_json::from_str(COCO[0]).expect("seed is JSON");
        for (path, value, op) in &edits {
            json_edit(&mut v, path, *value, *op);
        }
        v.to_string()
    })
}

fn plausible(points: &[Point]) -> bool {
    points.iter().all(|p| {
        (p[0].is_nan() && p[1].is_nan())
            || p.iter()
                .all(|v| v.is_finite() && v.abs() <= MAX_COORD + 1.0)
    })
}

fn check_samples(samples: &[Sample]) -> std::result::Result<(), TestCaseError> {
    if let Some(n) = samples.first().map(|s| s.landmarks.len()) {
        prop_assert!(samples.iter().all(|s| s.landmarks.len() == n));
    }
    for s in samples {
        prop_assert!(plausible(&s.landmarks), "{:?}", s.landmarks);
        if let Some(b) = &s.bbox {
            prop_assert!(
                [b.x, b.y, b.w, b.h]
                    .iter()
                    .all(|v| v.is_finite() && v.abs() <= MAX_COORD),
                "{b:?}"
            );
        }
    }
    Ok(())
}

const PTS: &[&str] = &[
    "version: 1\nn_points: 5\n{\n1 2\n3 4\n5 6\n7 8\n9 10.5\n}\n",
    "\u{feff}# c\nversion: 1\r\nn_points: 5\r\n{\r\n1 2\r\n\r\nnan nan\r\n5 6\r\n7 8\r\n9 10\r\n}\r\n",
];

const MTFL: &[&str] = &[
    "lfw/a.jpg 1 2 3 4 5 6 7 8 9 10\n\n lfw\\b.jpg 1 2 3 4 5 6 7 8 9 10 2 1 2 3\n",
    "a.jpg 1.5 nan 3 4 5 6 NaN 8 9 10 1 1 1 5\n",
    "a.jpg 1 2 3 4 5 6 7 8 9 10",
    "b.jpg 1 2 3 4 5 6 7 8 9 10 1 2 1 3\r\n",
];

const DLIB: &[&str] = &[
    "<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset><name>x</name><images>\n\
     <image file='a.jpg'>\n<box top='1' left='2' width='3' height='4'>\n\
     <part name='00' x='1' y='2'/><part name='01' x='3' y='4'/><part name='02' x='5' y='6'/>\
     <part name='03' x='7' y='8'/><part name='04' x='9' y='10'/>\n</box>\n\
     <box top='1' left='2' width='3' height='4' ignore='1'/>\n</image>\n</images></dataset>\n",
];

const COCO: &[&str] = &[
    r#"{"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b/c.jpg"}],
 "annotations": [
  {"image_id": 1, "keypoints": [0, 1, 2, 1, 2, 1, 2, 3, 0, 3, 4, 2, 4, 5, 1], "bbox": [0, 0, 5, 6]},
  {"image_id": 2, "keypoints": [0, 1, 1, 1, 2, 1, 2, 3, 1, 3, 4, 1, 4, 5, 1]}]}"#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn pts_never_panics(bytes in input(PTS)) {
        if let Ok(points) = super::pts::parse_pts_bytes(&bytes, Path::new("fuzz.pts")) {
            prop_assert!(plausible(&points), "{points:?}");
        }
    }

    #[test]
    fn mtfl_never_panics(bytes in input(MTFL)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(parsed) = super::mtfl::parse_mtfl_list(&text, Path::new("fuzz.txt"), Path::new("/i")) {
            let samples: Vec<Sample> = parsed.into_iter().map(|(s, _)| s).collect();
            prop_assert!(samples.iter().all(|s| s.landmarks.len() == 5));
            check_samples(&samples)?;
        }
    }

    #[test]
    fn dlib_never_panics(bytes in input(DLIB)) {
        let text = super::dlib::decode_text(bytes);
        if let Ok(parsed) = super::dlib::parse_dlib_xml(&text, Path::new("fuzz.xml"), Path::new("/i")) {
            let samples: Vec<Sample> = parsed.into_iter().map(|(s, _)| s).collect();
            check_samples(&samples)?;
        }
    }

    #[test]
    fn coco_never_panics(bytes in input(COCO)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok((_, samples)) = super::coco::parse_coco_json(&text, Path::new("fuzz.json"), Path::new("/i")) {
            check_samples(&samples)?;
        }
    }

    #[test]
    fn coco_json_edits_never_panic(text in coco_json_input()) {
        if let Ok((_, samples)) = super::coco::parse_coco_json(&text, Path::new("fuzz.json"), Path::new("/i")) {
            check_samples(&samples)?;
        }
    }
}

#[test]
fn seeds_parse() {
    // The seeds are valid files, so the mutations start from the interesting paths.
    for s in PTS {
        super::pts::parse_pts(s, Path::new("seed.pts")).expect("pts seed");
    }
    for s in MTFL {
        super::mtfl::parse_mtfl_list(s, Path::new("seed.txt"), Path::new("/i")).expect("mtfl seed");
    }
    for s in DLIB {
        let n = super::dlib::parse_dlib_xml(s, Path::new("seed.xml"), Path::new("/i"))
            .expect("dlib seed")
            .len();
        assert_eq!(n, 1);
    }
    for s in COCO {
        let (_, samples) = super::coco::parse_coco_json(s, Path::new("seed.json"), Path::new("/i"))
            .expect("coco seed");
        assert_eq!(samples.len(), 2);
    }
}
