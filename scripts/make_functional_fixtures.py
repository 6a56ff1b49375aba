#!/usr/bin/python3
"""PyTorch reference outputs for the functional NN ops (F.*), written to tests/fixtures/functional/.

Each array is raw little-endian float32 `<case>.<array>.bin`; manifest.json lists shapes and parameters.
Run with Debian's python3 (python3-torch 1.13): /usr/bin/python3 scripts/make_functional_fixtures.py
"""
import json, math, os
import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "functional")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)
manifest = {}


def put(case, params=None, **arrays):
    entry = manifest.setdefault(case, {"arrays": {}})
    if params:
        entry.update(params)
    for name, t in arrays.items():
        a = t.detach().to(torch.float32).contiguous().numpy().astype("<f4")
        a.tofile(os.path.join(OUT, f"{case}.{name}.bin"))
        entry["arrays"][name] = list(a.shape)


def rand(*shape, lo=-1.0, hi=1.0, grad=False):
    t = torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo
    t = t.float()
    t.requires_grad_(grad)
    return t


# GELU exact and tanh, with gradients
x = rand(1031, lo=-8, hi=8, grad=True)
g = rand(1031)
y = F.gelu(x)
dx, = torch.autograd.grad(y, x, g)
yt = F.gelu(x, approximate="tanh")
dxt, = torch.autograd.grad(yt, x, g)
put("gelu", x=x, g=g, y=y, dx=dx, y_tanh=yt, dx_tanh=dxt)

# LayerNorm with affine, gradients
x = rand(3, 7, 37, lo=-3, hi=3, grad=True)
w = rand(37, lo=0.5, hi=1.5, grad=True)
b = rand(37, grad=True)
y = F.layer_norm(x, (37,), w, b, 1e-6)
g = rand(3, 7, 37)
dx, dw, db = torch.autograd.grad(y, (x, w, b), g)
put("layer_norm", {"eps": 1e-6}, x=x, w=w, b=b, y=y, g=g, dx=dx, dw=dw, db=db)

# GroupNorm
x = rand(2, 6, 5, 7, lo=-2, hi=2, grad=True)
w = rand(6, lo=0.5, hi=1.5, grad=True)
b = rand(6, grad=True)
y = F.group_norm(x, 3, w, b, 1e-5)
g = rand(2, 6, 5, 7)
dx, dw, db = torch.autograd.grad(y, (x, w, b), g)
put("group_norm", {"groups": 3, "eps": 1e-5}, x=x, w=w, b=b, y=y, g=g, dx=dx, dw=dw, db=db)

# Attention (B, H, N, Dh) with gradients; N prime, Dh not a multiple of 16
for name, (B, H, N, Dh) in {"attention": (2, 3, 19, 20), "attention_long": (1, 1, 150, 16)}.items():
    q = rand(B, H, N, Dh, lo=-2, hi=2, grad=True)
    k = rand(B, H, N, Dh, lo=-2, hi=2, grad=True)
    v = rand(B, H, N, Dh, grad=True)
    scale = Dh ** -0.5
    p = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)
    o = p @ v
    g = rand(B, H, N, Dh)
    dq, dk, dv = torch.autograd.grad(o, (q, k, v), g)
    put(name, {"scale": scale}, q=q, k=k, v=v, o=o, g=g, dq=dq, dk=dk, dv=dv)
    if N < 100:
        put(name, p=p)


def same_pad(size, k, s):
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


# Conv2d with TF-SAME asymmetric padding, stride 2, bias; gradients
x = rand(2, 3, 11, 10, grad=True)
w = rand(5, 3, 3, 3, grad=True)
b = rand(5, grad=True)
t, bo = same_pad(11, 3, 2)
l, r = same_pad(10, 3, 2)
y = F.conv2d(F.pad(x, (l, r, t, bo)), w, b, stride=2)
g = rand(*y.shape)
dx, dw, db = torch.autograd.grad(y, (x, w, b), g)
put("conv_same", {"stride": 2, "pad": [t, bo, l, r]}, x=x, w=w, b=b, y=y, g=g, dx=dx, dw=dw, db=db)

