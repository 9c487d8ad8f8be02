"""Converts deepbrain's brain-extraction network (PyPI deepbrain 0.1, MIT,
https://github.com/iitzco/deepbrain) from its TensorFlow frozen graph to
ONNX, and shows that ONNX Runtime gives the same output as TensorFlow.

Reproduce (Python 3.11, registries only):
    python3 -m venv /tmp/venv-deepbrain
    /tmp/venv-deepbrain/bin/pip install -r models/deepbrain/requirements.txt
    /tmp/venv-deepbrain/bin/pip download --no-deps deepbrain==0.1 -d /tmp/deepbrain-wheel
    /tmp/venv-deepbrain/bin/python models/deepbrain/convert.py /tmp/deepbrain-wheel/deepbrain-0.1-py3-none-any.whl

What it does: the frozen graph takes its image from a tf.data iterator and
has dropout switched by a `training` placeholder. The graph is re-imported
with a plain float input `image` of shape [1, 128, 128, 128, 1] (NDHWC) and
`training` fixed to False, pruned to the `prob` output (a sigmoid brain
probability), and converted with tf2onnx (opset 17). The ONNX graph holds
only Conv, ConvTranspose, MaxPool, Relu, Concat, Reshape and Sigmoid.
"""
import hashlib
import sys
import zipfile

import numpy as np
import onnxruntime
import tensorflow as tf
import tf2onnx

OUT = "model.onnx"


def main(wheel):
    with zipfile.ZipFile(wheel) as z:
        pb = z.read("deepbrain/models/graph.pb")
    print("graph.pb sha256", hashlib.sha256(pb).hexdigest())
    tf.compat.v1.disable_eager_execution()
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(pb)
    g = tf.Graph()
    with g.as_default():
        img = tf.compat.v1.placeholder(tf.float32, [1, 128, 128, 128, 1], name="image")
        (prob,) = tf.import_graph_def(
            gd,
            input_map={"img:0": img, "training:0": tf.constant(False)},
            return_elements=["prob:0"],
            name="deepbrain",
        )
        tf.identity(prob, name="probability")
    pruned = tf.compat.v1.graph_util.extract_sub_graph(g.as_graph_def(), ["probability"])
    model, _ = tf2onnx.convert.from_graph_def(
        pruned,
        input_names=["image:0"],
        output_names=["probability:0"],
        opset=17,
        output_path=OUT,
    )
    print("ops:", sorted({n.op_type for n in model.graph.node}))
    print(OUT, "sha256", hashlib.sha256(open(OUT, "rb").read()).hexdigest())

    # Same input through TensorFlow and ONNX Runtime: a head-like phantom
    # (bright ellipsoid shell around a mid-grey ellipsoid) and noise.
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[0:128, 0:128, 0:128].astype(np.float32)
    r = ((x - 64) / 50) ** 2 + ((y - 64) / 58) ** 2 + ((z - 60) / 48) ** 2
    phantom = np.where(r < 0.8, 0.55, np.where(r < 1.0, 0.95, 0.02)).astype(np.float32)
    inputs = [phantom, rng.random((128, 128, 128), dtype=np.float32)]
    sess = onnxruntime.InferenceSession(OUT, providers=["CPUExecutionProvider"])
    with tf.compat.v1.Session(graph=g) as tfs:
        for name, a in zip(["phantom", "noise"], inputs):
            feed = a.reshape(1, 128, 128, 128, 1)
            p_tf = tfs.run("probability:0", {"image:0": feed})
            p_ort = sess.run(None, {"image:0": feed})[0]
            diff = np.abs(p_tf - p_ort).max()
            agree = ((p_tf > 0.5) == (p_ort > 0.5)).mean()
            print(f"{name}: max |TF - ONNX| = {diff:.2e}, mask agreement {agree:.6f}, "
                  f"TF mask voxels {(p_tf > 0.5).sum()}")
            assert diff < 1e-4, "ONNX output differs from TensorFlow"


if __name__ == "__main__":
    main(sys.argv[1])
