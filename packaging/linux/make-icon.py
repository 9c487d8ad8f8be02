#!/usr/bin/env python3
"""Draws Stratum's icon: three slabs stacked, the scan's slices becoming a
solid. Writes stratum.svg and stratum-256.png (Pillow) from the same shapes;
run it here after changing them."""
from PIL import Image, ImageDraw

BG = "#16324a"
SLABS = [  # (y of the top's left corner, top colour, side colour)
    (150, "#d9d4c7", "#a9a395"),
    (110, "#c8553d", "#93402e"),
    (70, "#4fb3a9", "#37857d"),
]


def slab(y):
    """An isometric slab about x = 128: its top and its two sides."""
    top = [(128, y - 40), (208, y), (128, y + 40), (48, y)]
    left = [(48, y), (128, y + 40), (128, y + 58), (48, y + 18)]
    right = [(128, y + 40), (208, y), (208, y + 18), (128, y + 58)]
    return top, left, right


def points(p):
    return " ".join(f"{x},{y}" for x, y in p)


svg = [
    '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">',
    f'<rect x="8" y="8" width="240" height="240" rx="44" fill="{BG}"/>',
]
for y, top_c, side_c in SLABS:
    t, l, r = slab(y)
    svg.append(f'<polygon points="{points(l)}" fill="{side_c}"/>')
    svg.append(f'<polygon points="{points(r)}" fill="{side_c}" fill-opacity="0.85"/>')
    svg.append(f'<polygon points="{points(t)}" fill="{top_c}"/>')
svg.append("</svg>")
with open("stratum.svg", "w") as f:
    f.write("\n".join(svg) + "\n")

S = 4  # drawn 4x larger, then scaled down: smooth edges
im = Image.new("RGBA", (256 * S, 256 * S), (0, 0, 0, 0))
d = ImageDraw.Draw(im)
d.rounded_rectangle([8 * S, 8 * S, 248 * S, 248 * S], radius=44 * S, fill=BG)
for y, top_c, side_c in SLABS:
    t, l, r = slab(y)
    for poly, colour in ((l, side_c), (r, side_c), (t, top_c)):
        d.polygon([(x * S, y2 * S) for x, y2 in poly], fill=colour)
im.resize((256, 256), Image.LANCZOS).save("stratum-256.png", optimize=True)
