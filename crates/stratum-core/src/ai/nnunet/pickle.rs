//! The pickle stack machine behind a PyTorch checkpoint's data.pkl: plain
//! values, containers in an arena, and the few callables a state dict needs
//! (OrderedDict, the tensor and parameter rebuilders, storages by
//! persistent id) evaluated; everything else stays opaque.

use std::collections::BTreeMap;

/// A pickle value. Containers live in the machine's arena and are referred
/// to by index, so a hostile pickle cannot build a structure whose drop or
/// traversal recurses without bound.
#[derive(Clone, Debug)]
pub(super) enum V {
    None,
    Int(i64),
    /// A bool, float or bytes: nothing Stratum reads.
    Scalar,
    Str(String),
    Obj(usize),
    Mark,
}

#[derive(Debug)]
pub(super) enum Obj {
    List(Vec<V>),
    Tuple(Vec<V>),
    Dict(Vec<(V, V)>),
    Global(String, String),
    Storage {
        key: String,
        dtype: Option<Dtype>,
    },
    Tensor(TensorRef),
    /// Anything else a callable built (numpy scalars, torch.device, ...).
    Other,
}

/// Most objects a pickle may create.
const MAX_OBJECTS: usize = 50_000_000;

pub(super) struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    memo: BTreeMap<u64, V>,
    pub(super) arena: Vec<Obj>,
}

