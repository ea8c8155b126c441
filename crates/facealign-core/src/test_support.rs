//! Helpers shared by the unit tests.
use std::path::PathBuf;

/// A path under the shared data folder: `$FACEALIGN_SHARED/rel` when that variable is set (worktrees
/// outside the repository's usual place), else `<repo>/../shared/rel`.
pub(crate) fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("FACEALIGN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    root.join(rel)
}

/// A committed fixture of this crate: `tests/fixtures/rel`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(rel)
}

/// The faces of an mmpose COCO-style fixture under `data/fixtures/mmpose/`: (image width,
/// keypoints) per annotation.
pub(crate) fn mmpose_faces(rel: &str) -> Vec<(f32, Vec<crate::sample::Point>)> {
    let path = shared(&format!("data/fixtures/mmpose/{rel}"));
    let text = std::fs::read_to_string(&path).expect("the shared mmpose fixture should exist");
    let v: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON should parse");
    let images = v["images"].as_array().expect("images array");
    let mut out = Vec::new();
    for a in v["annotations"].as_array().expect("annotations array") {
        let img = images
            .iter()
            .find(|i| i["id"] == a["image_id"])
            .expect("image of annotation");
        let w = img["width"].as_f64().expect("width") as f32;
        let k: Vec<f32> = a["keypoints"]
            .as_array()
            .expect("kp")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect();
        out.push((w, k.chunks(3).map(|c| [c[0], c[1]]).collect()));
    }
    out
}
