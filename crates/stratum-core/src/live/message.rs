//! What a live session's frames carry once decrypted: a tag byte, then the
//! message. Document messages (the snapshot, edits) are binary, in the
//! document's own formats; view and table events are JSON, so a browser
//! reads them without a decoder of its own. `docs/live-protocol.md` is the
//! reference.

use serde::{Deserialize, Serialize};

use crate::base::error::{CoreError, Result};

const T_HELLO: u8 = 1;
const T_SNAPSHOT: u8 = 2;
const T_EDIT: u8 = 3;
const T_SEAL: u8 = 4;
const T_EVENT: u8 = 5;
// Participants' messages (a Stratum holding the pen).
const T_BATCH: u8 = 6;

/// One decrypted message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// First of every stream: the session's id (a newcomer's key check).
    Hello {
        session: String,
    },
    /// The document as the session started (for a Stratum that follows):
    /// the scan (when the presenter sends it) and the document state's
    /// bytes; the edits since follow as [`Message::Edit`]s.
    Snapshot {
        scan: Option<Vec<u8>>,
        state: Vec<u8>,
    },
    /// An edit's binary form ([`crate::document::Edit::to_bytes`]).
    Edit(Vec<u8>),
    /// The host sealed a pending table edit into a history step.
    Seal,
    Event(Event),
    /// Several messages in one frame (a participant's edits of one app
    /// frame: a stroke's samples stay under the rate cap). Not nested.
    Batch(Vec<Message>),
}

/// Someone in the session, as the host lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// The host's number for this connection (stable while it lasts).
    pub id: u64,
    /// What it said its name is ("" until it does).
    pub name: String,
    /// `browser` or `stratum` (only a Stratum can hold the pen).
    pub kind: String,
}

/// A clip plane: the model is kept where `normal · p <= offset_mm` (p in
/// LPS millimetres, `normal` a unit LPS vector).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipPlane {
    pub normal: [f64; 3],
    pub offset_mm: f64,
}

impl ClipPlane {
    /// A view's clip plane (`crate::image::view::ClipPlane`: cut where its
    /// signed distance is positive) as the protocol sends it.
    pub fn from_view(plane: &crate::image::view::ClipPlane) -> ClipPlane {
        let n = plane.normal;
        ClipPlane {
            normal: n,
            offset_mm: (0..3).map(|i| n[i] * plane.point[i]).sum(),
        }
    }

    /// The same cut as a view's clip plane (through the point of the plane
    /// nearest the origin); `None` for a normal of zero length or a number
    /// that is not finite.
    pub fn to_view(&self) -> Option<crate::image::view::ClipPlane> {
        let n = self.normal;
        let len2 = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
        if !(len2 > 1e-12 && len2.is_finite() && self.offset_mm.is_finite()) {
            return None;
        }
        let k = self.offset_mm / len2;
        Some(crate::image::view::ClipPlane::new(
            n,
            [n[0] * k, n[1] * k, n[2] * k],
        ))
    }
}

/// A distance measured between two points (LPS mm).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ruler {
    pub a: [f64; 3],
    pub b: [f64; 3],
    pub length_mm: f64,
}

/// One row of the segment table as followers show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub id: u16,
    pub name: String,
    pub colour: [u8; 3],
    pub visible: bool,
    pub opacity: f32,
}

/// A segment of the browser's model: the GLB material `key` is segment `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneSegment {
    pub id: u16,
    pub key: String,
    pub name: String,
    pub ml: f64,
}

/// Where a head or a hand is: `position` in LPS mm, in the model's frame
/// (the anatomy's own coordinates, whatever its pose in anyone's room);
/// `rotation` a unit quaternion (x, y, z, w) turning the participant's own
/// axes into LPS: it looks (or points) along rotation · (0, 1, 0), with
/// rotation · (0, 0, 1) up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvatarPose {
    pub position: [f64; 3],
    pub rotation: [f64; 4],
}

impl AvatarPose {
    /// Rounded to 0.1 mm and 1e-4 (what is sent: shorter, and
    /// nothing below what the eye sees).
    pub fn rounded(self) -> AvatarPose {
        let r = |v: f64, s: f64| (v * s).round() / s;
        AvatarPose {
            position: self.position.map(|v| r(v, 10.0)),
            rotation: self.rotation.map(|v| r(v, 1e4)),
        }
    }
}

fn unit_scale() -> f64 {
    1.0
}

fn is_unit_scale(s: &f64) -> bool {
    *s == 1.0
}

