"""Writes tiny_conv3d.onnx, the test model of the sliding-window tests.

Not anatomy AI: one 3x3x3 convolution (1 -> 2 channels, zero padding) with
fixed weights, so its output at a voxel depends only on the 27 voxels around
it. Channel 0 ("background") is 0.5 - local mean, channel 1 is
local mean - 0.5 + 0.25 * (centre - local mean): after softmax, channel 1
wins where the neighbourhood is brighter than 0.5. Spatial dimensions are
dynamic, so the same model runs on one patch or on a whole volume.

tiny_valid_conv3d.onnx is the same convolution without padding: its output
is 2 voxels smaller than its input along each axis (a U-Net with valid
convolutions in miniature), for the tests of an output window centred in
the input window.

    pip install onnx==1.16.2 numpy==1.26.4
    python3 make_tiny_model.py
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

mean = np.full((3, 3, 3), 1 / 27, np.float32)
centre = np.zeros((3, 3, 3), np.float32)
centre[1, 1, 1] = 1
w = np.stack([-mean, mean + 0.25 * (centre - mean)])[:, None]  # (2, 1, 3, 3, 3)
b = np.array([0.5, -0.5], np.float32)

for name, pad, out in [("tiny_conv3d", 1, ["d", "h", "w"]), ("tiny_valid_conv3d", 0, ["do", "ho", "wo"])]:
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["logits"], pads=[pad] * 6, kernel_shape=[3, 3, 3])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "d", "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2, *out])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="stratum tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, f"{name}.onnx")
    print(f"wrote {name}.onnx")
