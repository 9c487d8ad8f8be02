"""Converts pyliverlesionseg's two Keras U-Nets (PyPI pyliverlesionseg 0.3,
Apache-2.0, https://github.com/KUL-recon-lab/pyliverlesionseg) to ONNX: the
whole liver on CT/MR at 3 mm, and liver lesions inside that liver at
1 x 1 x 3 mm. Shows that ONNX Runtime gives the same output as TensorFlow (up to float32
rounding: figures in README.md).

Reproduce (Python 3.11, registries only):
    python3 -m venv /tmp/venv-liver
    /tmp/venv-liver/bin/pip install -r models/liver/requirements.txt
    /tmp/venv-liver/bin/pip download --no-deps --ignore-requires-python pyliverlesionseg==0.3 -d /tmp/liver-wheel
    /tmp/venv-liver/bin/python models/liver/convert.py /tmp/liver-wheel/pyliverlesionseg-0.3-py3-none-any.whl assets/demo/example_ct.nii.gz

What it does: the wheel ships weights only (HDF5, Keras 2.2); the network is
built by the package's own `architectures/unet_generalized.py` with the
arguments of `cnn_liver_lesion_seg_CT_MR_functions.py` (unet_liver_predict,
unet_lesion_predict), run on Keras 2.15 with three import shims for modules
Keras has since moved. The weights load by layer order, the model converts
with tf2onnx (opset 17). Input [1, D, H, W, 1] (NDHWC), axes x, y, z in RAS
order (the package flips LPS arrays to RAS before the network); the last
layer is a sigmoid, so the output is the probability.
"""
import hashlib
import os
import sys
import tempfile
import types
import zipfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import onnxruntime  # noqa: E402
import tf2onnx  # noqa: E402

# Keras 2.2 module paths the package imports from, mapped onto Keras 2.15.
for old in ["keras.layers.convolutional", "keras.layers.advanced_activations", "keras.layers.normalization"]:
    shim = types.ModuleType(old)
    shim.__dict__.update({k: getattr(keras.layers, k) for k in dir(keras.layers) if not k.startswith("_")})
    sys.modules[old] = shim

PKG = "pyliverlesionseg"
LIVER_H5 = "model_unet_ct_mr_liv_seg_resize_1.5mm_med_3_resize_3mm_20201011_dice_loss_val_binary_dice_mean.hdf5"
LESION_H5 = "model_unet_ct_mr_lesion_seg_resize_1mm_1mm_3mm_20220207_dice_loss_val_binary_dice_mean.hdf5"

