#!/usr/bin/python3
"""Reference outputs for VitSharp's image transforms (resize, crops, RandAugment ops, ToTensor+Normalize).

Run with Debian's python3 (python3-pil, python3-torchvision):  /usr/bin/python3 scripts/make_data_fixtures.py
Writes tests/fixtures/data/manifest.json plus raw uint8 (HWC) / float32 (CHW) blobs. Inputs are generated
here from a fixed seed and stored too, so the C# tests need neither Python nor an image decoder.
"""
import gzip, json, math, os, struct, sys
import numpy as np
from PIL import Image
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode as IM
from torchvision.transforms.autoaugment import _apply_op

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def make_embedded_fashion_mnist():
    """--embedded: class-balanced, seeded Fashion-MNIST subset shipped in the library (no network needed).

    1000 train + 200 test images per class from Debian's dataset-fashion-mnist, in original order, written as
    gzipped IDX files into src/VitSharp/Data/Embedded/ (embedded resources)."""
    src = "/usr/share/datasets/fashion-mnist"
    dst = os.path.join(ROOT, "src", "VitSharp", "Data", "Embedded")
    os.makedirs(dst, exist_ok=True)

    def read(name):
        with gzip.open(os.path.join(src, name)) as f:
            return f.read()

    rs = np.random.RandomState(20170825)
    for split, per_class in [("train", 1000), ("t10k", 200)]:
        imgs = read(f"{split}-images-idx3-ubyte.gz")
        labs = read(f"{split}-labels-idx1-ubyte.gz")
        n, h, w = struct.unpack(">III", imgs[4:16])
        x = np.frombuffer(imgs, np.uint8, offset=16).reshape(n, h, w)
        y = np.frombuffer(labs, np.uint8, offset=8)
        pick = np.sort(np.concatenate([rs.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]))
        xs, ys = x[pick], y[pick]
        name = "train" if split == "train" else "test"
        for kind, header, body in [("images", struct.pack(">IIII", 0x803, len(pick), h, w), xs),
                                   ("labels", struct.pack(">II", 0x801, len(pick)), ys)]:
            # mtime=0 keeps the file byte-identical across runs
            with open(os.path.join(dst, f"fashion-mnist-{name}-{kind}-idx.gz"), "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
                    f.write(header + body.tobytes())
        print(name, len(pick), np.bincount(ys))


if "--embedded" in sys.argv:
    make_embedded_fashion_mnist()
    sys.exit(0)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "data")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(1234)
cases = []
blobs = {}


PACK = bytearray()


def blob(name, arr):
    # every array goes into one pack file; the manifest maps names to [offset, length]
    data = np.ascontiguousarray(arr).tobytes()
    blobs[name] = [len(PACK), len(data)]
    PACK.extend(data)
    return name


def synth(w, h, c):
    # smooth gradients + stripes + noise: exercises both flat areas and edges
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        v = 128 + 90 * np.sin(x / (3.0 + k) + y / (5.0 + 2 * k)) + 30 * ((x + 2 * y + k) % 7 > 3)
        v += rng.normal(0, 12, size=(h, w))
        chans.append(v)
    a = np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)
    return a if c > 1 else a[:, :, 0]


def to_pil(a):
    return Image.fromarray(a, ("RGBA" if a.shape[2] == 4 else "RGB") if a.ndim == 3 else "L")


def arr(img):
    a = np.asarray(img)
    return a


sources = {
    "rgb37x29": synth(37, 29, 3),
    "l31x23": synth(31, 23, 1),
    "rgb61x47": synth(61, 47, 3),
}
# RGBA with varied alpha (Pillow resizes it premultiplied)
sources["rgba29x23"] = np.concatenate([synth(29, 23, 3), synth(29, 23, 1)[:, :, None]], axis=2)
for n, a in sources.items():
    blob(f"src_{n}.bin", a)

def add(op, src, params, out):
    o = arr(out)
    name = f"out_{len(cases):03d}.bin"
    blob(name, o)
    h, w = o.shape[:2]
    c = 1 if o.ndim == 2 else o.shape[2]
    cases.append({"op": op, "src": src, "params": params, "out": name, "w": w, "h": h, "c": c})