impl<'a> Machine<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Machine {
            data,
            pos: 0,
            stack: Vec::new(),
            memo: BTreeMap::new(),
            arena: Vec::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("it ends early")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("a text line has no end")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "a text line is not UTF-8")?;
        self.pos += n + 1;
        Ok(s)
    }
    fn pop(&mut self) -> Result<V, String> {
        self.stack
            .pop()
            .ok_or_else(|| "its stack runs empty".to_string())
    }
    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<V>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, V::Mark))
            .ok_or("a mark is missing")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }
    fn alloc(&mut self, o: Obj) -> Result<V, String> {
        if self.arena.len() >= MAX_OBJECTS {
            return Err("it creates too many objects".into());
        }
        self.arena.push(o);
        Ok(V::Obj(self.arena.len() - 1))
    }
    fn top_obj(&mut self) -> Result<usize, String> {
        match self.stack.last() {
            Some(V::Obj(i)) => Ok(*i),
            _ => Err("an item is added to something that is not a container".into()),
        }
    }
    fn push_str(&mut self, n: usize) -> Result<(), String> {
        let b = self.take(n)?;
        let s = String::from_utf8_lossy(b).into_owned();
        self.stack.push(V::Str(s));
        Ok(())
    }
    fn push_bytes(&mut self, n: usize) -> Result<(), String> {
        self.take(n)?;
        self.stack.push(V::Scalar);
        Ok(())
    }

    pub(super) fn run(&mut self) -> Result<V, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?;
                } // PROTO
                0x95 => {
                    self.u64()?;
                } // FRAME
                b'.' => return self.pop(),
                b'(' => self.stack.push(V::Mark),
                b'N' => self.stack.push(V::None),
                0x88 => self.stack.push(V::Scalar),
                0x89 => self.stack.push(V::Scalar),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(V::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(V::Int(v as i64));
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.stack
                        .push(V::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let b = self.take(n)?;
                    let v = if n <= 8 {
                        let mut a = [0u8; 8];
                        a[..n].copy_from_slice(b);
                        if n > 0 && b[n - 1] & 0x80 != 0 {
                            a[n..].fill(0xff);
                        }
                        V::Int(i64::from_le_bytes(a))
                    } else {
                        V::Scalar // a huge integer: no weight depends on one
                    };
                    self.stack.push(v);
                }
                b'I' | b'L' => {
                    let s = self.line()?.trim_end_matches('L');
                    let v = match s {
                        "00" => V::Scalar,
                        "01" => V::Scalar,
                        _ => V::Int(s.parse().map_err(|_| "a bad integer")?),
                    };
                    self.stack.push(v);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let _ = f64::from_be_bytes(a);
                    self.stack.push(V::Scalar);
                }
                b'F' => {
                    let _: f64 = self.line()?.parse().map_err(|_| "a bad float")?;
                    self.stack.push(V::Scalar);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.push_str(n)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.push_str(n)?;
                }
                0x8d => {
                    let n = self.u64()? as usize;
                    self.push_str(n)?;
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    self.push_str(n)?;
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    self.push_str(n)?;
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.push_bytes(n)?;
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    self.push_bytes(n)?;
                }
                0x8e | 0x96 => {
                    let n = self.u64()? as usize;
                    self.push_bytes(n)?;
                }
                b'V' | b'S' => {
                    let s = self.line()?.to_string();
                    self.stack.push(V::Str(s));
                }
                b')' => {
                    let v = self.alloc(Obj::Tuple(Vec::new()))?;
                    self.stack.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Tuple(items))?;
                    self.stack.push(v);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("its stack runs empty".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let v = self.alloc(Obj::Tuple(items))?;
                    self.stack.push(v);
                }
                b']' => {
                    let v = self.alloc(Obj::List(Vec::new()))?;
                    self.stack.push(v);
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::List(items))?;
                    self.stack.push(v);
                }
                b'}' => {
                    let v = self.alloc(Obj::Dict(Vec::new()))?;
                    self.stack.push(v);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items);
                    let v = self.alloc(Obj::Dict(pairs))?;
                    self.stack.push(v);
                }
                0x8f => {
                    let v = self.alloc(Obj::List(Vec::new()))?;
                    self.stack.push(v);
                } // EMPTY_SET
                0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::List(items))?;
                    self.stack.push(v);
                } // FROZENSET
                b'a' => {
                    let v = self.pop()?;
                    let i = self.top_obj()?;
                    self.append(i, vec![v]);
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let i = self.top_obj()?;
                    self.append(i, items);
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let i = self.top_obj()?;
                    self.set_items(i, vec![(k, v)]);
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let i = self.top_obj()?;
                    self.set_items(i, pairs(items));
                }
                b'q' => {
                    let k = self.u8()? as u64;
                    self.put(k)?;
                }
                b'r' => {
                    let k = self.u32()? as u64;
                    self.put(k)?;
                }
                b'p' => {
                    let k = self.line()?.parse().map_err(|_| "a bad memo key")?;
                    self.put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u64;
                    self.get(k)?;
                }
                b'j' => {
                    let k = self.u32()? as u64;
                    self.get(k)?;
                }
                b'g' => {
                    let k = self.line()?.parse().map_err(|_| "a bad memo key")?;
                    self.get(k)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.stack.last().cloned().ok_or("its stack runs empty")?;
                    self.stack.push(v);
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let v = self.alloc(Obj::Global(module, name))?;
                    self.stack.push(v);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(m), Some(n)) = (self.str(&module), self.str(&name)) else {
                        return Err("a global is not named by strings".into());
                    };
                    let o = Obj::Global(m.to_string(), n.to_string());
                    let v = self.alloc(o)?;
                    self.stack.push(v);
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.call(&func, &args)?;
                    self.stack.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.call(&func, &args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD: object state (an OrderedDict's _metadata, a
                    // numpy dtype's flags); nothing Stratum reads.
                    self.pop()?;
                    if self.stack.is_empty() {
                        return Err("its stack runs empty".into());
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(&pid)?;
                    self.stack.push(v);
                }
                _ => {
                    return Err(format!(
                        "unknown opcode 0x{op:02x} at byte {}",
                        self.pos - 1
                    ));
                }
            }
        }
    }

    fn put(&mut self, k: u64) -> Result<(), String> {
        let v = self.stack.last().cloned().ok_or("its stack runs empty")?;
        self.memo.insert(k, v);
        Ok(())
    }
    fn get(&mut self, k: u64) -> Result<(), String> {
        let v = self
            .memo
            .get(&k)
            .cloned()
            .ok_or("a memo entry is missing")?;
        self.stack.push(v);
        Ok(())
    }
    fn append(&mut self, i: usize, items: Vec<V>) {
        if let Obj::List(l) = &mut self.arena[i] {
            l.extend(items);
        }
    }
    fn set_items(&mut self, i: usize, items: Vec<(V, V)>) {
        if let Obj::Dict(d) = &mut self.arena[i] {
            for (k, v) in items {
                // Keys repeat only in a hostile file: the last one wins.
                if let V::Str(key) = &k
                    && let Some(slot) = d
                        .iter_mut()
                        .find(|(kk, _)| matches!(kk, V::Str(s) if s == key))
                {
                    slot.1 = v;
                    continue;
                }
                d.push((k, v));
            }
        }
    }

    /// REDUCE: the few callables whose result Stratum reads are evaluated;
    /// everything else becomes an opaque object.
    fn call(&mut self, func: &V, args: &V) -> Result<V, String> {
        let name = match func {
            V::Obj(i) => match &self.arena[*i] {
                Obj::Global(m, n) => Some((m.clone(), n.clone())),
                _ => None,
            },
            _ => None,
        };
        let args = self.items(args).map(<[V]>::to_vec).unwrap_or_default();
        let Some((module, name)) = name else {
            return self.alloc(Obj::Other);
        };
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") | ("builtins", "dict") => {
                self.alloc(Obj::Dict(Vec::new()))
            }
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                let t = self.rebuild_tensor(&args)?;
                self.alloc(Obj::Tensor(t))
            }
            ("torch._utils", "_rebuild_parameter")
            | ("torch._utils", "_rebuild_parameter_with_state") => {
                Ok(args.first().cloned().unwrap_or(V::None))
            }
            _ => self.alloc(Obj::Other),
        }
    }

    fn rebuild_tensor(&self, args: &[V]) -> Result<TensorRef, String> {
        let bad = || "a tensor is described wrongly".to_string();
        let (Some(V::Obj(s)), Some(V::Int(offset)), Some(size), Some(stride)) =
            (args.first(), args.get(1), args.get(2), args.get(3))
        else {
            return Err(bad());
        };
        let Obj::Storage { key, dtype } = &self.arena[*s] else {
            return Err(bad());
        };
        let ints = |v: &V| -> Option<Vec<usize>> {
            self.items(v)?
                .iter()
                .map(|x| match x {
                    V::Int(i) if *i >= 0 => Some(*i as usize),
                    _ => None,
                })
                .collect()
        };
        let shape = ints(size).ok_or_else(bad)?;
        let stride = ints(stride).ok_or_else(bad)?;
        if shape.len() != stride.len() || *offset < 0 || shape.len() > 8 {
            return Err(bad());
        }
        if shape
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .is_none_or(|n| n > 1 << 31)
        {
            return Err("a tensor is too large".into());
        }
        let dtype = dtype.ok_or("a weight is not stored as floating point")?;
        Ok(TensorRef {
            key: key.clone(),
            dtype,
            offset: *offset as usize,
            shape,
            stride,
        })
    }

    /// BINPERSID: `('storage', storage_type, key, location, numel)`.
    fn persistent(&mut self, pid: &V) -> Result<V, String> {
        let items = self
            .items(pid)
            .ok_or("a persistent id is not a tuple")?
            .to_vec();
        if items.len() < 3 || self.str(&items[0]) != Some("storage") {
            return Err("a persistent id is not a storage".into());
        }
        let dtype = match &items[1] {
            V::Obj(i) => match &self.arena[*i] {
                Obj::Global(_, n) => Dtype::from_storage(n),
                _ => None,
            },
            _ => None,
        };
        let key = match &items[2] {
            V::Str(s) => s.clone(),
            V::Int(i) => i.to_string(),
            _ => return Err("a storage key is not a string".into()),
        };
        if key.contains('/') || key.contains("..") {
            return Err("a storage key is not a plain name".into());
        }
        self.alloc(Obj::Storage { key, dtype })
    }

    pub(super) fn str<'s>(&'s self, v: &'s V) -> Option<&'s str> {
        match v {
            V::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(super) fn items(&self, v: &V) -> Option<&[V]> {
        match v {
            V::Obj(i) => match &self.arena[*i] {
                Obj::Tuple(t) | Obj::List(t) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }
    pub(super) fn dict(&self, v: &V) -> Option<&[(V, V)]> {
        match v {
            V::Obj(i) => match &self.arena[*i] {
                Obj::Dict(d) => Some(d),
                _ => None,
            },
            _ => None,
        }
    }
    pub(super) fn tensor(&self, v: &V) -> Option<&TensorRef> {
        match v {
            V::Obj(i) => match &self.arena[*i] {
                Obj::Tensor(t) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }
}

fn pairs(items: Vec<V>) -> Vec<(V, V)> {
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_tuples_and_memo_are_read() {
        // pickle.dumps({'a': (1, [2.5]), 'b': 'x'}, protocol=2)
        let p: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01]q\x02G@\x04\x00\x00\x00\x00\x00\x00a\x86q\x03X\x01\x00\x00\x00bq\x04X\x01\x00\x00\x00xq\x05u.";
        let mut m = Machine::new(p);
        let root = m.run().unwrap();
        let d = m.dict(&root).unwrap();
        assert_eq!(d.len(), 2);
        let t = m.items(&d[0].1).unwrap();
        assert!(matches!(t[0], V::Int(1)));
        let l = m.items(&t[1]).unwrap();
        assert!(matches!(l[0], V::Scalar));
    }

    #[test]
    fn truncated_pickle_is_an_error_not_a_panic() {
        let p: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K";
        for n in 0..p.len() {
            let mut m = Machine::new(&p[..n]);
            assert!(m.run().is_err());
        }
    }
}

/// A tensor as the pickle describes it: where its values are.
#[derive(Clone, Debug)]
pub(super) struct TensorRef {
    pub(super) key: String,
    pub(super) dtype: Dtype,
    pub(super) offset: usize,
    pub(super) shape: Vec<usize>,
    pub(super) stride: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Dtype {
    F32,
    F64,
    F16,
    Bf16,
}

impl Dtype {
    pub(super) fn from_storage(name: &str) -> Option<Dtype> {
        match name {
            "FloatStorage" => Some(Dtype::F32),
            "DoubleStorage" => Some(Dtype::F64),
            "HalfStorage" => Some(Dtype::F16),
            "BFloat16Storage" => Some(Dtype::Bf16),
            _ => None,
        }
    }
}
