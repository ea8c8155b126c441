"""facealign: face landmarks on photos, in pure Rust (no PyTorch).

A face detector finds the faces, then a landmark model predicts each face's points on a crop
calibrated to the detector's boxes, refined along the predicted eye line. The shipped models and
detectors are bundled in the package; nothing is downloaded.

Example::

    import facealign

    p = facealign.Predictor()                 # the shipped 68-point model, UltraFace then YuNet
    for face in p.predict("photo.jpg"):       # or an H x W x 3 uint8 RGB NumPy array
        print(face.box, face.score, face.landmarks.shape)   # landmarks: N x 2 float32, image px

    p19 = facealign.Predictor(model="aflw19")  # a shipped model by name, or a .safetensors path
    faces = p19.predict_boxes(image, [(x, y, w, h)])
"""

from ._facealign import Face, Predictor, __version__, load_image

__all__ = ["Face", "Predictor", "load_image", "__version__"]
