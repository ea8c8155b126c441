//! The native module of the `facealign` Python package (`facealign._facealign`): facealign's
//! pure-Rust photo pipeline (detector → calibrated crop → landmarks, on tract; no libtorch) behind
//! a small Python API. `python/facealign/__init__.py` re-exports it; `__init__.pyi` types it.
//!
//! A [`facealign_infer::Predictor`] holds its network and detector as plain trait objects, which
//! are not `Send`; it therefore lives on a thread of its own, built there and fed requests over a
//! channel. A call hands its image to that thread and waits with the GIL released, so other Python
//! threads run meanwhile; calls on one predictor are served one at a time, in order.
//!
//! Errors become Python exceptions carrying the Rust message: `ValueError` for bad arguments
//! (array shape or dtype, box values, unknown model or detector names, thread counts),
//! `FileNotFoundError` / `OSError` for files, `RuntimeError` for the rest. A panic in the pipeline
//! (a bug) is caught on the predictor's thread and raised as `RuntimeError`.
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use facealign_core::{BoxXywh, SchemeId};
use facealign_infer::model_file::{default_model_in, default_refine_model_in};
use facealign_infer::{Face as RustFace, ModelFile, Predictor as RustPredictor, Refine};
use facealign_infer::{TractNet, TractOptions};
use numpy::{PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Folder of the package's shipped models, relative to the package.
const MODELS_SUBDIR: &str = "models";
/// Folder of the detector models, relative to the models folder.
const DETECTORS_SUBDIR: &str = "detectors";

/// What can go wrong, before it becomes a Python exception.
#[derive(Debug)]
enum Failure {
    /// From the inference crate.
    Infer(facealign_infer::Error),
    /// A file that cannot be read (→ `FileNotFoundError` / `OSError`).
    Io(PathBuf, std::io::Error),
    /// Anything else (→ `RuntimeError`).
    Runtime(String),
}

impl From<facealign_infer::Error> for Failure {
    fn from(e: facealign_infer::Error) -> Self {
        Failure::Infer(e)
    }
}

impl From<facealign_core::Error> for Failure {
    fn from(e: facealign_core::Error) -> Self {
        Failure::Infer(e.into())
    }
}

/// `FileNotFoundError` for a missing file, else `OSError`, with `message`.
fn os_error(kind: std::io::ErrorKind, message: String) -> PyErr {
    if kind == std::io::ErrorKind::NotFound {
        PyFileNotFoundError::new_err(message)
    } else {
        PyOSError::new_err(message)
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        use facealign_core::Error as Core;
        use facealign_infer::Error as Infer;
        match f {
            Failure::Runtime(m) => PyRuntimeError::new_err(m),
            Failure::Io(path, e) => os_error(e.kind(), format!("{}: {e}", path.display())),
            Failure::Infer(e) => {
                let message = e.to_string();
                match &e {
                    Infer::Core(Core::Io { source, .. }) => os_error(source.kind(), message),
                    Infer::Core(Core::Image { .. }) => PyOSError::new_err(message),
                    Infer::Core(Core::Invalid { .. }) => PyValueError::new_err(message),
                    _ => PyRuntimeError::new_err(message),
                }
            }
        }
    }
}

type Reply = Result<Vec<RustFace>, Failure>;

/// One request to a predictor's thread.
struct Request {
    image: image::RgbImage,
    /// Given boxes (image_px), or None to detect faces.
    boxes: Option<Vec<BoxXywh>>,
    reply: mpsc::Sender<Reply>,
}

/// Everything a predictor's thread needs to build its [`RustPredictor`].
struct Setup {
    model_path: PathBuf,
    detector: String,
    detector_dir: PathBuf,
    refine: Refine,
    /// The refine model of a cascade (the shipped default's, behind the default model).
    refine_model: Option<PathBuf>,
    search_turned: bool,
    threads: usize,
}

/// What the Python object reports about its predictor.
struct Info {
    model_name: String,
    scheme: &'static str,
    n_points: usize,
    calibrated: bool,
    /// The refine model's name, when a second model runs the refinement passes.
    refine_model: Option<String>,
}

/// Build the predictor on its own thread; return the request channel once it is ready.
fn spawn_predictor(setup: Setup) -> Result<(mpsc::Sender<Request>, Info), Failure> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Info, Failure>>();
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("facealign-predictor".into())
        .spawn(move || {
            let built = std::panic::catch_unwind(AssertUnwindSafe(|| build(&setup)))
                .unwrap_or_else(|payload| Err(panicked(&*payload)));
            let mut p = match built {
                Ok(p) => {
                    let info = Info {
                        model_name: p.model.name.clone(),
                        scheme: p.model.scheme.name(),
                        n_points: p.model.scheme.n_points(),
                        calibrated: p.calibrated(),
                        refine_model: p.refiner().map(|r| r.model.name.clone()),
                    };
                    if ready_tx.send(Ok(info)).is_err() {
                        return;
                    }
                    p
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            // Ends when the Python object (the only sender) is dropped.
            for req in rx {
                let out = std::panic::catch_unwind(AssertUnwindSafe(|| serve(&mut p, &req)))
                    .unwrap_or_else(|payload| Err(panicked(&*payload)));
                let _ = req.reply.send(out);
            }
        })
        .map_err(|e| Failure::Runtime(format!("cannot start the predictor thread: {e}")))?;
    let info = ready_rx
        .recv()
        .map_err(|_| Failure::Runtime("the predictor thread stopped while starting".into()))??;
    Ok((tx, info))
}

/// A caught panic as a `RuntimeError`.
fn panicked(payload: &(dyn std::any::Any + Send)) -> Failure {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Failure::Runtime(format!("facealign bug (panic): {what}"))
}

fn build(s: &Setup) -> Result<RustPredictor, Failure> {
    // The network loads on a second thread while the detector's is built (start-up).
    let open = |path: &Path| -> Result<(ModelFile, Box<dyn facealign_infer::CropNet>), Failure> {
        let (model, net) = TractNet::open(path, TractOptions::with_threads(s.threads))?;
        Ok((model, Box::new(net)))
    };
    let load = || open(&s.model_path);
    let mut p = RustPredictor::load_parallel(load, &s.detector, |_| s.detector_dir.clone(), false)?;
    p.refine = s.refine;
    if let Some(path) = &s.refine_model {
        let (model, net) = open(path)?;
        p.set_refiner(model, net)?;
    }
    p.search_turned = s.search_turned;
    if p.refine.passes > 0 {
        // As `facealign predict`: a face whose re-crop barely moves skips its refinement pass.
        p.refine.still_px = Refine::photo_still_px(p.model.crop.size);
    }
    Ok(p)
}

fn serve(p: &mut RustPredictor, req: &Request) -> Reply {
    match &req.boxes {
        None => Ok(p.predict(&req.image)?),
        Some(boxes) => {
            let lms = p.landmarks_for_boxes(&req.image, boxes)?;
            Ok(boxes
                .iter()
                .zip(lms)
                .map(|(b, l)| RustFace {
                    bbox: *b,
                    score: 1.0,
                    landmarks: l,
                    detector: None,
                })
                .collect())
        }
    }
}

/// An image argument: pixels copied out of a NumPy array, or a file to decode.
enum ImageArg {
    Pixels(image::RgbImage),
    File(PathBuf),
}

impl ImageArg {
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<ImageArg> {
        if let Ok(arr) = obj.cast::<PyUntypedArray>() {
            return rgb_from_array(arr).map(ImageArg::Pixels);
        }
        if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
            return Ok(ImageArg::File(obj.extract()?));
        }
        Err(PyTypeError::new_err(format!(
            "image: expected a NumPy H×W×3 uint8 RGB array or a path (str or os.PathLike), got {}",
            obj.get_type().name()?
        )))
    }

    /// The pixels (decoding a file; called without the GIL).
    fn load(self) -> Result<image::RgbImage, Failure> {
        match self {
            ImageArg::Pixels(img) => Ok(img),
            ImageArg::File(path) => {
                let bytes = std::fs::read(&path).map_err(|e| Failure::Io(path.clone(), e))?;
                // Upright, as `facealign predict` decodes photos (EXIF orientation applied).
                Ok(facealign_core::imageio::decode_rgb_upright_bytes(&bytes, &path)?.0)
            }
        }
    }
}

/// Copy an H×W×3 uint8 array (any strides) into an image, refusing any other shape or dtype.
fn rgb_from_array(arr: &Bound<'_, PyUntypedArray>) -> PyResult<image::RgbImage> {
    let shape = arr.shape().to_vec();
    if shape.len() != 3 || shape[2] != 3 {
        return Err(PyValueError::new_err(format!(
            "image: expected an H×W×3 RGB array, got shape {shape:?}"
        )));
    }
    let dtype = arr.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<u8>(arr.py())) {
        return Err(PyValueError::new_err(format!(
            "image: expected dtype uint8 (RGB 0-255), got dtype {dtype}"
        )));
    }
    if shape[0] == 0 || shape[1] == 0 {
        return Err(PyValueError::new_err(format!(
            "image: the array is empty (shape {shape:?})"
        )));
    }
    let (h, w) = (
        u32::try_from(shape[0]).map_err(|_| PyValueError::new_err("image: too tall"))?,
        u32::try_from(shape[1]).map_err(|_| PyValueError::new_err("image: too wide"))?,
    );
    let typed = arr
        .cast::<numpy::PyArray3<u8>>()
        .map_err(|e| PyValueError::new_err(format!("image: {e}")))?;
    let ro = typed.try_readonly()?;
    let view = ro.as_array();
    let buf: Vec<u8> = match view.as_slice() {
        Some(s) => s.to_vec(),
        None => view.iter().copied().collect(),
    };
    image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| PyValueError::new_err(format!("image: shape {shape:?} does not add up")))
}

