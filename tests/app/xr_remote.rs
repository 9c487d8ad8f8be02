//! Test-side client of Monado's remote driver: plays a headset and two controllers over TCP.
//!
//! With `P_OVERRIDE_ACTIVE_CONFIG=remote`, Monado (built by `scripts/xr-runtime.sh`) creates a
//! Remote HMD and Remote Left/Right controllers (Valve Index controllers to OpenXR, also bound
//! as Oculus Touch and KHR simple) and listens on TCP port 4242 once the app creates its XR
//! instance. On each connection it writes two `struct r_remote_data` records (its `reset` state
//! and its `latest` state) and then reads records for as long as the connection lasts; every
//! complete record it reads replaces the whole state the devices report. So a rig keeps the
//! full state here and always sends all of it. Poses are in OpenXR's stage space (floor at
//! y = 0, metres, +y up, -z forward): see /work/notes/xr-remote.md for the binding table.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where Monado's remote driver listens. Port 4242 unless `$XDG_CONFIG_HOME/monado/config_v0.json`
/// says `{"remote": {"version": 0, "port": N, "view_count": 2}}`: tests that run the app in
/// parallel give each its own XDG_CONFIG_HOME and port, and use [`RemoteRig::connect_to`].
pub const REMOTE_ADDR: &str = "127.0.0.1:4242";

/// `R_HEADER_VALUE` in `r_interface.h`: the bytes "mndrmt3\0" read as a native u64 (x86-64 and
/// aarch64 are little-endian). The protocol version; Monado drops records without it.
pub const HEADER: u64 = u64::from_le_bytes(*b"mndrmt3\0");

/// `struct xrt_quat`: a unit quaternion, x, y, z, w.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quat {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub w: f32,
}

impl Quat {
    pub const IDENTITY: Quat = Quat {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    };

    /// Rotation of `angle` radians about `axis` (need not be unit length; not zero).
    pub fn from_axis_angle(axis: [f32; 3], angle: f32) -> Quat {
        let n = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
        let s = (angle / 2.0).sin() / n;
        Quat {
            x: axis[0] * s,
            y: axis[1] * s,
            z: axis[2] * s,
            w: (angle / 2.0).cos(),
        }
    }
}

/// `struct xrt_vec3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Vec3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

/// `struct xrt_pose`: orientation first, then position (metres).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pose {
    pub orientation: Quat,
    pub position: Vec3,
}

impl Pose {
    /// Identity orientation at `position` (metres, stage space).
    pub fn at(x: f32, y: f32, z: f32) -> Pose {
        Pose {
            orientation: Quat::IDENTITY,
            position: Vec3 { x, y, z },
        }
    }

    pub fn rotated(self, orientation: Quat) -> Pose {
        Pose {
            orientation,
            ..self
        }
    }
}

/// `struct xrt_fov`: half-angles in radians (left and down negative).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fov {
    pub angle_left: f32,
    pub angle_right: f32,
    pub angle_up: f32,
    pub angle_down: f32,
}

/// One entry of `r_head_data::views`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct View {
    pub fov: Fov,
    /// Relative to `HeadData::center`.
    pub pose: Pose,
    pub _pad: u32,
}

/// `struct r_head_data`. C `bool`s are mirrored as `u8` (same size and alignment) so that any
/// byte the runtime sends is a valid value here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeadData {
    /// Used only when `per_view_data_valid` is 1; otherwise Monado derives the eyes from
    /// `center` with its default 85-degree field of view.
    pub views: [View; 2],
    /// The head (OpenXR's view space) in stage space.
    pub center: Pose,
    pub per_view_data_valid: u8,
    pub _pad: [u8; 3],
}

/// `struct r_remote_controller_data` (`xrt_vec1` / `xrt_vec2` as `f32` / `[f32; 2]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ControllerData {
    /// Grip, aim and palm pose alike (the driver returns this one pose for all three).
    pub pose: Pose,
    pub linear_velocity: Vec3,
    /// In the controller's own frame (the driver rotates it into stage space).
    pub angular_velocity: Vec3,
    /// Little, ring, middle, index, thumb: 0 open to 1 curled (simulated hand tracking only).
    pub hand_curl: [f32; 5],
    pub trigger_value: f32,
    pub squeeze_value: f32,
    pub squeeze_force: f32,
    pub thumbstick: [f32; 2],
    pub trackpad_force: f32,
    pub trackpad: [f32; 2],
    pub hand_tracking_active: u8,
    /// 0: every input of this controller reads inactive and zero, and its pose is untracked.
    pub active: u8,
    pub system_click: u8,
    pub system_touch: u8,
    pub a_click: u8,
    pub a_touch: u8,
    pub b_click: u8,
    pub b_touch: u8,
    pub trigger_click: u8,
    pub trigger_touch: u8,
    pub thumbstick_click: u8,
    pub thumbstick_touch: u8,
    pub trackpad_touch: u8,
    pub _pad: [u8; 3],
}

