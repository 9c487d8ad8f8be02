//! Reads an nnU-Net checkpoint (`checkpoint_final.pth`) without PyTorch: the
//! zip archive `torch.save` writes, its pickle run by a small stack machine
//! that builds nothing but plain values, and each weight tensor copied out of
//! its storage entry as f32. The zip's CRC-32s catch a damaged file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::ImportError;
use super::pickle::{Dtype, Machine, Obj, TensorRef, V};

/// One weight: its shape and values (row-major, f32).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What Stratum needs from a checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// `network_weights`, names without the `_orig_mod.` / `module.` prefixes
    /// that torch.compile and DDP add.
    pub weights: BTreeMap<String, Tensor>,
    pub trainer: String,
    /// `init_args.configuration` ("3d_fullres").
    pub configuration: Option<String>,
    /// `inference_allowed_mirroring_axes`: `None` for trainers that do not
    /// mirror (nnUNetTrainerNoMirroring).
    pub mirror_axes: Option<Vec<usize>>,
}

/// Largest pickle accepted (nnU-Net's are a few MB: the training log).
const MAX_PICKLE: u64 = 512 << 20;
/// Largest single tensor storage (1 G values).
const MAX_STORAGE: u64 = 4 << 30;

/// Reads `path` (a `torch.save` zip archive).
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, ImportError> {
    let damaged = |reason: String| ImportError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let mut magic = [0u8; 2];
    if std::io::Read::read_exact(&mut &file, &mut magic).is_ok() && magic == [0x80, 0x02] {
        return Err(damaged(
            "it is in PyTorch's legacy (pre-1.6) format; load it in PyTorch and save it again with torch.save"
                .into(),
        ));
    }
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(
        std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?,
    ))
    .map_err(|e| damaged(format!("it is not a readable PyTorch archive ({e})")))?;
    let pkl_name = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or_else(|| damaged("the archive holds no data.pkl".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let big_endian = match read_entry(&mut zip, &format!("{prefix}byteorder"), 64) {
        Ok(b) => b.trim_ascii() == b"big",
        Err(_) => false,
    };
    // Every entry's CRC-32, the optimiser state Stratum does not read
    // included: damage anywhere says the copy cannot be trusted.
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| damaged(format!("entry {i} is unreadable ({e})")))?;
        let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
        std::io::copy(&mut f, &mut std::io::sink())
            .map_err(|e| damaged(format!("entry {name} is damaged ({e})")))?;
    }
    let pkl = read_entry(&mut zip, &pkl_name, MAX_PICKLE).map_err(&damaged)?;
    let mut vm = Machine::new(&pkl);
    let root = vm
        .run()
        .map_err(|e| damaged(format!("its pickle is unreadable: {e}")))?;

    let top = vm.dict(&root).ok_or_else(|| {
        damaged("it does not hold a dictionary (not an nnU-Net checkpoint)".into())
    })?;
    let get = |k: &str| {
        top.iter()
            .find(|(key, _)| vm.str(key) == Some(k))
            .map(|(_, v)| v)
    };
    let weights_v = get("network_weights").ok_or_else(|| {
        damaged("it has no `network_weights` (not an nnU-Net v2 checkpoint)".into())
    })?;
    let trainer = get("trainer_name")
        .and_then(|v| vm.str(v))
        .unwrap_or("nnUNetTrainer")
        .to_string();
    let configuration = get("init_args")
        .and_then(|v| vm.dict(v))
        .and_then(|d| {
            d.iter()
                .find(|(k, _)| vm.str(k) == Some("configuration"))
                .and_then(|(_, v)| vm.str(v))
        })
        .map(str::to_string);
    let mirror_axes = match get("inference_allowed_mirroring_axes") {
        None => None,
        Some(v) => vm.items(v).map(|items| {
            items
                .iter()
                .filter_map(|a| match a {
                    V::Int(i) if (0..3).contains(i) => Some(*i as usize),
                    _ => None,
                })
                .collect()
        }),
    };
    let entries = vm
        .dict(weights_v)
        .ok_or_else(|| damaged("`network_weights` is not a dictionary".into()))?;
    let mut weights = BTreeMap::new();
    for (k, v) in entries {
        let Some(name) = vm.str(k) else { continue };
        let name = name
            .trim_start_matches("_orig_mod.")
            .trim_start_matches("module.")
            .to_string();
        let Some(t) = vm.tensor(v) else {
            return Err(damaged(format!("weight {name} is not a tensor")));
        };
        let entry = format!("{prefix}data/{}", t.key);
        let bytes = read_entry(&mut zip, &entry, MAX_STORAGE).map_err(&damaged)?;
        let tensor = t
            .extract(&bytes, big_endian)
            .map_err(|e| damaged(format!("weight {name}: {e}")))?;
        weights.insert(name, tensor);
    }
    Ok(Checkpoint {
        weights,
        trainer,
        configuration,
        mirror_axes,
    })
}

/// Runs the pickle machine over `pkl` alone (a checkpoint's data.pkl, no
/// storages read) and returns how many tensors it describes: the part of
/// the reader a fuzzer can reach past the archive's CRC-32s.
pub fn run_pickle(pkl: &[u8]) -> Result<usize, String> {
    let mut vm = Machine::new(pkl);
    vm.run()?;
    Ok(vm
        .arena
        .iter()
        .filter(|o| matches!(o, Obj::Tensor(_)))
        .count())
}

/// The whole entry `name`, its CRC checked (the zip reader reports a
/// mismatch at the end of the entry).
fn read_entry<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let mut f = zip
        .by_name(name)
        .map_err(|e| format!("entry {name} is missing ({e})"))?;
    if f.size() > limit {
        return Err(format!(
            "entry {name} is {} bytes, more than expected",
            f.size()
        ));
    }
    let mut out = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut out)
        .map_err(|e| format!("entry {name} is damaged ({e})"))?;
    Ok(out)
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }
}

impl TensorRef {
    fn extract(&self, bytes: &[u8], big_endian: bool) -> Result<Tensor, String> {
        let n: usize = self.shape.iter().product();
        let size = self.dtype.size();
        let count = bytes.len() / size;
        let value = |i: usize| -> f32 {
            let b = &bytes[i * size..(i + 1) * size];
            let mut a = [0u8; 8];
            a[..size].copy_from_slice(b);
            if big_endian {
                a[..size].reverse();
            }
            match self.dtype {
                Dtype::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]),
                Dtype::F64 => f64::from_le_bytes(a) as f32,
                Dtype::F16 => half::f16::from_le_bytes([a[0], a[1]]).to_f32(),
                Dtype::Bf16 => half::bf16::from_le_bytes([a[0], a[1]]).to_f32(),
            }
        };
        // The furthest element the strides reach must lie in the storage.
        let last = self.offset
            + self
                .shape
                .iter()
                .zip(&self.stride)
                .map(|(&s, &st)| s.saturating_sub(1).saturating_mul(st))
                .fold(0usize, |a, b| a.saturating_add(b));
        if n > 0 && last >= count {
            return Err(format!(
                "its storage holds {count} values but the tensor reaches value {last}"
            ));
        }
        let mut data = Vec::with_capacity(n);
        let mut idx = vec![0usize; self.shape.len()];
        for _ in 0..n {
            let at = self.offset
                + idx
                    .iter()
                    .zip(&self.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            data.push(value(at));
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(Tensor {
            shape: self.shape.clone(),
            data,
        })
    }
}
