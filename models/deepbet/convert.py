"""Converts deepbet's two brain-extraction networks (PyPI deepbet 1.0.2, MIT,
https://github.com/wwu-mmll/deepbet) from TorchScript to ONNX, and shows that
ONNX Runtime gives the same output as PyTorch on the same input.

Reproduce (Debian 12, registries only; Debian's CPU PyTorch, not PyPI's CUDA build):
    apt-get install -y python3-torch python3-onnx
    /usr/bin/python3 -m venv --system-site-packages /tmp/venv-bet
    /tmp/venv-bet/bin/pip install onnxruntime==1.19.2
    /tmp/venv-bet/bin/pip download --no-deps deepbet==1.0.2 -d /tmp/deepbet-wheel
    /tmp/venv-bet/bin/python models/deepbet/convert.py /tmp/deepbet-wheel/deepbet-1.0.2-py3-none-any.whl

What it does: `data/models/bbox_model.pt` (finds the brain on a 128^3 copy of
the whole scan) and `data/models/model.pt` (the brain mask on a 256^3 copy of
the box the first one found) are 3D U-Nets ending in a softmax over 2 channels
(background, brain). Each is exported with torch.onnx (opset 17) with a fixed
input [1, 1, N, N, N] (NCDHW) and checked on a head-like phantom and on noise:
the mean difference must stay below 1e-3 and at most 0.2% of the mask's
voxels may flip (float32 rounding at p = 0.5; see README.md for the figures).
"""
import hashlib
import io
import sys
import zipfile

import numpy as np
import onnxruntime
import torch

NETS = [("bbox_model.pt", "bbox.onnx", 128), ("model.pt", "brain.onnx", 256)]


def phantom(n):
    """A head: bright skin/skull shell, grey brain, dark CSF rim, normalised as deepbet does."""
    z, y, x = np.mgrid[0:n, 0:n, 0:n].astype(np.float32) / n
    r = ((x - 0.5) / 0.38) ** 2 + ((y - 0.5) / 0.45) ** 2 + ((z - 0.48) / 0.36) ** 2
    img = np.where(r < 0.75, 0.55, np.where(r < 0.85, 0.1, np.where(r < 1.0, 0.9, 0.0)))
    img = img.astype(np.float32)
    img = (img - img.mean()) / img.std()
    return (0.226 * img + 0.449).astype(np.float32)


def main(wheel):
    torch.set_num_threads(2)
    rng = np.random.default_rng(7)
    with zipfile.ZipFile(wheel) as z:
        for pt, out, n in NETS:
            data = z.read(f"data/models/{pt}")
            print(pt, "sha256", hashlib.sha256(data).hexdigest())
            model = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
            dummy = torch.zeros(1, 1, n, n, n)
            torch.onnx.export(model, dummy, out, opset_version=17,
                              input_names=["image"], output_names=["probability"])
            print(out, "sha256", hashlib.sha256(open(out, "rb").read()).hexdigest())
            sess = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
            for name, a in [("phantom", phantom(n)), ("noise", rng.standard_normal((n, n, n), dtype=np.float32))]:
                feed = a.reshape(1, 1, n, n, n)
                with torch.no_grad():
                    p_pt = model(torch.from_numpy(feed)).numpy()
                p_ort = sess.run(None, {"image": feed})[0]
                diff = np.abs(p_pt - p_ort).max()
                m_pt, m_ort = p_pt[0, 1] > 0.5, p_ort[0, 1] > 0.5
                differ = int((m_pt != m_ort).sum())
                mean = np.abs(p_pt - p_ort).mean()
                dice = 2 * (m_pt & m_ort).sum() / max(1, m_pt.sum() + m_ort.sum())
                print(f"{out} {name}: max |torch - ONNX| = {diff:.2e}, mean {mean:.2e}, "
                      f"mask voxels differing {differ} of {m_pt.size}, Dice torch/ONNX masks {dice:.5f}, "
                      f"torch mask voxels {m_pt.sum()}")
                # Both runtimes compute in float32 and sum in different
                # orders (instance norms over 2 M / 16 M voxels); where the
                # probability sits near 0.5 (the phantom's ambiguous edges)
                # a voxel may flip. Anything structural would move the mean.
                assert mean < 1e-3 and differ <= max(10, m_pt.sum() // 500), "ONNX output differs from PyTorch"


if __name__ == "__main__":
    main(sys.argv[1])