/// `struct r_remote_data`: one record of the protocol, in both directions.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RemoteData {
    pub header: u64,
    pub head: HeadData,
    pub left: ControllerData,
    pub right: ControllerData,
}

// The C layout, from scripts/xr-remote-layout.c compiled with gcc 12 (x86-64) against
// r_interface.h of Monado 25.1.0 (`gcc -I<monado>/src/xrt/{drivers/remote,include,auxiliary}`):
// sizeof r_remote_data 376 (align 8), r_head_data 128, r_remote_controller_data 120; offsets
// below. The sizes also show there is no implicit padding (every gap is a named _pad field),
// which `RemoteData::encode` relies on.
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Pose>() == 28);
    assert!(size_of::<Fov>() == 16);
    assert!(size_of::<View>() == 48);
    assert!(size_of::<HeadData>() == 128);
    assert!(size_of::<ControllerData>() == 120);
    assert!(size_of::<RemoteData>() == 376);
    assert!(align_of::<RemoteData>() == 8);
    assert!(offset_of!(RemoteData, header) == 0);
    assert!(offset_of!(RemoteData, head) == 8);
    assert!(offset_of!(RemoteData, left) == 136);
    assert!(offset_of!(RemoteData, right) == 256);
    assert!(offset_of!(HeadData, views) == 0);
    assert!(offset_of!(View, pose) == 16);
    assert!(offset_of!(View, _pad) == 44);
    assert!(offset_of!(HeadData, center) == 96);
    assert!(offset_of!(HeadData, per_view_data_valid) == 124);
    assert!(offset_of!(HeadData, _pad) == 125);
    assert!(offset_of!(ControllerData, pose) == 0);
    assert!(offset_of!(ControllerData, linear_velocity) == 28);
    assert!(offset_of!(ControllerData, angular_velocity) == 40);
    assert!(offset_of!(ControllerData, hand_curl) == 52);
    assert!(offset_of!(ControllerData, trigger_value) == 72);
    assert!(offset_of!(ControllerData, squeeze_value) == 76);
    assert!(offset_of!(ControllerData, squeeze_force) == 80);
    assert!(offset_of!(ControllerData, thumbstick) == 84);
    assert!(offset_of!(ControllerData, trackpad_force) == 92);
    assert!(offset_of!(ControllerData, trackpad) == 96);
    assert!(offset_of!(ControllerData, hand_tracking_active) == 104);
    assert!(offset_of!(ControllerData, active) == 105);
    assert!(offset_of!(ControllerData, system_click) == 106);
    assert!(offset_of!(ControllerData, system_touch) == 107);
    assert!(offset_of!(ControllerData, a_click) == 108);
    assert!(offset_of!(ControllerData, a_touch) == 109);
    assert!(offset_of!(ControllerData, b_click) == 110);
    assert!(offset_of!(ControllerData, b_touch) == 111);
    assert!(offset_of!(ControllerData, trigger_click) == 112);
    assert!(offset_of!(ControllerData, trigger_touch) == 113);
    assert!(offset_of!(ControllerData, thumbstick_click) == 114);
    assert!(offset_of!(ControllerData, thumbstick_touch) == 115);
    assert!(offset_of!(ControllerData, trackpad_touch) == 116);
    assert!(offset_of!(ControllerData, _pad) == 117);
};

const RECORD: usize = std::mem::size_of::<RemoteData>();

impl RemoteData {
    pub fn encode(&self) -> [u8; RECORD] {
        // SAFETY: RemoteData is repr(C) with no implicit padding (checked above), so all of
        // its RECORD bytes are initialised and may be read as u8.
        unsafe { std::mem::transmute_copy(self) }
    }

    pub fn from_bytes(bytes: &[u8; RECORD]) -> RemoteData {
        // SAFETY: every field is an integer or a float, for which any bit pattern is valid,
        // and read_unaligned needs no alignment of the source.
        unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<RemoteData>()) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hand {
    Left,
    Right,
}

/// What a test sets on a controller besides its pose; `Default` is hands off everything.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Buttons {
    /// 0..1. `/input/squeeze/value` (Index, Touch) and Index's `/input/squeeze/force`; a
    /// boolean action reads it as pressed above 0.7. KHR simple has no squeeze.
    pub squeeze: f32,
    /// 0..1. `/input/trigger/value`; also KHR simple's `/input/select/click` (above 0.7).
    pub trigger: f32,
    /// Index `/input/a/click`; Touch `/input/a/click` (right) or `/input/x/click` (left).
    pub a: bool,
    /// Index `/input/b/click`; Touch `/input/b/click` or `/input/y/click`; KHR simple
    /// `/input/menu/click`.
    pub b: bool,
    /// Index `/input/system/click`; Touch `/input/system/click` (right), `/input/menu/click`
    /// (left).
    pub system: bool,
    /// -1..1 each, x right, y forward (up). `/input/thumbstick` (Index, Touch).
    pub thumbstick: [f32; 2],
    pub thumbstick_click: bool,
}

