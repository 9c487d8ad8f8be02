//! Carries a live session over HTTP and WebSocket on one port, with
//! blocking sockets and a thread per connection (a class of followers, not
//! thousands): `GET /` is the live page, `GET /model` the encrypted model,
//! `GET /surfaces/N` edited surfaces, `GET /ws?kind=browser|stratum` the
//! encrypted stream. The server sees
//! ciphertext only: the keys are in the links' fragments, which browsers
//! never send.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::LiveError;
use super::host::{Host, Kind};
use super::wire::{Target, Wire};
use super::ws::{self, Incoming};
use crate::base::error::Result;
use crate::document::Edit;

/// Largest request head read (a browser's is under 2 KiB).
const MAX_HEAD: usize = 16 << 10;
/// Largest frame a participant may send: events are small; a bigger one
/// closes that participant's connection, nothing else.
pub const MAX_UPSTREAM: usize = 64 << 10;
/// Messages per second a participant may send; more are dropped.
pub const MAX_RATE: u32 = 120;

/// A running server. Dropping it without [`stop`](Self::stop) leaves the
/// threads to end with the process.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    host: Host,
}

impl Server {
    /// Serves `host` and `page` (the live page's HTML) on `bind`. Edits a
    /// presenter asks for come out of the returned queue, for whoever owns
    /// the document to apply.
    pub fn start(host: Host, bind: SocketAddr, page: String) -> Result<(Server, Receiver<Edit>)> {
        let listener =
            TcpListener::bind(bind).map_err(|source| LiveError::Listen { bind, source })?;
        let addr = listener.local_addr().map_err(LiveError::NoLocalAddress)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (edits_tx, edits) = mpsc::channel();
        let page = Arc::new(page);
        let accept = {
            let stop = stop.clone();
            let host = host.clone();
            std::thread::Builder::new()
                .name("live-accept".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let (host, page, tx) = (host.clone(), page.clone(), edits_tx.clone());
                        let _ =
                            std::thread::Builder::new()
                                .name("live-conn".into())
                                .spawn(move || {
                                    if let Err(e) = connection(stream, &host, &page, &tx) {
                                        tracing::debug!("live: a connection ended: {e}");
                                    }
                                });
                    }
                })
                .map_err(LiveError::Thread)?
        };
        Ok((
            Server {
                addr,
                stop,
                accept: Some(accept),
                host,
            },
            edits,
        ))
    }

    /// Where it listens (the port chosen when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The follower's and the presenter's links, on `base` (e.g.
    /// `http://192.168.1.20:8080/` or a reverse proxy's public address);
    /// `None`: this server's own address.
    pub fn links(&self, base: Option<&str>) -> (String, String) {
        let base = match base {
            Some(b) => b.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.addr),
        };
        (
            format!("{base}/#{}", self.host.fragment()),
            format!("{base}/#{}", self.host.presenter_fragment()),
        )
    }

    /// The links' base when listening on every interface: this machine's
    /// address on the network (found without sending a packet), else its
    /// own address.
    pub fn network_base(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            std::net::UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| s.connect("192.0.2.1:9").and_then(|_| s.local_addr()))
                .map(|s| s.ip())
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Stops accepting; the followers' queues close with the host's stop.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn connection(mut stream: TcpStream, host: &Host, page: &str, edits: &Sender<Edit>) -> Result<()> {
    let io = LiveError::Connection;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let head = read_head(&mut stream).map_err(io)?;
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or("");
    let mut parts = request.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let headers: Vec<(String, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only",
        );
    }
    match path {
        "/" | "/index.html" => respond(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            page.as_bytes(),
        ),
        "/model" => match host.model() {
            Some(m) => respond(&mut stream, "200 OK", "application/octet-stream", &m),
            None => respond(&mut stream, "404 Not Found", "text/plain", b"no model"),
        },
        p if p.starts_with("/surfaces/") => {
            match p["/surfaces/".len()..]
                .parse()
                .ok()
                .and_then(|v| host.surfaces(v))
            {
                Some(m) => respond(&mut stream, "200 OK", "application/octet-stream", &m),
                None => respond(
                    &mut stream,
                    "404 Not Found",
                    "text/plain",
                    b"no such surfaces",
                ),
            }
        }
        "/ws" => {
            let Some(key) = header("sec-websocket-key") else {
                return respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    b"a WebSocket only",
                );
            };
            let kind = if query.split('&').any(|p| p == "kind=stratum") {
                Kind::Stratum
            } else {
                Kind::Browser
            };
            let accept = ws::accept_key(key);
            write!(
                stream,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .map_err(io)?;
            stream.set_read_timeout(None).map_err(io)?;
            stream.set_nodelay(true).map_err(io)?;
            follow(stream, host, kind, edits)
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found"),
    }
}