interp = {"bilinear": IM.BILINEAR, "bicubic": IM.BICUBIC, "nearest": IM.NEAREST}
pil_filters = {"box": Image.BOX, "hamming": Image.HAMMING, "lanczos": Image.LANCZOS}
sizes = [(17, 13), (53, 41), (50, 11), (8, 60), (1, 1), (36, 29), (37, 3)]
for sname in ["rgb37x29", "l31x23", "rgb61x47"]:
    img = to_pil(sources[sname])
    for fname, mode in interp.items():
        for (w, h) in sizes:
            add("resize", sname, {"w": w, "h": h, "filter": fname}, F.resize(img, [h, w], interpolation=mode))
    for fname, f in pil_filters.items():
        for (w, h) in sizes[:3]:
            add("resize", sname, {"w": w, "h": h, "filter": fname}, img.resize((w, h), f))
    # shorter-side resize as torchvision computes it
    for s in [20, 64]:
        add("resize_short", sname, {"size": s, "filter": "bilinear"}, T.Resize(s)(img))
        add("resize_short", sname, {"size": s, "filter": "bicubic"}, T.Resize(s, interpolation=IM.BICUBIC)(img))
    for (ch, cw) in [(16, 16), (20, 13), (29, 37), (40, 50), (23, 10), (1, 1)]:
        add("center_crop", sname, {"h": ch, "w": cw}, T.CenterCrop((ch, cw))(img))
    for (i, j, h, w, s) in [(3, 4, 15, 20, 24), (0, 0, 10, 10, 7), (5, 1, 7, 19, 31)]:
        add("resized_crop", sname, {"top": i, "left": j, "h": h, "w": w, "size": s, "filter": "bilinear"},
            F.resized_crop(img, i, j, h, w, [s, s], interpolation=IM.BILINEAR))

rgba = to_pil(sources["rgba29x23"])
for fname, mode in interp.items():
    for (w, h) in [(17, 13), (53, 41), (8, 30)]:
        add("resize", "rgba29x23", {"w": w, "h": h, "filter": fname}, F.resize(rgba, [h, w], interpolation=mode))

# RandAugment ops at fixed magnitudes (torchvision's own _apply_op, PIL backend, nearest, fill None)
img = to_pil(sources["rgb37x29"])
gray = to_pil(sources["l31x23"])
ops = {
    "ShearX": [0.3, -0.12], "ShearY": [0.21, -0.3], "TranslateX": [7.0, -11.9], "TranslateY": [5.0, -3.4],
    "Rotate": [30.0, -17.0, 90.0], "Brightness": [0.9, -0.45, 0.27], "Color": [0.9, -0.6], "Contrast": [0.72, -0.9],
    "Sharpness": [0.9, -0.5], "Posterize": [4.0, 6.0, 8.0], "Solarize": [128.0, 200.0, 17.0], "AutoContrast": [0.0],
    "Equalize": [0.0], "Identity": [0.0],
}
for sname, im in [("rgb37x29", img), ("l31x23", gray)]:
    for op, mags in ops.items():
        for m in mags:
            add("randaug", sname, {"name": op, "magnitude": m},
                _apply_op(im, op, m, interpolation=IM.NEAREST, fill=None))

# RandomResizedCrop fallback geometry (scale > 1 forces the central fallback) and ToTensor+Normalize
geo = []
for (w, h) in [(100, 50), (50, 100), (64, 60), (300, 200), (10, 40)]:
    dummy = Image.new("RGB", (w, h))
    i, j, hh, ww = T.RandomResizedCrop.get_params(dummy, scale=[2.0, 3.0], ratio=[3 / 4, 4 / 3])
    geo.append({"w": w, "h": h, "top": i, "left": j, "ch": hh, "cw": ww})
t = T.Compose([T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(img)
blob("totensor_imagenet.bin", t.numpy().astype(np.float32))

# RandAugment magnitude tables as torchvision builds them (31 bins, 37x29 image)
ra = T.RandAugment()
space = ra._augmentation_space(31, [29, 37])
table = {k: (v[0].tolist() if v[0].ndim > 0 else [float(v[0])], bool(v[1])) for k, v in space.items()}

manifest = {"sources": {n: {"w": a.shape[1], "h": a.shape[0], "c": 1 if a.ndim == 2 else a.shape[2]} for n, a in sources.items()},
            "cases": cases, "rrc_fallback": geo, "totensor": {"src": "rgb37x29", "out": "totensor_imagenet.bin"},
            "randaug_space": table,
            "versions": {"pillow": Image.__version__, "torchvision": torchvision.__version__}}
# small real JPEG files for folder-dataset tests (decoded by our own codec in the tests)
jpegs = []
for k, (w, h, mode) in enumerate([(20, 16, "RGB"), (23, 17, "RGB"), (16, 21, "L"), (31, 12, "RGB"), (18, 18, "RGB"), (25, 19, "L")]):
    a = synth(w, h, 3 if mode == "RGB" else 1)
    buf = __import__("io").BytesIO()
    to_pil(a).save(buf, "JPEG", quality=90)
    name = f"jpeg_{k}.jpg"
    blobs[name] = [len(PACK), len(buf.getvalue())]
    PACK.extend(buf.getvalue())
    jpegs.append(name)

manifest["jpegs"] = jpegs
manifest["blobs"] = blobs
with open(os.path.join(OUT, "pack.bin"), "wb") as f:
    f.write(PACK)
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(len(cases), "cases")
