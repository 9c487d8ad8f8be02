//! Carries a live session over HTTP and WebSocket on one port, with
//! blocking sockets and a thread per connection (a class of followers, not
//! thousands): `GET /` is the live page, `GET /model` the encrypted model,
//! `GET /ws?kind=browser|stratum` the encrypted stream. The server sees
//! ciphertext only: the keys are in the links' fragments, which browsers
//! never send.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message as WsMessage, WebSocket};

use super::host::{Host, Kind};
use crate::document::Edit;
use crate::error::{CoreError, Result};

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
        let listener = TcpListener::bind(bind).map_err(|e| {
            CoreError::Invalid(format!(
                "cannot listen on {bind} for the live session ({e}): choose another --port or --bind"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| CoreError::Invalid(format!("no local address: {e}")))?;
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
                        let _ = std::thread::Builder::new()
                            .name("live-conn".into())
                            .spawn(move || {
                                if let Err(e) = connection(stream, &host, &page, &tx) {
                                    tracing::debug!("live: a connection ended: {e}");
                                }
                            });
                    }
                })
                .map_err(|e| CoreError::Invalid(format!("cannot start a thread: {e}")))?
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
    let io = |e: std::io::Error| CoreError::Invalid(format!("live connection: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io)?;
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
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", b"GET only");
    }
    match path {
        "/" | "/index.html" => respond(&mut stream, "200 OK", "text/html; charset=utf-8", page.as_bytes()),
        "/model" => match host.model() {
            Some(m) => respond(&mut stream, "200 OK", "application/octet-stream", &m),
            None => respond(&mut stream, "404 Not Found", "text/plain", b"no model"),
        },
        "/ws" => {
            let Some(key) = header("sec-websocket-key") else {
                return respond(&mut stream, "400 Bad Request", "text/plain", b"a WebSocket only");
            };
            let kind = if query.split('&').any(|p| p == "kind=stratum") {
                Kind::Stratum
            } else {
                Kind::Browser
            };
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
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
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() >= MAX_HEAD || stream.read(&mut byte)? == 0 {
            return Err(std::io::Error::other("a request head too long or cut short"));
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
        .map_err(|e| CoreError::Invalid(format!("live connection: {e}")))
}

fn follow(stream: TcpStream, host: &Host, kind: Kind, edits: &Sender<Edit>) -> Result<()> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_UPSTREAM))
        .max_frame_size(Some(MAX_UPSTREAM));
    let writer = stream
        .try_clone()
        .map_err(|e| CoreError::Invalid(format!("live connection: {e}")))?;
    let (id, rx) = host.join(kind)?;
    tracing::info!("live: a {kind:?} follower joined ({} now)", host.followers());
    // One thread writes what the host queues, this one reads what the
    // participant sends (control frames are answered by the writer's
    // context only when it writes: browsers send none).
    let out = std::thread::Builder::new()
        .name("live-send".into())
        .spawn(move || {
            let mut ws = WebSocket::from_raw_socket(writer, Role::Server, None);
            while let Ok(frame) = rx.recv() {
                if ws.send(WsMessage::binary(frame.to_vec())).is_err() {
                    return;
                }
            }
            let _ = ws.close(None);
            let _ = ws.flush();
        })
        .map_err(|e| CoreError::Invalid(format!("cannot start a thread: {e}")))?;
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
    let mut window = (Instant::now(), 0u32);
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("live: a follower's stream ended: {e}");
                break;
            }
        };
        let WsMessage::Binary(bytes) = msg else {
            if msg.is_close() {
                break;
            }
            continue;
        };
        if window.0.elapsed() >= Duration::from_secs(1) {
            window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > MAX_RATE {
            if window.1 == MAX_RATE + 1 {
                tracing::warn!("live: a participant sends over {MAX_RATE} messages a second; dropping the rest of this second");
            }
            continue;
        }
        match host.presenter_frame(&bytes) {
            Ok(Some(edit)) => {
                let _ = edits.send(edit);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("live: dropped a participant's message: {e}"),
        }
    }
    host.leave(id);
    let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
    let _ = out.join();
    tracing::info!("live: a follower left ({} now)", host.followers());
    Ok(())
}

/// A Stratum following a session over the network (`stratum join`, tests).
pub struct Connection {
    ws: WebSocket<TcpStream>,
}

impl Connection {
    /// Connects to the stream of the session at `link` (its host and port;
    /// the key stays here).
    pub fn open(link: &str) -> Result<Connection> {
        let base = link.split('#').next().unwrap_or(link);
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| CoreError::Invalid("a live link starts with http://".into()))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let bad = |e: String| CoreError::Invalid(format!("cannot join the live session at {authority}: {e}"));
        let stream = TcpStream::connect(authority).map_err(|e| bad(e.to_string()))?;
        stream.set_nodelay(true).map_err(|e| bad(e.to_string()))?;
        // The session's start holds the document and the scan.
        let config = WebSocketConfig::default()
            .max_message_size(Some(2 << 30))
            .max_frame_size(Some(2 << 30));
        let (ws, _) = tungstenite::client::client_with_config(
            format!("ws://{authority}/ws?kind=stratum"),
            stream,
            Some(config),
        )
        .map_err(|e| bad(e.to_string()))?;
        Ok(Connection { ws })
    }

    /// The next frame, waiting at most `timeout` (`None`: nothing came).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let _ = self.ws.get_mut().set_read_timeout(Some(timeout));
        loop {
            match self.ws.read() {
                Ok(WsMessage::Binary(b)) => return Ok(Some(b.to_vec())),
                Ok(WsMessage::Close(_)) => {
                    return Err(CoreError::Invalid("the presenter ended the live session".into()));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(CoreError::Invalid(format!("the live session's stream ended: {e}"))),
            }
        }
    }

    /// Sends a frame to the host (a presenter's sealed event).
    pub fn send(&mut self, frame: Vec<u8>) -> Result<()> {
        self.ws
            .send(WsMessage::binary(frame))
            .map_err(|e| CoreError::Invalid(format!("cannot send to the live session: {e}")))
    }
}
