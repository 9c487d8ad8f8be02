//! A joining Stratum's transport to the host: plain TCP for an `http://`
//! link (a LAN, or a tunnel that ends on the host), TLS for an `https://`
//! link (an institution's HTTPS reverse proxy or tunnel in front of the
//! host), trusting the system's certificates (and `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`, as OpenSSL does) and Mozilla's roots. The frames inside
//! are encrypted by the link's key either way; TLS only gets them through
//! a proxy that speaks HTTPS.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::base::tls::{client_builder, pem_certificates};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// How long a TLS read waits on the socket at a time: between two such
/// waits the writers (the participant's strokes, avatar poses, pongs) get
/// the stream, so they wait at most this long for a reader.
const TLS_SLICE: Duration = Duration::from_millis(10);

/// A TLS stream shared by the reading and the writing side.
pub(crate) struct SharedTls {
    tls: Mutex<Tls>,
    /// What the reader asked a read to wait for its first byte.
    timeout: Mutex<Option<Duration>>,
    /// Writers waiting for the stream: the reader lets them go first.
    writers: AtomicUsize,
}

/// Where a link points: its scheme, its `host:port` and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    /// `host:port` as written in the link (the HTTP `Host` header), with
    /// the scheme's port added when the link names none.
    pub authority: String,
    /// The host name or address alone (TLS checks the certificate against it).
    pub host: String,
    /// The path after the authority, without its leading `/`.
    pub path: String,
}

impl Target {
    /// Reads a live link (`http://host:port/path/#key` or `https://...`).
    pub fn parse(link: &str) -> Result<Target, String> {
        let base = link.split('#').next().unwrap_or(link);
        let (tls, rest) = if let Some(r) = base.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = base.strip_prefix("http://") {
            (false, r)
        } else {
            return Err("a live link starts with http:// or https://".into());
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err("the live link names no host".into());
        }
        // "[::1]:8443", "[::1]", "host:8443", "host".
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or("the live link's IPv6 address has no closing ]")?;
                (h.to_string(), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            },
        };
        let authority = match port {
            Some(p) => {
                p.parse::<u16>()
                    .map_err(|_| format!("the live link's port {p:?} is not a number"))?;
                authority.to_string()
            }
            None if tls => format!("{authority}:443"),
            None => format!("{authority}:80"),
        };
        Ok(Target {
            tls,
            authority,
            host,
            path: path.to_string(),
        })
    }
}

/// One connection's stream, cloned for the reading and the writing side.
/// A TLS stream is one state machine: both sides take turns on it.
pub(crate) enum Wire {
    Plain(TcpStream),
    Tls(Arc<SharedTls>),
}

impl Wire {
    /// Connects to `target`; for TLS, trusting the system's certificates
    /// and Mozilla's roots, and the PEM certificates in `trusted` too.
    pub(crate) fn connect(target: &Target, trusted: Option<&Path>) -> Result<Wire, String> {
        let tcp = TcpStream::connect(&target.authority).map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        if !target.tls {
            return Ok(Wire::Plain(tcp));
        }
        let config = client_config(trusted)?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| format!("{:?} is not a host name for TLS: {e}", target.host))?;
        let conn = ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
        let mut tls = StreamOwned::new(conn, tcp);
        // The handshake now, so a certificate the system does not trust is
        // this call's error rather than the first read's.
        tls.sock
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("the TLS handshake with {} failed: {e}", target.host))?;
        }
        Ok(Wire::Tls(Arc::new(SharedTls {
            tls: Mutex::new(tls),
            timeout: Mutex::new(Some(Duration::from_secs(30))),
            writers: AtomicUsize::new(0),
        })))
    }

    pub(crate) fn try_clone(&self) -> io::Result<Wire> {
        Ok(match self {
            Wire::Plain(s) => Wire::Plain(s.try_clone()?),
            Wire::Tls(t) => Wire::Tls(t.clone()),
        })
    }

    /// How long a read waits for its first byte.
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.set_read_timeout(t),
            Wire::Tls(shared) => {
                *shared.timeout.lock().unwrap_or_else(|e| e.into_inner()) = t;
                Ok(())
            }
        }
    }

    /// Ends the connection both ways (a TLS one says so first).
    pub(crate) fn shutdown(&self) {
        match self {
            Wire::Plain(s) => {
                let _ = s.shutdown(Shutdown::Both);
            }
            Wire::Tls(shared) => {
                let mut t = shared.write_lock();
                t.conn.send_close_notify();
                let _ = t.flush();
                let _ = t.sock.shutdown(Shutdown::Both);
            }
        }
    }
}

impl SharedTls {
    /// The stream for a writer, ahead of the reader's next wait.
    fn write_lock(&self) -> std::sync::MutexGuard<'_, Tls> {
        self.writers.fetch_add(1, Ordering::SeqCst);
        let guard = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        self.writers.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// Reads in short waits on the socket, up to the reader's timeout,
    /// giving the stream to any waiting writer between them.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = *self.timeout.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(TLS_SLICE),
                None => TLS_SLICE,
            };
            if slice.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            {
                let mut tls = self.tls.lock().unwrap_or_else(|e| e.into_inner());
                tls.sock.set_read_timeout(Some(slice))?;
                match tls.read(buf) {
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    other => return other,
                }
            }
            while self.writers.load(Ordering::SeqCst) > 0 {
                std::thread::yield_now();
            }
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(shared) => shared.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(shared) => shared.write_lock().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(shared) => shared.write_lock().flush(),
        }
    }
}

/// The TLS client configuration: the system's trusted certificates,
/// Mozilla's roots, and those in `trusted` (PEM).
fn client_config(trusted: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Certificates the system store could not read are skipped: the others
    // (and Mozilla's) still serve.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = trusted {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the certificates {}: {e}", path.display()))?;
        let certs = pem_certificates(&pem)
            .map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        roots.add_parsable_certificates(certs);
    }
    let config = client_builder(roots)
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth();
    Ok(Arc::new(config))
}
