#!/usr/bin/env bash
# Builds Stratum for release and packages it two ways, into dist/:
#
#   stratum_<version>_<arch>.deb             `sudo apt install ./stratum_*.deb`
#   stratum-<version>-linux-<arch>.tar.zst   a folder that runs where it is
#                                            unpacked (other Linux systems)
#
#   scripts/package.sh                  release build, then both packages
#   scripts/package.sh --binary PATH    package this binary instead of building
#                                       (the tests use their test-profile one)
#   options: --out DIR (default dist/), --fast (light compression, for tests),
#            --deb-only
#
# Both hold the same data folder, found at run time by one lookup
# (crates/stratum-core/src/base/install.rs):
#   package: /usr/bin/stratum, /usr/share/stratum/{models,assets},
#            /usr/lib/stratum/libonnxruntime.so.1.31.1, the desktop entry,
#            icon and NIfTI MIME type, /usr/share/doc/stratum/, the manual page
#   folder:  stratum, models/, assets/, lib/ (ONNX Runtime), share/ (desktop
#            entry, icon, MIME type), doc/
#
# Needs dpkg-deb and dpkg-shlibdeps (Debian/Ubuntu: dpkg-dev), zstd and
# strip (binutils); scripts/setup.sh installs them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

out="$root/dist"
binary=""
fast=""
portable=1
while (($#)); do
    case "$1" in
    --binary)
        binary="$(realpath "$2")"
        shift 2
        ;;
    --out)
        out="$2"
        shift 2
        ;;
    --fast)
        fast=1
        shift
        ;;
    --deb-only)
        portable=""
        shift
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
done
mkdir -p "$out"
out="$(realpath "$out")"

for tool in dpkg-deb dpkg-shlibdeps zstd strip; do
    command -v "$tool" >/dev/null || {
        echo "package.sh needs $tool: run scripts/setup.sh (Debian/Ubuntu: apt-get install dpkg-dev zstd binutils)" >&2
        exit 1
    }
done

version="$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
arch="$(dpkg --print-architecture)"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")"
ort_lib=libonnxruntime.so.1.31.1

if [ -z "$binary" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
    start=$(date +%s)
    cargo build --release --locked --bin stratum
    echo "release build: $(($(date +%s) - start)) s"
    binary="$CARGO_TARGET_DIR/release/stratum"
fi
[ -x "$binary" ] || {
    echo "no executable at $binary" >&2
    exit 1
}
scripts/fetch-onnxruntime.sh

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The data folder: the tracked files of models/ and assets/ (never a
# developer's stray venv or cache).
copy_data() { # copy_data DEST
    mkdir -p "$1"
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$root" ls-files -z models assets | xargs -0 cp --parents -t "$1"
    else
        cp -r models assets "$1/"
    fi
}
# The executable, without its symbols (a test-profile binary carries line tables).
copy_binary() { # copy_binary DEST
    install -D -m 0755 "$binary" "$1"
    strip --strip-unneeded "$1"
}
copy_notices() { # copy_notices DEST_DIR
    install -D -m 0644 packaging/linux/copyright "$1/copyright"
    install -m 0644 .ort/ThirdPartyNotices.txt "$1/ThirdPartyNotices.txt"
    # The crates compiled into the executable (the normal dependencies of
    # `stratum` on this platform, not build scripts or tests), with licences.
    cargo metadata --locked --offline --format-version 1 \
        --filter-platform "$(rustc -vV | sed -n 's/^host: //p')" 2>/dev/null | python3 -c '
import json, sys
meta = json.load(sys.stdin)
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(i for i, p in pkgs.items() if p["name"] == "stratum" and p["source"] is None)
seen, todo = set(), [root]
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] is None for k in d["dep_kinds"]):
            todo.append(d["pkg"])
for p in sorted((pkgs[i] for i in seen), key=lambda p: (p["name"], p["version"])):
    print("%s %s: %s" % (p["name"], p["version"], p.get("license") or "see the crate"))
' >"$1/crates.txt" 2>/dev/null || echo "(the crate list could not be made: cargo metadata failed)" >"$1/crates.txt"
}
desktop_files() { # desktop_files SHARE_DIR: the entry, the icon, the MIME type
    install -D -m 0644 packaging/linux/stratum.desktop "$1/applications/stratum.desktop"
    install -D -m 0644 packaging/linux/stratum.svg "$1/icons/hicolor/scalable/apps/stratum.svg"
    install -D -m 0644 packaging/linux/stratum-256.png "$1/icons/hicolor/256x256/apps/stratum.png"
    install -D -m 0644 packaging/linux/stratum-mime.xml "$1/mime/packages/stratum.xml"
}
# A native package's changelog: this version, from the commit it was built
# from (the project's history is its git log).
changelog_entry() {
    local commit date
    commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    date="$(git -C "$root" log -1 --format=%aD 2>/dev/null || date -R)"
    printf 'stratum (%s) unstable; urgency=medium\n\n  * Built from commit %s (the changes are its git history).\n\n -- %s  %s\n' \
        "$version" "$commit" "$maintainer" "$date"
}
maintainer="${STRATUM_MAINTAINER:-Stratum maintainers <maintainers@stratum.invalid>}"
if [ -n "$fast" ]; then
    # The test packs a 180 MB test-profile binary: compressing it costs more
    # than it saves, at packing and again at unpacking.
    deb_compress=(-Znone)
    zstd_level=(-1)
