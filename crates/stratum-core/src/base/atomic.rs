//! Atomic file writes: a temporary file in the target folder, flushed and
//! synced, then renamed into place, so a crash never leaves half a file
//! under the final name. Temporary names are `.NAME.PID.tmp`; a later write
//! of the same name removes those a killed process left behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::error::{CoreError, Result};

/// Writes a file through a temporary name in the same folder, then renames
/// it into place, so a crash never leaves half a file under the final name.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::result::Result<(), String>,
) -> Result<()> {
    let dir = parent_dir(path);
    create_folder(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = temp_path(dir, &name, "");
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| explain(&e, dir))?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        w.flush().map_err(|e| explain(&e, dir))?;
        w.get_ref().sync_all().map_err(|e| explain(&e, dir))?;
        Ok::<(), String>(())
    })();
    if let Err(reason) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CoreError::Write {
            path: path.to_path_buf(),
            reason,
        });
    }
    commit(&tmp, path)?;
    remove_stale_temps(dir, &name);
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(bytes)
            .map_err(|e| explain(&e, parent_dir(path)))
    })
}

/// The folder a path is written into (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Creates `dir` (and its parents), with an error that names it.
pub fn create_folder(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::Write {
        path: dir.to_path_buf(),
        reason: format!("cannot create the folder: {}", explain(&e, dir)),
    })
}

/// The temporary name this process uses for `name` in `dir`: `.NAME.PID.tmp`
/// plus `suffix` (a writer that picks its format from the extension, such as
/// NIfTI's, needs the real extension at the end).
pub fn temp_path(dir: &Path, name: &str, suffix: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.tmp{suffix}", std::process::id()))
}

/// Renames a finished temporary file into place (removing it on failure).
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        CoreError::Write {
            path: path.to_path_buf(),
            reason: explain(&e, parent_dir(path)),
        }
    })
}

/// An I/O error in words that say what to do, naming the folder for the
/// two a user can fix: a full disk and a read-only one.
pub fn explain(e: &std::io::Error, dir: &Path) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => format!(
            "the disk that holds {} is full ({e}); free some space or choose another folder",
            dir.display()
        ),
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => format!(
            "the folder {} cannot be written ({e}); choose a folder you can write to",
            dir.display()
        ),
        _ => e.to_string(),
    }
}

/// True for `.NAME.PID.tmp…` names whose process is gone. On systems
/// without /proc every other process's temporary file is kept.
fn is_stale_temp(file: &str, name: &str) -> bool {
    let Some(rest) = file
        .strip_prefix('.')
        .and_then(|f| f.strip_prefix(name))
        .and_then(|f| f.strip_prefix('.'))
    else {
        return false;
    };
    let Some((pid, tail)) = rest.split_once('.') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    tail.starts_with("tmp")
        && pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the temporary files of `name` that killed processes left in `dir`.
pub fn remove_stale_temps(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if is_stale_temp(&file, name) {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Removes every `.NAME.PID.tmp…` file or folder in `dir` whose process is
/// gone, whatever NAME is (outputs with many names, such as an anonymized
/// series).
pub fn remove_stale_temps_any(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        // The NAME is everything before the last ".PID.tmp".
        let stale = file.match_indices(".tmp").any(|(at, _)| {
            let head = &file[..at];
            head.rsplit_once('.')
                .is_some_and(|(name, _)| name.len() > 1 && is_stale_temp(&file, &name[1..]))
        });
        if stale {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Puts the finished folder `tmp` in place of `dest`: an older `dest` is
/// moved aside first and removed after, so `dest` is at every moment either
/// absent or one whole version.
pub fn replace_folder(tmp: &Path, dest: &Path) -> Result<()> {
    let dir = parent_dir(dest);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let old = temp_path(dir, &name, "-old");
    let fail = |e: std::io::Error| CoreError::Write {
        path: dest.to_path_buf(),
        reason: explain(&e, dir),
    };
    if dest.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dest, &old).map_err(fail)?;
    }
    std::fs::rename(tmp, dest).map_err(fail)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(fail)?;
    }
    // The renames are durable once the folder itself is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
