"""vtkFlyingEdges3D on a CT series, for the speed rows of bench/accuracy.sh:
on the bone mask (>= LEVEL HU, largest 6-connected island) at 0.5, and on
the intensities at LEVEL. Prints JSON lines like accuracy_bench speed.

    python bench/flying_edges.py DICOM_DIR [LEVEL] [THREADS] [RUNS]
"""
import json
import sys
import time

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support as ns


def image(a, spacing):
    img = vtk.vtkImageData()
    nz, ny, nx = a.shape
    img.SetDimensions(nx, ny, nz)
    img.SetSpacing(*spacing)
    img.GetPointData().SetScalars(ns.numpy_to_vtk(a.ravel(), deep=True))
    return img


def main():
    d = sys.argv[1]
    level = float(sys.argv[2]) if len(sys.argv) > 2 else 250.0
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    smp = vtk.vtkSMPTools()
    if threads == 1:
        smp.SetBackend("Sequential")
    else:
        smp.SetBackend("STDThread")
        smp.Initialize(threads)
    r = sitk.ImageSeriesReader()
    r.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(d))
    vol = sitk.Cast(r.Execute(), sitk.sitkInt16)
    spacing = vol.GetSpacing()
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(vol >= level, False))
    mask = (sitk.GetArrayFromImage(cc) == 1).astype(np.uint8)
    hu = sitk.GetArrayFromImage(vol)
    for name, a, iso in (("vtk_flying_edges_mask", mask, 0.5), ("vtk_flying_edges_intensities", hu, level)):
        img = image(a, spacing)
        times = []
        for _ in range(runs):
            fe = vtk.vtkFlyingEdges3D()
            fe.SetInputData(img)
            fe.SetValue(0, iso)
            fe.ComputeNormalsOn()
            t = time.perf_counter()
            fe.Update()
            times.append(time.perf_counter() - t)
            tris = fe.GetOutput().GetNumberOfCells()
        times.sort()
        print(json.dumps({"case": name, "min_s": times[0], "median_s": times[len(times) // 2], "triangles": tris, "threads": threads}))


if __name__ == "__main__":
    main()
