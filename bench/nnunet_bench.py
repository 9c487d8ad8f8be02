"""nnU-Net import benchmark (issue 32): a TotalSegmentator-shaped nnU-Net
model (3d_fullres, 1.5 mm, patch 128^3, six stages 32..320 features,
nnUNetTrainerNoMirroring, random weights) on a CT-like scan, run by
nnU-Net's own predictor (CPU PyTorch) and by Stratum (the imported ONNX
model through ONNX Runtime), same thread count, in the same run.

    python bench/nnunet_bench.py WORK make       # model folder + scan.nii.gz
    python bench/nnunet_bench.py WORK nnunet     # one nnU-Net run: a JSON line

Driven by bench/nnunet.sh, which imports the model, runs Stratum's side
(examples/ai_bench) and alternates the two.
"""

import json
import os
import resource
import sys
import time

import numpy as np

WORK = sys.argv[1]
THREADS_ENV = os.environ.get("THREADS", "1")
# nnU-Net reads its thread count for resampling and export at import time.
os.environ.setdefault("nnUNet_def_n_proc", THREADS_ENV)
MODEL = os.path.join(WORK, "Dataset991_TotalSegShaped", "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres")
THREADS = int(THREADS_ENV)
SPACING = [1.5, 1.5, 1.5]
PATCH = [128, 128, 128]
LABELS = {"background": 0, "spleen": 1, "kidney_right": 2, "kidney_left": 3, "gallbladder": 4,
          "liver": 5, "stomach": 6, "pancreas": 7, "aorta": 8}

ARCH = {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {
        "n_stages": 6,
        "features_per_stage": [32, 64, 128, 256, 320, 320],
        "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": [[3, 3, 3]] * 6,
        "strides": [[1, 1, 1]] + [[2, 2, 2]] * 5,
        "n_conv_per_stage": [2] * 6,
        "n_conv_per_stage_decoder": [2] * 5,
        "conv_bias": True,
        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None, "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
    },
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
}


def make():
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "support"))
    sys.argv = [sys.argv[0], WORK]
    import nnunet_fixture as F  # the plans/dataset/checkpoint shapes of the tests
    plans = json.loads(json.dumps(F.PLANS))
    plans["dataset_name"] = "Dataset991_TotalSegShaped"
    cfg = plans["configurations"]["3d_fullres"]
    cfg.update(patch_size=PATCH, spacing=SPACING, architecture=ARCH,
               median_image_size_in_voxels=[200, 240, 240])
    del plans["configurations"]["3d_cascade_fullres"]
    dataset = dict(F.DATASET, labels=LABELS, name="TotalSegmentator-shaped benchmark model")
    os.makedirs(os.path.join(MODEL, "fold_0"), exist_ok=True)
    json.dump(plans, open(os.path.join(MODEL, "plans.json"), "w"), indent=2)
    json.dump(dataset, open(os.path.join(MODEL, "dataset.json"), "w"), indent=2)
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from dynamic_network_architectures.initialization.weight_init import InitWeights_He
    torch.manual_seed(7)
    kw = dict(ARCH["arch_kwargs"])
    kw.update(conv_op=torch.nn.Conv3d, norm_op=torch.nn.InstanceNorm3d, nonlin=torch.nn.LeakyReLU)
    net = PlainConvUNet(1, num_classes=len(LABELS), deep_supervision=True, **kw)
    net.apply(InitWeights_He(1e-2))
    torch.save({"network_weights": net.state_dict(), "init_args": {"configuration": "3d_fullres"},
                "trainer_name": "nnUNetTrainerNoMirroring", "inference_allowed_mirroring_axes": None},
               os.path.join(MODEL, "fold_0", "checkpoint_final.pth"))
    # A CT-like scan of 2.5 mm slices of 0.8 mm pixels (RAS-canonical NIfTI,
    # as TotalSegmentator feeds nnU-Net): 1.5 mm resampling both ways.
    import nibabel as nib
    img = F.ct_scan((80, 320, 320), [2.5, 0.8, 0.8], 3)  # z, y, x
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    nib.save(nib.Nifti1Image(img.transpose(2, 1, 0), affine), os.path.join(WORK, "scan.nii.gz"))
    print(json.dumps({"made": MODEL, "scan_shape_zyx": list(img.shape)}))


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def nnunet():
    import torch
    torch.set_num_threads(THREADS)
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    img, props = SimpleITKIO().read_images([os.path.join(WORK, "scan.nii.gz")])
    before = peak_mb()
    t = time.perf_counter()
    p = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                        perform_everything_on_device=False, device=torch.device("cpu"),
                        verbose=False, allow_tqdm=False)
    p.initialize_from_trained_model_folder(MODEL, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    load = time.perf_counter() - t
    t = time.perf_counter()
    seg = p.predict_single_npy_array(img, props, None, None, False)
    run = time.perf_counter() - t
    counts = np.bincount(seg.ravel(), minlength=len(LABELS)).tolist()
    print(json.dumps({"side": "nnunet", "threads": torch.get_num_threads(), "load_s": load, "run_s": run,
                      "peak_rss_mb": peak_mb(), "rss_before_mb": before, "label_counts": counts}))


if __name__ == "__main__":
    {"make": make, "nnunet": nnunet}[sys.argv[2]]()
