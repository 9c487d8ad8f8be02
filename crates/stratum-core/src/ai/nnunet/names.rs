//! Plain English names for the class names nnU-Net datasets use
//! (TotalSegmentator's `kidney_left`, `vertebrae_L1`, `rib_right_4`,
//! `iliac_vena_left`...): words a clinician reads, side first.

/// Words replaced as a whole (TotalSegmentator's Latin and shorthand).
const WORDS: &[(&str, &str)] = &[
    ("vertebrae", "vertebra"),
    ("clavicula", "clavicle"),
    ("vena", "vein"),
    ("autochthon", "autochthonous back muscle"),
    ("hip", "hip bone"),
    ("sup", "superior"),
    ("inf", "inferior"),
    ("ant", "anterior"),
    ("post", "posterior"),
    ("lat", "lateral"),
    ("med", "medial"),
];

/// Whole names whose English is not word for word.
const NAMES: &[(&str, &str)] = &[
    ("portal_vein_and_splenic_vein", "Portal and splenic vein"),
    ("inferior_vena_cava", "Inferior vena cava"),
    ("superior_vena_cava", "Superior vena cava"),
    ("heart_myocardium", "Heart muscle (myocardium)"),
    ("lung_upper_lobe_left", "Left upper lobe of the lung"),
    ("lung_lower_lobe_left", "Left lower lobe of the lung"),
    ("lung_upper_lobe_right", "Right upper lobe of the lung"),
    ("lung_middle_lobe_right", "Right middle lobe of the lung"),
    ("lung_lower_lobe_right", "Right lower lobe of the lung"),
    ("costal_cartilages", "Costal cartilages"),
    ("face", "Face"),
    ("body_trunc", "Body (trunk)"),
    ("body_extremities", "Body (limbs)"),
];

/// A readable English name for dataset class `raw`.
pub fn english(raw: &str) -> String {
    let key = raw.trim();
    if let Some((_, n)) = NAMES.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
        return n.to_string();
    }
    let mut side = None;
    let mut number = None;
    let mut words: Vec<String> = Vec::new();
    let parts: Vec<&str> = key
        .split(['_', '-', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    for (i, p) in parts.iter().enumerate() {
        let lower = p.to_ascii_lowercase();
        match lower.as_str() {
            "left" if parts.len() > 1 && side.is_none() => side = Some("Left"),
            "right" if parts.len() > 1 && side.is_none() => side = Some("Right"),
            _ if p.chars().all(|c| c.is_ascii_digit()) && i + 1 == parts.len() && i > 0 => {
                number = Some(p.to_string())
            }
            _ if is_level(p) => words.push(p.to_ascii_uppercase()),
            _ => {
                let w = WORDS
                    .iter()
                    .find(|(k, _)| *k == lower)
                    .map_or(lower.clone(), |(_, v)| v.to_string());
                words.push(w);
            }
        }
    }
    // "vertebra L1" reads as "L1 vertebra".
    if words.len() == 2 && words[0] == "vertebra" && is_level(&words[1]) {
        words.swap(0, 1);
    }
    let mut name = words.join(" ");
    if let Some(n) = number {
        name = format!("{name} {n}");
    }
    if let Some(s) = side {
        name = format!("{s} {name}");
    }
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => raw.to_string(),
    }
}

/// A spine level: C1-C7, T1-T13, L1-L6, S1-S5, Co.
fn is_level(p: &str) -> bool {
    let mut c = p.chars();
    match (c.next(), c.as_str()) {
        (Some(l), rest) if "CTLSctls".contains(l) => {
            !rest.is_empty() && rest.len() <= 2 && rest.chars().all(|d| d.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::english;

    #[test]
    fn totalsegmentator_names_read_as_english() {
        assert_eq!(english("kidney_left"), "Left kidney");
        assert_eq!(english("vertebrae_L1"), "L1 vertebra");
        assert_eq!(english("rib_right_4"), "Right rib 4");
        assert_eq!(english("iliac_vena_left"), "Left iliac vein");
        assert_eq!(english("clavicula_right"), "Right clavicle");
        assert_eq!(english("inferior_vena_cava"), "Inferior vena cava");
        assert_eq!(english("urinary_bladder"), "Urinary bladder");
        assert_eq!(
            english("lung_middle_lobe_right"),
            "Right middle lobe of the lung"
        );
        assert_eq!(english("spleen"), "Spleen");
    }
}
