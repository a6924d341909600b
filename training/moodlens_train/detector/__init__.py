"""A small learned face detector (issue 21): YuNet/BlazeFace-like, anchor-free, strides 8/16/32, each output
cell gives a face score, a box (distances to its four sides) and 5 keypoints. Trained here, run as ONNX."""
