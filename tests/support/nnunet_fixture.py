"""Makes an nnU-Net v2 trained-model folder of the real shape with random
weights, saved as nnU-Net saves them, two small CT-like scans, and nnU-Net's
own predictions on them (nnunetv2's nnUNetPredictor on the CPU), for the
tests that check Stratum's import against it.

Usage: python nnunet_fixture.py OUT_DIR   (run with scripts/nnunet-env.sh's python)

OUT_DIR gets:
  model/Dataset990_StratumTest/nnUNetTrainer__nnUNetPlans__3d_fullres/
      plans.json, dataset.json, fold_0/, fold_1/ (checkpoint_final.pth)
  model/Dataset990_StratumTest/nnUNetTrainer__nnUNetPlans__3d_cascade_fullres/
      the same with one fold trained as the cascade's second stage
  scan_<case>.raw (int16, z y x) + scan_<case>.json (shape, spacing z y x)
  ref_<case>_<folds>_<mirror>.seg (uint8, z y x) and .prob (float32, c z y x)
  done (written last)
"""

import json
import os
import sys
import time

import numpy as np
import torch

OUT = sys.argv[1]
MODEL = os.path.join(OUT, "model", "Dataset990_StratumTest", "nnUNetTrainer__nnUNetPlans__3d_fullres")
SPACING = [2.0, 1.2, 1.2]
PATCH = [16, 32, 32]
LABELS = {"background": 0, "liver": 1, "kidney_left": 2}

ARCH = {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {
        "n_stages": 4,
        "features_per_stage": [8, 16, 32, 64],
        "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
        "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
        "n_conv_per_stage": [2, 2, 2, 2],
        "n_conv_per_stage_decoder": [2, 2, 2],
        "conv_bias": True,
        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    },
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
}

PLANS = {
    "dataset_name": "Dataset990_StratumTest",
    "plans_name": "nnUNetPlans",
    "original_median_spacing_after_transp": SPACING,
    "original_median_shape_after_transp": [24, 40, 32],
    "image_reader_writer": "SimpleITKIO",
    "transpose_forward": [0, 1, 2],
    "transpose_backward": [0, 1, 2],
    "configurations": {
        "3d_fullres": {
            "data_identifier": "nnUNetPlans_3d_fullres",
            "preprocessor_name": "DefaultPreprocessor",
            "batch_size": 2,
            "patch_size": PATCH,
            "median_image_size_in_voxels": [24, 40, 32],
            "spacing": SPACING,
            "normalization_schemes": ["CTNormalization"],
            "use_mask_for_norm": [False],
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
            "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
            "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
            "architecture": ARCH,
            "batch_dice": True,
        },
        "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"},
    },
    "experiment_planner_used": "ExperimentPlanner",
    "label_manager": "LabelManager",
    "foreground_intensity_properties_per_channel": {
        "0": {"max": 1500.0, "mean": 85.0, "median": 70.0, "min": -950.0,
              "percentile_00_5": -820.0, "percentile_99_5": 1150.0, "std": 210.0}
    },
}

DATASET = {
    "channel_names": {"0": "CT"},
    "labels": LABELS,
    "numTraining": 12,
    "file_ending": ".nii.gz",
    "name": "Stratum test organs",
    "licence": "CC0-1.0",
}


def build_network(seed):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from dynamic_network_architectures.initialization.weight_init import InitWeights_He
    torch.manual_seed(seed)
    kw = dict(ARCH["arch_kwargs"])
    kw.update(conv_op=torch.nn.Conv3d, norm_op=torch.nn.InstanceNorm3d, nonlin=torch.nn.LeakyReLU)
    net = PlainConvUNet(1, num_classes=len(LABELS), deep_supervision=True, **kw)
    net.apply(InitWeights_He(1e-2))
    # Affine norms and biases away from their defaults, so the import must
    # carry every tensor; the heads' bias keeps all three classes in play.
    with torch.no_grad():
        for name, p in net.named_parameters():
            if ".norm." in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    return net


def save_checkpoint(net, fold, folder=MODEL, configuration="3d_fullres"):
    """As nnUNetTrainer.save_checkpoint writes it."""
    opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True)
    out = net(torch.randn(1, 1, *PATCH))
    sum(o.mean() for o in out).backward()
    opt.step()
    opt.zero_grad()
    ckpt = {
        "network_weights": net.state_dict(),
        "optimizer_state": opt.state_dict(),
        "grad_scaler_state": None,
        "logging": {"mean_fg_dice": [np.float64(0.5), np.float64(0.6)],
                    "ema_fg_dice": [np.float32(0.5)], "epoch_start_timestamps": [time.time()]},
        "_best_ema": np.float64(0.6),
        "current_epoch": 1000,
        "init_args": {"plans": PLANS, "configuration": configuration, "fold": fold,
                      "dataset_json": DATASET, "device": torch.device("cuda")},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }
    d = os.path.join(folder, f"fold_{fold}")
    os.makedirs(d, exist_ok=True)
    torch.save(ckpt, os.path.join(d, "checkpoint_final.pth"))


