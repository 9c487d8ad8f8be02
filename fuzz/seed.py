#!/usr/bin/env python3
"""Writes the fuzz corpora's seeds and the DICOM dictionary (run once; the
minimised corpora are committed). Seeds: small real files from
../shared/data (one per transfer syntax; big ones truncated, which still
exercises the header reader), tiny generated NIfTI volumes and label maps,
and the model manifests. The session target writes its own seeds
(STRATUM_FUZZ_WRITE_SEEDS, see fuzz_targets/session.rs)."""
import glob, gzip, os, shutil, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "..", "shared", "data")
if len(sys.argv) > 1:
    data = sys.argv[1]
corpus = os.path.join(here, "corpus")
SEP = b"--STRATUM-FUZZ-FILE--"
CAP = 96 * 1024  # bytes kept of a big file


def put(target, name, blob):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def read(rel, cap=CAP):
    with open(os.path.join(data, rel), "rb") as f:
        return f.read(cap)


files = {
    "explicit-le-enhanced-mr": "mf_enhanced_ct_mr/emri_small.dcm",
    "rle-enhanced": "mf_enhanced_ct_mr/emri_small_RLE.dcm",
    "big-endian": "mf_enhanced_ct_mr/emri_small_big_endian.dcm",
    "j2k-enhanced": "mf_enhanced_ct_mr/emri_small_jpeg_2k_lossless.dcm",
    "jpegls-enhanced": "mf_enhanced_ct_mr/emri_small_jpeg_ls_lossless.dcm",
    "jpeg-lossless": "bad_dicom2nifti_cases/generic/compressed_jpeg/001/IM-0001-0001-0001.dcm",
    "jpegls": "bad_dicom2nifti_cases/generic/compressed_jpegls/001/IM-0001-0001-0001.dcm",
    "j2k": "bad_dicom2nifti_cases/generic/compressed_j2k/001/IM-0001-0001-0001.dcm",
    "rle": "bad_dicom2nifti_cases/generic/compressed_rle/001/IM-0001-0001-0001.dcm",
    "implicit-le": "bad_dicom2nifti_cases/hitachi/anatomical/001/001.dcm",
    "enhanced-ct-truncated": "mf_enhanced_ct_mr/eCT_Supplemental.dcm",
    "siemens-xa-enhanced-truncated": "mf_enhanced_ct_mr/dcm_qa_enh_In/Siemens/XA10/6_1.dcm",
}
for name, rel in files.items():
    put("dicom_file", name, read(rel))

hitachi = sorted(glob.glob(os.path.join(data, "bad_dicom2nifti_cases/hitachi/anatomical/001/*.dcm")))
put("dicom_folder", "implicit-le-4", SEP.join(open(p, "rb").read() for p in hitachi[:4]))
put("dicom_folder", "rle-2", SEP.join(read(f"bad_dicom2nifti_cases/generic/compressed_rle/001/IM-0001-000{i}-0001.dcm", 1 << 20) for i in (1, 2)))
put("dicom_folder", "same-image-two-codecs", SEP.join([read("mf_enhanced_ct_mr/emri_small.dcm", 1 << 20), read("mf_enhanced_ct_mr/emri_small_RLE.dcm", 1 << 20)]))


def nifti(dims, datatype, bitpix, voxels, sform=True, qform=False, slope=0.0, inter=0.0):
    dim = [len(dims)] + list(dims) + [1] * (7 - len(dims))
    pixdim = [1.0, 0.8, 0.9, 2.5, 1.0, 1.0, 1.0, 1.0]
    h = struct.pack("<i10s18sih", 348, b"", b"", 0, 0)
    h += struct.pack("<bb", 0, 0)
    h += struct.pack("<8h", *dim)
    h += struct.pack("<3f", 0, 0, 0)
    h += struct.pack("<hhhh", 0, datatype, bitpix, 0)
    h += struct.pack("<8f", *pixdim)
    h += struct.pack("<ff", 352.0, slope) + struct.pack("<f", inter)
    h += struct.pack("<hbb", 0, 2, 0)
    h += struct.pack("<ffff", 0, 0, 0, 0)
    h += struct.pack("<ii", 0, 0)
    h += b"fuzz seed".ljust(80, b"\0") + b"".ljust(24, b"\0")
    h += struct.pack("<hh", 1 if qform else 0, 1 if sform else 0)
    h += struct.pack("<6f", 0.0, 0.7071, 0.0, -10.0, 20.0, 5.0)
    h += struct.pack("<4f", -0.8, 0, 0, 10.0) + struct.pack("<4f", 0, -0.9, 0, 12.0) + struct.pack("<4f", 0, 0, 2.5, -30.0)
    h += b"".ljust(16, b"\0") + b"n+1\0"
    assert len(h) == 348, len(h)
    return h + b"\0\0\0\0" + voxels