# Conv2d 7x7 stride 2 symmetric padding 3 (ResNet stem), no bias
x = rand(1, 3, 16, 13)
w = rand(4, 3, 7, 7)
put("conv_stem", {"stride": 2, "pad": [3, 3, 3, 3]}, x=x, w=w, y=F.conv2d(x, w, None, stride=2, padding=3))

# Patch embedding conv (kernel = stride = 4)
x = rand(2, 3, 12, 9, grad=True)
w = rand(6, 3, 4, 4, grad=True)
b = rand(6, grad=True)
y = F.conv2d(x, w, b, stride=4)
g = rand(*y.shape)
dx, dw, db = torch.autograd.grad(y, (x, w, b), g)
put("conv_patch", {"stride": 4}, x=x, w=w, b=b, y=y, g=g, dx=dx, dw=dw, db=db)

# MaxPool 3x3 stride 2 with SAME padding of -inf (timm MaxPool2dSame)
x = rand(2, 3, 9, 8)
t, bo = same_pad(9, 3, 2)
l, r = same_pad(8, 3, 2)
y = F.max_pool2d(F.pad(x, (l, r, t, bo), value=-float("inf")), 3, 2)
put("maxpool_same", {"kernel": 3, "stride": 2, "pad": [t, bo, l, r]}, x=x, y=y)

# Interpolate variants
x = rand(1, 2, 7, 7, lo=-2, hi=2)
for size in [(10, 12), (4, 5), (3, 9)]:
    for mode in ["bilinear", "bicubic"]:
        for ac in [False, True]:
            for aa in [False, True]:
                name = f"interp_{mode}_{size[0]}x{size[1]}_ac{int(ac)}_aa{int(aa)}"
                try:
                    y = F.interpolate(x, size=size, mode=mode, align_corners=ac, antialias=aa)
                except Exception as e:  # combination not supported by this torch
                    print("skip", name, e)
                    continue
                put(name, {"mode": mode, "align_corners": ac, "antialias": aa}, x=x, y=y)
# position-embedding-like grid resampling (timm: bicubic antialias; npz: bilinear half-pixel)
x = rand(1, 8, 14, 14)
for size, mode, aa in [((24, 24), "bicubic", True), ((9, 11), "bicubic", True), ((24, 24), "bilinear", False), ((9, 11), "bilinear", True)]:
    put(f"posembed_{mode}_{size[0]}x{size[1]}_aa{int(aa)}", {"mode": mode, "align_corners": False, "antialias": aa},
        x=x, y=F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=aa))

# Cross-entropy with label smoothing, and soft targets
logits = rand(5, 7, lo=-4, hi=4, grad=True)
targets = torch.tensor([0, 6, 3, 3, 1])
loss = F.cross_entropy(logits, targets, label_smoothing=0.1)
dl, = torch.autograd.grad(loss, logits)
put("cross_entropy", {"targets": targets.tolist(), "label_smoothing": 0.1}, logits=logits, loss=loss.reshape(1), dlogits=dl)
soft = torch.softmax(rand(5, 7, lo=-2, hi=2), dim=-1)
loss = torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
dl, = torch.autograd.grad(loss, logits)
put("cross_entropy_soft", logits=logits, soft=soft, loss=loss.reshape(1), dlogits=dl)

# Softmax / log-softmax with extreme logits
x = torch.tensor([[1000.0, 0.0, -5.0, 999.0], [-1e4, -1e4 + 1, -1e4 - 3, -1e4], [0.1, 0.2, 0.3, 0.4]])
put("softmax_extreme", x=x, y=torch.softmax(x, -1), logy=torch.log_softmax(x, -1), y0=torch.softmax(x, 0))

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
print("wrote", len(manifest), "cases to", OUT)