/// A connection to the remote driver, holding the full state it sends.
pub struct RemoteRig {
    stream: TcpStream,
    /// The runtime's `reset` record: its initial poses.
    reset: RemoteData,
    state: RemoteData,
}

impl RemoteRig {
    /// Connects to [`REMOTE_ADDR`], retrying until `timeout`: the runtime listens only once
    /// the app has created its XR instance.
    pub fn connect(timeout: Duration) -> io::Result<RemoteRig> {
        let addr: SocketAddr = REMOTE_ADDR.parse().expect("REMOTE_ADDR is an address");
        RemoteRig::connect_to(addr, timeout)
    }

    /// Connects to `addr`, retrying refused connections until `timeout`, then reads the two
    /// records the runtime sends first (also bounded by `timeout`).
    pub fn connect_to(addr: SocketAddr, timeout: Duration) -> io::Result<RemoteRig> {
        let deadline = Instant::now() + timeout;
        let mut stream = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1))) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("no OpenXR remote driver at {addr} after {timeout:?}: {e}"),
                    ));
                }
                // Refused until the app's runtime binds the port: poll, as there is nothing
                // to wait on from outside the app's process.
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_nodelay(true)?;
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let reset = read_record(&mut stream)?;
        let state = read_record(&mut stream)?;
        stream.set_read_timeout(None)?;
        Ok(RemoteRig {
            stream,
            reset,
            state,
        })
    }

    /// The runtime's reset state (head at 1.6 m; hands at (∓0.2, 1.3, -0.5), both active).
    pub fn reset_state(&self) -> &RemoteData {
        &self.reset
    }

    /// What the next [`send`](Self::send) writes.
    pub fn state(&self) -> &RemoteData {
        &self.state
    }

    /// For fields the helpers below leave alone (velocities, curls, trackpad, touches).
    pub fn state_mut(&mut self) -> &mut RemoteData {
        &mut self.state
    }

    /// Head (view space) pose in stage space; eyes derived by the runtime.
    pub fn set_head(&mut self, pose: Pose) {
        self.state.head.center = pose;
        self.state.head.per_view_data_valid = 0;
    }

    /// Tracked controller at `pose` (stage space) with `buttons`; the matching touch flags
    /// follow the clicks and values, as a real hand would set them.
    pub fn set_hand(&mut self, hand: Hand, pose: Pose, buttons: Buttons) {
        let c = self.controller_mut(hand);
        c.active = 1;
        c.pose = pose;
        c.squeeze_value = buttons.squeeze;
        // A full grip also presses: Index's /input/squeeze/force (hello_xr's grab) follows.
        c.squeeze_force = buttons.squeeze;
        c.trigger_value = buttons.trigger;
        c.trigger_click = u8::from(buttons.trigger >= 1.0);
        c.trigger_touch = u8::from(buttons.trigger > 0.0);
        c.a_click = u8::from(buttons.a);
        c.a_touch = u8::from(buttons.a);
        c.b_click = u8::from(buttons.b);
        c.b_touch = u8::from(buttons.b);
        c.system_click = u8::from(buttons.system);
        c.system_touch = u8::from(buttons.system);
        c.thumbstick = buttons.thumbstick;
        c.thumbstick_click = u8::from(buttons.thumbstick_click);
        c.thumbstick_touch = u8::from(buttons.thumbstick_click || buttons.thumbstick != [0.0; 2]);
    }

    /// Untracked controller: the runtime reports its inputs inactive and its pose invalid.
    pub fn set_inactive(&mut self, hand: Hand) {
        self.controller_mut(hand).active = 0;
    }

    pub fn controller_mut(&mut self, hand: Hand) -> &mut ControllerData {
        match hand {
            Hand::Left => &mut self.state.left,
            Hand::Right => &mut self.state.right,
        }
    }

    /// Writes the whole state as one record; the runtime uses it from its next query on.
    pub fn send(&mut self) -> io::Result<()> {
        self.state.header = HEADER;
        self.stream.write_all(&self.state.encode())?;
        self.stream.flush()
    }
}

