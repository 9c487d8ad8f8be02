//! The messages every input sends: the view (orbit, pan, zoom, pick,
//! standard views), the anatomy pose, clip planes, rulers, brush strokes
//! and undo/redo.
//! The desktop mouse and panels (`input/desktop.rs`, `ui/`) and the XR
//! controllers (`xr/input.rs`) only write these; the features only read
//! them, so every device drives the same code. Each message is registered by
//! the plugin of the feature that reads it.

use bevy::prelude::*;
use stratum_core::image::view::{ClipPlane, Plane};

/// Standard anatomical views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandardView {
    Anterior,
    Posterior,
    Left,
    Right,
    Superior,
    Inferior,
}

impl StandardView {
    pub const ALL: [StandardView; 6] = [
        StandardView::Anterior,
        StandardView::Posterior,
        StandardView::Left,
        StandardView::Right,
        StandardView::Superior,
        StandardView::Inferior,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StandardView::Anterior => "Anterior",
            StandardView::Posterior => "Posterior",
            StandardView::Left => "Left lateral",
            StandardView::Right => "Right lateral",
            StandardView::Superior => "Superior",
            StandardView::Inferior => "Inferior",
        }
    }

    /// Camera yaw and pitch (radians) of the view.
    pub fn angles(self) -> (f32, f32) {
        use std::f32::consts::{FRAC_PI_2, PI};
        let top = FRAC_PI_2 - 1e-3;
        match self {
            StandardView::Anterior => (0.0, 0.0),
            StandardView::Posterior => (PI, 0.0),
            StandardView::Left => (FRAC_PI_2, 0.0),
            StandardView::Right => (-FRAC_PI_2, 0.0),
            StandardView::Superior => (0.0, -top),
            StandardView::Inferior => (0.0, top),
        }
    }
}

/// What the user wants done to the view.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum ViewAction {
    /// Rotate the model around the focus: yaw and pitch deltas (radians).
    Orbit(Vec2),
    /// Move the focus across the view, in fractions of the view height.
    Pan(Vec2),
    /// Multiply the camera distance (below 1 zooms in).
    Zoom(f32),
    /// Pick the anatomy under a ray (world space); `centre` also makes the
    /// picked point the centre of rotation.
    Pick {
        ray: Ray3d,
        centre: bool,
    },
    /// Frame all visible anatomy from the front.
    Reset,
    Standard(StandardView),
}

/// What the pose of the anatomy should become. The desktop panel and the XR
/// controllers send these; nothing else moves the anatomy.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum PoseAction {
    /// Apply this world-space transform after the current pose (a hand's
    /// motion, or a two-hand scale and turn about the hands' midpoint).
    Apply(Transform),
    /// Back to the home pose (the desktop's identity, or the XR table).
    Reset,
}

/// What a clip plane is aligned with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipKind {
    /// Cuts away the part above (superior).
    Axial,
    /// Cuts away the front (anterior).
    Coronal,
    /// Cuts away the patient's left.
    Sagittal,
    /// Any direction (tilted by the panel, or placed by a controller).
    Oblique,
}

impl ClipKind {
    pub const ALL: [ClipKind; 4] = [
        ClipKind::Axial,
        ClipKind::Coronal,
        ClipKind::Sagittal,
        ClipKind::Oblique,
    ];

    /// Parses "axial", "coronal", "sagittal" or "oblique".
    pub fn parse(s: &str) -> Option<ClipKind> {
        ClipKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
    }

    pub fn name(self) -> &'static str {
        match self {
            ClipKind::Axial => "Axial",
            ClipKind::Coronal => "Coronal",
            ClipKind::Sagittal => "Sagittal",
            ClipKind::Oblique => "Oblique",
        }
    }

    /// The standard kind whose normal `n` is (within a hundredth of a
    /// degree), else oblique.
    pub fn of_normal(n: [f64; 3]) -> ClipKind {
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        [ClipKind::Axial, ClipKind::Coronal, ClipKind::Sagittal]
            .into_iter()
            .find(|k| {
                let m = k.normal();
                len > 0.0 && (0..3).map(|i| m[i] * n[i]).sum::<f64>() / len > 1.0 - 1.5e-8
            })
            .unwrap_or(ClipKind::Oblique)
    }

    /// The LPS normal (the side cut away).
    pub fn normal(self) -> [f64; 3] {
        match self {
            ClipKind::Axial => [0.0, 0.0, 1.0],
            ClipKind::Coronal => [0.0, -1.0, 0.0],
            ClipKind::Sagittal => [1.0, 0.0, 0.0],
            ClipKind::Oblique => [
                0.0,
                -std::f64::consts::FRAC_1_SQRT_2,
                std::f64::consts::FRAC_1_SQRT_2,
            ],
        }
    }
}

