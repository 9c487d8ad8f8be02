//! The part of WebSocket (RFC 6455) a live session uses: the opening
//! handshake's accept key, and binary messages read and written on a
//! blocking stream, with a size cap checked before anything is allocated.
//! Our own because it is small and the crate for it (tungstenite) brings a
//! random-number crate whose features, unified with Bevy's, rebuild the
//! whole app.

use std::io::{self, Read, Write};

use base64::Engine;

/// What a read returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Binary(Vec<u8>),
    /// A text message (the live protocol sends none; dropped by callers).
    Text(Vec<u8>),
    Close,
}

/// The `Sec-WebSocket-Accept` answer to a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut input = key.trim().as_bytes().to_vec();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1(&input))
}

/// A random `Sec-WebSocket-Key` for a client's request.
pub fn client_key() -> io::Result<String> {
    let mut k = [0u8; 16];
    getrandom::fill(&mut k).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(k))
}

/// Writes one binary message as a single frame; `mask` for a client (the
/// RFC requires clients to mask, servers not to).
pub fn write_binary(w: &mut impl Write, payload: &[u8], mask: bool) -> io::Result<()> {
    write_frame(w, 0x2, payload, mask)
}

/// Writes a close frame.
pub fn write_close(w: &mut impl Write, mask: bool) -> io::Result<()> {
    write_frame(w, 0x8, &[], mask)
}

fn write_frame(w: &mut impl Write, opcode: u8, payload: &[u8], mask: bool) -> io::Result<()> {
    let mut head = Vec::with_capacity(14);
    head.push(0x80 | opcode);
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => head.push(m | n as u8),
        n if n <= u16::MAX as usize => {
            head.push(m | 126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(m | 127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let mut key = [0u8; 4];
        getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
        head.extend_from_slice(&key);
        let masked: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        w.write_all(&head)?;
        w.write_all(&masked)?;
    } else {
        w.write_all(&head)?;
        w.write_all(payload)?;
    }
    w.flush()
}

/// Reads the next message (joining fragments), answering pings on `pong`.
/// A message over `max` bytes is an error before it is read: the caller
/// closes that connection.
pub fn read_message(
    r: &mut impl Read,
    pong: &mut impl Write,
    max: usize,
    masked_pong: bool,
) -> io::Result<Incoming> {
    let mut message: Vec<u8> = Vec::new();
    let mut kind = None;
    loop {
        let mut h = [0u8; 2];
        r.read_exact(&mut h)?;
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                r.read_exact(&mut b)?;
                u16::from_be_bytes(b) as u64
            }
            127 => {
                let mut b = [0u8; 8];
                r.read_exact(&mut b)?;
                u64::from_be_bytes(b)
            }
            n => n as u64,
        };
        if len > max as u64 || message.len() as u64 + len > max as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message over {max} bytes"),
            ));
        }
        let mut key = [0u8; 4];
        if masked {
            r.read_exact(&mut key)?;
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload)?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        match opcode {
            0x8 => return Ok(Incoming::Close),
            0x9 => {
                if payload.len() <= 125 {
                    write_frame(pong, 0xA, &payload, masked_pong)?;
                }
                continue;
            }
            0xA => continue,
            0x1 | 0x2 if kind.is_none() => kind = Some(opcode),
            0x0 if kind.is_some() => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("an unexpected frame (opcode {opcode})"),
                ));
            }
        }
        message.extend_from_slice(&payload);
        if fin {
            return Ok(match kind {
                Some(0x1) => Incoming::Text(message),
                _ => Incoming::Binary(message),
            });
        }
    }
}

/// SHA-1, for the handshake's accept key only (RFC 3174).
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}
