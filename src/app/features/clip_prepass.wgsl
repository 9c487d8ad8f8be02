// The depth prepass of segment surfaces (there only while the volume
// rendering is shown, which reads this depth to stop its rays where a
// surface is): a fragment the clip planes cut away writes no depth either.

#import bevy_pbr::prepass_io::{VertexOutput, FragmentOutput}

struct Clip {
    planes: array<vec4<f32>, 3>,
    tex_from_world: mat4x4<f32>,
    colour: vec4<f32>,
    mask: u32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> clip: Clip;

fn clipped(p: vec3<f32>) -> bool {
    for (var i = 0u; i < 3u; i = i + 1u) {
        if ((clip.mask & (1u << i)) != 0u && dot(clip.planes[i].xyz, p) > clip.planes[i].w) {
            return true;
        }
    }
    return false;
}

#ifdef PREPASS_FRAGMENT
@fragment
fn fragment(in: VertexOutput) -> FragmentOutput {
    if (clipped(in.world_position.xyz)) {
        discard;
    }
    var out: FragmentOutput;
#ifdef NORMAL_PREPASS
    out.normal = vec4(in.world_normal * 0.5 + vec3(0.5), 1.0);
#endif
#ifdef UNCLIPPED_DEPTH_ORTHO_EMULATION
    out.frag_depth = in.unclipped_depth;
#endif
    return out;
}
#else
@fragment
fn fragment(in: VertexOutput) {
    if (clipped(in.world_position.xyz)) {
        discard;
    }
}
#endif