/// Reads up to the blank line ending a request's head.
fn read_head(stream: &mut impl Read) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() >= MAX_HEAD || stream.read(&mut byte)? == 0 {
            return Err(std::io::Error::other(
                "a request head too long or cut short",
            ));
        }
        buf.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body))
        .map_err(|e| LiveError::Connection(e).into())
}

fn follow(stream: TcpStream, host: &Host, kind: Kind, edits: &Sender<Edit>) -> Result<()> {
    let io = LiveError::Connection;
    // Both threads write (frames, and a pong now and then): one at a time.
    let writer = Arc::new(Mutex::new(stream.try_clone().map_err(io)?));
    let (id, rx) = host.join(kind)?;
    tracing::info!(
        "live: a {kind:?} follower joined ({} now)",
        host.followers()
    );
    let out = {
        let writer = writer.clone();
        std::thread::Builder::new()
            .name("live-send".into())
            .spawn(move || {
                while let Ok(frame) = rx.recv() {
                    let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                    if ws::write_binary(&mut *w, &frame, false).is_err() {
                        return;
                    }
                }
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                let _ = ws::write_close(&mut *w, false);
                // The queue closed (the follower was removed, or the session
                // stopped): the reading side ends too.
                let _ = w.shutdown(std::net::Shutdown::Both);
            })
            .map_err(LiveError::Thread)?
    };
    let mut reader = std::io::BufReader::new(stream);
    let mut window = (Instant::now(), 0u32);
    loop {
        let msg = {
            let mut pong = PongTo(&writer);
            ws::read_message(&mut reader, &mut pong, MAX_UPSTREAM, false)
        };
        let bytes = match msg {
            Ok(Incoming::Binary(b)) => b,
            Ok(Incoming::Text(_)) => continue,
            Ok(Incoming::Close) => break,
            Err(e) => {
                tracing::debug!("live: a follower's stream ended: {e}");
                break;
            }
        };
        if window.0.elapsed() >= Duration::from_secs(1) {
            window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > MAX_RATE {
            if window.1 == MAX_RATE + 1 {
                tracing::warn!(
                    "live: a participant sends over {MAX_RATE} messages a second; dropping the rest of this second"
                );
            }
            continue;
        }
        match host.upstream(id, &bytes) {
            Ok(list) => {
                for edit in list {
                    let _ = edits.send(edit);
                }
            }
            Err(e) => tracing::warn!("live: dropped a participant's message: {e}"),
        }
    }
    host.leave(id);
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    let _ = out.join();
    tracing::info!("live: a follower left ({} now)", host.followers());
    Ok(())
}

/// Pongs go through the shared writer.
struct PongTo<'a, W: Write>(&'a Mutex<W>);

impl<W: Write> Write for PongTo<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// A Stratum following a session over the network (`stratum join`, tests).
pub struct Connection {
    stream: std::io::BufReader<Wire>,
    writer: Arc<Mutex<Wire>>,
    closed_by_host: bool,
}

/// Sends to the host from another thread than the one reading
/// ([`Connection::sender`]); writes never interleave with the reader's pongs.
#[derive(Clone)]
pub struct ConnectionSender(Arc<Mutex<Wire>>);

