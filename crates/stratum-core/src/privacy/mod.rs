//! Privacy: de-identification of DICOM data sets (PS3.15 Annex E) before
//! anything leaves the machine.

pub mod anonymize;