fn read_record(stream: &mut TcpStream) -> io::Result<RemoteData> {
    let mut buf = [0u8; RECORD];
    stream.read_exact(&mut buf)?;
    let data = RemoteData::from_bytes(&buf);
    if data.header != HEADER {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not Monado's remote protocol 3: header {:#018x}",
                data.header
            ),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A stand-in for Monado's hub on a free port: sends `reset` and `latest` as r_hub.c's
    /// run_thread does, then returns the records it reads until the client closes.
    fn fake_hub(
        reset: RemoteData,
        latest: RemoteData,
    ) -> (SocketAddr, std::thread::JoinHandle<Vec<[u8; RECORD]>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&reset.encode()).unwrap();
            s.write_all(&latest.encode()).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; RECORD];
            while s.read_exact(&mut buf).is_ok() {
                got.push(buf);
            }
            got
        });
        (addr, hub)
    }

    fn f32_at(b: &[u8], at: usize) -> f32 {
        f32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_rig_starts_from_the_hubs_latest_state_and_writes_c_layout_records() {
        let mut reset = RemoteData {
            header: HEADER,
            ..Default::default()
        };
        reset.head.center = Pose::at(0.0, 1.6, 0.0);
        let mut latest = reset;
        latest.left.pose = Pose::at(-0.3, 1.1, -0.4);
        let (addr, hub) = fake_hub(reset, latest);

        let mut rig = RemoteRig::connect_to(addr, Duration::from_secs(5)).unwrap();
        assert_eq!(rig.reset_state(), &reset);
        assert_eq!(rig.state().left.pose, latest.left.pose);

        let turn = Quat::from_axis_angle([0.0, 1.0, 0.0], std::f32::consts::FRAC_PI_2);
        rig.set_head(Pose::at(0.1, 1.5, 0.2).rotated(turn));
        let grip = Buttons {
            squeeze: 1.0,
            trigger: 0.25,
            b: true,
            thumbstick: [0.0, -1.0],
            ..Default::default()
        };
        rig.set_hand(Hand::Right, Pose::at(0.25, 1.0, -0.6), grip);
        rig.controller_mut(Hand::Right).hand_curl = [1.0; 5];
        rig.set_inactive(Hand::Left);
        rig.state_mut().left.linear_velocity.x = 2.0;
        rig.send().unwrap();
        drop(rig);

        let got = hub.join().unwrap();
        assert_eq!(got.len(), 1);
        let b = &got[0];
        // Byte offsets as in the C struct (see the layout checks above).
        assert_eq!(&b[0..8], b"mndrmt3\0");
        let (head, left, right) = (8, 136, 256);
        assert_eq!(f32_at(b, head + 96 + 4), turn.y); // center.orientation.y
        assert_eq!(f32_at(b, head + 96 + 16 + 4), 1.5); // center.position.y
        assert_eq!(b[head + 124], 0); // per_view_data_valid
        assert_eq!(b[left + 105], 0); // left.active
        assert_eq!(f32_at(b, left + 28), 2.0); // left.linear_velocity.x
        assert_eq!(f32_at(b, right + 16), 0.25); // right.pose.position.x
        assert_eq!(f32_at(b, right + 52 + 16), 1.0); // right.hand_curl[4]
        assert_eq!(f32_at(b, right + 72), 0.25); // right.trigger_value
        assert_eq!(f32_at(b, right + 76), 1.0); // right.squeeze_value
        assert_eq!(f32_at(b, right + 80), 1.0); // right.squeeze_force
        assert_eq!(f32_at(b, right + 88), -1.0); // right.thumbstick.y
        assert_eq!(b[right + 105], 1); // right.active
        assert_eq!((b[right + 110], b[right + 112], b[right + 113]), (1, 0, 1)); // b, trigger click/touch
        assert_eq!((b[right + 108], b[right + 115]), (0, 1)); // a_click, thumbstick_touch
        assert_eq!(RemoteData::from_bytes(b).right.squeeze_value, 1.0);
    }

    #[test]
    fn a_peer_that_is_not_the_remote_driver_is_refused() {
        let wrong = RemoteData {
            header: u64::from_le_bytes(*b"mndrmt2\0"),
            ..Default::default()
        };
        let (addr, hub) = fake_hub(wrong, wrong);
        let err = RemoteRig::connect_to(addr, Duration::from_secs(5))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        hub.join().unwrap();
    }

    #[test]
    fn connecting_gives_up_after_the_timeout_when_nothing_listens() {
        // A port that was free a moment ago: bound, then released.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let start = Instant::now();
        let err = RemoteRig::connect_to(addr, Duration::from_millis(300))
            .err()
            .unwrap();
        assert!(err.to_string().contains("no OpenXR remote driver"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