def ct_scan(shape, spacing, seed):
    """Air, a body ellipse of soft tissue, a 'liver', a 'kidney', bone, noise (HU)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    ez, ey, ex = [(n - 1) * s for n, s in zip(shape, spacing)]
    img = np.full(shape, -1000.0)
    body = ((y - ey / 2) / (ey * 0.45)) ** 2 + ((x - ex / 2) / (ex * 0.46)) ** 2 < 1
    img[body] = 40
    liver = (((y - ey * 0.4) / (ey * 0.2)) ** 2 + ((x - ex * 0.35) / (ex * 0.22)) ** 2
             + ((z - ez * 0.5) / (ez * 0.4)) ** 2) < 1
    img[liver] = 65
    kidney = (((y - ey * 0.62) / (ey * 0.1)) ** 2 + ((x - ex * 0.7) / (ex * 0.08)) ** 2
              + ((z - ez * 0.55) / (ez * 0.25)) ** 2) < 1
    img[kidney] = 150
    spine = ((y - ey * 0.75) / (ey * 0.08)) ** 2 + ((x - ex * 0.5) / (ex * 0.09)) ** 2 < 1
    img[spine] = 700
    img += rng.normal(0, 15, shape)
    return np.round(img).astype(np.int16)


def predict(img, spacing, folds, mirror):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    p = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=mirror,
                        perform_everything_on_device=False, device=torch.device("cpu"),
                        verbose=False, allow_tqdm=False)
    p.initialize_from_trained_model_folder(MODEL, use_folds=folds, checkpoint_name="checkpoint_final.pth")
    t = time.perf_counter()
    seg, prob = p.predict_single_npy_array(img[None].astype(np.float32), {"spacing": list(spacing)},
                                           None, None, True)
    return seg, prob, time.perf_counter() - t


def main():
    os.makedirs(MODEL, exist_ok=True)
    with open(os.path.join(MODEL, "plans.json"), "w") as f:
        json.dump(PLANS, f, indent=2)
    with open(os.path.join(MODEL, "dataset.json"), "w") as f:
        json.dump(DATASET, f, indent=2)
    for fold in (0, 1):
        save_checkpoint(build_network(100 + fold), fold)
    # The cascade's second stage: refused at import (it needs a second input).
    cascade = MODEL.replace("3d_fullres", "3d_cascade_fullres")
    os.makedirs(cascade, exist_ok=True)
    for f in ("plans.json", "dataset.json"):
        with open(os.path.join(MODEL, f)) as src, open(os.path.join(cascade, f), "w") as dst:
            dst.write(src.read())
    save_checkpoint(build_network(100), 0, cascade, "3d_cascade_fullres")
    # One thread unless told otherwise: OpenMP's threads wait on each other
    # badly on a loaded 2-core machine (10x slower measured), and the
    # reference does not depend on it.
    torch.set_num_threads(int(os.environ.get("STRATUM_NNUNET_THREADS", "1")))
    # "grid": on the plan's spacing (no resampling). "aniso": 4 mm slices of
    # 0.9 mm pixels (cubic in plane, nearest across slices, both ways), with
    # zero columns at the edge (nnU-Net crops them away).
    scans = {
        "grid": (ct_scan((24, 40, 32), SPACING, 1), SPACING),
        "aniso": (ct_scan((10, 56, 50), [4.0, 0.9, 0.9], 2), [4.0, 0.9, 0.9]),
    }
    scans["aniso"][0][:, :, :3] = 0
    cases = [("grid", (0,), False), ("grid", (0,), True), ("grid", (0, 1), False),
             ("grid", (0, 1), True), ("aniso", (0,), False)]
    for name, (img, spacing) in scans.items():
        img.tofile(os.path.join(OUT, f"scan_{name}.raw"))
        with open(os.path.join(OUT, f"scan_{name}.json"), "w") as f:
            json.dump({"shape": list(img.shape), "spacing": spacing}, f)
    for name, folds, mirror in cases:
        img, spacing = scans[name]
        seg, prob, secs = predict(img, spacing, folds, mirror)
        tag = f"{name}_{''.join(map(str, folds))}_{'mirror' if mirror else 'plain'}"
        seg.astype(np.uint8).tofile(os.path.join(OUT, f"ref_{tag}.seg"))
        prob.astype(np.float32).tofile(os.path.join(OUT, f"ref_{tag}.prob"))
        counts = np.bincount(seg.ravel(), minlength=len(LABELS))
        print(f"{tag}: {secs:.2f} s, label counts {counts.tolist()}", flush=True)
    open(os.path.join(OUT, "done"), "w").close()


if __name__ == "__main__":
    main()
