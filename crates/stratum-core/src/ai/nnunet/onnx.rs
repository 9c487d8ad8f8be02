//! Writes an ONNX model (protobuf wire format, the fields of onnx.proto a
//! feed-forward float graph needs) so that a network can be handed to ONNX
//! Runtime without Python: nodes, float initialisers, one input, one output.

/// A graph under construction; values are named by strings as in ONNX.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Vec<u8>>,
    counter: usize,
}

/// A node attribute.
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
}

/// ONNX's dtype code for float32.
const FLOAT: i64 = 1;

impl Graph {
    /// A fresh value name with `prefix`.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// A float32 constant (weights), named `name`.
    pub fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) {
        let mut t = Vec::new();
        for &d in dims {
            field_varint(&mut t, 1, d as u64);
        }
        field_varint(&mut t, 2, FLOAT as u64);
        field_bytes(&mut t, 8, name.as_bytes());
        let mut raw = Vec::with_capacity(data.len() * 4);
        for v in data {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        field_bytes(&mut t, 9, &raw);
        self.initializers.push(t);
    }

    /// Adds a node; returns its (single) output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.node_as(op, inputs, attrs, &out);
        out
    }

    /// Adds a node whose output is named `out`.
    pub fn node_as(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)], out: &str) {
        let mut n = Vec::new();
        for i in inputs {
            field_bytes(&mut n, 1, i.as_bytes());
        }
        field_bytes(&mut n, 2, out.as_bytes());
        field_bytes(&mut n, 3, out.as_bytes());
        field_bytes(&mut n, 4, op.as_bytes());
        for (name, a) in attrs {
            let mut m = Vec::new();
            field_bytes(&mut m, 1, name.as_bytes());
            match a {
                Attr::Float(f) => {
                    tag(&mut m, 2, 5);
                    m.extend_from_slice(&f.to_le_bytes());
                    field_varint(&mut m, 20, 1);
                }
                Attr::Int(i) => {
                    field_varint(&mut m, 3, *i as u64);
                    field_varint(&mut m, 20, 2);
                }
                Attr::Ints(v) => {
                    for i in v {
                        field_varint(&mut m, 8, *i as u64);
                    }
                    field_varint(&mut m, 20, 7);
                }
            }
            field_bytes(&mut n, 5, &m);
        }
        self.nodes.push(n);
    }

    /// The serialised model: `input` and `output` are float tensors of
    /// `input_dims` / `output_dims` (a `None` dimension is symbolic, named
    /// `N`: the batch).
    pub fn finish(
        self,
        input: (&str, &[Option<usize>]),
        output: (&str, &[Option<usize>]),
        doc: &str,
        metadata: &[(&str, String)],
    ) -> Vec<u8> {
        let mut g = Vec::new();
        for n in &self.nodes {
            field_bytes(&mut g, 1, n);
        }
        field_bytes(&mut g, 2, b"stratum_nnunet");
        for t in &self.initializers {
            field_bytes(&mut g, 5, t);
        }
        field_bytes(&mut g, 11, &value_info(input.0, input.1));
        field_bytes(&mut g, 12, &value_info(output.0, output.1));

        let mut m = Vec::new();
        field_varint(&mut m, 1, 8); // IR version 8 (opset 17's)
        field_bytes(&mut m, 2, b"stratum");
        field_bytes(&mut m, 3, env!("CARGO_PKG_VERSION").as_bytes());
        field_bytes(&mut m, 6, doc.as_bytes());
        field_bytes(&mut m, 7, &g);
        let mut opset = Vec::new();
        field_bytes(&mut opset, 1, b"");
        field_varint(&mut opset, 2, 17);
        field_bytes(&mut m, 8, &opset);
        for (k, v) in metadata {
            let mut e = Vec::new();
            field_bytes(&mut e, 1, k.as_bytes());
            field_bytes(&mut e, 2, v.as_bytes());
            field_bytes(&mut m, 14, &e);
        }
        m
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d {
            Some(v) => field_varint(&mut dim, 1, *v as u64),
            None => field_bytes(&mut dim, 2, b"N"),
        }
        field_bytes(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    field_varint(&mut tensor, 1, FLOAT as u64);
    field_bytes(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    field_bytes(&mut ty, 1, &tensor);
    let mut vi = Vec::new();
    field_bytes(&mut vi, 1, name.as_bytes());
    field_bytes(&mut vi, 2, &ty);
    vi
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn field_varint(out: &mut Vec<u8>, field: u32, v: u64) {
    tag(out, field, 0);
    varint(out, v);
}

fn field_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let mut v = Vec::new();
        varint(&mut v, (-1i64) as u64);
        assert_eq!(v.len(), 10);
    }
}
