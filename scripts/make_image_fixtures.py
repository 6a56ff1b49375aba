#!/usr/bin/python3
"""Generates the image-codec test corpus and the pixels PIL decodes from it.

Run with Debian's python3 (python3-pil built on libjpeg-turbo, python3-numpy; cjpeg/jpegtran from
libjpeg-turbo-progs for the sampling factors and scan scripts PIL cannot write):

    /usr/bin/python3 scripts/make_image_fixtures.py

Writes tests/fixtures/images/{jpeg,png,bmp,pnm,bad}/... and manifest.json; for every image the expected
pixels (HWC uint8, after ImageOps.exif_transpose, CMYK converted to RGB) are stored gzip-compressed in
expected/NAME.bin.gz. The C# tests never need Python.
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "images")
SK = "/usr/lib/python3/dist-packages/sklearn/datasets/images"
TMP = tempfile.mkdtemp()
manifest = []


def out_path(sub, name):
    d = os.path.join(OUT, sub)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def store_expected(rel, arr, kind, exact, note=""):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, c = arr.shape
    key = rel.replace("/", "_")
    exp_rel = "expected/" + key + ".bin.gz"
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    with open(os.path.join(OUT, exp_rel), "wb") as f:
        f.write(gzip.compress(arr.tobytes(), 9, mtime=0))
    manifest.append({"file": rel, "expected": exp_rel, "width": w, "height": h, "channels": c,
                     "kind": kind, "exact": exact, "note": note})


def record_pil(rel, kind, exact, note=""):
    im = Image.open(os.path.join(OUT, rel))
    im = ImageOps.exif_transpose(im)
    if im.mode == "CMYK":
        im = im.convert("RGB")
    if im.mode == "1":
        im = im.convert("L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("L", "RGB") and "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"))
        arr = rgba if im.mode == "RGB" else rgba[:, :, [0, 3]]
    else:
        assert im.mode in ("L", "LA", "RGB", "RGBA"), (rel, im.mode)
        arr = np.asarray(im)
    store_expected(rel, arr, kind, exact, note)


# ------------------------------------------------------------------ sources
rng = np.random.default_rng(1234)


def synthetic(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = 255 * x / max(w - 1, 1)
    b = 255 * ((x // 8 + y // 8) % 2)
    a = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    a[h // 3: h // 3 + 3, :, :] = [255, 0, 0]  # sharp coloured edges stress chroma upsampling
    a[:, w // 2: w // 2 + 2, :] = [0, 0, 255]
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


china = Image.open(os.path.join(SK, "china.jpg")).convert("RGB")
flower = Image.open(os.path.join(SK, "flower.jpg")).convert("RGB")
photos = {
    "china": china.crop((200, 100, 328, 196)),        # 128x96
    "flower": flower.crop((250, 150, 347, 223)),      # 97x73 (odd)
    "chinasmall": china.resize((120, 80), Image.BILINEAR),
    "synth": synthetic(83, 61),
}


def save_jpeg(name, im, note="", **kw):
    rel = "jpeg/" + name + ".jpg"
    im.save(out_path("jpeg", name + ".jpg"), "JPEG", **kw)
    record_pil(rel, "jpeg", False, note or repr(kw))


def cjpeg(name, im, args, note=""):
    src = os.path.join(TMP, "in.ppm" if im.mode == "RGB" else "in.pgm")
    im.save(src)
    rel = "jpeg/" + name + ".jpg"
    subprocess.run(["cjpeg", *args, "-outfile", os.path.join(OUT, rel), src], check=True)
    record_pil(rel, "jpeg", False, note or " ".join(args))


def jpegtran(name, src_rel, args, note=""):
    rel = "jpeg/" + name + ".jpg"
    subprocess.run(["jpegtran", *args, "-outfile", os.path.join(OUT, rel), os.path.join(OUT, src_rel)], check=True)
    record_pil(rel, "jpeg", False, note or " ".join(args))


# ------------------------------------------------------------------ JPEG corpus
for pname, im in photos.items():
    for q in (50, 90):
        for sub, sname in ((0, "444"), (1, "422"), (2, "420")):
            save_jpeg(f"{pname}_q{q}_{sname}", im, quality=q, subsampling=sub)
    save_jpeg(f"{pname}_q75_420_prog", im, quality=75, subsampling=2, progressive=True)
    save_jpeg(f"{pname}_q95_444_prog", im, quality=95, subsampling=0, progressive=True)

im = photos["china"]
save_jpeg("china_q10_420", im, quality=10, subsampling=2)
save_jpeg("china_q100_444", im, quality=100, subsampling=0)
save_jpeg("china_q100_420_opt", im, quality=100, subsampling=2, optimize=True)
save_jpeg("china_gray", im.convert("L"), quality=85)
save_jpeg("china_gray_prog", im.convert("L"), quality=85, progressive=True)
save_jpeg("china_cmyk", im.convert("CMYK"), quality=90)
save_jpeg("flower_cmyk_prog", photos["flower"].convert("CMYK"), quality=80, progressive=True)

# odd sizes, including ones where libjpeg falls back to box upsampling (downsampled width <= 2)
for (w, h) in ((1, 1), (2, 2), (3, 5), (4, 4), (5, 3), (17, 9), (9, 17), (33, 31), (65, 7)):
    src = photos["flower"].crop((10, 10, 10 + w, 10 + h))
    save_jpeg(f"odd_{w}x{h}_420", src, quality=90, subsampling=2)
    save_jpeg(f"odd_{w}x{h}_422_prog", src, quality=90, subsampling=1, progressive=True)
    cjpeg(f"odd_{w}x{h}_440", src, ["-quality", "90", "-sample", "1x2"])

# sampling factors PIL cannot write
for samp in ("1x2", "2x2", "2x1", "4x1", "1x4", "4x2", "2x2,2x1,1x1", "2x2,1x2,2x1", "3x1", "1x3", "3x2"):
    cjpeg("samp_" + samp.replace(",", "_"), photos["flower"], ["-quality", "85", "-sample", samp])
cjpeg("samp_1x2_prog", photos["china"], ["-quality", "85", "-sample", "1x2", "-progressive"])
cjpeg("samp_3x1_prog", photos["china"], ["-quality", "85", "-sample", "3x1", "-progressive"])

# restart intervals (in MCU rows and in MCUs), sequential and progressive
cjpeg("restart_rows1", photos["china"], ["-quality", "80", "-restart", "1"])
cjpeg("restart_blocks5", photos["china"], ["-quality", "80", "-restart", "5B"])
cjpeg("restart_blocks1_prog", photos["flower"], ["-quality", "80", "-restart", "1B", "-progressive"])
cjpeg("restart_gray_blocks3", photos["chinasmall"].convert("L"), ["-quality", "80", "-restart", "3B", "-grayscale"])
cjpeg("rgb_jpeg", photos["synth"], ["-quality", "90", "-rgb"], "RGB colour space (Adobe transform 0)")
cjpeg("gray_prog_optimize", photos["synth"].convert("L"), ["-quality", "60", "-progressive", "-optimize"])

# a non-interleaved sequential file (one scan per component) and a custom progressive scan script
with open(os.path.join(TMP, "scans.txt"), "w") as f:
    f.write("0: 0 63 0 0;\n1: 0 63 0 0;\n2: 0 63 0 0;\n")
jpegtran("noninterleaved", "jpeg/china_q90_420.jpg", ["-scans", os.path.join(TMP, "scans.txt")])
with open(os.path.join(TMP, "prog.txt"), "w") as f:
    f.write("0 1 2: 0 0 0 2;\n0: 1 5 0 2;\n0: 6 63 0 2;\n1: 1 63 0 1;\n2: 1 63 0 1;\n"
            "0: 1 63 2 1;\n0: 1 63 1 0;\n1: 1 63 1 0;\n2: 1 63 1 0;\n0 1 2: 0 0 2 1;\n0 1 2: 0 0 1 0;\n")
jpegtran("prog_custom_scans", "jpeg/flower_q90_444.jpg", ["-scans", os.path.join(TMP, "prog.txt")])

# EXIF orientations 1..8 (asymmetric source so every transpose is distinguishable)
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    save_jpeg(f"exif_orient{o}", photos["synth"].crop((0, 0, 40, 23)), quality=90, exif=ex.tobytes())

# arithmetic coding must be refused with a clear message
subprocess.run(["cjpeg", "-arithmetic", "-outfile", out_path("bad", "arithmetic.jpg"),
                os.path.join(TMP, "in.ppm")], check=True)


with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
shutil.rmtree(TMP)
print(len(manifest), "images")