else
    deb_compress=(-Zxz -z6)
    zstd_level=(-19)
fi

# ---------------------------------------------------------------- the .deb
pkg="$work/deb"
copy_binary "$pkg/usr/bin/stratum"
install -D -m 0644 ".ort/$ort_lib" "$pkg/usr/lib/stratum/$ort_lib"
# The OpenXR loader under the name the app opens (see build.rs), pointing at
# the run-time package's library: dangling, and VR off, until
# libopenxr-loader1 (recommended) is installed.
ln -s "../$multiarch/libopenxr_loader.so.1" "$pkg/usr/lib/stratum/libopenxr_loader.so"
copy_data "$pkg/usr/share/stratum"
desktop_files "$pkg/usr/share"
copy_notices "$pkg/usr/share/doc/stratum"
# What Debian expects of a package besides its files (lintian checks them):
# a changelog, a manual page, and overrides for what is upstream's to change.
changelog_entry | gzip -9n >"$pkg/usr/share/doc/stratum/changelog.gz"
install -d "$pkg/usr/share/man/man1"
gzip -9n <packaging/linux/stratum.1 >"$pkg/usr/share/man/man1/stratum.1.gz"
install -D -m 0644 packaging/linux/lintian-overrides "$pkg/usr/share/lintian/overrides/stratum"

# Libraries the executable and ONNX Runtime link (libc, libstdc++, ...), as
# dpkg-shlibdeps finds them; the ones the app opens at run time are named by
# hand: Vulkan, X11 and its extensions, xkbcommon (winit, wgpu).
mkdir -p "$work/shlibs/debian"
printf 'Source: stratum\n\nPackage: stratum\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$pkg/usr/bin/stratum" -e"$pkg/usr/lib/stratum/$ort_lib" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')"
depends="${shlibs:+$shlibs, }libvulkan1, libx11-6, libxcursor1, libxrandr2, libxi6, libxkbcommon0, libxkbcommon-x11-0"
mkdir -p "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<EOF
Package: stratum
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $depends
Recommends: mesa-vulkan-drivers | vulkan-icd, libopenxr-loader1, shared-mime-info, desktop-file-utils
Suggests: libopenxr1-monado
Section: science
Priority: optional
Description: CT and MR scans to 3D anatomy: check, segment, inspect, export
 Stratum turns a CT or MR scan (a DICOM series or a NIfTI volume) into 3D
 anatomy: it checks the series (missing slices, spacing, tilt, identifying
 data), segments structures (threshold tools, region growing, AI models run
 by the bundled ONNX Runtime), builds surface meshes, and shows them on the
 desktop or in an OpenXR headset, with clip planes, rulers and sculpting;
 exports OBJ, STL, 3MF, glTF and a self-contained share page.
 .
 A demo study opens when it starts without a scan; "stratum doctor" says
 which data, AI runtime, VR runtime and GPU it found.
EOF
deb="$out/stratum_${version}_${arch}.deb"
rm -f "$deb"
dpkg-deb --root-owner-group "${deb_compress[@]}" --build "$pkg" "$deb" >/dev/null
echo "package:  $deb ($(du -h "$deb" | cut -f1))"

[ -n "$portable" ] || exit 0
# ---------------------------------------------------------- the folder
name="stratum-$version-linux-$(uname -m)"
dir="$work/$name"
copy_binary "$dir/stratum"
install -D -m 0644 ".ort/$ort_lib" "$dir/lib/$ort_lib"
copy_data "$dir"
desktop_files "$dir/share"
copy_notices "$dir/doc"
cat >"$dir/README.txt" <<EOF
Stratum $version: CT and MR scans to 3D anatomy.

Run ./stratum from this folder (or from anywhere: it finds models/, assets/
and lib/ beside itself). ./stratum opens the demo study; ./stratum SCAN opens
a DICOM folder or a NIfTI file; ./stratum --help lists the commands;
./stratum doctor says what it found and what is missing.

It needs a Vulkan driver (Debian/Ubuntu: libvulkan1 and mesa-vulkan-drivers
or the GPU vendor's driver) and X11 (libx11-6, libxcursor1, libxrandr2,
libxi6, libxkbcommon-x11-0; under Wayland it runs through XWayland). VR needs
an OpenXR runtime and the OpenXR loader under the name libopenxr_loader.so
(Debian/Ubuntu keep that name in libopenxr-dev; or link it into lib/:
ln -s /usr/lib/$multiarch/libopenxr_loader.so.1 lib/libopenxr_loader.so).

share/ holds a desktop entry, an icon and the NIfTI MIME type; copy them
under ~/.local/share/ (applications/, icons/, mime/packages/) and set Exec=
in the entry to this folder's stratum to put Stratum in the menu.
Licences: doc/copyright.
EOF
tarball="$out/$name.tar.zst"
rm -f "$tarball"
tar -C "$work" --owner=0 --group=0 --numeric-owner -cf - "$name" | zstd -q -T0 "${zstd_level[@]}" -o "$tarball"
echo "folder:   $tarball ($(du -h "$tarball" | cut -f1); $(du -sh "$dir" | cut -f1) unpacked)"