/// Everything that changes a clip plane: the panel sends these, and so can
/// a VR controller.
#[derive(Message, Clone, Debug, PartialEq)]
pub enum ClipAction {
    Enable {
        index: usize,
        on: bool,
    },
    /// Align plane `index` with a standard direction, through the study centre.
    Orient {
        index: usize,
        kind: ClipKind,
    },
    /// Put plane `index` at this offset (mm) from the study centre along its normal.
    Offset {
        index: usize,
        mm: f64,
    },
    /// Tilt plane `index`: rotate its normal by these angles (degrees) about
    /// the patient's left-right and its superior-inferior axes, keeping its offset.
    Tilt {
        index: usize,
        pitch: f64,
        yaw: f64,
    },
    /// Move plane `index` along its normal by this many mm.
    Move {
        index: usize,
        mm: f64,
    },
    /// Cut away the other side of plane `index`.
    Flip {
        index: usize,
    },
    /// Any plane (e.g. held in a hand controller, or a live session's
    /// presenter's): oblique unless its normal is a standard one.
    Set {
        index: usize,
        plane: ClipPlane,
    },
}

impl ClipAction {
    /// The plane the action is about.
    pub fn index(&self) -> Option<usize> {
        match *self {
            ClipAction::Enable { index, .. }
            | ClipAction::Orient { index, .. }
            | ClipAction::Offset { index, .. }
            | ClipAction::Tilt { index, .. }
            | ClipAction::Move { index, .. }
            | ClipAction::Flip { index }
            | ClipAction::Set { index, .. } => Some(index),
        }
    }
}

/// Everything that changes the rulers (the panel, the slice views, a
/// surface pick — and later a VR controller).
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum RulerAction {
    /// Start or stop placing rulers.
    Place(bool),
    /// A picked point: the first or the second end.
    Point([f64; 3]),
    Delete(usize),
    Clear,
}

/// What a brush does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BrushTool {
    /// Add voxels to the segment (slice views).
    Paint,
    /// Remove voxels from the segment (slice views).
    Erase,
    /// Add material on the surface (3D view, XR).
    Add,
    /// Remove material from the surface (3D view, XR).
    Remove,
    /// Smooth the segment's border inside the brush.
    Smooth,
}

impl BrushTool {
    pub const ALL: [BrushTool; 5] = [
        BrushTool::Paint,
        BrushTool::Erase,
        BrushTool::Add,
        BrushTool::Remove,
        BrushTool::Smooth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BrushTool::Paint => "Paint",
            BrushTool::Erase => "Erase",
            BrushTool::Add => "Add",
            BrushTool::Remove => "Remove",
            BrushTool::Smooth => "Smooth",
        }
    }

    pub fn parse(s: &str) -> Option<BrushTool> {
        BrushTool::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// The tool the 3D view uses for this one (paint adds, erase removes).
    pub fn in_3d(self) -> BrushTool {
        match self {
            BrushTool::Paint => BrushTool::Add,
            BrushTool::Erase => BrushTool::Remove,
            t => t,
        }
    }

    /// The tool a slice view uses for this one (add paints, remove erases).
    pub fn in_2d(self) -> BrushTool {
        match self {
            BrushTool::Add => BrushTool::Paint,
            BrushTool::Remove => BrushTool::Erase,
            t => t,
        }
    }

    /// True when the tool puts voxels into the segment.
    pub fn adds(self) -> bool {
        matches!(self, BrushTool::Paint | BrushTool::Add)
    }
}

/// Where a stroke is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrokePhase {
    Begin,
    Sample,
    End,
}

/// One sample of a brush stroke, from any input.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub struct BrushAction {
    pub phase: StrokePhase,
    pub tool: BrushTool,
    /// Brush centre, LPS mm.
    pub point: [f64; 3],
    /// The slice view painted on, for a 2D (disc) brush in that slice;
    /// `None` paints a sphere (the 3D view, XR, or the sphere setting).
    pub plane: Option<Plane>,
}

/// Undo or redo the last step (Ctrl+Z, Ctrl+Shift+Z, the History buttons,
/// the wrist panel).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryAction {
    Undo,
    Redo,
}

/// File commands from the keyboard (Ctrl+S): the File menu's panel does
/// them (saving to the session's folder, or asking where).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileAction {
    SaveSession,
}

/// The systems that turn devices into actions (desktop input, the XR
/// controllers): everything that reads actions runs after them.
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub struct InputSet;

pub struct ActionsPlugin;

impl Plugin for ActionsPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ViewAction>().add_message::<FileAction>();
    }
}