/// Face boxes from a sequence of `(x, y, w, h)` (or an N×4 array), checked.
fn boxes_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Vec<BoxXywh>> {
    let rows: Vec<Vec<f64>> = obj.extract().map_err(|_| {
        PyValueError::new_err(
            "boxes: expected a sequence of (x, y, w, h) boxes in image pixels, or an N×4 array",
        )
    })?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            BoxXywh::from_user(r)
                .map_err(|rule| PyValueError::new_err(format!("boxes[{i}] = {r:?}: {rule}")))
        })
        .collect()
}

/// The package's `models` folder (next to `facealign/__init__.py`).
fn package_models_dir(py: Python<'_>) -> PyResult<PathBuf> {
    let file: PathBuf = py.import("facealign")?.getattr("__file__")?.extract()?;
    Ok(file
        .parent()
        .map(|d| d.join(MODELS_SUBDIR))
        .unwrap_or_else(|| PathBuf::from(MODELS_SUBDIR)))
}

/// The `.safetensors` names shipped in `models_dir`, sorted.
fn shipped_names(models_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(models_dir)
        .map(|rd| {
            rd.filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "safetensors")
                    .then(|| p.file_stem()?.to_str().map(str::to_string))?
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Resolve the `model` argument: None (the shipped 68-point default), a shipped name, a
/// `.safetensors` file, or a run folder (its `best.safetensors`, else `last.safetensors`).
fn resolve_model(model: Option<&Bound<'_, PyAny>>, models_dir: &Path) -> PyResult<PathBuf> {
    let Some(obj) = model else {
        return default_model_in(models_dir, SchemeId::Ibug68)
            .map_err(|e| Failure::Infer(e).into());
    };
    let is_path = !obj.is_instance_of::<PyString>();
    let path: PathBuf = obj.extract().map_err(|_| {
        PyTypeError::new_err("model: expected None, a shipped model name or a path")
    })?;
    let text = path.to_string_lossy().into_owned();
    let looks_like_name = !is_path
        && !text.is_empty()
        && !text.contains(['/', '\\'])
        && !text.ends_with(".safetensors")
        && !path.exists();
    if looks_like_name {
        let shipped = models_dir.join(format!("{text}.safetensors"));
        if shipped.is_file() {
            return Ok(shipped);
        }
        return Err(PyValueError::new_err(format!(
            "model `{text}`: not a shipped model (shipped: {}) nor an existing file",
            shipped_names(models_dir).join(", ")
        )));
    }
    if path.is_dir() {
        for f in ["best.safetensors", "last.safetensors"] {
            if path.join(f).is_file() {
                return Ok(path.join(f));
            }
        }
        return Err(PyFileNotFoundError::new_err(format!(
            "{}: a folder without best.safetensors or last.safetensors",
            path.display()
        )));
    }
    if !path.is_file() {
        return Err(PyFileNotFoundError::new_err(format!(
            "{}: no such model file",
            path.display()
        )));
    }
    Ok(path)
}

/// One face found in an image.
///
/// Attributes:
///     box: the face box ``(x, y, w, h)`` in image pixels (the detector's, or the given box).
///     score: the detector's confidence (1.0 for a given box).
///     landmarks: an N×2 float32 array of ``(x, y)`` in image pixels (0-based, pixel centres at
///         integers), in the order of the model's landmark scheme.
///     detector: the detector of a list that found the face when it was not the first (e.g.
///         ``"yunet-320"``: its box is then in the first detector's terms, its score its own), else
///         ``None``.
#[pyclass(module = "facealign", frozen)]
struct Face {
    bbox: [f32; 4],
    score: f32,
    landmarks: Py<PyArray2<f32>>,
    detector: Option<String>,
}

#[pymethods]
impl Face {
    /// The face box ``(x, y, w, h)`` in image pixels.
    #[getter]
    #[pyo3(name = "box")]
    fn get_box(&self) -> (f32, f32, f32, f32) {
        let [x, y, w, h] = self.bbox;
        (x, y, w, h)
    }

    /// The detector's confidence (1.0 for a given box).
    #[getter]
    fn score(&self) -> f32 {
        self.score
    }

    /// The landmarks: an N×2 float32 array of ``(x, y)`` in image pixels.
    #[getter]
    fn landmarks(&self, py: Python<'_>) -> Py<PyArray2<f32>> {
        self.landmarks.clone_ref(py)
    }

    /// The detector of a list that found this face when it was not the first (e.g. ``"yunet-320"``
    /// where UltraFace found no face), else ``None``.
    #[getter]
    fn detector(&self) -> Option<String> {
        self.detector.clone()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let [x, y, w, h] = self.bbox;
        let by = match &self.detector {
            Some(d) => format!(", detector='{d}'"),
            None => String::new(),
        };
        format!(
            "Face(box=({x:.1}, {y:.1}, {w:.1}, {h:.1}), score={:.3}, landmarks=<{} points>{by})",
            self.score,
            self.landmarks.bind(py).shape()[0]
        )
    }
}

impl Face {
    fn from_rust(py: Python<'_>, f: RustFace) -> PyResult<Face> {
        let n = f.landmarks.len();
        let flat: Vec<f32> = f.landmarks.into_iter().flatten().collect();
        let arr = numpy::PyArray1::from_vec(py, flat).reshape([n, 2])?;
        Ok(Face {
            bbox: f.bbox.to_array(),
            score: f.score,
            landmarks: arr.unbind(),
            detector: f.detector,
        })
    }
}

/// Face landmarks on photos: a face detector, then the landmark model on each face's crop.
///
/// Args:
///     model: ``None`` for the shipped 68-point default, the name of a shipped model
///         (e.g. ``"aflw19"``), or a path to a ``.safetensors`` model file (or a training run
///         folder).
///     detector: the face detector, ``"ultraface-rfb"``, ``"yunet"`` (640-px input) or
///         ``"yunet-320"`` (all shipped), or a list searching with each only where the ones before
///         found no face; the default ``"ultraface-rfb,yunet-320"`` (as ``facealign predict``)
///         lets YuNet search where UltraFace finds none (profiles, occluded faces).
///     refine: refinement passes after the first prediction (re-crop along the predicted eye
///         line, predict again); 1 as in ``facealign predict``, 0 = off. As there, a face whose
///         re-crop would move no crop corner by an eighth of the crop skips its pass.
///     flip_average: average each refinement pass with the prediction on the mirrored crop
///         (implies at least one pass).
///     search_turned: also search the image turned by 90°, 180° and 270° and place each face's
///         landmarks in the view it was found in (faces lying on their side; four times the
///         detector's work), as ``facealign predict --search-turned``.
///     threads: threads per network run (1 or 2).
///     models_dir: a folder of models laid out like the package's (``defaults.toml``,
///         ``*.safetensors``, ``detectors/``); default: the models shipped in the package.
///
/// Raises:
///     ValueError: an unknown model name or detector, or an out-of-range argument.
///     FileNotFoundError: a model path or detector file that does not exist.
///     RuntimeError: a model file that cannot be used.
#[pyclass(module = "facealign", frozen)]
struct Predictor {
    requests: mpsc::Sender<Request>,
    info: Info,
    model_path: PathBuf,
    detector: String,
    refine: Refine,
    search_turned: bool,
    threads: usize,
}

#[pymethods]
impl Predictor {
    #[new]
    #[pyo3(signature = (model=None, detector="ultraface-rfb,yunet-320", refine=1, flip_average=false, threads=1, *, models_dir=None, search_turned=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: Option<&Bound<'_, PyAny>>,
        detector: &str,
        refine: i64,
        flip_average: bool,
        threads: i64,
        models_dir: Option<PathBuf>,
        search_turned: bool,
    ) -> PyResult<Predictor> {
        let passes = u32::try_from(refine)
            .ok()
            .filter(|r| *r <= 16)
            .ok_or_else(|| PyValueError::new_err(format!("refine = {refine}: expected 0..=16")))?;
        let threads = usize::try_from(threads)
            .ok()
            .filter(|t| *t >= 1)
            .ok_or_else(|| {
                PyValueError::new_err(format!("threads = {threads}: expected at least 1"))
            })?;
        let models_dir = match models_dir {
            Some(d) => d,
            None => package_models_dir(py)?,
        };
        let default_model = model.is_none();
        let model_path = resolve_model(model, &models_dir)?;
        // As `facealign predict`: mirrored averaging happens in refinement passes.
        let refine = Refine {
            passes: passes.max(u32::from(flip_average)),
            flip: flip_average,
            still_px: 0.0,
        };
        // As `facealign predict`: the default model refines with its shipped refine model.
        let refine_model = if default_model && refine.passes > 0 {
            default_refine_model_in(&models_dir, SchemeId::Ibug68).map_err(Failure::Infer)?
        } else {
            None
        };
        let setup = Setup {
            model_path: model_path.clone(),
            detector: detector.to_string(),
            detector_dir: models_dir.join(DETECTORS_SUBDIR),
            refine,
            refine_model,
            search_turned,
            threads,
        };
        let (requests, info) = py.detach(move || spawn_predictor(setup))?;
        Ok(Predictor {
            requests,
            info,
            model_path,
            detector: detector.to_string(),
            refine,
            search_turned,
            threads,
        })
    }

    /// Detect the faces in an image and predict their landmarks.
    ///
    /// Args:
    ///     image: an H×W×3 uint8 RGB NumPy array, or the path of an image file (JPEG, PNG, WebP,
    ///         TIFF, BMP, PNM; str or os.PathLike).
    ///
    /// Returns:
    ///     A list of Face, most confident first (empty when no face is found).
    ///
    /// Raises:
    ///     ValueError: an array of another shape or dtype.
    ///     FileNotFoundError, OSError: a path that cannot be read or decoded.
    fn predict(&self, py: Python<'_>, image: &Bound<'_, PyAny>) -> PyResult<Vec<Face>> {
        let arg = ImageArg::from_py(image)?;
        self.run(py, arg, None)
    }

    /// Predict landmarks for given face boxes (no detection).
    ///
    /// Args:
    ///     image: as for ``predict``.
    ///     boxes: face boxes ``(x, y, w, h)`` in image pixels: a sequence of 4-tuples or an N×4
    ///         array (boxes like the detector's; the model's calibration for this predictor's
    ///         detector is applied to them, as in ``facealign predict --box``).
    ///
    /// Returns:
    ///     A list of Face, one per box in the given order, with ``score`` 1.0.
    ///
    /// Raises:
    ///     ValueError: a bad array or a box that is not four finite numbers with w, h ≥ 1 pixel.
    ///     FileNotFoundError, OSError: a path that cannot be read or decoded.
    fn predict_boxes(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        boxes: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Face>> {
        let arg = ImageArg::from_py(image)?;
        let boxes = boxes_from_py(boxes)?;
        self.run(py, arg, Some(boxes))
    }

    /// The landmark scheme of the model (``"ibug68"``, ``"aflw19"``, ``"five"``, ...).
    #[getter]
    fn scheme(&self) -> &str {
        self.info.scheme
    }

    /// The model's name (its file stem, e.g. ``"adult68"``).
    #[getter]
    fn model_name(&self) -> &str {
        &self.info.model_name
    }

    /// The model file in use.
    #[getter]
    fn model_path(&self) -> String {
        self.model_path.display().to_string()
    }

    /// Landmarks per face.
    #[getter]
    fn n_points(&self) -> usize {
        self.info.n_points
    }

    /// The face detector's name.
    #[getter]
    fn detector(&self) -> &str {
        &self.detector
    }

    /// Whether the model carries a box calibration for this detector (else boxes are used as
    /// they are).
    #[getter]
    fn calibrated(&self) -> bool {
        self.info.calibrated
    }

    /// Refinement passes after the first prediction.
    #[getter]
    fn refine(&self) -> u32 {
        self.refine.passes
    }

    /// The model that runs the refinement passes when it is not the main model (the default
    /// model's shipped refine model, `adult68-refine`), else None.
    #[getter]
    fn refine_model(&self) -> Option<&str> {
        self.info.refine_model.as_deref()
    }

    /// Whether refinement passes average with the mirrored crop.
    #[getter]
    fn flip_average(&self) -> bool {
        self.refine.flip
    }

    /// Whether faces are also searched in the image turned by 90°, 180° and 270°.
    #[getter]
    fn search_turned(&self) -> bool {
        self.search_turned
    }

    /// Threads per network run.
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    fn __repr__(&self) -> String {
        format!(
            "Predictor(model={:?}, scheme={:?}, detector={:?}, refine={}, flip_average={}, threads={})",
            self.info.model_name,
            self.info.scheme,
            self.detector,
            self.refine.passes,
            if self.refine.flip { "True" } else { "False" },
            self.threads
        )
    }
}

impl Predictor {
    /// Decode (for a path) and predict on the predictor's thread, without the GIL.
    fn run(
        &self,
        py: Python<'_>,
        arg: ImageArg,
        boxes: Option<Vec<BoxXywh>>,
    ) -> PyResult<Vec<Face>> {
        let requests = self.requests.clone();
        let faces = py.detach(move || -> Reply {
            let image = arg.load()?;
            let (reply, answer) = mpsc::channel();
            let stopped = || Failure::Runtime("the predictor thread has stopped".into());
            requests
                .send(Request {
                    image,
                    boxes,
                    reply,
                })
                .map_err(|_| stopped())?;
            answer.recv().map_err(|_| stopped())?
        })?;
        faces.into_iter().map(|f| Face::from_rust(py, f)).collect()
    }
}

/// Decode an image file to an H×W×3 uint8 RGB array, as ``Predictor.predict`` reads a path
/// (JPEG, PNG, WebP, TIFF, BMP, PNM; format from the bytes), upright: an EXIF orientation is applied.
///
/// Raises:
///     FileNotFoundError, OSError: a path that cannot be read or decoded.
#[pyfunction]
fn load_image<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, numpy::PyArray3<u8>>> {
    let img = py.detach(move || ImageArg::File(path).load())?;
    let (w, h) = img.dimensions();
    numpy::PyArray1::from_vec(py, img.into_raw()).reshape([h as usize, w as usize, 3])
}

/// facealign's native module: [`Predictor`], [`Face`] and [`load_image`].
#[pymodule]
fn _facealign(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Predictor>()?;
    m.add_class::<Face>()?;
    m.add_function(wrap_pyfunction!(load_image, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
