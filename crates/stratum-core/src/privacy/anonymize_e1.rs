//! The attributes of PS3.15 Table E.1-1 (edition 2026c, basic profile column)
//! that [`super::BASIC_PROFILE`] did not list: the newer parts of the table
//! (clinical trials, RT, GPS, specimens, ...). Found missing by
//! scripts/privacy-check.py, which checks anonymized files against the
//! table as the dicom-anonymizer package ships it; combined codes reduced as
//! in `BASIC_PROFILE` (Z/D -> D, X/Z and X/Z/D -> Z, X/D -> X, X/Z/U* -> K).

use super::Action::{self, *};

/// (group, element, action), sorted by tag.
pub const BASIC_PROFILE_2026: &[(u16, u16, Action)] = &[
    (0x0008, 0x0015, X), // Instance Coercion DateTime
    (0x0008, 0x0017, U), // Acquisition UID
    (0x0008, 0x0019, U), // Pyramid UID
    (0x0008, 0x0054, X), // Retrieve AE Title
    (0x0008, 0x0055, X), // Station AE Title
    (0x0008, 0x009C, Z), // Consulting Physician's Name
    (0x0008, 0x009D, X), // Consulting Physician Identification Sequence
    (0x0008, 0x0106, D), // Context Group Version
    (0x0008, 0x0107, D), // Context Group Local Version
    (0x0008, 0x1000, X), // Network ID
    (0x0008, 0x1041, X), // Institutional Department Type Code Sequence
    (0x0008, 0x1088, X), // Pyramid Description
    (0x0008, 0x1301, X), // Principal Diagnosis Code Sequence
    (0x0008, 0x1302, X), // Primary Diagnosis Code Sequence
    (0x0008, 0x1303, X), // Secondary Diagnoses Code Sequence
    (0x0008, 0x1304, X), // Histological Diagnoses Code Sequence
    (0x0010, 0x0011, X), // Person Names to Use Sequence
    (0x0010, 0x0012, X), // Name to Use
    (0x0010, 0x0013, X), // Name to Use Comment
    (0x0010, 0x0014, X), // Third Person Pronouns Sequence
    (0x0010, 0x0015, X), // Pronoun Code Sequence
    (0x0010, 0x0016, X), // Pronoun Comment
    (0x0010, 0x0041, X), // Gender Identity Sequence
    (0x0010, 0x0042, X), // Sex Parameters for Clinical Use Category Comment
    (0x0010, 0x0043, X), // Sex Parameters for Clinical Use Category Sequence
    (0x0010, 0x0044, X), // Gender Identity Code Sequence
    (0x0010, 0x0045, X), // Gender Identity Comment
    (0x0010, 0x0046, X), // Sex Parameters for Clinical Use Category Code Sequence
    (0x0010, 0x0047, X), // Sex Parameters for Clinical Use Category Reference
    (0x0010, 0x2155, X), // Patient's Telecom Information
    (0x0010, 0x2161, X), // Ethnic Group Code Sequence
    (0x0010, 0x2162, X), // Ethnic Groups
    (0x0012, 0x0010, D), // Clinical Trial Sponsor Name
    (0x0012, 0x0020, D), // Clinical Trial Protocol ID
    (0x0012, 0x0021, Z), // Clinical Trial Protocol Name
    (0x0012, 0x0022, X), // Issuer of Clinical Trial Protocol ID
    (0x0012, 0x0023, X), // Other Clinical Trial Protocol IDs Sequence
    (0x0012, 0x0030, Z), // Clinical Trial Site ID
    (0x0012, 0x0031, Z), // Clinical Trial Site Name
    (0x0012, 0x0032, X), // Issuer of Clinical Trial Site ID
    (0x0012, 0x0040, D), // Clinical Trial Subject ID
    (0x0012, 0x0041, X), // Issuer of Clinical Trial Subject ID
    (0x0012, 0x0042, D), // Clinical Trial Subject Reading ID
    (0x0012, 0x0043, X), // Issuer of Clinical Trial Subject Reading ID
    (0x0012, 0x0050, Z), // Clinical Trial Time Point ID
    (0x0012, 0x0051, X), // Clinical Trial Time Point Description
    (0x0012, 0x0055, X), // Issuer of Clinical Trial Time Point ID
    (0x0012, 0x0060, Z), // Clinical Trial Coordinating Center Name
    (0x0012, 0x0071, X), // Clinical Trial Series ID
    (0x0012, 0x0072, X), // Clinical Trial Series Description
    (0x0012, 0x0073, X), // Issuer of Clinical Trial Series ID
    (0x0012, 0x0081, D), // Clinical Trial Protocol Ethics Committee Name
    (0x0012, 0x0082, X), // Clinical Trial Protocol Ethics Committee Approval Number
    (0x0012, 0x0086, X), // Ethics Committee Approval Effectiveness Start Date
    (0x0012, 0x0087, X), // Ethics Committee Approval Effectiveness End Date
    (0x0014, 0x407C, X), // Calibration Time
    (0x0014, 0x407E, X), // Calibration Date
    (0x0016, 0x002B, X), // Maker Note
    (0x0016, 0x004B, X), // Device Setting Description
    (0x0016, 0x004D, X), // Camera Owner Name
    (0x0016, 0x004E, X), // Lens Specification
    (0x0016, 0x004F, X), // Lens Make
    (0x0016, 0x0050, X), // Lens Model
    (0x0016, 0x0051, X), // Lens Serial Number
    (0x0016, 0x0070, X), // GPS Version ID
    (0x0016, 0x0071, X), // GPS Latitude Ref
    (0x0016, 0x0072, X), // GPS Latitude
    (0x0016, 0x0073, X), // GPS Longitude Ref
    (0x0016, 0x0074, X), // GPS Longitude
    (0x0016, 0x0075, X), // GPS Altitude Ref
    (0x0016, 0x0076, X), // GPS Altitude
    (0x0016, 0x0077, X), // GPS Time Stamp
    (0x0016, 0x0078, X), // GPS Satellites
    (0x0016, 0x0079, X), // GPS Status
    (0x0016, 0x007A, X), // GPS Measure Mode
    (0x0016, 0x007B, X), // GPS DOP
    (0x0016, 0x007C, X), // GPS Speed Ref
    (0x0016, 0x007D, X), // GPS Speed
    (0x0016, 0x007E, X), // GPS Track Ref
    (0x0016, 0x007F, X), // GPS Track
    (0x0016, 0x0080, X), // GPS Img Direction Ref
    (0x0016, 0x0081, X), // GPS Img Direction
    (0x0016, 0x0082, X), // GPS Map Datum
    (0x0016, 0x0083, X), // GPS Dest Latitude Ref
    (0x0016, 0x0084, X), // GPS Dest Latitude
    (0x0016, 0x0085, X), // GPS Dest Longitude Ref
    (0x0016, 0x0086, X), // GPS Dest Longitude
    (0x0016, 0x0087, X), // GPS Dest Bearing Ref
    (0x0016, 0x0088, X), // GPS Dest Bearing
    (0x0016, 0x0089, X), // GPS Dest Distance Ref
    (0x0016, 0x008A, X), // GPS Dest Distance
    (0x0016, 0x008B, X), // GPS Processing Method
    (0x0016, 0x008C, X), // GPS Area Information
    (0x0016, 0x008D, X), // GPS Date Stamp
    (0x0016, 0x008E, X), // GPS Differential
    (0x0018, 0x0027, X), // Intervention Drug Stop Time
    (0x0018, 0x0035, X), // Intervention Drug Start Time
    (0x0018, 0x1009, X), // Unique Device Identifier
    (0x0018, 0x100A, X), // UDI Sequence
    (0x0018, 0x100B, U), // Manufacturer's Device Class UID
    (0x0018, 0x1010, X), // Secondary Capture Device ID
    (0x0018, 0x1011, X), // Hardcopy Creation Device ID
    (0x0018, 0x1012, X), // Date of Secondary Capture
    (0x0018, 0x1014, X), // Time of Secondary Capture
    (0x0018, 0x1042, X), // Contrast/Bolus Start Time
    (0x0018, 0x1043, X), // Contrast/Bolus Stop Time
    (0x0018, 0x1072, X), // Radiopharmaceutical Start Time
    (0x0018, 0x1073, X), // Radiopharmaceutical Stop Time
    (0x0018, 0x1078, X), // Radiopharmaceutical Start DateTime
    (0x0018, 0x1079, X), // Radiopharmaceutical Stop DateTime
    (0x0018, 0x11BB, D), // Acquisition Field Of View Label
    (0x0018, 0x1202, X), // DateTime of Last Calibration
    (0x0018, 0x1203, Z), // Calibration DateTime
    (0x0018, 0x1204, X), // Date of Manufacture
    (0x0018, 0x1205, X), // Date of Installation
    (0x0018, 0x2042, U), // Target UID
    (0x0018, 0x5011, X), // Transducer Identification Sequence
    (0x0018, 0x700C, X), // Date of Last Detector Calibration (X/D)
    (0x0018, 0x700E, X), // Time of Last Detector Calibration (X/D)
    (0x0018, 0x9185, X), // Respiratory Motion Compensation Technique Description
    (0x0018, 0x9367, D), // X-Ray Source ID
    (0x0018, 0x9369, D), // Source Start DateTime
    (0x0018, 0x936A, D), // Source End DateTime
    (0x0018, 0x9371, D), // X-Ray Detector ID
    (0x0018, 0x9373, X), // X-Ray Detector Label
    (0x0018, 0x937B, X), // Multi-energy Acquisition Description
    (0x0018, 0x937F, X), // Decomposition Description
    (0x0018, 0x9516, X), // Start Acquisition DateTime (X/D)
    (0x0018, 0x9517, X), // End Acquisition DateTime (X/D)
    (0x0018, 0x9623, D), // Functional Sync Pulse
    (0x0018, 0x9701, D), // Decay Correction DateTime
    (0x0018, 0x9804, D), // Exclusion Start DateTime
    (0x0018, 0x9919, D), // Instruction Performed DateTime (Z/D)
    (0x0018, 0x9937, X), // Requested Series Description
    (0x0018, 0xA002, X), // Contribution DateTime
    (0x0020, 0x0027, X), // Pyramid Label
    (0x0020, 0x3403, X), // Modified Image Date
    (0x0020, 0x3405, X), // Modified Image Time
    (0x0028, 0x1199, U), // Palette Color Lookup Table UID
    (0x0032, 0x0032, X), // Study Verified Date
    (0x0032, 0x0033, X), // Study Verified Time
    (0x0032, 0x0034, X), // Study Read Date
    (0x0032, 0x0035, X), // Study Read Time
    (0x0032, 0x1000, X), // Scheduled Study Start Date
    (0x0032, 0x1001, X), // Scheduled Study Start Time
    (0x0032, 0x1010, X), // Scheduled Study Stop Date
    (0x0032, 0x1011, X), // Scheduled Study Stop Time
    (0x0032, 0x1040, X), // Study Arrival Date
    (0x0032, 0x1041, X), // Study Arrival Time
    (0x0032, 0x1050, X), // Study Completion Date
    (0x0032, 0x1051, X), // Study Completion Time
    (0x0032, 0x1066, X), // Reason for Visit
    (0x0032, 0x1067, X), // Reason for Visit Code Sequence
    (0x0034, 0x0001, D), // Flow Identifier Sequence
    (0x0034, 0x0002, D), // Flow Identifier
    (0x0034, 0x0005, D), // Source Identifier
    (0x0034, 0x0007, D), // Frame Origin Timestamp
    (0x0038, 0x0004, X), // Referenced Patient Alias Sequence
    (0x0038, 0x0014, X), // Issuer of Admission ID Sequence
    (0x0038, 0x001A, X), // Scheduled Admission Date
    (0x0038, 0x001B, X), // Scheduled Admission Time
    (0x0038, 0x001C, X), // Scheduled Discharge Date
    (0x0038, 0x001D, X), // Scheduled Discharge Time
    (0x0038, 0x0030, X), // Discharge Date
    (0x0038, 0x0032, X), // Discharge Time
    (0x0038, 0x0064, X), // Issuer of Service Episode ID Sequence
    (0x0038, 0x0400, X), // Patient's Institution Residence
    (0x003A, 0x0020, X), // Multiplex Group Label
    (0x003A, 0x0203, X), // Channel Label
    (0x003A, 0x020C, X), // Channel Derivation Description
    (0x003A, 0x0310, U), // Multiplex Group UID
    (0x003A, 0x0314, D), // Impedance Measurement DateTime
    (0x003A, 0x0329, X), // Waveform Filter Description
    (0x003A, 0x032B, X), // Filter Lookup Table Description
    (0x0040, 0x0250, X), // Performed Procedure Step End Date
    (0x0040, 0x0251, X), // Performed Procedure Step End Time
    (0x0040, 0x0310, X), // Comments on Radiation Dose
    (0x0040, 0x050A, X), // Specimen Accession Number
    (0x0040, 0x0512, D), // Container Identifier
    (0x0040, 0x0513, Z), // Issuer of the Container Identifier Sequence
    (0x0040, 0x051A, X), // Container Description
    (0x0040, 0x0551, D), // Specimen Identifier
    (0x0040, 0x0554, U), // Specimen UID
    (0x0040, 0x0556, X), // Acquisition Context Description
    (0x0040, 0x0562, Z), // Issuer of the Specimen Identifier Sequence
    (0x0040, 0x0600, X), // Specimen Short Description
    (0x0040, 0x0602, X), // Specimen Detailed Description
    (0x0040, 0x0610, Z), // Specimen Preparation Sequence
    (0x0040, 0x06FA, X), // Slide Identifier
    (0x0040, 0x1002, X), // Reason for the Requested Procedure
    (0x0040, 0x100A, X), // Reason for Requested Procedure Code Sequence
    (0x0040, 0x1104, X), // Person's Telecom Information
    (0x0040, 0x2004, X), // Issue Date of Imaging Service Request
    (0x0040, 0x2005, X), // Issue Time of Imaging Service Request
    (0x0040, 0x2011, X), // Order Callback Telecom Information
    (0x0040, 0x2016, Z), // Placer Order Number / Imaging Service Request
    (0x0040, 0x4005, X), // Scheduled Procedure Step Start DateTime
    (0x0040, 0x4008, X), // Scheduled Procedure Step Expiration DateTime
    (0x0040, 0x4010, X), // Scheduled Procedure Step Modification DateTime
    (0x0040, 0x4011, X), // Expected Completion DateTime
    (0x0040, 0x4050, X), // Performed Procedure Step Start DateTime
    (0x0040, 0x4051, X), // Performed Procedure Step End DateTime
    (0x0040, 0x4052, X), // Procedure Step Cancellation DateTime
    (0x0040, 0xA023, X), // Findings Group Recording Date (Trial)
    (0x0040, 0xA024, X), // Findings Group Recording Time (Trial)
    (0x0040, 0xA030, D), // Verification DateTime
    (0x0040, 0xA032, X), // Observation DateTime (X/D)
    (0x0040, 0xA033, X), // Observation Start DateTime
    (0x0040, 0xA034, X), // Effective Start DateTime
    (0x0040, 0xA035, X), // Effective Stop DateTime
    (0x0040, 0xA082, Z), // Participation DateTime
    (0x0040, 0xA110, X), // Date of Document or Verbal Transaction (Trial)
    (0x0040, 0xA112, X), // Time of Document Creation or Verbal Transaction (Trial)
    (0x0040, 0xA120, D), // DateTime
    (0x0040, 0xA121, D), // Date
    (0x0040, 0xA122, D), // Time
    (0x0040, 0xA13A, D), // Referenced DateTime
    (0x0040, 0xA171, U), // Observation UID
    (0x0040, 0xA172, U), // Referenced Observation UID (Trial)
    (0x0040, 0xA192, X), // Observation Date (Trial)
    (0x0040, 0xA193, X), // Observation Time (Trial)
    (0x0040, 0xA307, X), // Current Observer (Trial)
    (0x0040, 0xA352, X), // Verbal Source (Trial)
    (0x0040, 0xA353, X), // Address (Trial)
    (0x0040, 0xA354, X), // Telephone Number (Trial)
    (0x0040, 0xA358, X), // Verbal Source Identifier Code Sequence (Trial)
    (0x0040, 0xA402, U), // Observation Subject UID (Trial)
    (0x0040, 0xB020, X), // Waveform Annotation Sequence (X/D)
    (0x0040, 0xB034, X), // Annotation DateTime
    (0x0040, 0xB036, X), // Segment Definition DateTime
    (0x0040, 0xB03B, X), // Montage Name
    (0x0040, 0xB03F, X), // Montage Channel Label
    (0x0040, 0xDB06, X), // Template Version
    (0x0040, 0xDB07, X), // Template Local Version
    (0x0040, 0xE004, X), // HL7 Document Effective Time
    (0x0040, 0xE012, X), // Display URI
    (0x0042, 0x0011, D), // Encapsulated Document
    (0x0044, 0x0004, X), // Approval Status DateTime
    (0x0044, 0x000B, X), // Product Expiration DateTime
    (0x0044, 0x0010, X), // Substance Administration DateTime
    (0x0044, 0x0104, D), // Assertion DateTime
    (0x0044, 0x0105, X), // Assertion Expiration DateTime
    (0x0050, 0x001B, X), // Container Component ID
    (0x0050, 0x0020, X), // Device Description
    (0x0050, 0x0021, X), // Long Device Description
    (0x0062, 0x0021, U), // Tracking UID
    (0x0064, 0x0003, U), // Source Frame of Reference UID
    (0x0068, 0x6226, D), // Effective DateTime
    (0x0068, 0x6270, D), // Information Issue DateTime
    (0x006A, 0x0003, D), // Annotation Group UID
    (0x006A, 0x0005, D), // Annotation Group Label
    (0x006A, 0x0006, X), // Annotation Group Description
    (0x0070, 0x0006, D), // Unformatted Text Value
    (0x0070, 0x0082, X), // Presentation Creation Date
    (0x0070, 0x0083, X), // Presentation Creation Time
    (0x0070, 0x1101, U), // Presentation Display Collection UID
    (0x0070, 0x1102, U), // Presentation Sequence Collection UID
    (0x0072, 0x000A, D), // Hanging Protocol Creation DateTime
    (0x0072, 0x005E, D), // Selector AE Value
    (0x0072, 0x005F, D), // Selector AS Value
    (0x0072, 0x0061, D), // Selector DA Value
    (0x0072, 0x0063, D), // Selector DT Value
    (0x0072, 0x0065, D), // Selector OB Value
    (0x0072, 0x0066, D), // Selector LO Value
    (0x0072, 0x0068, D), // Selector LT Value
    (0x0072, 0x006A, D), // Selector PN Value
    (0x0072, 0x006B, D), // Selector TM Value
    (0x0072, 0x006C, D), // Selector SH Value
    (0x0072, 0x006D, D), // Selector UN Value
    (0x0072, 0x006E, D), // Selector ST Value
    (0x0072, 0x0070, D), // Selector UT Value
    (0x0072, 0x0071, D), // Selector UR Value
    (0x0074, 0x1234, X), // Receiving AE
    (0x0074, 0x1236, X), // Requesting AE
    (0x0100, 0x0420, X), // SOP Authorization DateTime
    (0x0400, 0x0105, D), // Digital Signature DateTime
    (0x0400, 0x0115, D), // Certificate of Signer
    (0x0400, 0x0310, X), // Certified Timestamp
    (0x0400, 0x0551, X), // Nonconforming Modified Attributes Sequence
    (0x0400, 0x0552, X), // Nonconforming Data Element Value
    (0x0400, 0x0562, D), // Attribute Modification DateTime
    (0x0400, 0x0563, D), // Modifying System
    (0x0400, 0x0564, Z), // Source of Previous Values
    (0x0400, 0x0565, D), // Reason for the Attribute Modification
    (0x0400, 0x0600, X), // Instance Origin Status
    (0x2100, 0x0040, X), // Creation Date
    (0x2100, 0x0050, X), // Creation Time
    (0x2100, 0x0070, X), // Originator
    (0x2100, 0x0140, D), // Destination AE
    (0x2200, 0x0002, Z), // Label Text (X/Z)
    (0x2200, 0x0005, Z), // Barcode Value (X/Z)
    (0x3002, 0x0121, X), // Position Acquisition Template Name
    (0x3002, 0x0123, X), // Position Acquisition Template Description
    (0x3006, 0x0002, D), // Structure Set Label
    (0x3006, 0x0004, X), // Structure Set Name
    (0x3006, 0x0006, X), // Structure Set Description
    (0x3006, 0x0008, Z), // Structure Set Date
    (0x3006, 0x0009, Z), // Structure Set Time
    (0x3006, 0x0026, Z), // ROI Name
    (0x3006, 0x0028, X), // ROI Description
    (0x3006, 0x002D, X), // ROI DateTime
    (0x3006, 0x002E, X), // ROI Observation DateTime
    (0x3006, 0x0038, X), // ROI Generation Description
    (0x3006, 0x004D, X), // ROI Creator Sequence
    (0x3006, 0x004E, X), // ROI Interpreter Sequence
    (0x3006, 0x0085, X), // ROI Observation Label
    (0x3006, 0x0088, X), // ROI Observation Description
    (0x3006, 0x00A6, Z), // ROI Interpreter
    (0x3008, 0x0024, D), // Treatment Control Point Date
    (0x3008, 0x0025, D), // Treatment Control Point Time
    (0x3008, 0x0054, X), // First Treatment Date (X/D)
    (0x3008, 0x0056, X), // Most Recent Treatment Date (X/D)
    (0x3008, 0x0105, Z), // Source Serial Number (X/Z)
    (0x3008, 0x0162, D), // Safe Position Exit Date
    (0x3008, 0x0164, D), // Safe Position Exit Time
    (0x3008, 0x0166, D), // Safe Position Return Date
    (0x3008, 0x0168, D), // Safe Position Return Time
    (0x3008, 0x0250, X), // Treatment Date (X/D)
    (0x3008, 0x0251, X), // Treatment Time (X/D)
    (0x300A, 0x0002, D), // RT Plan Label
    (0x300A, 0x0003, X), // RT Plan Name
    (0x300A, 0x0004, X), // RT Plan Description
    (0x300A, 0x0006, X), // RT Plan Date (X/D)
    (0x300A, 0x0007, X), // RT Plan Time (X/D)
    (0x300A, 0x000B, X), // Treatment Sites
    (0x300A, 0x000E, X), // Prescription Description
    (0x300A, 0x0016, X), // Dose Reference Description
    (0x300A, 0x0054, U), // Table Top Position Alignment UID
    (0x300A, 0x0072, X), // Fraction Group Description
    (0x300A, 0x0083, U), // Referenced Dose Reference UID
    (0x300A, 0x00B2, Z), // Treatment Machine Name (X/Z)
    (0x300A, 0x00C3, X), // Beam Description
    (0x300A, 0x00DD, X), // Bolus Description
    (0x300A, 0x0196, X), // Fixation Device Description
    (0x300A, 0x01A6, X), // Shielding Device Description
    (0x300A, 0x01B2, X), // Setup Technique Description
    (0x300A, 0x0216, X), // Source Manufacturer
    (0x300A, 0x022C, D), // Source Strength Reference Date
    (0x300A, 0x022E, D), // Source Strength Reference Time
    (0x300A, 0x02EB, X), // Compensator Description
    (0x300A, 0x0608, D), // Treatment Position Group Label
    (0x300A, 0x0609, U), // Treatment Position Group UID
    (0x300A, 0x0611, Z), // RT Accessory Holder Slot ID
    (0x300A, 0x0615, Z), // RT Accessory Device Slot ID
    (0x300A, 0x0619, D), // Radiation Dose Identification Label
    (0x300A, 0x0623, D), // Radiation Dose In-Vivo Measurement Label
    (0x300A, 0x062A, D), // RT Tolerance Set Label
    (0x300A, 0x0650, U), // Patient Setup UID
    (0x300A, 0x0676, X), // Equipment Frame of Reference Description
    (0x300A, 0x067C, D), // Radiation Generation Mode Label
    (0x300A, 0x067D, Z), // Radiation Generation Mode Description
    (0x300A, 0x0700, U), // Treatment Session UID
    (0x300A, 0x0734, D), // Treatment Tolerance Violation Description
    (0x300A, 0x0736, D), // Treatment Tolerance Violation DateTime
    (0x300A, 0x073A, D), // Recorded RT Control Point DateTime
    (0x300A, 0x0741, D), // Interlock DateTime
    (0x300A, 0x0742, D), // Interlock Description
    (0x300A, 0x0760, D), // Override DateTime
    (0x300A, 0x0783, D), // Interlock Origin Description
    (0x300A, 0x0785, U), // Referenced Treatment Position Group UID
    (0x300A, 0x078E, X), // Patient Treatment Preparation Procedure Parameter Description
    (0x300A, 0x0792, X), // Patient Treatment Preparation Method Description
    (0x300A, 0x0794, X), // Patient Setup Photo Description
    (0x300A, 0x079A, X), // Displacement Reference Label
    (0x300C, 0x0113, X), // Reason for Omission Description
    (0x300C, 0x0127, D), // Beam Hold Transition DateTime
    (0x300E, 0x0004, Z), // Review Date
    (0x300E, 0x0005, Z), // Review Time
    (0x3010, 0x0006, U), // Conceptual Volume UID
    (0x3010, 0x000B, U), // Referenced Conceptual Volume UID
    (0x3010, 0x000F, Z), // Conceptual Volume Combination Description
    (0x3010, 0x0013, U), // Constituent Conceptual Volume UID
    (0x3010, 0x0015, U), // Source Conceptual Volume UID
    (0x3010, 0x0017, Z), // Conceptual Volume Description
    (0x3010, 0x001B, Z), // Device Alternate Identifier
    (0x3010, 0x002D, D), // Device Label
    (0x3010, 0x0031, U), // Referenced Fiducials UID
    (0x3010, 0x0033, D), // User Content Label
    (0x3010, 0x0034, D), // User Content Long Label
    (0x3010, 0x0035, D), // Entity Label
    (0x3010, 0x0036, X), // Entity Name
    (0x3010, 0x0037, X), // Entity Description
    (0x3010, 0x0038, D), // Entity Long Label
    (0x3010, 0x003B, U), // RT Treatment Phase UID
    (0x3010, 0x0043, Z), // Manufacturer's Device Identifier
    (0x3010, 0x004C, X), // Intended Phase Start Date (X/D)
    (0x3010, 0x004D, X), // Intended Phase End Date (X/D)
    (0x3010, 0x0054, D), // RT Prescription Label
    (0x3010, 0x0056, X), // RT Treatment Approach Label (X/D)
    (0x3010, 0x005A, Z), // RT Physician Intent Narrative
    (0x3010, 0x005C, Z), // Reason for Superseding
    (0x3010, 0x0061, X), // Prior Treatment Dose Description
    (0x3010, 0x006E, U), // Dosimetric Objective UID
    (0x3010, 0x006F, U), // Referenced Dosimetric Objective UID
    (0x3010, 0x0077, X), // Treatment Site (X/D)
    (0x3010, 0x007A, Z), // Treatment Technique Notes
    (0x3010, 0x007B, Z), // Prescription Notes
    (0x3010, 0x007F, Z), // Fractionation Notes
    (0x3010, 0x0081, Z), // Prescription Notes Sequence
    (0x3010, 0x0085, X), // Intended Fraction Start Time
    (0x4008, 0x0040, X), // Results ID
    (0x4008, 0x0100, X), // Interpretation Recorded Date
    (0x4008, 0x0101, X), // Interpretation Recorded Time
    (0x4008, 0x0108, X), // Interpretation Transcription Date
    (0x4008, 0x0109, X), // Interpretation Transcription Time
    (0x4008, 0x0112, X), // Interpretation Approval Date
    (0x4008, 0x0113, X), // Interpretation Approval Time
    (0x4008, 0x0200, X), // Interpretation ID
];
