//! Volume rendering's engine-free parts: the transfer-function presets say
//! what they should show, shift/width move them as a window moves, the
//! empty-space map skips only what is invisible, and the 16-bit texels keep
//! the scan's values.

use ndarray::Array3;
use stratum_core::image::transfer::{
    BrickMap, RenderMode, TfPreset, TransferFunction, half_texels,
};
use stratum_core::{image::volume::Geometry, image::volume::Volume, image::volume::Voxels};

#[test]
fn every_preset_parses_from_its_name_and_a_wrong_one_lists_them() {
    for p in TfPreset::ALL {
        assert_eq!(TfPreset::parse(p.name()).unwrap(), p);
    }
    let err = TfPreset::parse("ct-bones").unwrap_err().to_string();
    assert!(
        err.contains("ct-bones") && err.contains("ct-angio") && err.contains("mip"),
        "{err}"
    );
}

#[test]
fn ct_presets_show_their_tissue_and_hide_air() {
    let range = (-1000.0, 1500.0);
    let bone = TransferFunction::preset(TfPreset::CtBone, range);
    assert_eq!(bone.sample(-1000.0)[3], 0.0, "air");
    assert_eq!(bone.sample(40.0)[3], 0.0, "soft tissue");
    assert!(bone.sample(1000.0)[3] > 0.7, "cortical bone");
    let angio = TransferFunction::preset(TfPreset::CtAngio, range);
    assert_eq!(angio.sample(60.0)[3], 0.0, "unenhanced tissue");
    let vessel = angio.sample(300.0);
    assert!(
        vessel[3] > 0.3 && vessel[0] > 2.0 * vessel[1],
        "red contrast: {vessel:?}"
    );
    let skin = TransferFunction::preset(TfPreset::CtSkin, range);
    assert_eq!(skin.sample(-900.0)[3], 0.0);
    assert!(skin.sample(0.0)[3] > 0.5, "the skin surface is opaque");
    let lung = TransferFunction::preset(TfPreset::CtLung, range);
    assert!(lung.sample(-750.0)[3] > 0.0 && lung.sample(-1000.0)[3] == 0.0);
    let mip = TransferFunction::preset(TfPreset::Mip, range);
    assert_eq!(mip.mode, RenderMode::Mip);
}

#[test]
fn mr_presets_follow_the_studys_range() {
    let a = TransferFunction::preset(TfPreset::MrDefault, (0.0, 400.0));
    let b = TransferFunction::preset(TfPreset::MrDefault, (0.0, 4000.0));
    assert_eq!(a.sample(380.0), b.sample(3800.0));
    assert!(a.sample(380.0)[3] > 0.2 && a.sample(20.0)[3] == 0.0);
}

#[test]
fn shift_and_width_move_the_visible_band() {
    let bone = TransferFunction::preset(TfPreset::CtBone, (-1000.0, 1500.0));
    let first_visible = |tf: &TransferFunction| {
        (-1024..2000)
            .find(|v| tf.sample(*v as f64)[3] > 0.0)
            .unwrap()
    };
    let start = first_visible(&bone);
    assert_eq!(first_visible(&bone.shifted(100.0, 1.0)), start + 100);
    let c = bone.centre();
    let wide = bone.shifted(0.0, 2.0);
    let expect = c + (start as f64 - c) * 2.0;
    assert!((first_visible(&wide) as f64 - expect).abs() <= 2.0);
    assert_eq!(bone.shifted(0.0, 1.0), bone);
}

#[test]
fn the_lookup_table_samples_the_function_end_to_end() {
    let tf = TransferFunction::preset(TfPreset::CtBone, (-1000.0, 1500.0));
    let lut = tf.bake(-1024.0, 3071.0, 4096);
    assert_eq!(lut.len(), 4096);
    assert_eq!(lut[0], tf.sample(-1024.0));
    assert_eq!(lut[4095], tf.sample(3071.0));
    assert_eq!(lut[1024 + 600], tf.sample(600.0));
}

fn cube_volume() -> Volume {
    // 32³ of air with a 4³ bone block at x,y,z in 8..12.
    let mut a = Array3::<i16>::from_elem((32, 32, 32), -1000);
    for z in 8..12 {
        for y in 8..12 {
            for x in 8..12 {
                a[[z, y, x]] = 1200;
            }
        }
    }
    Volume::new(Voxels::I16(a), Geometry::default(), "CT")
}

#[test]
fn empty_space_map_keeps_the_bricks_a_ray_could_see_bone_in() {
    let v = cube_volume();
    let map = BrickMap::new(&v, 8);
    assert_eq!(map.dims, [4, 4, 4]);
    let tf = TransferFunction::preset(TfPreset::CtBone, (-1000.0, 1500.0));
    let occ = map.occupancy(&tf);
    let at = |x: usize, y: usize, z: usize| occ[x + 4 * (y + 4 * z)];
    // The block fills brick (1,1,1); its face at index 8 is within the
    // one-voxel apron of brick (0,1,1), where filtering blends it in.
    assert_eq!(at(1, 1, 1), 255);
    assert_eq!(at(0, 1, 1), 255);
    assert_eq!(at(1, 0, 1), 255);
    assert_eq!(
        at(2, 1, 1),
        0,
        "bone ends at 11: brick 2 starts at 16, apron 15"
    );
    assert_eq!(at(3, 3, 3), 0);
    assert_eq!(
        occ.iter().filter(|&&o| o > 0).count(),
        8,
        "bricks 0..=1 on each axis"
    );
    // Soft tissue is invisible to the bone preset: air-only bricks are too.
    let soft = TransferFunction::preset(TfPreset::CtSoftTissue, (-1000.0, 1500.0));
    assert_eq!(map.occupancy(&soft)[63], 0);
    // MIP looks at every value: nothing is skipped.
    let mip = TransferFunction::preset(TfPreset::Mip, (-1000.0, 1500.0));
    assert!(map.occupancy(&mip).iter().all(|&o| o == 255));
}

#[test]
fn half_texels_keep_ct_values() {
    let vals = [-1024i16, -1, 0, 40, 1000, 2047, 3071];
    let a = Array3::from_shape_vec((1, 1, vals.len()), vals.to_vec()).unwrap();
    let v = Volume::new(Voxels::I16(a), Geometry::default(), "CT");
    let bytes = half_texels(&v);
    assert_eq!(bytes.len(), 2 * vals.len());
    for (i, want) in vals.iter().enumerate() {
        let got = half::f16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32();
        let tol = if want.abs() > 2048 { 2.0 } else { 0.0 };
        assert!((got - *want as f32).abs() <= tol, "{want} -> {got}");
    }
}
