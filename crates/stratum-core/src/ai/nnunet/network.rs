//! The network an nnU-Net plan describes (dynamic_network_architectures'
//! PlainConvUNet or ResidualEncoderUNet with basic blocks), rebuilt as an
//! ONNX graph from the plan's architecture and the checkpoint's weights,
//! module for module, so it computes what nnU-Net's own network computes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ImportError;
use super::checkpoint::Tensor;
use super::onnx::{Attr, Graph};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchKind {
    PlainConv,
    ResidualEncoder,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Norm {
    Instance { eps: f32, affine: bool },
    Batch { eps: f32, affine: bool },
    None,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlin {
    LeakyRelu(f32),
    Relu,
    None,
}

/// The architecture of the plan, in tensor axis order (D, H, W).
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    pub kind: ArchKind,
    pub features: Vec<usize>,
    pub kernels: Vec<[usize; 3]>,
    pub strides: Vec<[usize; 3]>,
    /// Convolutions (PlainConv) or residual blocks (ResidualEncoder) per
    /// encoder stage.
    pub encoder_depth: Vec<usize>,
    pub decoder_convs: Vec<usize>,
    pub conv_bias: bool,
    pub norm: Norm,
    pub nonlin: Nonlin,
    pub nonlin_first: bool,
    pub stem_channels: Option<usize>,
}

fn unsupported(what: impl Into<String>, hint: impl Into<String>) -> ImportError {
    ImportError::Unsupported {
        what: what.into(),
        hint: hint.into(),
    }
}

fn int(v: &Value) -> Option<usize> {
    v.as_u64().map(|x| x as usize)
}

/// An int or a list of `n` ints (one per stage), as the plans allow.
fn per_stage(v: &Value, n: usize, field: &str) -> Result<Vec<usize>, ImportError> {
    let bad = || {
        ImportError::Plans(format!(
            "`{field}` is not a number or a list of {n} numbers"
        ))
    };
    match v {
        Value::Array(a) if a.len() == n => a.iter().map(|x| int(x).ok_or_else(bad)).collect(),
        v => int(v).map(|x| vec![x; n]).ok_or_else(bad),
    }
}

/// Per stage, three sizes (an int stands for all three).
fn per_stage3(v: &Value, n: usize, field: &str) -> Result<Vec<[usize; 3]>, ImportError> {
    let bad = || {
        ImportError::Plans(format!(
            "`{field}` does not give {n} stages of three sizes (a 2D configuration? import the 3d_fullres one)"
        ))
    };
    let three = |x: &Value| -> Option<[usize; 3]> {
        match x {
            Value::Array(a) if a.len() == 3 => Some([int(&a[0])?, int(&a[1])?, int(&a[2])?]),
            x => int(x).map(|i| [i; 3]),
        }
    };
    match v {
        Value::Array(a) if a.len() == n => a.iter().map(|x| three(x).ok_or_else(bad)).collect(),
        x => three(x).map(|t| vec![t; n]).ok_or_else(bad),
    }
}

impl Arch {
    /// Reads `architecture` of a configuration (nnU-Net >= 2.3), or the
    /// older keys (`UNet_class_name`, `conv_kernel_sizes`, ...) that nnU-Net
    /// itself converts the same way.
    pub fn from_plans(cfg: &Value) -> Result<Arch, ImportError> {
        if let Some(arch) = cfg.get("architecture") {
            return Self::from_architecture(arch);
        }
        let class = cfg
            .get("UNet_class_name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ImportError::Plans(
                    "the configuration has neither `architecture` nor `UNet_class_name`".into(),
                )
            })?;
        let kind = match class {
            "PlainConvUNet" => ArchKind::PlainConv,
            "ResidualEncoderUNet" => ArchKind::ResidualEncoder,
            other => {
                return Err(unsupported(
                    format!("the network class {other}"),
                    "Stratum rebuilds PlainConvUNet and ResidualEncoderUNet",
                ));
            }
        };
        let enc = cfg
            .get("n_conv_per_stage_encoder")
            .and_then(Value::as_array)
            .ok_or_else(|| ImportError::Plans("`n_conv_per_stage_encoder` is missing".into()))?;
        let n = enc.len();
        if !(2..=12).contains(&n) {
            return Err(ImportError::Plans(format!(
                "`n_conv_per_stage_encoder` gives {n} stages; a U-Net has 2 to 12"
            )));
        }
        let base = cfg
            .get("UNet_base_num_features")
            .and_then(int)
            .unwrap_or(32);
        let max = cfg
            .get("unet_max_num_features")
            .and_then(int)
            .unwrap_or(320);
        let field = |k: &str| cfg.get(k).cloned().unwrap_or(Value::Null);
        Arch {
            kind,
            features: (0..n).map(|i| (base << i.min(20)).min(max)).collect(),
            kernels: per_stage3(&field("conv_kernel_sizes"), n, "conv_kernel_sizes")?,
            strides: per_stage3(&field("pool_op_kernel_sizes"), n, "pool_op_kernel_sizes")?,
            encoder_depth: per_stage(&Value::Array(enc.clone()), n, "n_conv_per_stage_encoder")?,
            decoder_convs: per_stage(
                &field("n_conv_per_stage_decoder"),
                n - 1,
                "n_conv_per_stage_decoder",
            )?,
            conv_bias: true,
            norm: Norm::Instance {
                eps: 1e-5,
                affine: true,
            },
            nonlin: Nonlin::LeakyRelu(0.01),
            nonlin_first: false,
            stem_channels: None,
        }
        .checked()
    }

    fn from_architecture(arch: &Value) -> Result<Arch, ImportError> {
        let class = arch
            .get("network_class_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = match class.rsplit('.').next().unwrap_or("") {
            "PlainConvUNet" => ArchKind::PlainConv,
            "ResidualEncoderUNet" => ArchKind::ResidualEncoder,
            _ => {
                return Err(unsupported(
                    format!("the network class {class:?}"),
                    "Stratum rebuilds PlainConvUNet and ResidualEncoderUNet (nnU-Net's default and ResEnc plans)",
                ));
            }
        };
        let k = arch
            .get("arch_kwargs")
            .ok_or_else(|| ImportError::Plans("`architecture.arch_kwargs` is missing".into()))?;
        let field = |name: &str| k.get(name).cloned().unwrap_or(Value::Null);
        let n = k
            .get("n_stages")
            .and_then(int)
            .filter(|&n| (2..=12).contains(&n))
            .ok_or_else(|| ImportError::Plans("`n_stages` is missing or out of range".into()))?;
        let conv_op = k.get("conv_op").and_then(Value::as_str).unwrap_or("");
        if !conv_op.ends_with("Conv3d") {
            return Err(unsupported(
                format!("a network built of {conv_op:?}"),
                "Stratum runs 3D networks: import the 3d_fullres (or 3d_lowres) configuration",
            ));
        }
        let name = |f: &str| k.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        let kw = |f: &str| k.get(f).cloned().unwrap_or(Value::Null);
        let flag = |v: &Value, f: &str, d: bool| v.get(f).and_then(Value::as_bool).unwrap_or(d);
        let eps = |v: &Value| v.get("eps").and_then(Value::as_f64).unwrap_or(1e-5) as f32;
        let norm_kw = kw("norm_op_kwargs");
        let norm_name = name("norm_op");
        let norm = if norm_name.is_empty() {
            Norm::None
        } else if norm_name.contains("InstanceNorm") {
            Norm::Instance {
                eps: eps(&norm_kw),
                affine: flag(&norm_kw, "affine", false),
            }
        } else if norm_name.contains("BatchNorm") {
            Norm::Batch {
                eps: eps(&norm_kw),
                affine: flag(&norm_kw, "affine", true),
            }
        } else {
            return Err(unsupported(
                format!("the normalisation layer {norm_name}"),
                "Stratum rebuilds instance and batch normalisation",
            ));
        };
        let nonlin_name = name("nonlin");
        let nonlin = if nonlin_name.is_empty() {
            Nonlin::None
        } else if nonlin_name.ends_with("LeakyReLU") {
            let slope = kw("nonlin_kwargs")
                .get("negative_slope")
                .and_then(Value::as_f64)
                .unwrap_or(0.01);
            Nonlin::LeakyRelu(slope as f32)
        } else if nonlin_name.ends_with(".ReLU") || nonlin_name == "ReLU" {
            Nonlin::Relu
        } else {
            return Err(unsupported(
                format!("the activation {nonlin_name}"),
                "Stratum rebuilds LeakyReLU and ReLU",
            ));
        };
        let (depth_key, kind_name) = match kind {
            ArchKind::PlainConv => ("n_conv_per_stage", "PlainConvUNet"),
            ArchKind::ResidualEncoder => ("n_blocks_per_stage", "ResidualEncoderUNet"),
        };
        if kind == ArchKind::ResidualEncoder {
            let block = name("block");
            if !(block.is_empty() || block.ends_with("BasicBlockD")) {
                return Err(unsupported(
                    format!("{kind_name} with {block}"),
                    "Stratum rebuilds ResidualEncoderUNet with BasicBlockD (nnU-Net's ResEnc presets)",
                ));
            }
            if k.get("squeeze_excitation").and_then(Value::as_bool) == Some(true) {
                return Err(unsupported(
                    "squeeze-and-excitation blocks",
                    "Stratum rebuilds the plain residual blocks of nnU-Net's ResEnc presets",
                ));
            }
        }
        if !matches!(k.get("pool"), None | Some(Value::Null))
            && k.get("pool").and_then(Value::as_str) != Some("conv")
        {
            return Err(unsupported(
                "pooling layers instead of strided convolutions",
                "Stratum rebuilds nnU-Net's default strided-convolution encoder",
            ));
        }
        Arch {
            kind,
            features: per_stage(&field("features_per_stage"), n, "features_per_stage")?,
            kernels: per_stage3(&field("kernel_sizes"), n, "kernel_sizes")?,
            strides: per_stage3(&field("strides"), n, "strides")?,
            encoder_depth: per_stage(&field(depth_key), n, depth_key)?,
            decoder_convs: per_stage(
                &field("n_conv_per_stage_decoder"),
                n - 1,
                "n_conv_per_stage_decoder",
            )?,
            conv_bias: k.get("conv_bias").and_then(Value::as_bool).unwrap_or(false),
            norm,
            nonlin,
            nonlin_first: k
                .get("nonlin_first")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            stem_channels: k.get("stem_channels").and_then(int),
        }
        .checked()
    }

    /// Sizes no network of nnU-Net's has (a zero kernel, a stride of 100),
    /// refused before any arithmetic on them.
    fn checked(self) -> Result<Arch, ImportError> {
        let bad = |what: &str| Err(ImportError::Plans(format!("the plans give {what}")));
        if self
            .kernels
            .iter()
            .flatten()
            .any(|&k| !(1..=15).contains(&k))
        {
            return bad("a kernel size outside 1..15");
        }
        if self
            .strides
            .iter()
            .flatten()
            .any(|&k| !(1..=8).contains(&k))
        {
            return bad("a stride outside 1..8");
        }
        if self
            .features
            .iter()
            .chain(self.stem_channels.iter())
            .any(|&f| !(1..=4096).contains(&f))
        {
            return bad("a feature count outside 1..4096");
        }
        if self
            .encoder_depth
            .iter()
            .chain(&self.decoder_convs)
            .any(|&d| d > 16)
            || self.encoder_depth.contains(&0)
        {
            return bad("a stage with no convolution or more than 16");
        }
        Ok(self)
    }

    /// How many voxels the patch must divide into: the product of strides.
    pub fn divisor(&self) -> [usize; 3] {
        let mut d = [1usize; 3];
        for s in &self.strides {
            for k in 0..3 {
                d[k] = d[k].saturating_mul(s[k].max(1));
            }
        }
        d
    }
}

