// Segment surfaces with up to three clip planes. Fragments on the cut side
// of an active plane are discarded; where the cut opens the surface, its
// inside (a back face) is drawn as the cut face: the scan resliced on the
// plane (one texture fetch), with the segment colour blended in.

#import bevy_pbr::{
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::alpha_discard,
    mesh_view_bindings::view,
}

#ifdef PREPASS_PIPELINE
#import bevy_pbr::{
    prepass_io::{VertexOutput, FragmentOutput},
    pbr_deferred_functions::deferred_output,
}
#else
#import bevy_pbr::{
    forward_io::{VertexOutput, FragmentOutput},
    pbr_functions::{apply_pbr_lighting, main_pass_post_lighting_processing},
}
#endif

struct Clip {
    // World-space planes: xyz = unit normal, w = offset; kept where dot(n, p) <= w.
    planes: array<vec4<f32>, 3>,
    // World (m) to 3D texture coordinates of the scan.
    tex_from_world: mat4x4<f32>,
    // Linear RGB of the segment; a = how much of it tints the cut face.
    colour: vec4<f32>,
    // Bit i set (0-2): plane i cuts this segment. Bit 3: draw no cut face
    // (a see-through overlay such as the margin shell).
    mask: u32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> clip: Clip;
@group(#{MATERIAL_BIND_GROUP}) @binding(101) var scan_texture: texture_3d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(102) var scan_sampler: sampler;

@fragment
fn fragment(
    in: VertexOutput,
    @builtin(front_facing) is_front: bool,
) -> FragmentOutput {
    let p = in.world_position.xyz;
    for (var i = 0u; i < 3u; i = i + 1u) {
        if ((clip.mask & (1u << i)) != 0u && dot(clip.planes[i].xyz, p) > clip.planes[i].w) {
            discard;
        }
    }
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    pbr_input.material.base_color = alpha_discard(pbr_input.material, pbr_input.material.base_color);

#ifdef PREPASS_PIPELINE
    let out = deferred_output(in, pbr_input);
#else
    var out: FragmentOutput;
    if (!is_front && (clip.mask & 7u) != 0u && (clip.mask & 8u) == 0u) {
        // The view ray enters the kept region where it crosses the last
        // active plane it passes from the cut side: that point is on the cut face.
        let eye = view.world_position;
        let d = p - eye;
        var t = 0.0;
        for (var i = 0u; i < 3u; i = i + 1u) {
            if ((clip.mask & (1u << i)) != 0u) {
                let n = clip.planes[i].xyz;
                let nd = dot(n, d);
                if (nd < 0.0) {
                    t = max(t, (clip.planes[i].w - dot(n, eye)) / nd);
                }
            }
        }
        if (t > 0.0 && t < 1.0) {
            let q = eye + t * d;
            let uvw = (clip.tex_from_world * vec4<f32>(q, 1.0)).xyz;
            let grey = textureSampleLevel(scan_texture, scan_sampler, uvw, 0.0).r;
            // The texels hold display grey levels (sRGB); light is linear.
            let lin = pow(vec3<f32>(grey), vec3<f32>(2.2));
            let rgb = mix(lin, clip.colour.rgb * max(grey, 0.25), clip.colour.a);
            out.color = main_pass_post_lighting_processing(pbr_input, vec4<f32>(rgb, 1.0));
            return out;
        }
    }
    out.color = apply_pbr_lighting(pbr_input);
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
#endif
    return out;
}