/// A JSON event. View events come from the presenter (the app, or the
/// presenter's browser); table and scene events from the host; `visible`,
/// `opacity`, `undo` and `redo` are what a presenter's browser asks the
/// host to apply to the document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The presenter's view: an orbit around `target` (LPS mm) at
    /// `distance_mm`; `azimuth_deg` turns about the patient's superior axis
    /// (0 = seen from the front, 90 = from the patient's left),
    /// `polar_deg` is the angle from superior (90 = level).
    Camera {
        target: [f64; 3],
        azimuth_deg: f64,
        polar_deg: f64,
        distance_mm: f64,
        fov_deg: f64,
    },
    /// The model's pose: a uniform scale and a rotation (unit quaternion
    /// x, y, z, w in LPS) about the anatomy's centre, then a translation
    /// (LPS mm). The scale is a headset presenter's (a model held at
    /// twice life size); 1 is left out of the JSON.
    Pose {
        rotation: [f64; 4],
        translation: [f64; 3],
        #[serde(default = "unit_scale", skip_serializing_if = "is_unit_scale")]
        scale: f64,
    },
    Clip {
        planes: Vec<ClipPlane>,
    },
    Rulers {
        rulers: Vec<Ruler>,
    },
    /// Where the presenter's laser or mouse points (LPS mm), or none.
    Laser {
        point: Option<[f64; 3]>,
    },
    /// The segment table (after any change of a name, colour, visibility
    /// or opacity, and to every newcomer).
    Table {
        segments: Vec<TableRow>,
    },
    /// What a browser's model holds: `model` is the path of the encrypted
    /// GLB; `centre_mm` is the LPS point the GLB is centred on.
    Scene {
        model: String,
        centre_mm: [f64; 3],
        half_m: [f64; 3],
        segments: Vec<SceneSegment>,
    },
    /// How many follow now.
    Joined {
        viewers: usize,
    },
    /// Segments whose voxels changed (a browser's surfaces are the
    /// session's start; a Stratum follower rebuilds them).
    Voxels {
        ids: Vec<u16>,
    },
    Visible {
        id: u16,
        visible: bool,
    },
    Opacity {
        id: u16,
        opacity: f32,
    },
    Undo,
    Redo,

    // Participants and the pen (a Stratum that joins edits while it holds
    // the pen). Kept together: other event types are added beside them.
    /// A participant's name for the others (from a participant, sealed
    /// with the follower key; at most 40 characters are kept).
    Introduce {
        name: String,
    },
    /// Who takes part and who holds the pen (host, after any change).
    Participants {
        participants: Vec<Participant>,
        pen: Option<u64>,
        /// The presenter's name ("" when not given).
        #[serde(default)]
        presenter: String,
    },
    /// To one participant, after hello: its number in `participants`.
    You {
        id: u64,
    },
    /// Presenter: hand the pen to participant `id` (null: take it back).
    GivePen {
        id: Option<u64>,
    },
    /// Presenter: remove participant `id` (its connection closes).
    Remove {
        id: u64,
    },
    /// To one participant: what it sent was not applied, and why.
    Refused {
        reason: String,
    },
    /// To one participant, just before its connection closes.
    Removed,

    // What any viewer may send (sealed with the follow key; the host sets
    // `from` to the viewer's connection and forwards it to everyone).
    /// A viewer points at a place on the model (LPS mm), or takes the
    /// pointer away (`null`), labelled with the name the viewer gave.
    Point {
        #[serde(default)]
        from: u64,
        name: String,
        point: Option<[f64; 3]>,
    },
    /// A viewer raised (or lowered) a hand.
    Hand {
        #[serde(default)]
        from: u64,
        name: String,
        raised: bool,
    },

    // The pen across a dropped connection.
    /// Host, to the pen holder only: the token that gets the pen back on a
    /// new connection (32 hex digits); `null` to a participant whose token
    /// is no longer valid.
    PenToken {
        token: Option<String>,
    },
    /// Participant (on a new connection): give me back the pen I held.
    ClaimPen {
        token: String,
    },

    // Who is where (a participant's head and hands, in the model's frame).
    /// A participant's head and controllers (LPS mm, rotations in LPS),
    /// relayed by the host with `from` and `name` set; all three `null`:
    /// its avatar goes away (also sent by the host when it leaves).
    Avatar {
        #[serde(default)]
        from: u64,
        #[serde(default)]
        name: String,
        head: Option<AvatarPose>,
        left: Option<AvatarPose>,
        right: Option<AvatarPose>,
    },

    // Edited surfaces for browsers (from the host).
    /// The surfaces of segments whose voxels changed, rebuilt: `model` is
    /// the path of an encrypted GLB holding just them (as the scene's
    /// model; `None` when all of them are empty now), `segments` names its
    /// parts, `empty` lists segments with no surface left. They replace
    /// what the browser shows for those segments, in the order sent.
    Surfaces {
        model: Option<String>,
        segments: Vec<SceneSegment>,
        empty: Vec<u16>,
    },
}

