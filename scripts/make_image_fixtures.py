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


def store_expected(rel, arr, kind, exact, note="", suffix=""):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, c = arr.shape
    key = rel.replace("/", "_")
    exp_rel = "expected/" + key + suffix + ".bin.gz"
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



# ------------------------------------------------------------------ PNG corpus
def png_chunk(t, body):
    return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_row(samples, depth):
    """samples: 1-D array of channel samples for one row."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    out = bytearray((len(samples) + per - 1) // per)
    for i, v in enumerate(samples):
        out[i // per] |= int(v) << (8 - depth - depth * (i % per))
    return bytes(out)


def filter_row(ft, row, prev, bpp):
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ft == 0: pred = 0
        elif ft == 1: pred = a
        elif ft == 2: pred = b
        elif ft == 3: pred = (a + b) >> 1
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (row[i] - pred) & 255
    return bytes(out)


def write_png(name, samples, color_type, depth, interlace=0, palette=None, trns=None, idat_parts=1, filt=None):
    """samples: HxWxC integer array of raw sample values. filt: None cycles the five filters row by row."""
    h, w, c = samples.shape
    bpp = max(1, c * depth // 8)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    k = 0
    for (x0, y0, dx, dy) in passes:
        sub = samples[y0::dy, x0::dx, :]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        rb = (sub.shape[1] * c * depth + 7) // 8
        prev = bytes(rb)
        for r in range(sub.shape[0]):
            row = pack_row(sub[r].reshape(-1), depth)
            ft = k % 5 if filt is None else filt
            k += 1
            raw += bytes([ft]) + filter_row(ft, row, prev, bpp)
            prev = row
    z = zlib.compress(bytes(raw), 9)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace))
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        data += png_chunk(b"tRNS", trns)
    data += png_chunk(b"tEXt", b"Comment\x00made by make_image_fixtures.py")
    step = (len(z) + idat_parts - 1) // idat_parts
    for i in range(0, len(z), max(step, 1)):
        data += png_chunk(b"IDAT", z[i:i + step])
    data += png_chunk(b"IEND", b"")
    rel = "png/" + name + ".png"
    with open(out_path("png", name + ".png"), "wb") as f:
        f.write(data)
    return rel


def png_expected(samples, color_type, depth, palette=None, trns=None):
    s = samples.astype(np.int64)
    h, w, c = s.shape
    if color_type == 3:
        pal = np.zeros((256, 3), np.int64)
        pal[:len(palette)] = palette
        rgb = pal[s[:, :, 0]]
        if trns is None:
            return rgb
        al = np.full(256, 255, np.int64)
        al[:len(trns)] = list(trns)
        return np.concatenate([rgb, al[s[:, :, 0]][:, :, None]], -1)
    if depth == 16:
        v8 = s >> 8
    else:
        v8 = s * 255 // ((1 << depth) - 1)
    if trns is not None and color_type in (0, 2):
        keyv = struct.unpack(">" + "H" * (len(trns) // 2), trns)
        mask = np.all(s == np.array(keyv)[None, None, :], axis=-1)
        return np.concatenate([v8, np.where(mask, 0, 255)[:, :, None]], -1)
    return v8


def png_case(name, samples, color_type, depth, check_pil=True, **kw):
    rel = write_png(name, samples, color_type, depth, **kw)
    exp = png_expected(samples, color_type, depth, kw.get("palette"), kw.get("trns"))
    if check_pil:
        # PIL must agree with our numpy reference wherever its modes are faithful (8-bit data).
        im = Image.open(os.path.join(OUT, rel))
        if im.mode == "1":
            im = im.convert("L")
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if "transparency" in im.info and im.mode in ("L", "RGB"):
            a = np.asarray(im.convert("RGBA"))
            pil = a if im.mode == "RGB" else a[:, :, [0, 3]]
        else:
            pil = np.asarray(im)
        if pil.ndim == 2:
            pil = pil[:, :, None]
        if pil.shape[2] == 4 and exp.shape[2] == 2:
            pil = pil[:, :, [0, 3]]  # PIL opens 16-bit LA as RGBA; we keep LA (same pixels)
        assert np.array_equal(pil, exp), name
    store_expected(rel, exp, "png", True, f"ct{color_type} d{depth} {kw.get('interlace', 0) and 'adam7' or ''}")


base = np.asarray(photos["flower"].resize((37, 29), Image.BILINEAR)).astype(np.int64)
gray8 = np.asarray(photos["flower"].resize((37, 29), Image.BILINEAR).convert("L")).astype(np.int64)[:, :, None]
alpha8 = ((np.arange(37)[None, :] * 7 + np.arange(29)[:, None] * 3) % 256)[:, :, None]
for il in (0, 1):
    sfx = "_i" if il else ""
    for d in (1, 2, 4, 8):
        png_case(f"gray{d}{sfx}", gray8 >> (8 - d), 0, d, interlace=il)
    png_case(f"gray16{sfx}", gray8 * 257 + 3, 0, 16, check_pil=False, interlace=il)
    png_case(f"rgb8{sfx}", base, 2, 8, interlace=il)
    png_case(f"rgb16{sfx}", base * 256 + 77, 2, 16, interlace=il)
    png_case(f"la8{sfx}", np.concatenate([gray8, alpha8], -1), 4, 8, interlace=il)
    png_case(f"la16{sfx}", np.concatenate([gray8, alpha8], -1) * 257, 4, 16, interlace=il)
    png_case(f"rgba8{sfx}", np.concatenate([base, alpha8], -1), 6, 8, interlace=il)
    png_case(f"rgba16{sfx}", np.concatenate([base, alpha8], -1) * 257, 6, 16, interlace=il)
    for d in (1, 2, 4, 8):
        n = 1 << d
        pal = [(int(i * 255 / max(n - 1, 1)), (i * 37) % 256, 255 - int(i * 255 / max(n - 1, 1))) for i in range(n)]
        idx = (gray8 >> (8 - d))
        png_case(f"pal{d}{sfx}", idx, 3, d, interlace=il, palette=pal)
    pal = [((i * 13) % 256, (i * 7) % 256, i) for i in range(256)]
    png_case(f"pal8_trns{sfx}", gray8, 3, 8, interlace=il, palette=pal, trns=bytes((i * 5) % 256 for i in range(100)))
    png_case(f"gray8_trns{sfx}", gray8, 0, 8, interlace=il, trns=struct.pack(">H", int(gray8[0, 0, 0])))
    png_case(f"gray4_trns{sfx}", gray8 >> 4, 0, 4, check_pil=False, interlace=il, trns=struct.pack(">H", int(gray8[0, 0, 0] >> 4)))
    png_case(f"rgb8_trns{sfx}", base, 2, 8, interlace=il, trns=struct.pack(">HHH", *[int(v) for v in base[3, 4]]))
    png_case(f"rgb16_trns{sfx}", base * 256 + 1, 2, 16, check_pil=False, interlace=il,
             trns=struct.pack(">HHH", *[int(v) * 256 + 1 for v in base[3, 4]]))
for ft in range(5):
    png_case(f"rgb8_filter{ft}", base, 2, 8, filt=ft)
png_case("rgb8_many_idat", base, 2, 8, idat_parts=7)
for (w, h) in ((1, 1), (2, 3), (5, 1), (9, 9)):
    png_case(f"tiny_{w}x{h}_i", base[:h, :w], 2, 8, interlace=1)
# PIL's own writer
for mode in ("L", "LA", "RGB", "RGBA"):
    im = photos["synth"].convert(mode)
    im.save(out_path("png", f"pil_{mode}.png"))
    record_pil(f"png/pil_{mode}.png", "png", True)
photos["synth"].convert("P", palette=Image.ADAPTIVE, colors=16).save(out_path("png", "pil_P16.png"))
record_pil("png/pil_P16.png", "png", True)

# ------------------------------------------------------------------ BMP corpus
small = photos["synth"].crop((0, 0, 31, 19))
for mode, nm in (("1", "bmp1"), ("L", "bmp8_gray"), ("RGB", "bmp24")):
    small.convert(mode).save(out_path("bmp", nm + ".bmp"))
    record_pil(f"bmp/{nm}.bmp", "bmp", True)
small.convert("P", palette=Image.ADAPTIVE, colors=200).save(out_path("bmp", "bmp8_pal.bmp"))
record_pil("bmp/bmp8_pal.bmp", "bmp", True)


def write_bmp(name, w, h, bpp, rows_bytes, header=40, compression=0, masks=None, palette=None, top_down=False):
    stride = ((w * bpp + 31) // 32) * 4
    pix = b"".join(r + bytes(stride - len(r)) for r in (rows_bytes if top_down else rows_bytes[::-1]))
    pal = b""
    if palette is not None:
        pal = b"".join(bytes([b, g, r]) + (b"" if header == 12 else b"\0") for (r, g, b) in palette)
    if header == 12:
        dib = struct.pack("<IHHHH", 12, w, h, 1, bpp)
        extra = b""
    else:
        dib = struct.pack("<IiiHHIIiiII", header, w, -h if top_down else h, 1, bpp, compression, len(pix), 2835, 2835,
                          len(palette) if palette else 0, 0)
        extra = b""
        if header >= 56 or (masks and header > 40):
            m = list(masks or (0, 0, 0, 0)) + [0] * 4
            dib += struct.pack("<IIII", *m[:4])
            dib += bytes(header - len(dib))
        elif masks:
            extra = struct.pack("<III", *masks[:3])
    off = 14 + len(dib) + len(extra) + len(pal)
    data = b"BM" + struct.pack("<IHHI", off + len(pix), 0, 0, off) + dib + extra + pal + pix
    with open(out_path("bmp", name + ".bmp"), "wb") as f:
        f.write(data)
    return "bmp/" + name + ".bmp"


arr = np.asarray(small).astype(np.int64)
H, W = arr.shape[:2]
rows24 = [bytes(arr[y, :, ::-1].astype(np.uint8).reshape(-1)) for y in range(H)]
rel = write_bmp("bmp24_topdown", W, H, 24, rows24, top_down=True)
record_pil(rel, "bmp", True)
p565 = (arr[:, :, 0] >> 3 << 11) | (arr[:, :, 1] >> 2 << 5) | (arr[:, :, 2] >> 3)
rel = write_bmp("bmp16_565", W, H, 16, [p565[y].astype("<u2").tobytes() for y in range(H)], compression=3,
                masks=(0xF800, 0x07E0, 0x001F))
store_expected(rel, np.stack([(p565 >> 11 & 31) * 255 // 31, (p565 >> 5 & 63) * 255 // 63, (p565 & 31) * 255 // 31], -1),
               "bmp", True, "565 bitfields")
p555 = (arr[:, :, 0] >> 3 << 10) | (arr[:, :, 1] >> 3 << 5) | (arr[:, :, 2] >> 3)
rel = write_bmp("bmp16_555", W, H, 16, [p555[y].astype("<u2").tobytes() for y in range(H)])
store_expected(rel, np.stack([(p555 >> 10 & 31) * 255 // 31, (p555 >> 5 & 31) * 255 // 31, (p555 & 31) * 255 // 31], -1),
               "bmp", True, "555 BI_RGB")
a8 = (np.arange(W)[None, :] * 8 + np.arange(H)[:, None]) % 256
bgra = np.stack([arr[:, :, 2], arr[:, :, 1], arr[:, :, 0], a8], -1).astype(np.uint8)
rel = write_bmp("bmp32_bitfields_alpha", W, H, 32, [bytes(bgra[y].reshape(-1)) for y in range(H)], header=108,
                compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))
record_pil(rel, "bmp", True)
rel = write_bmp("bmp32_rgb", W, H, 32, [bytes(bgra[y].reshape(-1)) for y in range(H)])
record_pil(rel, "bmp", True)
pal16 = [((i * 17) % 256, (i * 50) % 256, 255 - i * 16) for i in range(16)]
idx4 = (arr[:, :, 1] >> 4)
rows4 = [bytes(((idx4[y, 0::2] << 4) | np.append(idx4[y, 1::2], [0] * (W % 2))).astype(np.uint8)) for y in range(H)]
rel = write_bmp("bmp4_pal", W, H, 4, rows4, palette=pal16)
record_pil(rel, "bmp", True)
pal256 = [((i * 3) % 256, (i * 5) % 256, (i * 7) % 256) for i in range(256)]
idx8 = arr[:, :, 0]
rel = write_bmp("bmp8_core", W, H, 8, [bytes(idx8[y].astype(np.uint8)) for y in range(H)], header=12, palette=pal256)
record_pil(rel, "bmp", True)

# ------------------------------------------------------------------ PNM corpus
small.convert("L").save(out_path("pnm", "p5.pgm"))
record_pil("pnm/p5.pgm", "pnm", True)
small.save(out_path("pnm", "p6.ppm"))
record_pil("pnm/p6.ppm", "pnm", True)


def write_pnm(name, text_header, body):
    with open(out_path("pnm", name), "wb") as f:
        f.write(text_header.encode() + body)
    return "pnm/" + name


g = np.asarray(small.convert("L")).astype(np.int64)
rel = write_pnm("p2.pgm", f"P2\n# comment\n{W} {H}\n255\n", " ".join(str(v) for v in g.reshape(-1)).encode() + b"\n")
record_pil(rel, "pnm", True)
rel = write_pnm("p3_max15.ppm", f"P3 {W} {H} 15\n", " ".join(str(v >> 4) for v in arr.reshape(-1)).encode())
record_pil(rel, "pnm", True)
rel = write_pnm("p6_max15.ppm", f"P6\n{W} {H}\n15\n", bytes((arr >> 4).astype(np.uint8).reshape(-1)))
record_pil(rel, "pnm", True)
g16 = g * 1000 // 255
rel = write_pnm("p5_max1000.pgm", f"P5\n{W} {H}\n1000\n", g16.astype(">u2").tobytes())
store_expected(rel, np.array([[min(255, round(v / 1000 * 255)) for v in r] for r in g16]), "pnm", True, "16-bit, scaled")
bits = (g < 128).astype(np.uint8)
rel = write_pnm("p1.pbm", f"P1\n{W} {H}\n", "\n".join("".join(str(v) for v in r) for r in bits).encode())
record_pil(rel, "pnm", True)
rel = write_pnm("p4.pbm", f"P4\n{W} {H}\n", b"".join(bytes(np.packbits(r)) for r in bits))
record_pil(rel, "pnm", True)

# ------------------------------------------------------------------ conversions (PIL convert('L') / convert('RGB'))
for src in ("png/pil_RGB.png", "png/pil_RGBA.png", "png/pil_LA.png"):
    im = Image.open(os.path.join(OUT, src))
    store_expected(src, np.asarray(im.convert("L")), "convert_L", True, "PIL convert('L')", ".L")
    store_expected(src, np.asarray(im.convert("RGB")), "convert_RGB", True, "PIL convert('RGB')", ".RGB")

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
shutil.rmtree(TMP)
print(len(manifest), "images")
