"""MoodLens training: FER-2013 emotion classifiers (mini-Xception and dense_xception) in PyTorch, shipped as ONNX.

Everything users run at inference time lives in the TypeScript package; this package only trains, evaluates and
exports models. Class order is the FER-2013 one everywhere (see ``LABELS``).
"""

__version__ = "0.1.0"

#: FER-2013 class order: index i of the model's logits is LABELS[i].
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Side of the square gray face the models take.
INPUT_SIZE = 48

#: Preprocessing applied to every face before scaling, in this order (also written into the ONNX metadata).
PREPROCESSING = "gray,equalize_hist,resize48"

#: Pixel scalings: v1 maps 0..255 to [0, 1], v2 to [-1, 1] (the scalings of oarriaga's face_classification).
SCALINGS = ("v1", "v2")