impl Event {
    /// The kind of view event this is (a newcomer gets the latest of each).
    pub fn view_kind(&self) -> Option<&'static str> {
        Some(match self {
            Event::Camera { .. } => "camera",
            Event::Pose { .. } => "pose",
            Event::Clip { .. } => "clip",
            Event::Rulers { .. } => "rulers",
            Event::Laser { .. } => "laser",
            _ => return None,
        })
    }

    /// Whether every number in it is finite (a NaN from a participant
    /// would poison every follower's view).
    pub fn is_finite(&self) -> bool {
        let ok = |v: &[f64]| v.iter().all(|x| x.is_finite());
        match self {
            Event::Camera {
                target,
                azimuth_deg,
                polar_deg,
                distance_mm,
                fov_deg,
            } => ok(target) && ok(&[*azimuth_deg, *polar_deg, *distance_mm, *fov_deg]),
            Event::Pose {
                rotation,
                translation,
                scale,
            } => ok(rotation) && ok(translation) && scale.is_finite() && *scale > 0.0,
            Event::Clip { planes } => planes
                .iter()
                .all(|p| ok(&p.normal) && p.offset_mm.is_finite()),
            Event::Rulers { rulers } => rulers
                .iter()
                .all(|r| ok(&r.a) && ok(&r.b) && r.length_mm.is_finite()),
            Event::Laser { point } => point.as_ref().is_none_or(|p| ok(p)),
            Event::Opacity { opacity, .. } => (0.0..=1.0).contains(opacity),
            Event::Point { point, .. } => point.as_ref().is_none_or(|p| ok(p)),
            Event::Avatar {
                head, left, right, ..
            } => [head, left, right]
                .iter()
                .all(|p| p.is_none_or(|p| ok(&p.position) && ok(&p.rotation))),
            _ => true,
        }
    }
}

impl Message {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Message::Hello { session } => {
                out.push(T_HELLO);
                out.extend_from_slice(session.as_bytes());
            }
            Message::Snapshot { scan, state } => {
                out.push(T_SNAPSHOT);
                let scan = scan.as_deref().unwrap_or(&[]);
                out.extend_from_slice(&(scan.len() as u64).to_le_bytes());
                out.extend_from_slice(scan);
                out.extend_from_slice(state);
            }
            Message::Edit(bytes) => {
                out.push(T_EDIT);
                out.extend_from_slice(bytes);
            }
            Message::Seal => out.push(T_SEAL),
            Message::Event(e) => {
                out.push(T_EVENT);
                // Serialising plain data with finite numbers cannot fail.
                out.extend_from_slice(&serde_json::to_vec(e).unwrap_or_default());
            }
            Message::Batch(msgs) => {
                out.push(T_BATCH);
                for m in msgs {
                    let b = m.to_bytes();
                    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    out.extend_from_slice(&b);
                }
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Message> {
        let refused = |what: &str| CoreError::LiveRefused(what.to_string());
        let (&tag, body) = bytes
            .split_first()
            .ok_or_else(|| refused("an empty message"))?;
        Ok(match tag {
            T_HELLO => Message::Hello {
                session: String::from_utf8(body.to_vec())
                    .map_err(|_| refused("a hello that is not text"))?,
            },
            T_SNAPSHOT => {
                if body.len() < 8 {
                    return Err(refused("a snapshot that ends early"));
                }
                let n = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
                let rest = &body[8..];
                if n > rest.len() as u64 {
                    return Err(refused("a snapshot whose scan runs past its end"));
                }
                let (scan, state) = rest.split_at(n as usize);
                Message::Snapshot {
                    scan: (n > 0).then(|| scan.to_vec()),
                    state: state.to_vec(),
                }
            }
            T_EDIT => Message::Edit(body.to_vec()),
            T_SEAL => Message::Seal,
            T_EVENT => Message::Event(serde_json::from_slice(body).map_err(|e| {
                CoreError::LiveRefused(format!("an event that does not read: {e}"))
            })?),
            T_BATCH => {
                let mut msgs = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    if rest.len() < 4 {
                        return Err(refused("a batch that ends early"));
                    }
                    let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                    let one = rest[4..]
                        .get(..n)
                        .ok_or_else(|| refused("a batch whose message runs past its end"))?;
                    if one.first() == Some(&T_BATCH) {
                        return Err(refused("a batch inside a batch"));
                    }
                    msgs.push(Message::from_bytes(one)?);
                    rest = &rest[4 + n..];
                }
                Message::Batch(msgs)
            }
            _ => return Err(refused("an unknown message")),
        })
    }
}
