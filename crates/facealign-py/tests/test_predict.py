"""The facealign Python package against the CLI (`facealign predict --json`).

Run by `crates/facealign-py/test.sh`, which builds and installs the wheel first. The reference is
the CLI binary `target/release/facealign` when it exists (run here, same defaults: adult68,
ultraface-rfb then yunet-320, refine 1, 1 thread), else the committed `golden/cli_predict.json` that test.sh
wrote with that binary (see `golden/README.md` for the command).
"""

import json
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import facealign

REPO = Path(os.environ.get("FACEALIGN_REPO", Path(__file__).resolve().parents[3]))
FIXTURES = REPO / ".." / "shared" / "data" / "fixtures" / "dlib"
PHOTOS = [FIXTURES / "2008_001322.jpg", FIXTURES / "2009_004587.jpg"]
CLI = Path(os.environ.get("FACEALIGN_CLI", REPO / "target" / "release" / "facealign"))
GOLDEN = Path(__file__).parent / "golden" / "cli_predict.json"
TOL = 1e-3


def write_ppm(path: Path, rgb: np.ndarray) -> None:
    """A binary PPM (P6) of an H x W x 3 uint8 array."""
    h, w, _ = rgb.shape
    path.write_bytes(b"P6\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(rgb).tobytes())


@pytest.fixture(scope="session")
def predictor() -> facealign.Predictor:
    return facealign.Predictor()


@pytest.fixture(scope="session")
def cli_output(tmp_path_factory) -> dict:
    """`facealign predict PHOTOS --json`, by image file name."""
    if CLI.is_file():
        out = tmp_path_factory.mktemp("cli") / "predict.json"
        subprocess.run(
            [str(CLI), "predict", *map(str, PHOTOS), "--json", str(out)],
            check=True,
            capture_output=True,
        )
        doc = json.loads(out.read_text())
    else:
        doc = json.loads(GOLDEN.read_text())
    return {Path(r["image"]).name: r for r in doc["images"]} | {"_doc": doc}


def assert_faces_match(faces, expected, tol=TOL):
    assert len(faces) == len(expected), f"{len(faces)} faces vs {len(expected)}"
    for f, e in zip(faces, expected):
        assert f.detector == e.get("detector")
        np.testing.assert_allclose(f.box, e["box"], atol=tol, rtol=0)
        assert f.score == pytest.approx(e["score"], abs=1e-5)
        lm = f.landmarks
        assert lm.dtype == np.float32 and lm.shape == (len(e["landmarks"]), 2)
        np.testing.assert_allclose(lm, np.asarray(e["landmarks"], dtype=np.float32), atol=tol, rtol=0)


def test_defaults_are_the_cli_defaults(predictor, cli_output):
    doc = cli_output["_doc"]
    assert predictor.model_name == doc["model"] == "adult68-heatmap-lite"
    assert predictor.scheme == doc["scheme"] == "ibug68"
    assert predictor.detector == doc["detector"] == "ultraface-rfb,yunet-320"
    assert predictor.n_points == 68
    assert predictor.refine == 1 and not predictor.flip_average and predictor.threads == 1
    # As the CLI: the default model refines with its shipped refine model (a cascade).
    assert predictor.refine_model == "adult68-refine"
    assert not predictor.search_turned
    assert Path(predictor.model_path).parent.name == "models"
    assert "adult68-heatmap-lite" in repr(predictor)


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_path_prediction_equals_cli(predictor, cli_output, photo):
    expected = cli_output[photo.name]["faces"]
    assert expected, "the fixture photo should have faces"
    assert_faces_match(predictor.predict(str(photo)), expected)
    # os.PathLike too.
    assert_faces_match(predictor.predict(photo), expected)


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_array_input_equals_path_input(predictor, cli_output, photo, tmp_path):
    expected = cli_output[photo.name]["faces"]
    rgb = facealign.load_image(photo)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (cli_output[photo.name]["height"], cli_output[photo.name]["width"], 3)
    faces_path = predictor.predict(photo)
    faces_array = predictor.predict(rgb)
    assert_faces_match(faces_array, expected)
    for a, b in zip(faces_array, faces_path):
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
    # A non-contiguous view and a Fortran-ordered copy hold the same pixels.
    assert_faces_match(predictor.predict(rgb[:, ::-1][:, ::-1]), expected)
    assert_faces_match(predictor.predict(np.asfortranarray(rgb)), expected)
    # The array written as a PPM file (decoded by another decoder) and read back by path.
    ppm = tmp_path / "x.ppm"
    write_ppm(ppm, rgb)
    np.testing.assert_array_equal(facealign.load_image(str(ppm)), rgb)
    assert_faces_match(predictor.predict(ppm), expected)
    assert repr(faces_array[0]).endswith(f"<{predictor.n_points} points>)"), "no detector named"


def test_wrong_dtype_or_shape_is_a_value_error(predictor):
    rgb = np.zeros((64, 48, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="dtype"):
        predictor.predict(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(rgb[:, :, :2])
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(rgb[:, :, 0])
    with pytest.raises(ValueError, match="empty"):
        predictor.predict(np.zeros((0, 5, 3), dtype=np.uint8))
    with pytest.raises(TypeError):
        predictor.predict(12)
    assert predictor.predict(rgb) == []


def test_paths_that_cannot_be_read(predictor, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        predictor.predict(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(OSError, match="bad.jpg"):
        predictor.predict(bad)


def test_predict_boxes(predictor, cli_output):
    photo = PHOTOS[0]
    faces = predictor.predict(photo)
    boxes = [f.box for f in faces]
    given = predictor.predict_boxes(photo, boxes)
    np.testing.assert_allclose([g.box for g in given], boxes, atol=0, rtol=0)
    assert all(g.score == 1.0 for g in given)
    for g, f in zip(given, faces):
        np.testing.assert_allclose(g.landmarks, f.landmarks, atol=TOL, rtol=0)
    # An N x 4 array, one box at a time, and no boxes.
    one = predictor.predict_boxes(str(photo), np.asarray(boxes[:1], dtype=np.float64))
    np.testing.assert_allclose(one[0].landmarks, faces[0].landmarks, atol=TOL, rtol=0)
    assert predictor.predict_boxes(photo, []) == []
    with pytest.raises(ValueError, match="boxes"):
        predictor.predict_boxes(photo, [(0, 0, -1, 5)])
    with pytest.raises(ValueError, match="boxes"):
        predictor.predict_boxes(photo, [(0, 0, 5)])
    with pytest.raises(ValueError, match="boxes"):
        predictor.predict_boxes(photo, [(0, 0, float("nan"), 5)])
    with pytest.raises(ValueError, match="w, h ≥ 1 pixel"):
        predictor.predict_boxes(photo, [(0, 0, 1e-30, 1e-30)])


def test_aflw19_model_gives_19_points():
    p = facealign.Predictor(model="aflw19")
    assert (p.scheme, p.model_name, p.n_points) == ("aflw19", "aflw19", 19)
    faces = p.predict(PHOTOS[0])
    assert faces and all(f.landmarks.shape == (19, 2) for f in faces)
    # The same model by path.
    q = facealign.Predictor(model=Path(p.model_path), refine=0)
    assert q.n_points == 19 and q.refine == 0
    # A model given by name refines with itself.
    assert p.refine_model is None and q.refine_model is None


def test_yunet_detector_is_bundled():
    p = facealign.Predictor(detector="yunet", refine=0)
    faces = p.predict(PHOTOS[1])
    assert faces and faces[0].landmarks.shape == (68, 2)


def test_yunet_searches_where_ultraface_finds_no_face():
    # An infant in profile (InfAnFace ads-19251_Still070) that UltraFace misses: the default list
    # finds it with YuNet and says so; UltraFace alone finds nothing.
    photo = REPO / ".." / "shared" / "data" / "infanface" / "train" / "ads-19251_Still070.jpg"
    faces = facealign.Predictor(model="infant68-heatmap-lite").predict(photo)
    assert [f.detector for f in faces] == ["yunet-320"]
    assert faces[0].landmarks.shape == (68, 2)
    assert repr(faces[0]).endswith("landmarks=<68 points>, detector='yunet-320')")
    only = facealign.Predictor(model="infant68-heatmap-lite", detector="ultraface-rfb")
    assert only.predict(photo) == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="no-such-model"):
        facealign.Predictor(model="no-such-model")
    with pytest.raises(FileNotFoundError):
        facealign.Predictor(model="/nowhere/m.safetensors")
    with pytest.raises(ValueError, match="unknown detector"):
        facealign.Predictor(detector="nope")
    with pytest.raises(ValueError, match="refine"):
        facealign.Predictor(refine=-1)
    with pytest.raises(ValueError, match="threads"):
        facealign.Predictor(threads=0)


def test_flip_average_implies_a_pass():
    p = facealign.Predictor(refine=0, flip_average=True)
    assert p.refine == 1 and p.flip_average


def test_predictions_from_several_python_threads(predictor, cli_output):
    """Calls from threads (the GIL is released while predicting) are served one at a time."""
    photo = PHOTOS[1]
    results = [None] * 3

    def run(i):
        results[i] = predictor.predict(photo)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert_faces_match(r, cli_output[photo.name]["faces"])


def test_search_turned_equals_cli(tmp_path):
    # A fixture photo turned 90° clockwise: the Python predictor with search_turned gives the
    # CLI's `predict --search-turned` faces, and the faces of the upright photo, turned.
    rgb = facealign.load_image(PHOTOS[1])
    turned = np.ascontiguousarray(np.rot90(rgb, k=-1))
    p = facealign.Predictor(search_turned=True)
    assert p.search_turned
    faces = p.predict(turned)
    upright = p.predict(rgb)
    assert len(faces) == len(upright) >= 1
    h = rgb.shape[0]
    for f, u in zip(faces, upright):
        # Photo pixel (x, y) is at (h - 1 - y, x) in the clockwise turn.
        want = np.stack([h - 1 - u.landmarks[:, 1], u.landmarks[:, 0]], axis=1)
        np.testing.assert_allclose(f.landmarks, want, atol=TOL, rtol=0)
    if CLI.is_file():
        ppm = tmp_path / "turned.ppm"
        write_ppm(ppm, turned)
        out = tmp_path / "turned.json"
        subprocess.run(
            [str(CLI), "predict", str(ppm), "--search-turned", "--json", str(out)],
            check=True,
            capture_output=True,
        )
        assert_faces_match(faces, json.loads(out.read_text())["images"][0]["faces"])
