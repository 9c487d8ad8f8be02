"""Accuracy of Stratum's AI models against references (bench/ai.sh runs it).

    python bench/ai_accuracy.py liver PRED.nii.gz REF_LABELS.nii.gz LABELS.tsv
        Dice and mean / 95th-percentile symmetric surface distance (mm) of the
        predicted liver (every label of Stratum's map: liver and the lesions inside it) against the reference's
        `liver` label, the reference resampled (nearest) onto the prediction's
        grid through both affines, so any orientation works.
    python bench/ai_accuracy.py heads DIR OUT_DIR
        deepbet against deepbrain on each head DIR/{deepbet,deepbrain}_{POS}.nii.gz
        (POS = HFS HFP HFDL HFDR): Dice and volumes, and OUT_DIR/brain_POS.png, the
        scan's mid-sagittal and an axial slice with both contours (deepbet red,
        deepbrain cyan, both yellow). The scan is read with pydicom from
        ../shared/data/mr_siemens_decubitus_positions/POS.

Python 3.11 with numpy, scipy, nibabel, pillow, pydicom (models/liver/requirements.txt
plus pillow==11.0.0 pydicom==2.4.4). Prints one JSON line per case.
"""
import glob
import json
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage


def on_grid(ref_img, pred_img):
    """The reference's labels at the prediction's voxel centres (nearest)."""
    m = np.linalg.inv(ref_img.affine) @ pred_img.affine
    idx = np.indices(pred_img.shape).reshape(3, -1)
    r = (m[:3, :3] @ idx + m[:3, 3:4]).round().astype(int)
    ref = np.asarray(ref_img.dataobj)
    ok = np.all((r >= 0) & (r < np.array(ref.shape)[:, None]), axis=0)
    out = np.zeros(idx.shape[1], ref.dtype)
    out[ok] = ref[r[0, ok], r[1, ok], r[2, ok]]
    return out.reshape(pred_img.shape), ok.reshape(pred_img.shape)


def surface(mask):
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def distances(a, b, spacing):
    """Symmetric surface distances (mm) between masks a and b."""
    sa, sb = surface(a), surface(b)
    da = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    db = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    return np.concatenate([da, db])


def dice(a, b):
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


def contour_rgb(img, masks, scale=(1, 1)):
    """Grey slice with each mask's outline in its colour; equal outlines yellow."""
    lo, hi = np.percentile(img, [1, 99.5])
    g = np.clip((img - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    rgb = np.stack([g] * 3, -1)
    edges = [surface(m) for m, _ in masks]
    for e, (_, c) in zip(edges, masks):
        rgb[e] = c
    if len(edges) == 2:
        rgb[edges[0] & edges[1]] = (255, 255, 0)
    return np.kron(rgb, np.ones((*scale, 1), np.uint8)) if scale != (1, 1) else rgb


def liver(pred_path, ref_path, tsv):
    pred_img, ref_img = nib.load(pred_path), nib.load(ref_path)
    names = {}
    for line in open(tsv):
        parts = line.strip().split("\t")
        if len(parts) >= 2 and parts[0].isdigit():
            names[parts[1]] = int(parts[0])
    ref, inside = on_grid(ref_img, pred_img)
    # Stratum's liver model writes liver (1) and lesions inside it (2): the
    # reference's liver includes its lesions.
    a = np.asarray(pred_img.dataobj) > 0
    b = ref == names["liver"]
    sp = np.array(pred_img.header.get_zooms()[:3], float)
    d = distances(a, b, sp)
    ml = np.prod(sp) / 1000
    # Is the reference liver cut by the edge of the field of view?
    touches = any(np.take(b, i, axis=ax).any() for ax in range(3) for i in (0, -1))
    out = {
        "case": str(pred_path), "dice": round(float(dice(a, b)), 4),
        "msd_mm": round(float(d.mean()), 2), "hd95_mm": round(float(np.percentile(d, 95)), 2),
        "pred_ml": round(float(a.sum() * ml), 1), "ref_ml": round(float(b.sum() * ml), 1),
        "ref_cut_by_field_of_view": bool(touches),
    }
    print(json.dumps(out))
    return out


def read_head(pos):
    """The T1 head of mr_siemens_decubitus_positions/POS as an array in the
    order Stratum's NIfTI uses: [column, row, slice], slices along the
    normal row x column."""
    import pydicom

    files = glob.glob(f"../shared/data/mr_siemens_decubitus_positions/{pos}/*/*")
    ds = [pydicom.dcmread(f) for f in files]
    o = np.array(ds[0].ImageOrientationPatient, float)
    n = np.cross(o[:3], o[3:])
    ds.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), n)))
    vol = np.stack([d.pixel_array.astype(np.float32) for d in ds], 0)  # (slice, row, column)
    return vol.transpose(2, 1, 0), np.array(ds[0].ImagePositionPatient, float)


def heads(d, out_dir):
    from PIL import Image

    for pos in ["HFS", "HFP", "HFDL", "HFDR"]:
        bet_img = nib.load(f"{d}/deepbet_{pos}.nii.gz")
        a = np.asarray(bet_img.dataobj) > 0
        b = np.asarray(nib.load(f"{d}/deepbrain_{pos}.nii.gz").dataobj) > 0
        sp = np.array(bet_img.header.get_zooms()[:3], float)
        ml = np.prod(sp) / 1000
        dist = distances(a, b, sp)
        scan, first = read_head(pos)
        # The NIfTI's voxel 0 (RAS) is the first DICOM slice's position (LPS).
        ras0 = bet_img.affine[:3, 3]
        assert np.allclose([-ras0[0], -ras0[1], ras0[2]], first, atol=0.5), (pos, ras0, first)
        assert scan.shape == a.shape, (scan.shape, a.shape)
        k = a.shape[2] // 2  # mid-sagittal slice
        sag = contour_rgb(scan[:, :, k].T, [(a[:, :, k].T, (255, 60, 60)), (b[:, :, k].T, (0, 220, 255))])
        # An axial cut through the middle of the brain (rows run head to foot).
        rows = np.where((a | b).any((0, 2)))[0]
        j = int(rows.mean()) if len(rows) else a.shape[1] // 2
        z = max(1, int(round(sp[2] / sp[0])))
        ax = contour_rgb(scan[:, j, :], [(a[:, j, :], (255, 60, 60)), (b[:, j, :], (0, 220, 255))], (1, z))
        h = max(sag.shape[0], ax.shape[0])
        pad = lambda im: np.pad(im, ((0, h - im.shape[0]), (0, 8), (0, 0)))  # noqa: E731
        Image.fromarray(np.concatenate([pad(sag), pad(ax)], 1)).save(f"{out_dir}/brain_{pos}.png")
        print(json.dumps({
            "case": pos, "dice_deepbet_deepbrain": round(float(dice(a, b)), 4),
            "msd_mm": round(float(dist.mean()), 2), "hd95_mm": round(float(np.percentile(dist, 95)), 2),
            "deepbet_ml": round(float(a.sum() * ml), 1), "deepbrain_ml": round(float(b.sum() * ml), 1),
            "png": f"{out_dir}/brain_{pos}.png", "axial_row": j,
        }))


if __name__ == "__main__":
    if sys.argv[1] == "liver":
        liver(*sys.argv[2:5])
    elif sys.argv[1] == "heads":
        heads(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
