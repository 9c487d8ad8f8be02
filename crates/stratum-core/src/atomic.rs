//! Atomic file writes: a temporary file in the target folder, flushed and
//! synced, then renamed into place, so a crash never leaves half a file
//! under the final name.

use std::io::Write;
use std::path::Path;

use crate::error::{CoreError, Result};

/// Writes a file through a temporary name in the same folder, then renames
/// it into place, so a crash never leaves half a file under the final name.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::result::Result<(), String>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        w.flush().map_err(|e| e.to_string())?;
        w.get_ref().sync_all().map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    })();
    if let Err(reason) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CoreError::Write {
            path: path.to_path_buf(),
            reason,
        });
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CoreError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| e.to_string()))
}
