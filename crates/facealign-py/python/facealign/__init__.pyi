"""Type stubs of facealign (the native module ``facealign._facealign``)."""

import os
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

ImageInput = Union[npt.NDArray[np.uint8], str, "os.PathLike[str]"]
BoxXywh = Tuple[float, float, float, float]

class Face:
    """One face found in an image."""

    @property
    def box(self) -> BoxXywh:
        """The face box ``(x, y, w, h)`` in image pixels (the detector's, or the given box)."""
    @property
    def score(self) -> float:
        """The detector's confidence (1.0 for a given box)."""
    @property
    def landmarks(self) -> npt.NDArray[np.float32]:
        """N x 2 float32 array of ``(x, y)`` in image pixels (0-based, pixel centres at integers)."""
    @property
    def detector(self) -> Optional[str]:
        """The detector of a list that found the face when it was not the first (e.g. ``"yunet-320"``), else ``None``."""

class Predictor:
    """Face landmarks on photos: a face detector, then the landmark model on each face's crop.

    Args:
        model: ``None`` for the shipped 68-point default, a shipped model name (e.g.
            ``"aflw19"``), or a path to a ``.safetensors`` model file (or a training run folder).
        detector: ``"ultraface-rfb"``, ``"yunet"`` (640-px input) or ``"yunet-320"``, or a list
            searching with each only where the ones before found no face; the default
            ``"ultraface-rfb,yunet-320"`` (as ``facealign predict``) lets YuNet search where
            UltraFace finds none.
        refine: refinement passes after the first prediction (1 as in ``facealign predict``;
            as there, a face whose re-crop would barely move skips its pass).
        flip_average: average each refinement pass with the mirrored crop's prediction.
        threads: threads per network run.
        models_dir: a folder laid out like the package's ``models`` (default: the bundled one).
        search_turned: also search the image turned by 90°, 180° and 270° and place each face's
            landmarks in the view it was found in (faces on their side; four times the
            detector's work), as ``facealign predict --search-turned``.

    Raises:
        ValueError: an unknown model name or detector, or an out-of-range argument.
        FileNotFoundError: a model path or detector file that does not exist.
        RuntimeError: a model file that cannot be used.
    """

    def __init__(
        self,
        model: Union[None, str, "os.PathLike[str]"] = None,
        detector: str = "ultraface-rfb,yunet-320",
        refine: int = 1,
        flip_average: bool = False,
        threads: int = 1,
        *,
        models_dir: Union[None, str, "os.PathLike[str]"] = None,
        search_turned: bool = False,
    ) -> None: ...
    def predict(self, image: ImageInput) -> list[Face]:
        """Detect the faces in ``image`` (H x W x 3 uint8 RGB array or a path, read upright with
        its EXIF orientation applied) and predict their landmarks; most confident first. Raises ValueError for a wrong array shape or dtype,
        FileNotFoundError / OSError for a path that cannot be read or decoded."""
    def predict_boxes(
        self,
        image: ImageInput,
        boxes: Union[Sequence[Sequence[float]], npt.NDArray[np.floating]],
    ) -> list[Face]:
        """Landmarks for given boxes ``(x, y, w, h)`` in image pixels, one Face per box (score
        1.0). Raises ValueError for a bad array or box."""
    @property
    def scheme(self) -> str:
        """The model's landmark scheme (``"ibug68"``, ``"aflw19"``, ``"five"``, ...)."""
    @property
    def model_name(self) -> str:
        """The model's name (its file stem)."""
    @property
    def model_path(self) -> str:
        """The model file in use."""
    @property
    def n_points(self) -> int:
        """Landmarks per face."""
    @property
    def detector(self) -> str:
        """The face detector's name."""
    @property
    def calibrated(self) -> bool:
        """Whether the model has a box calibration for this detector."""
    @property
    def refine(self) -> int:
        """Refinement passes after the first prediction."""
    @property
    def refine_model(self) -> Optional[str]:
        """The model running the refinement passes when it is not the main model (the default
        model's refine model ``adult68-refine``), else None."""
    @property
    def flip_average(self) -> bool:
        """Whether refinement passes average with the mirrored crop."""
    @property
    def search_turned(self) -> bool:
        """Whether faces are also searched in the image turned by 90°, 180° and 270°."""
    @property
    def threads(self) -> int:
        """Threads per network run."""

def load_image(path: Union[str, "os.PathLike[str]"]) -> npt.NDArray[np.uint8]:
    """Decode an image file (JPEG, PNG, WebP, TIFF, BMP, PNM) to an H x W x 3 uint8 RGB array, as
    ``Predictor.predict`` reads a path: upright, with its EXIF orientation applied (a phone
    photo stored sideways). Raises FileNotFoundError / OSError."""

__all__ = ["Face", "Predictor", "load_image", "__version__"]
