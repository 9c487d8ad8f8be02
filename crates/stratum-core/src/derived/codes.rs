//! Coded anatomy for SEG segments: SNOMED CT codes for the structures
//! Stratum's presets, models and TotalSegmentator's label names produce
//! (DICOM CID 7150 categories, CID 7151-style types, laterality as a type
//! modifier). Unknown names get the generic "Tissue" so the object stays
//! valid; their label still says what they are.

/// One coded concept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    pub value: &'static str,
    pub scheme: &'static str,
    pub meaning: &'static str,
}

/// A segment's category, type and optional laterality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentCodes {
    pub category: Code,
    pub kind: Code,
    pub modifier: Option<Code>,
    /// False when the name was not recognised (generic "Tissue").
    pub known: bool,
}

const fn sct(value: &'static str, meaning: &'static str) -> Code {
    Code {
        value,
        scheme: "SCT",
        meaning,
    }
}

const ANATOMY: Code = sct("91723000", "Anatomical Structure");
const TISSUE: Code = sct("85756007", "Tissue");
const ABNORMAL: Code = sct("49755003", "Morphologically Abnormal Structure");
const LEFT: Code = sct("7771000", "Left");
const RIGHT: Code = sct("24028007", "Right");

/// (name, category, type code, type meaning). A trailing `_left` / `_right`
/// on the looked-up name becomes the laterality modifier.
const TABLE: &[(&str, Code, &str, &str)] = &[
    ("spleen", ANATOMY, "78961009", "Spleen"),
    ("kidney", ANATOMY, "64033007", "Kidney"),
    ("gallbladder", ANATOMY, "28231008", "Gallbladder"),
    ("liver", ANATOMY, "10200004", "Liver"),
    ("stomach", ANATOMY, "69695003", "Stomach"),
    ("pancreas", ANATOMY, "15776009", "Pancreas"),
    ("adrenal_gland", ANATOMY, "23451007", "Adrenal gland"),
    ("lung", ANATOMY, "39607008", "Lung"),
    ("lungs", ANATOMY, "39607008", "Lung"),
    (
        "lung_upper_lobe_left",
        ANATOMY,
        "44714003",
        "Upper lobe of left lung",
    ),
    (
        "lung_lower_lobe_left",
        ANATOMY,
        "41224006",
        "Lower lobe of left lung",
    ),
    (
        "lung_upper_lobe_right",
        ANATOMY,
        "42400003",
        "Upper lobe of right lung",
    ),
    (
        "lung_middle_lobe_right",
        ANATOMY,
        "72481006",
        "Middle lobe of right lung",
    ),
    (
        "lung_lower_lobe_right",
        ANATOMY,
        "266005",
        "Lower lobe of right lung",
    ),
    ("esophagus", ANATOMY, "32849002", "Esophagus"),
    ("trachea", ANATOMY, "44567001", "Trachea"),
    ("thyroid_gland", ANATOMY, "69748006", "Thyroid"),
    ("small_bowel", ANATOMY, "30315005", "Small intestine"),
    ("duodenum", ANATOMY, "38848004", "Duodenum"),
    ("colon", ANATOMY, "71854001", "Colon"),
    ("urinary_bladder", ANATOMY, "89837001", "Urinary bladder"),
    ("prostate", ANATOMY, "41216001", "Prostate"),
    ("kidney_cyst", ABNORMAL, "722223000", "Cyst of kidney"),
    ("sacrum", ANATOMY, "699698002", "Sacral vertebral column"),
    (
        "vertebrae_s1",
        ANATOMY,
        "699698002",
        "Sacral vertebral column",
    ),
    ("vertebrae_l5", ANATOMY, "49668003", "L5 vertebra"),
    ("vertebrae_l4", ANATOMY, "11994002", "L4 vertebra"),
    ("vertebrae_l3", ANATOMY, "36470004", "L3 vertebra"),
    ("vertebrae_l2", ANATOMY, "14293000", "L2 vertebra"),
    ("vertebrae_l1", ANATOMY, "66794005", "L1 vertebra"),
    ("vertebrae_t12", ANATOMY, "23215003", "T12 vertebra"),
    ("vertebrae_t11", ANATOMY, "12989004", "T11 vertebra"),
    ("vertebrae_t10", ANATOMY, "7610001", "T10 vertebra"),
    ("vertebrae_t9", ANATOMY, "82687006", "T9 vertebra"),
    ("vertebrae_t8", ANATOMY, "11068009", "T8 vertebra"),
    ("vertebrae_t7", ANATOMY, "62487009", "T7 vertebra"),
    ("vertebrae_t6", ANATOMY, "45296009", "T6 vertebra"),
    ("vertebrae_t5", ANATOMY, "56401006", "T5 vertebra"),
    ("vertebrae_t4", ANATOMY, "73071006", "T4 vertebra"),
    ("vertebrae_t3", ANATOMY, "1626008", "T3 vertebra"),
    ("vertebrae_t2", ANATOMY, "53733008", "T2 vertebra"),
    ("vertebrae_t1", ANATOMY, "64864005", "T1 vertebra"),
    ("vertebrae_c7", ANATOMY, "87391001", "C7 vertebra"),
    ("vertebrae_c6", ANATOMY, "36054005", "C6 vertebra"),
    ("vertebrae_c5", ANATOMY, "36978003", "C5 vertebra"),
    ("vertebrae_c4", ANATOMY, "5329002", "C4 vertebra"),
    ("vertebrae_c3", ANATOMY, "113205007", "C3 vertebra"),
    ("vertebrae_c2", ANATOMY, "39976000", "Axis"),
    ("vertebrae_c1", ANATOMY, "14806007", "Atlas"),
    ("heart", ANATOMY, "80891009", "Heart"),
    ("aorta", ANATOMY, "15825003", "Aorta"),
    ("pulmonary_vein", ANATOMY, "53603007", "Pulmonary vein"),
    (
        "brachiocephalic_trunk",
        ANATOMY,
        "12691009",
        "Brachiocephalic artery",
    ),
    (
        "subclavian_artery_right",
        ANATOMY,
        "29700009",
        "Right subclavian artery",
    ),
    (
        "subclavian_artery_left",
        ANATOMY,
        "85235006",
        "Left subclavian artery",
    ),
    (
        "common_carotid_artery_right",
        ANATOMY,
        "721033002",
        "Right carotid artery",
    ),
    (
        "common_carotid_artery_left",
        ANATOMY,
        "113263003",
        "Left common carotid artery",
    ),
    (
        "brachiocephalic_vein_left",
        ANATOMY,
        "1240432004",
        "Left brachiocephalic vein",
    ),
    (
        "brachiocephalic_vein_right",
        ANATOMY,
        "771203001",
        "Right brachiocephalic vein",
    ),
    (
        "atrial_appendage_left",
        ANATOMY,
        "277930000",
        "Left auricular appendage",
    ),
    (
        "superior_vena_cava",
        ANATOMY,
        "48345005",
        "Superior vena cava",
    ),
    (
        "inferior_vena_cava",
        ANATOMY,
        "64131007",
        "Inferior vena cava",
    ),
    (
        "portal_vein_and_splenic_vein",
        ANATOMY,
        "110765007",
        "Portal vein and splenic vein",
    ),
    (
        "iliac_artery_left",
        ANATOMY,
        "721077009",
        "Left iliac artery",
    ),
    (
        "iliac_artery_right",
        ANATOMY,
        "721035009",
        "Right iliac artery",
    ),
    ("iliac_vena_left", ANATOMY, "764118005", "Left iliac vein"),
    ("iliac_vena_right", ANATOMY, "764119002", "Right iliac vein"),
    ("humerus_left", ANATOMY, "719460003", "Left humerus"),
    ("humerus_right", ANATOMY, "719461004", "Right humerus"),
    ("scapula_left", ANATOMY, "719627005", "Left scapula"),
    ("scapula_right", ANATOMY, "719628000", "Right scapula"),
    ("clavicula_left", ANATOMY, "720617006", "Left clavicle"),
    ("clavicula_right", ANATOMY, "720616002", "Right clavicle"),
    ("spinal_cord", ANATOMY, "2748008", "Spinal cord"),
    (
        "gluteus_maximus",
        ANATOMY,
        "206007",
        "Gluteus maximus muscle",
    ),
    (
        "gluteus_minimus",
        ANATOMY,
        "75297007",
        "Gluteus minimus muscle",
    ),
    ("autochthon", ANATOMY, "44947003", "Erector spinae muscle"),
    ("iliopsoas", ANATOMY, "181668001", "Iliopsoas muscle"),
    ("brain", ANATOMY, "12738006", "Brain"),
    ("skull", ANATOMY, "89546000", "Cranium"),
    ("sternum", ANATOMY, "56873002", "Sternum"),
    ("costal_cartilages", ANATOMY, "50016007", "Costal cartilage"),
    ("rib_1", ANATOMY, "48535007", "First rib"),
    ("rib_2", ANATOMY, "78247007", "Second rib"),
    ("rib_3", ANATOMY, "25888004", "Third rib"),
    ("rib_4", ANATOMY, "25523003", "Fourth rib"),
    ("rib_5", ANATOMY, "15339008", "Fifth rib"),
    ("rib_6", ANATOMY, "59558009", "Sixth rib"),
    ("rib_7", ANATOMY, "24915002", "Seventh rib"),
    ("rib_8", ANATOMY, "5953002", "Eighth rib"),
    ("rib_9", ANATOMY, "22565002", "Ninth rib"),
    ("rib_10", ANATOMY, "77644006", "Tenth rib"),
    ("rib_11", ANATOMY, "58830002", "Eleventh rib"),
    ("rib_12", ANATOMY, "43993008", "Twelfth rib"),
    // Stratum's presets and models.
    ("bone", TISSUE, "272673000", "Bone"),
    ("skin", ANATOMY, "39937001", "Skin"),
    ("soft_tissue", TISSUE, "87784001", "Soft tissue"),
    ("vessels", ANATOMY, "59820001", "Blood vessel"),
    ("contrast_vessels", ANATOMY, "59820001", "Blood vessel"),
    ("liver_lesion", ABNORMAL, "52988006", "Lesion"),
];