/// Builds the ONNX graph of `arch` with `weights`: input `input`
/// [N, 1, D, H, W] of `patch`, output `logits` [N, classes, D, H, W].
pub fn build_onnx(
    arch: &Arch,
    weights: &BTreeMap<String, Tensor>,
    classes: usize,
    patch: [usize; 3],
    doc: &str,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>, ImportError> {
    let mut b = Builder {
        g: Graph::default(),
        weights,
        arch,
    };
    let mut x = "input".to_string();
    let mut channels = 1usize;
    let mut skips = Vec::new();
    match arch.kind {
        ArchKind::PlainConv => {
            for s in 0..arch.features.len() {
                for c in 0..arch.encoder_depth[s] {
                    let stride = if c == 0 { arch.strides[s] } else { [1; 3] };
                    let p = format!("encoder.stages.{s}.0.convs.{c}");
                    x = b.conv_norm_act(
                        &p,
                        &x,
                        channels,
                        arch.features[s],
                        arch.kernels[s],
                        stride,
                        true,
                    )?;
                    channels = arch.features[s];
                }
                skips.push((x.clone(), channels));
            }
        }
        ArchKind::ResidualEncoder => {
            let stem = arch.stem_channels.unwrap_or(arch.features[0]);
            x = b.conv_norm_act(
                "encoder.stem.convs.0",
                &x,
                channels,
                stem,
                arch.kernels[0],
                [1; 3],
                true,
            )?;
            channels = stem;
            for s in 0..arch.features.len() {
                for blk in 0..arch.encoder_depth[s] {
                    let stride = if blk == 0 { arch.strides[s] } else { [1; 3] };
                    let p = format!("encoder.stages.{s}.blocks.{blk}");
                    x =
                        b.basic_block(&p, &x, channels, arch.features[s], arch.kernels[s], stride)?;
                    channels = arch.features[s];
                }
                skips.push((x.clone(), channels));
            }
        }
    }
    let n = arch.features.len();
    for s in 0..n.saturating_sub(1) {
        let (skip, skip_ch) = skips[n - 2 - s].clone();
        let stride = arch.strides[n - 1 - s];
        let w = b.weight(
            &format!("decoder.transpconvs.{s}.weight"),
            &[channels, skip_ch, stride[0], stride[1], stride[2]],
        )?;
        let mut inputs = vec![x.clone(), w];
        if arch.conv_bias {
            inputs.push(b.weight(&format!("decoder.transpconvs.{s}.bias"), &[skip_ch])?);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let up = b.g.node(
            "ConvTranspose",
            &refs,
            &[("kernel_shape", ints(&stride)), ("strides", ints(&stride))],
        );
        x = b.g.node("Concat", &[&up, &skip], &[("axis", Attr::Int(1))]);
        channels = 2 * skip_ch;
        for c in 0..arch.decoder_convs[s] {
            let p = format!("decoder.stages.{s}.convs.{c}");
            x = b.conv_norm_act(
                &p,
                &x,
                channels,
                skip_ch,
                arch.kernels[n - 2 - s],
                [1; 3],
                true,
            )?;
            channels = skip_ch;
        }
    }
    // Only the last (full-resolution) segmentation head runs at inference.
    let last = n.saturating_sub(2);
    let w = b.weight(
        &format!("decoder.seg_layers.{last}.weight"),
        &[classes, channels, 1, 1, 1],
    )?;
    let bias = b.weight(&format!("decoder.seg_layers.{last}.bias"), &[classes])?;
    b.g.node_as(
        "Conv",
        &[&x, &w, &bias],
        &[("kernel_shape", ints(&[1, 1, 1]))],
        "logits",
    );
    let g = b.g;
    Ok(g.finish(
        (
            "input",
            &[
                None,
                Some(1),
                Some(patch[0]),
                Some(patch[1]),
                Some(patch[2]),
            ],
        ),
        (
            "logits",
            &[
                None,
                Some(classes),
                Some(patch[0]),
                Some(patch[1]),
                Some(patch[2]),
            ],
        ),
        doc,
        metadata,
    ))
}

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&x| x as i64).collect())
}

