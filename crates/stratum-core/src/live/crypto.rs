//! The live session's end-to-end encryption: AES-256-GCM with keys that
//! travel only in the link's fragment (`#k=...`, which browsers never send
//! to a server), so the host's web server, a proxy or a tunnel relays
//! ciphertext only. AES-GCM because every browser's WebCrypto has it
//! built in (ChaCha20-Poly1305 is not in WebCrypto).
//!
//! A frame is a 16-byte header, then the ciphertext with its 16-byte tag:
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | `SL` |
//! | 2 | protocol version (1) |
//! | 3 | 0 (reserved) |
//! | 4..8 | sender, u32 little endian (0 = the host) |
//! | 8..16 | sequence number, u64 little endian |
//!
//! The nonce is bytes 4..16 (a sender never repeats a sequence number under
//! one key) and the whole header is authenticated as associated data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;

use super::error::LiveError;
use crate::base::error::{CoreError, Result};

pub const PROTOCOL_VERSION: u8 = 1;
pub const HEADER_LEN: usize = 16;
pub const TAG_LEN: usize = 16;

/// A 256-bit session key (random per session; never written anywhere but
/// the link).
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Result<Key> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| LiveError::no_random(" for a live session key", e))?;
        Ok(Key(k))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// The key as it appears in a link (base64url, no padding: 43 characters).
    pub fn to_text(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Reads a key from a link's text.
    pub fn from_text(text: &str) -> Result<Key> {
        let bad = || LiveError::KeyIncomplete;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| bad())?;
        Ok(Key(bytes.try_into().map_err(|_| bad())?))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

/// A frame's header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub sender: u32,
    pub seq: u64,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = b'S';
        h[1] = b'L';
        h[2] = PROTOCOL_VERSION;
        h[4..8].copy_from_slice(&self.sender.to_le_bytes());
        h[8..16].copy_from_slice(&self.seq.to_le_bytes());
        h
    }

    /// The header of `frame`, checked for the magic and version.
    pub fn read(frame: &[u8]) -> Result<Header> {
        if frame.len() < HEADER_LEN + TAG_LEN || &frame[0..2] != b"SL" {
            return Err(CoreError::LiveRefused(
                "not a Stratum live frame (too short or no 'SL' header)".into(),
            ));
        }
        if frame[2] != PROTOCOL_VERSION {
            return Err(CoreError::LiveRefused(format!(
                "protocol version {} (this Stratum speaks {PROTOCOL_VERSION}); update the older side",
                frame[2]
            )));
        }
        Ok(Header {
            sender: u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes")),
            seq: u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes")),
        })
    }
}

/// Encrypts `plain` as a frame from `header.sender` numbered `header.seq`.
pub fn seal(key: &Key, header: Header, plain: &[u8]) -> Vec<u8> {
    let h = header.to_bytes();
    let nonce = Nonce::try_from(&h[4..16]).expect("12 bytes");
    let ct = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: plain,
                aad: &h,
            },
        )
        // AES-GCM fails only past 64 GiB per message.
        .unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts a frame; `Err(LiveRefused)` when it was altered or is not
/// under `key` (the caller tells a wrong key from tampering).
pub fn open(key: &Key, frame: &[u8]) -> Result<(Header, Vec<u8>)> {
    let header = Header::read(frame)?;
    let nonce = Nonce::try_from(&frame[4..16]).expect("12 bytes");
    let plain = key
        .cipher()
        .decrypt(
            &nonce,
            Payload {
                msg: &frame[HEADER_LEN..],
                aad: &frame[..HEADER_LEN],
            },
        )
        .map_err(|_| {
            CoreError::LiveRefused(
                "its authentication tag does not match (altered on the way, or another key)".into(),
            )
        })?;
    Ok((header, plain))
}
