//! A live session behind an HTTPS reverse proxy, for real: nginx (as an
//! institution runs it) terminates TLS with a certificate from the test's
//! CA and forwards `/room1/` with the WebSocket upgrade to the host's
//! loopback port. A Stratum joins through the `https://` link and follows
//! the session bit for bit; the presenter's frames get through the proxy
//! too; a Stratum that does not trust the proxy's certificate is refused
//! with a message that says so, instead of hanging.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stratum_core::document::{Document, Edit};
use stratum_core::live::crypto::{self, Header};
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::wire::Target;
use stratum_core::live::{
    Event, Follower, Host, HostOptions, Kind, Message, Update, keys_from_link,
};
use stratum_core::segment::LabelMap;

use crate::document::scan;
use crate::orthanc::free_port;
use crate::pacs_tls::make_pki;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx on `port` (TLS, the certificate of `make_pki`'s "live" server),
/// forwarding `/room1/` to the host on `upstream`; ready to connect.
fn nginx(program: &Path, dir: &Path, port: u16, upstream: u16) -> KillOnDrop {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let conf = format!(
        r#"daemon off;
master_process off;
user root root;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/live-server.crt;
    ssl_certificate_key {d}/live-server.key;
    location /room1/ {{
      proxy_pass http://127.0.0.1:{upstream}/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
    }}
  }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut child = KillOnDrop(
        Command::new(program)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "nginx exited ({status}): {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn next(c: &mut Connection) -> Vec<u8> {
    c.next(Duration::from_secs(20))
        .unwrap()
        .expect("a frame within 20 s")
}

#[test]
fn a_stratum_joins_through_an_https_reverse_proxy_and_follows_the_session() {
    let Some(openssl) = crate::checks::program(
        "openssl",
        "a live session through an HTTPS proxy (the proxy's certificate)",
        "apt-get install openssl (scripts/setup.sh)",
    ) else {
        return;
    };
    let Some(nginx_bin) = crate::checks::program(
        "nginx",
        "a live session through an HTTPS reverse proxy",
        "apt-get install --no-install-recommends nginx (scripts/setup.sh)",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_pki(&openssl, dir, "live");
    let ca = dir.join("live-ca.crt");

    let v = scan();
    let (nz, ny, nx) = v.dim();
    let mut doc =
        Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap();
    doc.apply(Edit::AddEmpty).unwrap();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html>page</html>".into(),
    )
    .unwrap();
    let port = free_port();
    let _proxy = nginx(&nginx_bin, dir, port, server.addr().port());
    let public = format!("https://127.0.0.1:{port}/room1/");
    let (link, presenter_link) = server.links(Some(&public));
    assert!(link.starts_with(&format!("{public}#k=")), "{link}");

    // Not trusting the proxy's CA: refused, with the reason.
    let err = match Connection::open_with(&link, Kind::Stratum, None) {
        Ok(_) => panic!("a certificate from an unknown CA was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("TLS handshake") && err.contains("certificate"),
        "{err}"
    );

    // Trusting it: the document arrives through the proxy.
    let mut conn = Connection::open_with(&link, Kind::Stratum, Some(&ca)).unwrap();
    let mut f = Follower::new(keys_from_link(&link).unwrap().0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.viewers == 0 {
        assert!(Instant::now() < deadline, "no document within 60 s");
        f.receive(&next(&mut conn)).unwrap();
    }
    assert_eq!(
        f.document().unwrap().labels().as_ref(),
        doc.labels().as_ref(),
        "the label map through the proxy is the host's"
    );

    // The presenter, also through the proxy, hides segment 1; the host's
    // document owner applies it and the follower sees it.
    let (_, p) = keys_from_link(&presenter_link).unwrap();
    let mut presenter = Connection::open_with(&presenter_link, Kind::Stratum, Some(&ca)).unwrap();
    let hide = crypto::seal(
        &p.unwrap(),
        Header { sender: 9, seq: 1 },
        &Message::Event(Event::Visible {
            id: 1,
            visible: false,
        })
        .to_bytes(),
    );
    presenter.send(&hide).unwrap();
    let edit = edits.recv_timeout(Duration::from_secs(20)).unwrap();
    doc.apply(edit).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the edit did not arrive within 60 s"
        );
        if let Update::Edited(_) = f.receive(&next(&mut conn)).unwrap() {
            break;
        }
    }
    assert!(!f.document().unwrap().segment(1).unwrap().visible);
    drop(conn);
    drop(presenter);
    host.stop(&mut doc);
    server.stop();
}

#[test]
fn a_live_link_names_its_scheme_host_port_and_path() {
    let t = Target::parse("https://live.example.org/room1/#k=abc").unwrap();
    assert_eq!(
        t,
        Target {
            tls: true,
            authority: "live.example.org:443".into(),
            host: "live.example.org".into(),
            path: "room1/".into(),
        }
    );
    let t = Target::parse("http://192.168.1.20:8765/#k=abc").unwrap();
    assert_eq!(
        (t.tls, t.authority.as_str(), t.path.as_str()),
        (false, "192.168.1.20:8765", "")
    );
    let t = Target::parse("https://[::1]:8443/a/").unwrap();
    assert_eq!(
        (t.host.as_str(), t.authority.as_str()),
        ("::1", "[::1]:8443")
    );
    for bad in [
        "ftp://x/",
        "https:///room",
        "http://host:port/",
        "https://[::1/",
    ] {
        assert!(Target::parse(bad).is_err(), "{bad} accepted");
    }
}