struct Builder<'a> {
    g: Graph,
    weights: &'a BTreeMap<String, Tensor>,
    arch: &'a Arch,
}

impl Builder<'_> {
    /// Adds weight `name` as an initialiser after checking its shape.
    fn weight(&mut self, name: &str, shape: &[usize]) -> Result<String, ImportError> {
        let t = self.weights.get(name).ok_or_else(|| ImportError::Weights(format!(
            "weight {name} is missing: the checkpoint does not match the network its plans describe"
        )))?;
        if t.shape != shape {
            return Err(ImportError::Weights(format!(
                "weight {name} has shape {:?} but the plans describe {shape:?}",
                t.shape
            )));
        }
        self.g.initializer(name, shape, &t.data);
        Ok(name.to_string())
    }

    /// A constant that is not in the checkpoint (norm without affine).
    fn constant(&mut self, prefix: &str, value: f32, n: usize) -> String {
        let name = self.g.fresh(prefix);
        self.g.initializer(&name, &[n], &vec![value; n]);
        name
    }

    /// ConvDropoutNormReLU: conv (same padding), norm, activation (or the
    /// activation before the norm with `nonlin_first`). `act` false leaves
    /// the activation out (the second conv of a residual block).
    #[allow(clippy::too_many_arguments)]
    fn conv_norm_act(
        &mut self,
        p: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        stride: [usize; 3],
        act: bool,
    ) -> Result<String, ImportError> {
        self.conv_norm_act_bias(p, x, cin, cout, k, stride, act, self.arch.conv_bias)
    }

    #[allow(clippy::too_many_arguments)]
    fn conv_norm_act_bias(
        &mut self,
        p: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        stride: [usize; 3],
        act: bool,
        bias: bool,
    ) -> Result<String, ImportError> {
        let w = self.weight(&format!("{p}.conv.weight"), &[cout, cin, k[0], k[1], k[2]])?;
        let mut inputs = vec![x.to_string(), w];
        if bias {
            inputs.push(self.weight(&format!("{p}.conv.bias"), &[cout])?);
        }
        let pads: Vec<usize> = (0..6).map(|i| (k[i % 3] - 1) / 2).collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let mut y = self.g.node(
            "Conv",
            &refs,
            &[
                ("kernel_shape", ints(&k)),
                ("strides", ints(&stride)),
                ("pads", ints(&pads)),
            ],
        );
        let act = act && self.arch.nonlin != Nonlin::None;
        if act && self.arch.nonlin_first {
            y = self.activation(&y);
        }
        y = self.norm(&format!("{p}.norm"), &y, cout)?;
        if act && !self.arch.nonlin_first {
            y = self.activation(&y);
        }
        Ok(y)
    }

    fn norm(&mut self, p: &str, x: &str, c: usize) -> Result<String, ImportError> {
        match self.arch.norm {
            Norm::None => Ok(x.to_string()),
            Norm::Instance { eps, affine } => {
                let (scale, bias) = if affine {
                    (
                        self.weight(&format!("{p}.weight"), &[c])?,
                        self.weight(&format!("{p}.bias"), &[c])?,
                    )
                } else {
                    (
                        self.constant("ones", 1.0, c),
                        self.constant("zeros", 0.0, c),
                    )
                };
                Ok(self.g.node(
                    "InstanceNormalization",
                    &[x, &scale, &bias],
                    &[("epsilon", Attr::Float(eps))],
                ))
            }
            Norm::Batch { eps, affine } => {
                let (scale, bias) = if affine {
                    (
                        self.weight(&format!("{p}.weight"), &[c])?,
                        self.weight(&format!("{p}.bias"), &[c])?,
                    )
                } else {
                    (
                        self.constant("ones", 1.0, c),
                        self.constant("zeros", 0.0, c),
                    )
                };
                let mean = self.weight(&format!("{p}.running_mean"), &[c])?;
                let var = self.weight(&format!("{p}.running_var"), &[c])?;
                Ok(self.g.node(
                    "BatchNormalization",
                    &[x, &scale, &bias, &mean, &var],
                    &[("epsilon", Attr::Float(eps))],
                ))
            }
        }
    }

    fn activation(&mut self, x: &str) -> String {
        match self.arch.nonlin {
            Nonlin::LeakyRelu(a) => self.g.node("LeakyRelu", &[x], &[("alpha", Attr::Float(a))]),
            Nonlin::Relu => self.g.node("Relu", &[x], &[]),
            Nonlin::None => x.to_string(),
        }
    }

    /// BasicBlockD: conv-norm-act, conv-norm, plus the skip (average pool
    /// when strided, 1x1 conv-norm when the width changes), then act.
    fn basic_block(
        &mut self,
        p: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        stride: [usize; 3],
    ) -> Result<String, ImportError> {
        let h = self.conv_norm_act(&format!("{p}.conv1"), x, cin, cout, k, stride, true)?;
        let h = self.conv_norm_act(&format!("{p}.conv2"), &h, cout, cout, k, [1; 3], false)?;
        let strided = stride != [1; 3];
        let mut skip = x.to_string();
        let mut idx = 0;
        if strided {
            skip = self.g.node(
                "AveragePool",
                &[&skip],
                &[("kernel_shape", ints(&stride)), ("strides", ints(&stride))],
            );
            idx += 1;
        }
        if cin != cout {
            skip = self.conv_norm_act_bias(
                &format!("{p}.skip.{idx}"),
                &skip,
                cin,
                cout,
                [1; 3],
                [1; 3],
                false,
                false,
            )?;
        }
        let sum = self.g.node("Add", &[&h, &skip], &[]);
        Ok(self.activation(&sum))
    }
}
