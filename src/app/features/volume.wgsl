// Volume rendering by ray casting. The material sits on the scan's voxel
// box (drawn from its back faces, so the camera may be inside it); each
// fragment casts the view ray through the box in the scan's texture space
// (exact for tilted and oblique grids), cut to the crop box and the clip
// planes, stopped at the depth of the opaque surfaces (depth prepass), and
// composites the transfer function front to back, lit from the gradient.
// Bricks the transfer function makes invisible are skipped whole (for MIP:
// bricks whose largest value cannot beat the brightest sample so far), and
// the ray ends once it is opaque.

#import bevy_pbr::{
    forward_io::VertexOutput,
    mesh_view_bindings as view_bindings,
    mesh_view_bindings::view,
    view_transformations::{frag_coord_to_ndc, position_ndc_to_world},
}
#ifdef TONEMAP_IN_SHADER
#import bevy_core_pipeline::tonemapping::tone_mapping
#endif

struct VolumeUniform {
    // World (m) to texture coordinates of the scan (texel centres at (i + 0.5) / n).
    tex_from_world: mat4x4<f32>,
    // World-space clip planes: xyz = unit normal, w = offset; kept where dot(n, p) <= w.
    planes: array<vec4<f32>, 3>,
    // Crop box in texture coordinates.
    crop_min: vec4<f32>,
    crop_max: vec4<f32>,
    // x = value at the lookup table's first entry, y = entries per value unit
    // over the table's span (1 / (hi - lo)), z = step (world m), w = the step
    // the opacities are given for (world m).
    lut: vec4<f32>,
    // xyz = bricks along x, y, z; w = voxels per brick.
    bricks: vec4<f32>,
    // xyz = voxels along x, y, z.
    grid: vec4<f32>,
    // Bits 0-2: plane i cuts; bit 3: maximum intensity projection; bit 4: shade.
    flags: u32,
    max_steps: u32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> u: VolumeUniform;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var scan: texture_3d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var scan_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var lut_texture: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(4) var lut_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(5) var occupancy: texture_3d<f32>;

fn value_at(q: vec3<f32>) -> f32 {
    return textureSampleLevel(scan, scan_sampler, q, 0.0).r;
}

fn transfer(v: f32) -> vec4<f32> {
    return textureSampleLevel(lut_texture, lut_sampler, vec2<f32>((v - u.lut.x) * u.lut.y, 0.5), 0.0);
}

// The gradient (per texture unit) by central differences one voxel apart.
fn gradient(q: vec3<f32>) -> vec3<f32> {
    let h = 1.0 / u.grid.xyz;
    let gx = value_at(q + vec3<f32>(h.x, 0.0, 0.0)) - value_at(q - vec3<f32>(h.x, 0.0, 0.0));
    let gy = value_at(q + vec3<f32>(0.0, h.y, 0.0)) - value_at(q - vec3<f32>(0.0, h.y, 0.0));
    let gz = value_at(q + vec3<f32>(0.0, 0.0, h.z)) - value_at(q - vec3<f32>(0.0, 0.0, h.z));
    return vec3<f32>(gx, gy, gz) / (2.0 * h);
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let eye = view.world_position;
    let dir = normalize(in.world_position.xyz - eye);
    let m = u.tex_from_world;
    let o = (m * vec4<f32>(eye, 1.0)).xyz;
    var d = (m * vec4<f32>(dir, 0.0)).xyz;
    d = select(d, vec3<f32>(1e-9), abs(d) < vec3<f32>(1e-9));
    let inv = 1.0 / d;

    // The ray's part inside the crop box (t in world metres from the eye).
    let ta = (u.crop_min.xyz - o) * inv;
    let tb = (u.crop_max.xyz - o) * inv;
    let tn = min(ta, tb);
    let tf = max(ta, tb);
    var t0 = max(max(tn.x, tn.y), max(tn.z, 0.0));
    var t1 = min(min(tf.x, tf.y), tf.z);

    // Clip planes cut the volume as they cut the surfaces.
    for (var i = 0u; i < 3u; i = i + 1u) {
        if ((u.flags & (1u << i)) != 0u) {
            let n = u.planes[i].xyz;
            let nd = dot(n, dir);
            let room = u.planes[i].w - dot(n, eye);
            if (abs(nd) < 1e-9) {
                if (room < 0.0) {
                    discard;
                }
            } else if (nd > 0.0) {
                t1 = min(t1, room / nd);
            } else {
                t0 = max(t0, room / nd);
            }
        }
    }

#ifdef DEPTH_PREPASS
    // An opaque surface ends the ray (reverse Z: 0 is infinitely far).
    let depth = textureLoad(view_bindings::depth_prepass_texture, vec2<i32>(in.position.xy), 0);
    if (depth > 0.0) {
        let hit = position_ndc_to_world(vec3<f32>(frag_coord_to_ndc(in.position).xy, depth));
        t1 = min(t1, dot(hit - eye, dir));
    }
#endif
    if (t1 <= t0) {
        discard;
    }

    let step = u.lut.z;
    // Jitter the start by a fraction of a step: no wood-grain rings.
    let jitter = fract(sin(dot(in.position.xy, vec2<f32>(12.9898, 78.233))) * 43758.5453);
    var t = t0 + step * jitter;
    let nb = vec3<i32>(u.bricks.xyz);
    let brick = u.bricks.w / u.grid.xyz;
    let mip = (u.flags & 8u) != 0u;
    let shade = (u.flags & 16u) != 0u;
    let jt = transpose(mat3x3<f32>(m[0].xyz, m[1].xyz, m[2].xyz));
    var acc = vec4<f32>(0.0);
    var brightest = -3.4e38;
    var steps = 0u;
    loop {
        if (t > t1 || steps >= u.max_steps) {
            break;
        }
        steps = steps + 1u;
        let q = o + t * d;
        let b = clamp(vec3<i32>(floor(q / brick)), vec3<i32>(0), nb - vec3<i32>(1));
        let occ = textureLoad(occupancy, b, 0).r;
        if ((mip && occ <= brightest) || (!mip && occ < 0.5)) {
            // Nothing visible in this brick: jump to where the ray leaves it,
            // in whole steps (the samples stay on the same grid along the ray).
            let lo = vec3<f32>(b) * brick;
            let leave = (select(lo, lo + brick, d > vec3<f32>(0.0)) - o) * inv;
            let t_exit = min(min(leave.x, leave.y), leave.z);
            t = t + max(1.0, ceil((t_exit - t) / step)) * step;
            continue;
        }
        let v = value_at(q);
        if (mip) {
            brightest = max(brightest, v);
            t = t + step;
            continue;
        }
        let c = transfer(v);
        if (c.a > 0.001) {
            // Opacity is given per reference step; correct it for this step.
            let a = 1.0 - pow(1.0 - min(c.a, 0.9999), step / u.lut.w);
            var rgb = c.rgb;
            if (shade) {
                // The gradient in the world: the texture map's Jacobian, transposed.
                let g = jt * gradient(q);
                let len = length(g);
                if (len > 1e-6) {
                    let lambert = abs(dot(g / len, dir));
                    rgb = rgb * (0.3 + 0.7 * lambert) + vec3<f32>(0.2 * pow(lambert, 40.0));
                }
            }
            acc = acc + vec4<f32>(rgb * a, a) * (1.0 - acc.a);
            if (acc.a > 0.98) {
                break;
            }
        }
        t = t + step;
    }
    if (mip) {
        if (brightest < -3.0e38) {
            discard;
        }
        let c = transfer(brightest);
        acc = vec4<f32>(c.rgb * c.a, c.a);
    }
    if (acc.a < 0.002) {
        discard;
    }
#ifdef TONEMAP_IN_SHADER
    let straight = tone_mapping(vec4<f32>(acc.rgb / acc.a, acc.a), view.color_grading);
    acc = vec4<f32>(straight.rgb * acc.a, acc.a);
#endif
    return acc;
}
