//! A joined Stratum whose connection is cut (a Wi-Fi blip, a proxy's idle
//! timeout) joins again by itself, for real on loopback: a relay stands in
//! for the network between the app and the host, and drops every
//! connection through it. The app comes back without anyone pressing
//! anything, holding the pen it held, with what the host did meanwhile;
//! when the session really stops, it does not try again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stratum::app::features::join::{JoinRequest, JoinStatus, LiveJoin};
use stratum_core::live::server::Server;
use stratum_core::live::{Host, HostOptions};

use crate::live_join::{app_matches, frames_until, headless_app, host_document, stroke};

/// The network between the app and the host: a TCP relay whose `cut`
/// drops every connection through it, while it goes on accepting new ones.
struct Relay {
    addr: SocketAddr,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (o, st) = (open.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(host) = TcpStream::connect(to) else {
                    continue;
                };
                let mut list = o.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(host.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), host.try_clone().unwrap());
                pipe(host, client);
            }
        });
        Relay { addr, open, stop }
    }

    /// Drops every connection now, without a goodbye to either side.
    fn cut(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

/// Copies `from` to `to` until either ends, then ends the other.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

fn status(app: &bevy::prelude::App) -> Option<JoinStatus> {
    app.world().resource::<LiveJoin>().status()
}

#[test]
fn a_joined_app_whose_connection_is_cut_joins_again_by_itself_with_its_pen_and_not_after_the_session_stops()
 {
    let mut doc = host_document();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, _edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html></html>".into(),
    )
    .unwrap();
    let relay = Relay::start(server.addr());
    let (link, _) = server.links(Some(&format!("http://{}", relay.addr)));
    let mut app = headless_app();
    app.world_mut().write_message(JoinRequest {
        link,
        name: "Second Stratum".into(),
    });
    let limit = Duration::from_secs(120);
    frames_until(&mut app, limit, "the session's document", app_matches(&doc));
    frames_until(&mut app, limit, "the app's introduction", |_| {
        host.participants()
            .0
            .iter()
            .any(|p| p.name == "Second Stratum")
    });
    let me = host
        .participants()
        .0
        .into_iter()
        .find(|p| p.name == "Second Stratum")
        .expect("the app introduced itself");
    host.give_pen(Some(me.id)).unwrap();
    frames_until(&mut app, limit, "the pen", |app| {
        status(app).is_some_and(|s| s.you_hold_pen)
    });

    // The network drops the connection: the app says it is joining again.
    relay.cut();
    frames_until(&mut app, limit, "the cut noticed", |app| {
        status(app).is_some_and(|s| s.reconnecting.is_some() && !s.connected)
    });
    // Meanwhile the presenter paints.
    for e in stroke([-6.0, -2.0, 0.0], [6.0, 3.0, 0.0]) {
        doc.apply(e).unwrap();
    }
    assert!(doc.voxel_count(1) > 0);
    // Back by itself: the session's document with that stroke, and the pen.
    {
        let mut matches = app_matches(&doc);
        frames_until(&mut app, limit, "back in the session with the pen", |app| {
            status(app).is_some_and(|s| {
                s.connected && s.you_hold_pen && s.reconnecting.is_none() && s.ended.is_none()
            }) && matches(app)
        });
    }
    assert_ne!(host.pen(), Some(me.id), "the pen is on the new connection");

    // The session stops: the host says goodbye and the app stays put.
    host.stop(&mut doc);
    server.stop();
    frames_until(&mut app, limit, "the session's end", |app| {
        status(app).is_some_and(|s| s.ended.is_some())
    });
    for _ in 0..150 {
        app.update();
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = status(&app).unwrap();
    assert!(
        s.reconnecting.is_none() && s.ended.is_some(),
        "{:?}",
        s.ended
    );
    drop(relay);
}