impl ConnectionSender {
    /// Sends a frame to the host (a participant's or a presenter's).
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ws::write_binary(&mut *w, frame, true).map_err(|e| LiveError::Send(e).into())
    }

    /// Closes the connection (the reading side then ends too).
    pub fn close(&self) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = ws::write_close(&mut *w, true);
        w.shutdown();
    }
}

impl Connection {
    /// Connects to the stream of the session at `link` (its host and port;
    /// the key stays here).
    pub fn open(link: &str) -> Result<Connection> {
        Connection::open_as(link, Kind::Stratum)
    }

    /// Connects as `kind` (a browser's stream has events only: load tests
    /// stand in for browsers with it).
    pub fn open_as(link: &str, kind: Kind) -> Result<Connection> {
        Connection::open_with(link, kind, None)
    }

    /// Connects as `kind`, over TLS for an `https://` link (a host behind
    /// an HTTPS reverse proxy), trusting the system's certificates,
    /// Mozilla's roots and the PEM certificates in `trusted`.
    pub fn open_with(link: &str, kind: Kind, trusted: Option<&Path>) -> Result<Connection> {
        let kind = match kind {
            Kind::Stratum => "stratum",
            Kind::Browser => "browser",
        };
        let target = Target::parse(link).map_err(LiveError::BadLink)?;
        let Target {
            authority, path, ..
        } = &target;
        let bad = |reason: String| LiveError::Join {
            authority: authority.clone(),
            reason,
        };
        let mut writer = Wire::connect(&target, trusted).map_err(bad)?;
        let key = ws::client_key().map_err(|e| bad(e.to_string()))?;
        write!(
            writer,
            "GET /{path}ws?kind={kind} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .and_then(|_| writer.flush())
        .map_err(|e| bad(e.to_string()))?;
        let mut reader = writer.try_clone().map_err(|e| bad(e.to_string()))?;
        reader
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| bad(e.to_string()))?;
        let head = read_head(&mut reader).map_err(|e| bad(e.to_string()))?;
        let accepted = head.starts_with("HTTP/1.1 101")
            && head.lines().any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.eq_ignore_ascii_case("sec-websocket-accept")
                        && v.trim() == ws::accept_key(&key)
                })
            });
        if !accepted {
            return Err(bad(format!(
                "the server did not open a live stream ({})",
                head.lines().next().unwrap_or("no answer")
            ))
            .into());
        }
        Ok(Connection {
            stream: std::io::BufReader::new(reader),
            writer: Arc::new(Mutex::new(writer)),
            closed_by_host: false,
        })
    }

    /// The next frame, waiting at most `timeout` for it to start (`None`:
    /// nothing came).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        use std::io::BufRead;
        let ended = LiveError::StreamEnded;
        if self.stream.buffer().is_empty() {
            let s = self.stream.get_ref();
            s.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
                .map_err(ended)?;
            match self.stream.fill_buf() {
                // Cut without the host's goodbye: a network, a proxy or a
                // laptop lid, not the presenter.
                Ok([]) => {
                    return Err(LiveError::Cut.into());
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(ended(e).into()),
            }
        }
        // A frame has begun: the rest follows at once.
        self.stream
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(ended)?;
        loop {
            let msg = {
                let mut pong = PongTo(&self.writer);
                ws::read_message(&mut self.stream, &mut pong, 4 << 30, true).map_err(ended)?
            };
            match msg {
                Incoming::Binary(b) => return Ok(Some(b)),
                Incoming::Text(_) => continue,
                Incoming::Close => {
                    self.closed_by_host = true;
                    return Err(LiveError::Ended.into());
                }
            }
        }
    }

    /// The host said goodbye (the session stopped, or the presenter
    /// removed this participant) rather than the connection being cut: no
    /// point in connecting again.
    pub fn closed_by_host(&self) -> bool {
        self.closed_by_host
    }

    /// Sends a frame to the host (a presenter's sealed event, a
    /// participant's name or edits).
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        self.sender().send(frame)
    }

    /// A handle that sends to the host from another thread.
    pub fn sender(&self) -> ConnectionSender {
        ConnectionSender(self.writer.clone())
    }
}
