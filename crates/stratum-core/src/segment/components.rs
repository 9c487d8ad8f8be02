//! 6-connected components of a mask: sizes, largest, island at a point,
//! small islands removed. Uses one byte of scratch per voxel.

use ndarray::Array3;

use super::Mask;

/// Component sizes (voxels) and one seed voxel (z, y, x) per component,
/// in scan order.
#[derive(Clone, Debug, Default)]
pub struct Components {
    pub sizes: Vec<usize>,
    pub seeds: Vec<(usize, usize, usize)>,
}

/// Floods the 6-connected region of `data != 0` from `seed`, setting
/// `mark[i] = 1` for each voxel reached; returns the count.
fn flood(
    data: &ndarray::ArrayView3<u8>,
    mark: &mut [u8],
    seed: (usize, usize, usize),
    stack: &mut Vec<u32>,
) -> usize {
    let (nz, ny, nx) = data.dim();
    let src = data.as_slice().expect("standard layout");
    let plane = ny * nx;
    let start = (seed.0 * ny + seed.1) * nx + seed.2;
    if src[start] == 0 || mark[start] != 0 {
        return 0;
    }
    stack.clear();
    stack.push(start as u32);
    mark[start] = 1;
    let mut n = 0;
    while let Some(i) = stack.pop() {
        let i = i as usize;
        n += 1;
        let x = i % nx;
        let y = (i / nx) % ny;
        let z = i / plane;
        let mut visit = |j: usize, stack: &mut Vec<u32>| {
            if src[j] != 0 && mark[j] == 0 {
                mark[j] = 1;
                stack.push(j as u32);
            }
        };
        if x > 0 {
            visit(i - 1, stack);
        }
        if x + 1 < nx {
            visit(i + 1, stack);
        }
        if y > 0 {
            visit(i - nx, stack);
        }
        if y + 1 < ny {
            visit(i + nx, stack);
        }
        if z > 0 {
            visit(i - plane, stack);
        }
        if z + 1 < nz {
            visit(i + plane, stack);
        }
    }
    n
}

/// Lists the components of a mask.
#[tracing::instrument(level = "info", skip_all)]
pub fn components(mask: &Mask) -> Components {
    let (_, ny, nx) = mask.dim();
    let data = mask.data.as_standard_layout();
    let mut mark = vec![0u8; data.len()];
    let mut stack = Vec::new();
    let mut out = Components::default();
    let src = data.as_slice().expect("standard layout");
    for i in 0..src.len() {
        if src[i] != 0 && mark[i] == 0 {
            let seed = (i / (ny * nx), (i / nx) % ny, i % nx);
            let n = flood(&data.view(), &mut mark, seed, &mut stack);
            out.sizes.push(n);
            out.seeds.push(seed);
        }
    }
    out
}

fn flood_from(mask: &Mask, seeds: &[(usize, usize, usize)]) -> Mask {
    let data = mask.data.as_standard_layout();
    let mut mark = vec![0u8; data.len()];
    let mut stack = Vec::new();
    for s in seeds {
        flood(&data.view(), &mut mark, *s, &mut stack);
    }
    Mask {
        data: Array3::from_shape_vec(data.dim(), mark).expect("same shape"),
        geometry: mask.geometry,
    }
}

/// Keeps the largest component (an empty mask stays empty).
#[tracing::instrument(level = "info", skip_all)]
pub fn keep_largest(mask: &Mask) -> Mask {
    let c = components(mask);
    match c.sizes.iter().enumerate().max_by_key(|(_, n)| **n) {
        Some((i, _)) => flood_from(mask, &[c.seeds[i]]),
        None => mask.clone(),
    }
}

/// Keeps the component that contains voxel (z, y, x); empty if the voxel is not set.
#[tracing::instrument(level = "info", skip_all)]
pub fn component_at(mask: &Mask, at: (usize, usize, usize)) -> Mask {
    let (nz, ny, nx) = mask.dim();
    if at.0 >= nz || at.1 >= ny || at.2 >= nx {
        return Mask::empty(mask.dim(), mask.geometry);
    }
    flood_from(mask, &[at])
}

/// The union of the components that contain any of `seeds`.
pub(crate) fn component_at_many(mask: &Mask, seeds: &[(usize, usize, usize)]) -> Mask {
    flood_from(mask, seeds)
}

/// Removes components smaller than `min_mm3`.
#[tracing::instrument(level = "info", skip_all)]
pub fn remove_small_islands(mask: &Mask, min_mm3: f64) -> Mask {
    let c = components(mask);
    let voxel = mask.voxel_mm3();
    let keep: Vec<_> = c
        .sizes
        .iter()
        .zip(&c.seeds)
        .filter(|(n, _)| **n as f64 * voxel >= min_mm3)
        .map(|(_, s)| *s)
        .collect();
    flood_from(mask, &keep)
}
