//! Two participants standing around the demo's anatomy, for the README's
//! picture of avatars: a `stratum live`-like host of the demo's organs on
//! loopback and two core followers ("Dr Ada" at the patient's left, "Dr
//! Ben" at the right) sending their head and both hands, facing the
//! anatomy. Prints the follow link, then keeps the participants there for
//! SECONDS (default 120), so that another Stratum can join and take the
//! picture:
//!
//! cargo run -p stratum-core --example live_avatars -- 120 &
//! xvfb-run -a -s "-screen 0 1280x800x24" stratum join LINK --name Viewer \
//!     --screenshot docs/live-avatars.png

use std::time::{Duration, Instant};

use stratum_core::base::install::demo_study;
use stratum_core::base::progress::Progress;
use stratum_core::convert::{ConvertOptions, live_from_scan};
use stratum_core::live::page::live_page;
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{AvatarPose, Event, Follower, Host, HostOptions, keys_from_link};

/// A participant standing `side` (+1: the patient's left, -1: right) of
/// `centre` (LPS mm), 35 cm away at the anatomy's height, facing it, hands
/// held in front: head, left hand, right hand.
fn standing(centre: [f64; 3], side: f64) -> [AvatarPose; 3] {
    // Looks along rotation · (0,1,0): a quarter turn about superior (z)
    // turns +y to -x (facing the patient's right from the left) or +x.
    let h = std::f64::consts::FRAC_PI_4;
    let rotation = [0.0, 0.0, side * h.sin(), h.cos()];
    let at = |ahead: f64, across: f64, up: f64| AvatarPose {
        // Ahead is towards the centre (-side along x); across along y
        // (the participant's left is -y on the patient's left side).
        position: [
            centre[0] + side * (350.0 - ahead),
            centre[1] - side * across,
            centre[2] + up,
        ],
        rotation,
    };
    [
        at(0.0, 0.0, 120.0),
        at(170.0, 160.0, -200.0),
        at(170.0, -160.0, -200.0),
    ]
}

fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args().nth(1).map_or(Ok(120.0), |v| v.parse())?;
    let demo = demo_study()?;
    let opts = ConvertOptions::labels(demo.labels, Some(demo.names), 0.9);
    let start = live_from_scan(&demo.ct, &opts, &Progress::new())?;
    let centre = match &start.scene {
        Event::Scene { centre_mm, .. } => *centre_mm,
        _ => anyhow::bail!("no scene"),
    };
    let mut doc = start.doc;
    let host = Host::start(&mut doc, &HostOptions::default())?;
    host.set_model(&start.model, start.scene);
    host.set_presenter_name("Presenter");
    let (server, _edits) = Server::start(host.clone(), "127.0.0.1:0".parse()?, live_page()?)?;
    let (link, _) = server.links(None);
    let mut people = Vec::new();
    for (name, side) in [("Dr Ada", 1.0), ("Dr Ben", -1.0)] {
        let mut conn = Connection::open(&link)?;
        let mut f = Follower::new(keys_from_link(&link)?.0);
        while f.me.is_none() {
            let frame = conn
                .next(Duration::from_secs(60))?
                .ok_or_else(|| anyhow::anyhow!("no frame from the host"))?;
            f.receive(&frame)?;
        }
        conn.send(&f.introduce(name))?;
        people.push((conn, f, standing(centre, side)));
    }
    println!("follow: {link}");
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        // Sent again every second: a Stratum that joins meanwhile is told
        // where everyone is by the host, and a resend keeps it fresh.
        for (conn, f, [head, left, right]) in &mut people {
            conn.send(&f.avatar(Some(*head), Some(*left), Some(*right)))?;
            while let Some(frame) = conn.next(Duration::from_millis(10))? {
                f.receive(&frame)?;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    host.stop(&mut doc);
    server.stop();
    Ok(())
}
