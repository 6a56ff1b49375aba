#!/usr/bin/python3
"""Parity fixtures for VitSharp's ViT models (tests/fixtures/models).

Builds small reference models with random non-trivial weights -- a faithful re-statement of timm's
VisionTransformer / ResNetV2 hybrid (timm itself is not installed here), DeiT's distillation token, the
old in21k pre-logits layer, and torchvision's own VisionTransformer -- then writes each case's weights
(safetensors with timm names; some also as .pth, Google-layout .npz, torchvision or Hugging Face names),
its inputs and reference outputs, and cases.json (configs in VitConfig's JSON form plus the expected
state-dict keys and shapes).

Full-size ViT-B/16 cases ("seeded") hold only reference logits: their weights come from an integer-hash formula
(formula_values) that the C# tests reproduce, and the tests write the ~350 MB checkpoints (timm/torchvision .pth,
Google .npz, HF .safetensors) at test time. b16_seeded_hf is the same model with HF's LayerNorm eps (1e-12);
b16_384_seeded_at224 is a 384 checkpoint (24x24 grid; its "state_dict" lists the file's keys and shapes) loaded at
224 with timm's npz position-embedding resampling.

Run:  /usr/bin/python3 scripts/make_model_fixtures.py   (Debian python3-torch 1.13, torchvision, numpy)
"""
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")
torch.set_grad_enabled(False)


# ----------------------------------------------------------------------------- timm-style reference

def pad_same(x, k, s, value=0.0):
    ih, iw = x.shape[-2:]

    def total(i):
        return max((math.ceil(i / s) - 1) * s + (k - 1) + 1 - i, 0)

    ph, pw = total(ih), total(iw)
    if ph > 0 or pw > 0:
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2], value=value)
    return x


class StdConv2dSame(nn.Conv2d):
    """timm layers/std_conv.py StdConv2dSame: weight standardised with batch_norm statistics, TF SAME pad."""

    def __init__(self, cin, cout, k, stride=1, eps=1e-8):
        super().__init__(cin, cout, k, stride=stride, padding=0, bias=False)
        self.eps = eps

    def forward(self, x):
        x = pad_same(x, self.kernel_size[0], self.stride[0])
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                         training=True, momentum=0., eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, w, None, self.stride, 0)


class GroupNormAct(nn.GroupNorm):
    def __init__(self, groups, ch, eps=1e-5, act=True):
        super().__init__(groups, ch, eps=eps)
        self.act = act

    def forward(self, x):
        x = F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return F.relu(x) if self.act else x


class MaxPool2dSame(nn.Module):
    def forward(self, x):
        return F.max_pool2d(pad_same(x, 3, 2, value=-float("inf")), 3, 2)