/// The codes for a segment named `name` (any case; spaces, dashes and
/// parentheses read as underscores).
pub fn codes_for(name: &str) -> SegmentCodes {
    let norm: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let lookup = |n: &str| TABLE.iter().find(|(k, ..)| *k == n);
    // "rib_left_3" -> "rib_3" and left.
    let (base, side) = if let Some(rest) = norm.strip_prefix("rib_left_") {
        (format!("rib_{rest}"), Some(LEFT))
    } else if let Some(rest) = norm.strip_prefix("rib_right_") {
        (format!("rib_{rest}"), Some(RIGHT))
    } else {
        (norm.clone(), None)
    };
    if let Some((_, cat, value, meaning)) = lookup(&base) {
        return SegmentCodes {
            category: cat.clone(),
            kind: sct(value, meaning),
            modifier: side,
            known: true,
        };
    }
    for (suffix, side) in [("_left", LEFT), ("_right", RIGHT)] {
        if let Some(stem) = norm.strip_suffix(suffix)
            && let Some((_, cat, value, meaning)) = lookup(stem)
        {
            return SegmentCodes {
                category: cat.clone(),
                kind: sct(value, meaning),
                modifier: Some(side),
                known: true,
            };
        }
    }
    SegmentCodes {
        category: TISSUE,
        kind: TISSUE,
        modifier: None,
        known: false,
    }
}
