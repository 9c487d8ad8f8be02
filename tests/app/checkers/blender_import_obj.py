# Imports one OBJ (+ MTL + PNG) into an empty Blender scene and prints, as
# JSON on a line starting with "STRATUM ", what the test checks: each mesh
# object's name, vertex count and bounding box (Blender units, which are the
# file's own numbers: millimetres), and whether its material's base colour
# comes from an image texture that Blender could load, and the distinct
# vertex colours it read (OBJ's `v x y z r g b`; as Blender stores them).
# Usage: blender -b --factory-startup --python-exit-code 1 --python THIS -- FILE.obj
import json
import sys

import bpy

path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
# Keep the file's axes (no Y-up conversion) so the numbers read back as written.
bpy.ops.wm.obj_import(filepath=path, forward_axis="Y", up_axis="Z")

objects = []
for ob in bpy.context.scene.objects:
    if ob.type != "MESH":
        continue
    xs = [v.co for v in ob.data.vertices]
    lo = [min(v[k] for v in xs) for k in range(3)]
    hi = [max(v[k] for v in xs) for k in range(3)]
    textured = False
    image_size = [0, 0]
    for slot in ob.material_slots:
        mat = slot.material
        if mat is None or not mat.use_nodes:
            continue
        for node in mat.node_tree.nodes:
            if node.type != "TEX_IMAGE" or node.image is None:
                continue
            if any(l.to_socket.name == "Base Color" for l in node.outputs["Color"].links):
                textured = True
                # Non-zero only when Blender found and decoded the PNG.
                image_size = list(node.image.size)
    colours = set()
    if len(ob.data.color_attributes) > 0:
        attr = ob.data.color_attributes[0]
        for d in attr.data:
            colours.add(tuple(round(c, 3) for c in d.color[:3]))
    objects.append(
        {
            "name": ob.name,
            "vertices": len(ob.data.vertices),
            "faces": len(ob.data.polygons),
            "uv_layers": len(ob.data.uv_layers),
            "lo": lo,
            "hi": hi,
            "textured": textured,
            "image_size": image_size,
            "colours": sorted(colours)[:16],
        }
    )
print("STRATUM " + json.dumps({"objects": objects}))