def make_div(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class DownsampleConv(nn.Module):
    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        self.conv = StdConv2dSame(cin, cout, 1, stride)
        self.norm = GroupNormAct(groups, cout, act=False)

    def forward(self, x):
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    def __init__(self, cin, cout, stride, proj, groups):
        super().__init__()
        mid = make_div(cout * 0.25)
        self.downsample = DownsampleConv(cin, cout, stride, groups) if proj else None
        self.conv1 = StdConv2dSame(cin, mid, 1)
        self.norm1 = GroupNormAct(groups, mid)
        self.conv2 = StdConv2dSame(mid, mid, 3, stride)
        self.norm2 = GroupNormAct(groups, mid)
        self.conv3 = StdConv2dSame(mid, cout, 1)
        self.norm3 = GroupNormAct(groups, cout, act=False)

    def forward(self, x):
        sc = self.downsample(x) if self.downsample is not None else x
        x = self.norm1(self.conv1(x))
        x = self.norm2(self.conv2(x))
        x = self.norm3(self.conv3(x))
        return F.relu(x + sc)


class ResNetStage(nn.Module):
    def __init__(self, cin, cout, stride, depth, groups):
        super().__init__()
        self.blocks = nn.Sequential(*[Bottleneck(cin if i == 0 else cout, cout, stride if i == 0 else 1, i == 0, groups)
                                      for i in range(depth)])

    def forward(self, x):
        return self.blocks(x)


class ResNetV2(nn.Module):
    """timm resnetv2.ResNetV2(preact=False, stem_type='same', conv_layer=StdConv2dSame(eps=1e-8))."""

    def __init__(self, layers, in_chans, stem, widths, groups):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ("conv", StdConv2dSame(in_chans, stem, 7, 2)),
            ("norm", GroupNormAct(groups, stem)),
            ("pool", MaxPool2dSame()),
        ]))
        stages, prev = [], stem
        for i, (d, w) in enumerate(zip(layers, widths)):
            stages.append(ResNetStage(prev, w, 1 if i == 0 else 2, d, groups))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.num_features = prev

    def forward(self, x):
        return self.stages(self.stem(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim, backbone=None):
        super().__init__()
        if backbone is not None:
            self.backbone = backbone
            in_chans = backbone.num_features
        else:
            self.backbone = None
        self.proj = nn.Conv2d(in_chans, dim, patch, patch)

    def forward(self, x):
        if self.backbone is not None:
            x = self.backbone(x)
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias, qk_scale):
        super().__init__()
        self.heads = heads
        self.scale = qk_scale or (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, probs_out=None):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        if probs_out is not None:
            probs_out.append(attn)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, tanh):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh" if tanh else "none")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["embed_dim"]
        self.norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.attn = Attention(d, c["num_heads"], c["qkv_bias"], c.get("qk_scale"))
        self.norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = Mlp(d, int(d * c["mlp_ratio"]), c["gelu"] == "tanh")

    def forward(self, x, probs_out=None):
        x = x + self.attn(self.norm1(x), probs_out)
        return x + self.mlp(self.norm2(x))


class PreLogits(nn.Module):
    def __init__(self, d, r):
        super().__init__()
        self.fc = nn.Linear(d, r)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x))


def sincos_1d(n, d):
    t = torch.zeros(1, n, d)
    for p in range(n):
        for j in range(d):
            i2 = j - (j & 1)
            a = p / (10000.0 ** (i2 / d))
            t[0, p, j] = math.sin(a) if j % 2 == 0 else math.cos(a)
    return t