n = 6 * 5 * 4
labels = bytes((i * 7) % 4 for i in range(n))
ct = b"".join(struct.pack("<h", -1000 + (i * 97) % 2400) for i in range(n))
flt = b"".join(struct.pack("<f", 0.25 * i) for i in range(n))
put("nifti", "labels-u8.nii", nifti((6, 5, 4), 2, 8, labels))
put("nifti", "labels-u8.nii.gz", gzip.compress(nifti((6, 5, 4), 2, 8, labels)))
put("nifti", "ct-i16-qform.nii", nifti((6, 5, 4), 4, 16, ct, sform=False, qform=True))
put("nifti", "ct-i16.nii.gz", gzip.compress(nifti((6, 5, 4), 4, 16, ct)))
put("nifti", "f32-scaled.nii", nifti((6, 5, 4), 16, 32, flt, slope=2.0, inter=-3.0))
put("nifti", "u16-4d.nii", nifti((3, 5, 4, 2), 512, 16, ct))
put("nifti", "real-mr-truncated.nii.gz", read("ct_totalseg_abdomen/example_mr_sm.nii.gz", 48 * 1024))

for p in glob.glob(os.path.join(here, "..", "models", "*", "manifest.json")):
    put("manifest", os.path.basename(os.path.dirname(p)) + ".json", open(p, "rb").read())

# libFuzzer dictionary: the tags the header reader asks for (little endian
# group, element), VRs, item delimiters, transfer syntax UIDs, the magic.
tags = [(0x0002, 0x0010), (0x0002, 0x0002), (0x0008, 0x0016), (0x0008, 0x0018), (0x0008, 0x0060),
        (0x0008, 0x0008), (0x0010, 0x0010), (0x0020, 0x000D), (0x0020, 0x000E), (0x0020, 0x0052),
        (0x0020, 0x0032), (0x0020, 0x0037), (0x0020, 0x0013), (0x0020, 0x0012), (0x0018, 0x0050),
        (0x0018, 0x1120), (0x0018, 0x0086), (0x0020, 0x0100), (0x0028, 0x0002), (0x0028, 0x0004),
        (0x0028, 0x0008), (0x0028, 0x0010), (0x0028, 0x0011), (0x0028, 0x0030), (0x0028, 0x0100),
        (0x0028, 0x0101), (0x0028, 0x0103), (0x0028, 0x1052), (0x0028, 0x1053), (0x0028, 0x0301),
        (0x5200, 0x9229), (0x5200, 0x9230), (0x0020, 0x9113), (0x0020, 0x9116), (0x0028, 0x9110),
        (0x0028, 0x9145), (0x0020, 0x9111), (0x0020, 0x9056), (0x0020, 0x9128), (0x0018, 0x9226),
        (0x7FE0, 0x0010), (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)]
lines = []
for g, e in tags:
    lines.append('"' + "".join(f"\\x{b:02x}" for b in struct.pack("<HH", g, e)) + '"')
for vr in ["OB", "OW", "SQ", "UN", "US", "SS", "UL", "DS", "IS", "UI", "CS", "LO", "PN", "FD", "UT"]:
    lines.append(f'"{vr}"')
for ts in ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
           "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
           "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"]:
    lines.append(f'"{ts}"')
lines += ['"DICM"', '"MONOCHROME2"', '"MONOCHROME1"', '"RGB"', '"MOSAIC"', '"' + SEP.decode() + '"',
          '"\\xff\\xd8"', '"\\xff\\xc3"', '"\\xff\\xf7"', '"\\xff\\x4f\\xff\\x51"']
with open(os.path.join(here, "dicom.dict"), "w") as f:
    f.write("# DICOM tags (LE group, element), VRs, UIDs, codec markers\n" + "\n".join(lines) + "\n")
with open(os.path.join(here, "nifti.dict"), "w") as f:
    f.write('"n+1\\x00"\n"ni1\\x00"\n"\\x5c\\x01\\x00\\x00"\n"\\x1f\\x8b"\n"\\x00\\x00\\xb0\\x43"\n')