# The arguments of unet_liver_predict / unet_lesion_predict, verbatim.
LIVER = dict(
    number_input_features=1,
    subsample_factors_per_pathway=[(1, 1, 1), (3, 3, 3), (9, 9, 9), (27, 27, 27)],
    kernel_sizes_per_pathway=[
        [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
        [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
        [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
        [[(3, 3, 3), (3, 3, 3)], []],
    ],
    number_features_per_pathway=[[[20, 40], [40, 20]], [[40, 80], [80, 40]], [[80, 160], [160, 80]], [[160, 160], []]],
    output_size=[163, 136, 136],
    padding="same",
    upsampling="linear",
    mask_output=False,
    l2_reg=1e-5,
)
LESION = dict(
    number_input_features=1,
    subsample_factors_per_pathway=[(1, 1, 1), (2, 2, 2), (4, 4, 4), (8, 8, 8)],
    kernel_sizes_per_pathway=[
        [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
        [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
        [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
        [[(3, 3, 1), (3, 3, 3)], []],
    ],
    number_features_per_pathway=[[[20, 40], [40, 20]], [[40, 80], [80, 40]], [[80, 160], [160, 80]], [[160, 160], []]],
    output_size=[92, 84, 42],
    padding="valid",
    upsampling="copy",
    mask_output=False,
    residual_connections=True,
    l2_reg=1e-5,
)


def phantom(shape, rng):
    """An abdomen in CT numbers normalised as the package does
    (clip(HU / 1000, -0.2, 0.2) * 2.5): fat body, a liver-like blob, noise."""
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    body = (x / 0.9) ** 2 + (y / 0.75) ** 2 < 1
    liver = ((x + 0.35) / 0.4) ** 2 + ((y - 0.1) / 0.35) ** 2 + (z / 0.5) ** 2 < 1
    hu = np.where(body, -80.0, -1000.0)
    hu = np.where(liver, 90.0, hu) + rng.normal(0, 15, shape)
    return (np.clip(hu / 1000, -0.2, 0.2) * 2.5).astype(np.float32)


def demo_ct(shape, path):
    """The demo CT (3 mm, RAS already: the model grid itself), normalised
    and placed in the middle of the input patch as the package's centre
    sampling does, zeros around it."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(path))
    a = np.clip(img.get_fdata(dtype=np.float32) / 1000, -0.2, 0.2) * 2.5
    out = np.zeros(shape, np.float32)
    src, dst = [], []
    for n, p in zip(a.shape, shape):
        s0 = max(0, n // 2 - p // 2)
        d0 = max(0, p // 2 - n // 2)
        m = min(n - s0, p - d0)
        src.append(slice(s0, s0 + m))
        dst.append(slice(d0, d0 + m))
    out[tuple(dst)] = a[tuple(src)]
    return out


def stable_means(path):
    """Rewrites every mean over the three spatial axes (GlobalAveragePool,
    ReduceMean over axes 1-3) as three means over one axis each. The
    network's instance normalisation divides by the spatial standard
    deviation, which is tiny for some channels, so the mean must be exact to
    many digits: ONNX Runtime sums millions of voxels in one float32
    accumulator (errors up to 0.35 after the first normalisation, 0.5 in the
    lesion output), one axis at a time it sums at most a few hundred. The
    mean of equal-sized means is the same number."""
    import onnx
    from onnx import helper

    m = onnx.load(path)
    nodes, count = [], 0
    for n in m.graph.node:
        axes = None
        if n.op_type == "GlobalAveragePool":
            axes = [4, 3, 2]  # NCDHW
        elif n.op_type == "ReduceMean":
            a = next((list(x.ints) for x in n.attribute if x.name == "axes"), None)
            keep = next((x.i for x in n.attribute if x.name == "keepdims"), 1)
            if a is not None and len(a) > 1 and keep == 1:
                axes = sorted(a, reverse=True)
        if axes is None:
            nodes.append(n)
            continue
        count += 1
        prev = n.input[0]
        for j, ax in enumerate(axes):
            out = n.output[0] if j == len(axes) - 1 else f"{n.name}_mean{ax}"
            nodes.append(helper.make_node("ReduceMean", [prev], [out], axes=[ax], keepdims=1))
            prev = out
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    print(f"{path}: {count} spatial means made one axis at a time")


class Lambda64(keras.layers.Lambda):
    """A Lambda evaluated in float64: the package's instance normalisation
    (mean and standard deviation over millions of voxels) made exact."""

    def __init__(self, function, *a, **k):
        super().__init__(lambda x: tf.cast(function(tf.cast(x, tf.float64)), tf.float32), *a, **k)


def reference(create, args, h5):
    """The same network and weights with its instance normalisations in
    float64: what both float32 runtimes are measured against. TensorFlow's
    own float32 reduction over 2.6 M voxels is off by up to 0.32 in the
    first normalisation's output (scale 13), so TF and ONNX cannot be
    compared with each other alone."""
    plain = keras.layers.Lambda
    keras.layers.Lambda = Lambda64
    try:
        model = create(verbose=False, **args)
    finally:
        keras.layers.Lambda = plain
    model.load_weights(h5)
    return model


def convert(create, args, h5, out, rng, ct):
    model = create(verbose=False, **args)
    model.load_weights(h5)
    exact = reference(create, args, h5)
    shape = tuple(int(s) for s in model.input_shape[1:4])
    oshape = tuple(int(s) for s in model.output_shape[1:4])
    print(f"{out}: input {shape}, output {oshape}")
    spec = (tf.TensorSpec((1, *shape, 1), tf.float32, name="image"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=out)
    stable_means(out)
    print(out, "sha256", hashlib.sha256(open(out, "rb").read()).hexdigest())
    sess = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    oname = sess.get_outputs()[0].name
    inputs = [("phantom", phantom(shape, rng))]
    if ct:
        inputs.append(("demo CT", demo_ct(shape, ct)))
    for name, a in inputs:
        feed = a[None, ..., None]
        p_tf = model.predict(feed, verbose=0)
        p_ort = sess.run([oname], {"image": feed})[0]
        p_ref = exact.predict(feed, verbose=0)
        m_tf, m_ort, m_ref = p_tf > 0.5, p_ort > 0.5, p_ref > 0.5
        dice = lambda a, b: 2 * (a & b).sum() / max(1, a.sum() + b.sum())  # noqa: E731
        for who, p, mk in [("TF float32", p_tf, m_tf), ("ONNX", p_ort, m_ort)]:
            print(f"{out} {name}: {who:10} against TF with exact normalisation: max |diff| "
                  f"{np.abs(p - p_ref).max():.2e}, mean {np.abs(p - p_ref).mean():.2e}, mask voxels differing "
                  f"{int((mk != m_ref).sum())} of {mk.size}, Dice {dice(mk, m_ref):.5f} (reference mask {m_ref.sum()} voxels)")
        print(f"{out} {name}: TF float32 against ONNX: max |diff| {np.abs(p_tf - p_ort).max():.2e}, "
              f"Dice {dice(m_tf, m_ort):.5f}")
        # The converted network must compute what the original computes: as
        # close to the exact result as TensorFlow itself, and very close.
        e_ort = np.abs(p_ort - p_ref).max()
        assert e_ort <= max(1e-3, np.abs(p_tf - p_ref).max()), "ONNX further from the reference than TensorFlow"
        assert dice(m_ort, m_ref) > 0.999, "ONNX mask differs from the reference"
    return oname


def main(wheel, ct=None):
    tmp = tempfile.mkdtemp()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp, [n for n in z.namelist() if n.startswith(f"{PKG}/architectures/") or n.endswith(".hdf5")])
    sys.path.insert(0, tmp)
    from pyliverlesionseg.architectures.unet_generalized import create_unet_like_model

    rng = np.random.default_rng(7)
    for h5, args, out in [(LESION_H5, LESION, "lesions.onnx"), (LIVER_H5, LIVER, "liver.onnx")]:
        path = f"{tmp}/{PKG}/trained_models/{h5}"
        print(h5, "sha256", hashlib.sha256(open(path, "rb").read()).hexdigest())
        import h5py
        with h5py.File(path, "r") as f:
            print("  header/voxel_size", list(f["header/voxel_size"][()]))
        print("  output name", convert(create_unet_like_model, args, path, out, rng, ct))


if __name__ == "__main__":
    main(*sys.argv[1:3])