class VisionTransformer(nn.Module):
    """timm VisionTransformer semantics (+ DeiT dist token, + old pre_logits), config = VitConfig JSON dict."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        d = c["embed_dim"]
        self.prefix = int(c["class_token"]) + int(c["distilled"])
        backbone = None
        if c.get("hybrid_layers"):
            backbone = ResNetV2(c["hybrid_layers"], c["in_chans"], c["hybrid_stem_width"], c["hybrid_widths"], c["hybrid_groups"])
            s = 4 * 2 ** (len(c["hybrid_layers"]) - 1)
            grid = (math.ceil(c["img_height"] / s) // c["patch_size"], math.ceil(c["img_width"] / s) // c["patch_size"])
        else:
            grid = (c["img_height"] // c["patch_size"], c["img_width"] // c["patch_size"])
        self.grid = grid
        ntok = grid[0] * grid[1] + self.prefix
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if c["class_token"] else None
        self.pos_embed = nn.Parameter(torch.zeros(1, ntok, d)) if c["pos_embed"] == "learn" else None
        self.sincos = sincos_1d(ntok, d) if c["pos_embed"] == "sincos" else None
        self.dist_token = nn.Parameter(torch.zeros(1, 1, d)) if c["distilled"] else None
        self.patch_embed = PatchEmbed(c["patch_size"], c["in_chans"], d, backbone)
        self.blocks = nn.Sequential(*[Block(c) for _ in range(c["depth"])])
        fc_norm = c.get("fc_norm")
        use_fc = (c["global_pool"] == "avg") if fc_norm is None else fc_norm
        eps = c["layer_norm_eps"]
        self.norm = nn.Identity() if use_fc else nn.LayerNorm(d, eps=eps)
        self.fc_norm = nn.LayerNorm(d, eps=eps) if use_fc else nn.Identity()
        rep = c.get("representation_size")
        self.pre_logits = PreLogits(d, rep) if rep else None
        feat = rep or d
        nc = c["num_classes"]
        self.head = nn.Linear(feat, nc) if nc > 0 else nn.Identity()
        self.head_dist = nn.Linear(feat, nc) if c["distilled"] else None

    def features(self, x, probs_out=None):
        x = self.patch_embed(x)
        toks = []
        if self.cls_token is not None:
            toks.append(self.cls_token.expand(x.shape[0], -1, -1))
        if self.dist_token is not None:
            toks.append(self.dist_token.expand(x.shape[0], -1, -1))
        x = torch.cat(toks + [x], dim=1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        elif self.sincos is not None:
            x = x + self.sincos
        for b in self.blocks:
            x = b(x, probs_out)
        return self.norm(x)

    def pool(self, x, idx=0):
        if self.c["global_pool"] == "avg":
            x = x[:, self.prefix:].mean(dim=1)
        else:
            x = x[:, idx]
        x = self.fc_norm(x)
        if self.pre_logits is not None:
            x = self.pre_logits(x)
        return x

    def forward(self, x, probs_out=None):
        t = self.features(x, probs_out)
        if self.head_dist is not None:
            a, b = self.head(self.pool(t, 0)), self.head_dist(self.pool(t, 1))
            return (a + b) / 2, a, b
        return self.head(self.pool(t)), None, None


# ----------------------------------------------------------------------------- weights and writers

def randomize(model, gen):
    for name, p in model.named_parameters():
        leaf = name.split(".")[-1]
        if name in ("cls_token", "pos_embed", "dist_token"):
            v = torch.randn(p.shape, generator=gen) * 0.5
        elif p.dim() >= 2:
            fan_in = p[0].numel()
            v = torch.randn(p.shape, generator=gen) / math.sqrt(fan_in)
        elif leaf == "weight":  # norms
            v = 1 + 0.2 * torch.randn(p.shape, generator=gen)
        else:
            v = 0.1 * torch.randn(p.shape, generator=gen)
        p.copy_(v)


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        b = a.tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def to_google(sd, c):
    """timm state dict -> Google vit_jax .npz arrays (inverse of timm's _load_weights)."""
    g = OrderedDict()
    n = lambda t: t.detach().numpy().astype(np.float32)
    d, h = c["embed_dim"], c["num_heads"]
    if c.get("hybrid_layers"):
        pre = "patch_embed.backbone."
        g["conv_root/kernel"] = n(sd[pre + "stem.conv.weight"].permute(2, 3, 1, 0))
        g["gn_root/scale"] = n(sd[pre + "stem.norm.weight"])
        g["gn_root/bias"] = n(sd[pre + "stem.norm.bias"])
        for s, depth in enumerate(c["hybrid_layers"]):
            for b in range(depth):
                tp = f"{pre}stages.{s}.blocks.{b}."
                gp = f"block{s + 1}/unit{b + 1}/"
                for r in (1, 2, 3):
                    g[gp + f"conv{r}/kernel"] = n(sd[tp + f"conv{r}.weight"].permute(2, 3, 1, 0))
                    g[gp + f"gn{r}/scale"] = n(sd[tp + f"norm{r}.weight"])
                    g[gp + f"gn{r}/bias"] = n(sd[tp + f"norm{r}.bias"])
                if b == 0:
                    g[gp + "conv_proj/kernel"] = n(sd[tp + "downsample.conv.weight"].permute(2, 3, 1, 0))
                    g[gp + "gn_proj/scale"] = n(sd[tp + "downsample.norm.weight"])
                    g[gp + "gn_proj/bias"] = n(sd[tp + "downsample.norm.bias"])
    g["embedding/kernel"] = n(sd["patch_embed.proj.weight"].permute(2, 3, 1, 0))
    g["embedding/bias"] = n(sd["patch_embed.proj.bias"])
    g["cls"] = n(sd["cls_token"])
    g["Transformer/posembed_input/pos_embedding"] = n(sd["pos_embed"])
    for i in range(c["depth"]):
        tp, gp = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        g[gp + "LayerNorm_0/scale"] = n(sd[tp + "norm1.weight"])
        g[gp + "LayerNorm_0/bias"] = n(sd[tp + "norm1.bias"])
        qw, qb = sd[tp + "attn.qkv.weight"], sd[tp + "attn.qkv.bias"]
        for j, nm in enumerate(("query", "key", "value")):
            g[gp + f"MultiHeadDotProductAttention_1/{nm}/kernel"] = n(qw[j * d:(j + 1) * d].t().reshape(d, h, d // h))
            g[gp + f"MultiHeadDotProductAttention_1/{nm}/bias"] = n(qb[j * d:(j + 1) * d].reshape(h, d // h))
        g[gp + "MultiHeadDotProductAttention_1/out/kernel"] = n(sd[tp + "attn.proj.weight"].t().reshape(h, d // h, d))
        g[gp + "MultiHeadDotProductAttention_1/out/bias"] = n(sd[tp + "attn.proj.bias"])
        g[gp + "LayerNorm_2/scale"] = n(sd[tp + "norm2.weight"])
        g[gp + "LayerNorm_2/bias"] = n(sd[tp + "norm2.bias"])
        g[gp + "MlpBlock_3/Dense_0/kernel"] = n(sd[tp + "mlp.fc1.weight"].t())
        g[gp + "MlpBlock_3/Dense_0/bias"] = n(sd[tp + "mlp.fc1.bias"])
        g[gp + "MlpBlock_3/Dense_1/kernel"] = n(sd[tp + "mlp.fc2.weight"].t())
        g[gp + "MlpBlock_3/Dense_1/bias"] = n(sd[tp + "mlp.fc2.bias"])
    g["Transformer/encoder_norm/scale"] = n(sd["norm.weight"])
    g["Transformer/encoder_norm/bias"] = n(sd["norm.bias"])
    if "pre_logits.fc.weight" in sd:
        g["pre_logits/kernel"] = n(sd["pre_logits.fc.weight"].t())
        g["pre_logits/bias"] = n(sd["pre_logits.fc.bias"])
    g["head/kernel"] = n(sd["head.weight"].t())
    g["head/bias"] = n(sd["head.bias"])
    return g


def to_hf(sd, c):
    """timm state dict -> Hugging Face ViTForImageClassification names (q/k/v split)."""
    o = OrderedDict()
    d = c["embed_dim"]
    o["vit.embeddings.cls_token"] = sd["cls_token"]
    o["vit.embeddings.position_embeddings"] = sd["pos_embed"]
    o["vit.embeddings.patch_embeddings.projection.weight"] = sd["patch_embed.proj.weight"]
    o["vit.embeddings.patch_embeddings.projection.bias"] = sd["patch_embed.proj.bias"]
    for i in range(c["depth"]):
        t, h = f"blocks.{i}.", f"vit.encoder.layer.{i}."
        o[h + "layernorm_before.weight"] = sd[t + "norm1.weight"]
        o[h + "layernorm_before.bias"] = sd[t + "norm1.bias"]
        for j, nm in enumerate(("query", "key", "value")):
            o[h + f"attention.attention.{nm}.weight"] = sd[t + "attn.qkv.weight"][j * d:(j + 1) * d]
            o[h + f"attention.attention.{nm}.bias"] = sd[t + "attn.qkv.bias"][j * d:(j + 1) * d]
        o[h + "attention.output.dense.weight"] = sd[t + "attn.proj.weight"]
        o[h + "attention.output.dense.bias"] = sd[t + "attn.proj.bias"]
        o[h + "layernorm_after.weight"] = sd[t + "norm2.weight"]
        o[h + "layernorm_after.bias"] = sd[t + "norm2.bias"]
        o[h + "intermediate.dense.weight"] = sd[t + "mlp.fc1.weight"]
        o[h + "intermediate.dense.bias"] = sd[t + "mlp.fc1.bias"]
        o[h + "output.dense.weight"] = sd[t + "mlp.fc2.weight"]
        o[h + "output.dense.bias"] = sd[t + "mlp.fc2.bias"]
    o["vit.layernorm.weight"] = sd["norm.weight"]
    o["vit.layernorm.bias"] = sd["norm.bias"]
    o["classifier.weight"] = sd["head.weight"]
    o["classifier.bias"] = sd["head.bias"]
    return o


# ----------------------------------------------------------------------------- cases

BASE = dict(img_height=16, img_width=16, in_chans=3, patch_size=4, embed_dim=24, depth=2, num_heads=3,
            mlp_ratio=4.0, qkv_bias=True, class_token=True, global_pool="token", distilled=False,
            num_classes=10, pos_embed="learn", layer_norm_eps=1e-6, gelu="exact")


def case(name, formats=("safetensors",), batch=2, **kw):
    c = dict(BASE)
    c.update(kw)
    return name, c, formats, batch


CASES = [
    case("token", formats=("safetensors", "pth", "npz", "hf")),
    case("gap", class_token=False, global_pool="avg"),
    case("gap_nofc", global_pool="avg", fc_norm=False),
    case("distilled", distilled=True),
    case("in21k", representation_size=24, num_classes=30, formats=("safetensors", "pth", "npz")),
    case("gray_nonsquare", in_chans=1, img_height=20, img_width=28),
    case("misc", qkv_bias=False, qk_scale=0.2, gelu="tanh", pos_embed="sincos", layer_norm_eps=1e-5, num_classes=1),
    case("features", num_classes=0, depth=1),
    case("hybrid", img_height=64, img_width=64, patch_size=1, hybrid_layers=[3, 4, 9], hybrid_stem_width=16,
         hybrid_widths=[32, 32, 32], hybrid_groups=4, formats=("safetensors", "npz")),
]


def json_config(c):
    return {k: v for k, v in c.items() if v is not None}


def state_keys(model):
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


def double_forward(m, x, probs=None):
    m.double()
    if getattr(m, "sincos", None) is not None:
        m.sincos = m.sincos.double()
    out = m(x.double(), probs)
    m.float()
    if getattr(m, "sincos", None) is not None:
        m.sincos = m.sincos.float()
    if probs is not None:
        probs[:] = [p.float() for p in probs]
    return tuple(o.float() if o is not None else None for o in out)


def run_case(name, c, formats, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    m = VisionTransformer(c).eval()
    randomize(m, gen)
    x = torch.randn(batch, c["in_chans"], c["img_height"], c["img_width"], generator=gen)
    sd = OrderedDict((k, v.detach().clone()) for k, v in m.state_dict().items())
    # The reference runs in float64 on the float32 weights/inputs, so the recorded outputs carry no float32
    # rounding of their own and the tolerance measures only our error.
    probs = []
    logits, cls_logits, dist_logits = double_forward(m, x, probs)
    io = OrderedDict(input=x, logits=logits)
    if cls_logits is not None:
        io["logits_cls"], io["logits_dist"] = cls_logits, dist_logits
    if name == "token":
        io["attn"] = torch.stack([p for p in probs])  # (depth, B, H, N, N)
    write_safetensors(os.path.join(OUT, f"{name}.io.safetensors"), io)
    files = {}
    for f in formats:
        if f == "safetensors":
            p = f"{name}.safetensors"
            write_safetensors(os.path.join(OUT, p), sd, {"format": "pt"})
        elif f == "pth":
            p = f"{name}.pth"
            torch.save(sd, os.path.join(OUT, p))
        elif f == "npz":
            p = f"{name}.npz"
            np.savez(os.path.join(OUT, p), **to_google(sd, c))
        elif f == "hf":
            p = f"{name}.hf.safetensors"
            write_safetensors(os.path.join(OUT, p), to_hf(sd, c), {"format": "pt"})
        files[f] = p
    return dict(name=name, config=json_config(c), files=files, io=f"{name}.io.safetensors",
                state_dict=state_keys(m), grid=list(m.grid)), m, sd


def resample_case(seed):
    """An .npz made at grid 4x4 loaded into a 24x32 model (grid 6x8): timm's npz path resamples the
    position embedding with bilinear, half-pixel, no antialias."""
    c_src = dict(BASE)
    _, m_src, sd = None, None, None
    info, m_src, sd = run_case("resample_src", c_src, ("npz",), 2, seed)
    os.remove(os.path.join(OUT, "resample_src.io.safetensors"))
    c = dict(BASE, img_height=24, img_width=32)
    m = VisionTransformer(c).eval()
    sd2 = OrderedDict(sd)
    pe = sd["pos_embed"]
    grid = pe[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(6, 8), mode="bilinear", align_corners=False, antialias=False)
    sd2["pos_embed"] = torch.cat([pe[:, :1], grid.permute(0, 2, 3, 1).reshape(1, 48, -1)], dim=1)
    m.load_state_dict(sd2)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, 3, 24, 32, generator=gen)
    logits, _, _ = double_forward(m, x)
    write_safetensors(os.path.join(OUT, "resample.io.safetensors"), OrderedDict(input=x, logits=logits, pos_embed=sd2["pos_embed"]))
    return dict(name="resample", config=json_config(c), files={"npz": "resample_src.npz"}, io="resample.io.safetensors",
                state_dict=state_keys(m), grid=[6, 8], source_grid=[4, 4])


def torchvision_case(seed):
    import torchvision.models as tvm
    gen = torch.Generator().manual_seed(seed)
    m = tvm.VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=3, hidden_dim=24,
                              mlp_dim=96, num_classes=10).eval()
    for k, p in m.named_parameters():
        if p.dim() >= 2:
            p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))
        elif k.endswith("weight"):
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
        else:
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    with torch.no_grad():
        m.class_token.copy_(0.5 * torch.randn(m.class_token.shape, generator=gen))
        m.encoder.pos_embedding.copy_(0.5 * torch.randn(m.encoder.pos_embedding.shape, generator=gen))
    x = torch.randn(2, 3, 16, 16, generator=gen)
    logits = m.double()(x.double()).float()
    m.float()
    torch.save(m.state_dict(), os.path.join(OUT, "torchvision.pth"))
    write_safetensors(os.path.join(OUT, "torchvision.io.safetensors"), OrderedDict(input=x, logits=logits))
    c = dict(BASE)
    return dict(name="torchvision", config=json_config(c), files={"pth": "torchvision.pth"}, io="torchvision.io.safetensors",
                state_dict=[[k, list(v.shape)] for k, v in m.state_dict().items()], grid=[4, 4])


# ----------------------------------------------------------------------------- ViT-B/16 from a formula

M32 = 0xFFFFFFFF


def formula_values(t, n):
    """n values in [-0.5, 0.5) for tensor number t: an integer hash of (t, i), reproduced bit-for-bit in C#
    (tests/VitSharp.Tests/Models/SeededWeights.cs), so a full-size model needs no weight file."""
    i = np.arange(n, dtype=np.uint64)
    u = (i * np.uint64(2654435761) + np.uint64(((t + 1) * 0x9E3779B9) & M32)) & np.uint64(M32)
    u ^= u >> np.uint64(15)
    u = (u * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    u ^= u >> np.uint64(13)
    u = (u * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    u ^= u >> np.uint64(16)
    return u.astype(np.float64) / 4294967296.0 - 0.5


def formula_tensor(t, name, shape):
    n = int(np.prod(shape))
    r = formula_values(t, n)
    if name in ("cls_token", "pos_embed", "dist_token"):
        v = r
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = r * (2.0 * math.sqrt(3.0 / fan_in))
    elif name.endswith("weight"):
        v = 1.0 + 0.4 * r
    else:
        v = 0.2 * r
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def seeded_full_size_case(name, c):
    m = VisionTransformer(c).eval()
    with torch.no_grad():
        for t, (k, p) in enumerate(m.state_dict().items()):
            p.copy_(formula_tensor(t, k, list(p.shape)))
    x = torch.from_numpy((formula_values(100000, c["in_chans"] * c["img_height"] * c["img_width"]) * 4.0).astype(np.float32)
                         .reshape(1, c["in_chans"], c["img_height"], c["img_width"]))
    logits, _, _ = double_forward(m, x)
    write_safetensors(os.path.join(OUT, f"{name}.io.safetensors"), OrderedDict(logits=logits))
    return dict(name=name, config=json_config(c), files={}, io=f"{name}.io.safetensors", state_dict=state_keys(m),
                grid=list(m.grid), seeded=True)


def seeded_resampled_case(name, c_src, c):
    """A checkpoint made at c_src's grid (formula weights) loaded into model c: timm's npz loader resamples the
    position embedding (bilinear, half-pixel, no antialias) and the model runs at c's size."""
    src = VisionTransformer(c_src)
    sd = OrderedDict((k, formula_tensor(t, k, list(v.shape))) for t, (k, v) in enumerate(src.state_dict().items()))
    m = VisionTransformer(c).eval()
    pe = sd["pos_embed"]
    (gh, gw), (nh, nw) = src.grid, m.grid
    grid = pe[:, 1:].reshape(1, gh, gw, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(nh, nw), mode="bilinear", align_corners=False, antialias=False)
    sd["pos_embed"] = torch.cat([pe[:, :1], grid.permute(0, 2, 3, 1).reshape(1, nh * nw, -1)], dim=1)
    m.load_state_dict(sd)
    x = torch.from_numpy((formula_values(100000, c["in_chans"] * c["img_height"] * c["img_width"]) * 4.0).astype(np.float32)
                         .reshape(1, c["in_chans"], c["img_height"], c["img_width"]))
    logits, _, _ = double_forward(m, x)
    write_safetensors(os.path.join(OUT, f"{name}.io.safetensors"), OrderedDict(logits=logits))
    return dict(name=name, config=json_config(c), files={}, io=f"{name}.io.safetensors", state_dict=state_keys(src),
                grid=list(m.grid), source_grid=list(src.grid), seeded=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".safetensors", ".pth", ".npz", ".json")):
            os.remove(os.path.join(OUT, f))
    out = []
    for i, (name, c, formats, batch) in enumerate(CASES):
        info, _, _ = run_case(name, c, formats, batch, 1000 + i)
        out.append(info)
    out.append(resample_case(2000))
    out.append(torchvision_case(3000))
    out.append(seeded_full_size_case("b16_seeded", dict(BASE, img_height=224, img_width=224, patch_size=16, embed_dim=768,
                                                         depth=12, num_heads=12, num_classes=1000)))
    # The same weights with Hugging Face's LayerNorm eps (1e-12): the reference for HF-named files.
    out.append(seeded_full_size_case("b16_seeded_hf", dict(BASE, img_height=224, img_width=224, patch_size=16, embed_dim=768,
                                                            depth=12, num_heads=12, num_classes=1000, layer_norm_eps=1e-12)))
    # ViT-B/16 made at 384 (24x24 grid, 577 tokens) loaded at 224: the formula weights of the 384 state dict.
    out.append(seeded_resampled_case("b16_384_seeded_at224",
                                     dict(BASE, img_height=384, img_width=384, patch_size=16, embed_dim=768, depth=12,
                                          num_heads=12, num_classes=1000),
                                     dict(BASE, img_height=224, img_width=224, patch_size=16, embed_dim=768, depth=12,
                                          num_heads=12, num_classes=1000)))
    # R50+ViT-B/16 at full width and depth, run at 64x64 (4x4 grid) to keep the test fast.
    out.append(seeded_full_size_case("r50_b16_seeded", dict(BASE, img_height=64, img_width=64, patch_size=1, embed_dim=768,
                                                             depth=12, num_heads=12, num_classes=1000, hybrid_layers=[3, 4, 9],
                                                             hybrid_stem_width=64, hybrid_widths=[256, 512, 1024],
                                                             hybrid_groups=32)))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": out}, f, separators=(",", ":"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(out)} cases, {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
