#!/usr/bin/python3
"""Writes the checkpoint-format fixtures under tests/fixtures/checkpoints (small: a few KB each).

Run with Debian's python3 (numpy + python3-torch 1.13):  /usr/bin/python3 scripts/make_checkpoint_fixtures.py
Tests never need Python; the outputs are committed.

- npy/: one logical array (arange(24).reshape(2,3,4)*0.5-3) in every .npy variant (v1/v2/v3 headers, big-endian,
  Fortran order, f2/f8/int/bool dtypes, odd header spacing and key order, old 16-byte alignment), a scalar, a
  zero-size array, an object array (must be refused); stored and deflated .npz.
- tiny ViT (dim 32, depth 2, heads 4, patch 4, 8x8 images, pre-logits 32, 5 classes) with the same weights under
  timm (.pth, .safetensors, nested .pth), Google (.npz, opt/target/ prefix, big_vision params/ layout),
  torchvision (.pth) and Hugging Face (.safetensors) names; a tiny distilled model; a tiny R50-style hybrid
  (stages (1, 2)) as Google .npz and timm .safetensors.
- torch/: shared storages with offsets, transposed/expanded (non-contiguous) views, f16/bf16/f64, Parameters,
  pickle protocol 4, plus expected values as .npz.
- evil/: malicious pickles (posix.system via GLOBAL, builtins.eval via STACK_GLOBAL, INST, REDUCE inside a
  state dict), a legacy non-zip torch.save file and a TorchScript archive.
- posembed.npz: F.interpolate outputs for the position-embedding resampling modes.
"""
import collections
import io
import json
import os
import struct
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "checkpoints")
MARKER = "/tmp/vitsharp_pickle_pwned_marker"


def out(*p):
    path = os.path.join(ROOT, *p)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def write_safetensors(path, tensors, metadata=None):
    """Independent (Python) safetensors writer, so our reader is checked against the format, not our writer."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64", torch.int64: "I64"}
    for k, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            b = t.view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------ npy variants
def npy_variants():
    a = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 3).astype(np.float32)
    from numpy.lib import format as fmt

    def save(name, arr, version=None):
        with open(out("npy", name), "wb") as f:
            fmt.write_array(f, arr, version=version, allow_pickle=True)

    save("v1_f4.npy", a, (1, 0))
    save("v2_f4.npy", a, (2, 0))
    save("v3_f4.npy", a, (3, 0))
    save("be_f4.npy", a.astype(">f4"))
    save("be_f8.npy", a.astype(">f8"))
    save("fortran_f4.npy", np.asfortranarray(a))
    save("f2.npy", a.astype(np.float16))
    save("f8.npy", a.astype(np.float64))
    save("i8.npy", (a * 2).astype(np.int64))
    save("i4_be.npy", (a * 2).astype(">i4"))
    save("u1.npy", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    save("bool.npy", (a > 0))
    save("scalar.npy", np.array(3.5, dtype=np.float32))
    save("empty.npy", np.zeros((0, 3), dtype=np.float32))
    save("vector.npy", np.arange(5, dtype=np.float32))
    save("object.npy", np.array([1, "a", None], dtype=object))
    # Hand-written header: odd key order and spacing, old 16-byte alignment.
    hdr = "{'shape':(2,3,4),'fortran_order' :False , 'descr':'<f4'}"
    total = 10 + len(hdr) + 1
    hdr += " " * ((16 - total % 16) % 16) + "\n"
    with open(out("npy", "odd_header.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode("latin1") + a.tobytes())
    arrays = {"a": a, "nested/key/b": a.astype(np.float16), "c": np.arange(7, dtype=np.int64), "s": np.array(2.0)}
    np.savez(out("npy", "stored.npz"), **arrays)
    np.savez_compressed(out("npy", "deflated.npz"), **arrays)


# ------------------------------------------------------------------ tiny ViT in every naming
D, DEPTH, H, P, IMG, C, HID, NCLS, IN = 32, 2, 4, 4, 8, 32, 64, 5, 3
DH = D // H
N = (IMG // P) ** 2 + 1


def tiny_timm(seed=0, dist=False, pre_logits=True):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    sd = collections.OrderedDict()
    sd["cls_token"] = r(1, 1, D)
    if dist:
        sd["dist_token"] = r(1, 1, D)
    sd["pos_embed"] = r(1, N + (1 if dist else 0), D)
    sd["patch_embed.proj.weight"] = r(D, IN, P, P)
    sd["patch_embed.proj.bias"] = r(D)
    for i in range(DEPTH):
        b = f"blocks.{i}."
        sd[b + "norm1.weight"] = 1 + r(D)
        sd[b + "norm1.bias"] = r(D)
        sd[b + "attn.qkv.weight"] = r(3 * D, D)
        sd[b + "attn.qkv.bias"] = r(3 * D)
        sd[b + "attn.proj.weight"] = r(D, D)
        sd[b + "attn.proj.bias"] = r(D)
        sd[b + "norm2.weight"] = 1 + r(D)
        sd[b + "norm2.bias"] = r(D)
        sd[b + "mlp.fc1.weight"] = r(HID, D)
        sd[b + "mlp.fc1.bias"] = r(HID)
        sd[b + "mlp.fc2.weight"] = r(D, HID)
        sd[b + "mlp.fc2.bias"] = r(D)
    sd["norm.weight"] = 1 + r(D)
    sd["norm.bias"] = r(D)
    if pre_logits:
        sd["pre_logits.fc.weight"] = r(C, D)
        sd["pre_logits.fc.bias"] = r(C)
    sd["head.weight"] = r(NCLS, C if pre_logits else D)
    sd["head.bias"] = r(NCLS)
    if dist:
        sd["head_dist.weight"] = r(NCLS, D)
        sd["head_dist.bias"] = r(NCLS)
    return sd


def to_google(sd, big_vision=False):
    n = lambda t: t.numpy().astype(np.float32)
    w = collections.OrderedDict()
    w["embedding/kernel"] = n(sd["patch_embed.proj.weight"].permute(2, 3, 1, 0))
    w["embedding/bias"] = n(sd["patch_embed.proj.bias"])
    w["cls"] = n(sd["cls_token"])
    w["pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding"] = n(sd["pos_embed"])
    ln1, mha, ln2, mlp = ("LayerNorm_0", "MultiHeadDotProductAttention_0", "LayerNorm_1", "MlpBlock_0") if big_vision else \
        ("LayerNorm_0", "MultiHeadDotProductAttention_1", "LayerNorm_2", "MlpBlock_3")
    for i in range(DEPTH):
        p = f"Transformer/encoderblock_{i}/"
        b = f"blocks.{i}."
        w[p + ln1 + "/scale"] = n(sd[b + "norm1.weight"])
        w[p + ln1 + "/bias"] = n(sd[b + "norm1.bias"])
        qkv_w, qkv_b = sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"]
        for j, nm in enumerate(["query", "key", "value"]):
            w[p + f"{mha}/{nm}/kernel"] = n(qkv_w[j * D:(j + 1) * D].t().reshape(D, H, DH))
            w[p + f"{mha}/{nm}/bias"] = n(qkv_b[j * D:(j + 1) * D].reshape(H, DH))
        w[p + f"{mha}/out/kernel"] = n(sd[b + "attn.proj.weight"].t().reshape(H, DH, D))
        w[p + f"{mha}/out/bias"] = n(sd[b + "attn.proj.bias"])
        w[p + ln2 + "/scale"] = n(sd[b + "norm2.weight"])
        w[p + ln2 + "/bias"] = n(sd[b + "norm2.bias"])
        w[p + mlp + "/Dense_0/kernel"] = n(sd[b + "mlp.fc1.weight"].t())
        w[p + mlp + "/Dense_0/bias"] = n(sd[b + "mlp.fc1.bias"])
        w[p + mlp + "/Dense_1/kernel"] = n(sd[b + "mlp.fc2.weight"].t())
        w[p + mlp + "/Dense_1/bias"] = n(sd[b + "mlp.fc2.bias"])
    w["Transformer/encoder_norm/scale"] = n(sd["norm.weight"])
    w["Transformer/encoder_norm/bias"] = n(sd["norm.bias"])
    if "pre_logits.fc.weight" in sd:
        w["pre_logits/kernel"] = n(sd["pre_logits.fc.weight"].t())
        w["pre_logits/bias"] = n(sd["pre_logits.fc.bias"])
    w["head/kernel"] = n(sd["head.weight"].t())
    w["head/bias"] = n(sd["head.bias"])
    return w


def to_torchvision(sd):
    t = collections.OrderedDict()
    t["class_token"] = sd["cls_token"]
    t["conv_proj.weight"] = sd["patch_embed.proj.weight"]
    t["conv_proj.bias"] = sd["patch_embed.proj.bias"]
    t["encoder.pos_embedding"] = sd["pos_embed"]
    for i in range(DEPTH):
        p, b = f"encoder.layers.encoder_layer_{i}.", f"blocks.{i}."
        t[p + "ln_1.weight"] = sd[b + "norm1.weight"]
        t[p + "ln_1.bias"] = sd[b + "norm1.bias"]
        t[p + "self_attention.in_proj_weight"] = sd[b + "attn.qkv.weight"]
        t[p + "self_attention.in_proj_bias"] = sd[b + "attn.qkv.bias"]
        t[p + "self_attention.out_proj.weight"] = sd[b + "attn.proj.weight"]
        t[p + "self_attention.out_proj.bias"] = sd[b + "attn.proj.bias"]
        t[p + "ln_2.weight"] = sd[b + "norm2.weight"]
        t[p + "ln_2.bias"] = sd[b + "norm2.bias"]
        t[p + "mlp.0.weight"] = sd[b + "mlp.fc1.weight"]
        t[p + "mlp.0.bias"] = sd[b + "mlp.fc1.bias"]
        t[p + "mlp.3.weight"] = sd[b + "mlp.fc2.weight"]
        t[p + "mlp.3.bias"] = sd[b + "mlp.fc2.bias"]
    t["encoder.ln.weight"] = sd["norm.weight"]
    t["encoder.ln.bias"] = sd["norm.bias"]
    t["heads.pre_logits.weight"] = sd["pre_logits.fc.weight"]
    t["heads.pre_logits.bias"] = sd["pre_logits.fc.bias"]
    t["heads.head.weight"] = sd["head.weight"]
    t["heads.head.bias"] = sd["head.bias"]
    return t


def to_hf(sd):
    t = collections.OrderedDict()
    t["vit.embeddings.cls_token"] = sd["cls_token"]
    t["vit.embeddings.position_embeddings"] = sd["pos_embed"]
    t["vit.embeddings.patch_embeddings.projection.weight"] = sd["patch_embed.proj.weight"]
    t["vit.embeddings.patch_embeddings.projection.bias"] = sd["patch_embed.proj.bias"]
    for i in range(DEPTH):
        p, b = f"vit.encoder.layer.{i}.", f"blocks.{i}."
        qw, qb = sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"]
        for j, nm in enumerate(["query", "key", "value"]):
            t[p + f"attention.attention.{nm}.weight"] = qw[j * D:(j + 1) * D].clone()
            t[p + f"attention.attention.{nm}.bias"] = qb[j * D:(j + 1) * D].clone()
        t[p + "attention.output.dense.weight"] = sd[b + "attn.proj.weight"]
        t[p + "attention.output.dense.bias"] = sd[b + "attn.proj.bias"]
        t[p + "intermediate.dense.weight"] = sd[b + "mlp.fc1.weight"]
        t[p + "intermediate.dense.bias"] = sd[b + "mlp.fc1.bias"]
        t[p + "output.dense.weight"] = sd[b + "mlp.fc2.weight"]
        t[p + "output.dense.bias"] = sd[b + "mlp.fc2.bias"]
        t[p + "layernorm_before.weight"] = sd[b + "norm1.weight"]
        t[p + "layernorm_before.bias"] = sd[b + "norm1.bias"]
        t[p + "layernorm_after.weight"] = sd[b + "norm2.weight"]
        t[p + "layernorm_after.bias"] = sd[b + "norm2.bias"]
    t["vit.layernorm.weight"] = sd["norm.weight"]
    t["vit.layernorm.bias"] = sd["norm.bias"]
    t["vit.pooler.dense.weight"] = sd["pre_logits.fc.weight"]
    t["vit.pooler.dense.bias"] = sd["pre_logits.fc.bias"]
    t["classifier.weight"] = sd["head.weight"]
    t["classifier.bias"] = sd["head.bias"]
    return t


def tiny_models():
    sd = tiny_timm(0)
    torch.save(sd, out("tiny", "timm.pth"))
    write_safetensors(out("tiny", "timm.safetensors"), sd)
    torch.save({"epoch": 3, "state_dict": sd, "optimizer": {"lr": 0.1, "step": [1, 2]}}, out("tiny", "timm_nested.pth"))
    g = to_google(sd)
    np.savez(out("tiny", "google.npz"), **g)
    np.savez_compressed(out("tiny", "google_opt_target.npz"), **{"opt/target/" + k: v for k, v in g.items()})
    gb = to_google(sd, big_vision=True)
    np.savez(out("tiny", "big_vision.npz"), **{"params/" + k: v for k, v in gb.items()})
    torch.save(to_torchvision(sd), out("tiny", "torchvision.pth"))
    write_safetensors(out("tiny", "hf.safetensors"), to_hf(sd), {"format": "pt"})
    write_safetensors(out("tiny", "distilled.safetensors"), tiny_timm(1, dist=True, pre_logits=False))
    hybrid()


def hybrid():
    """Tiny R50-style hybrid: stem 8 ch, stages (1, 2) with out widths (16, 32), dim 32, 16x16 images -> 2x2 grid."""
    g = torch.Generator().manual_seed(5)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    sd = collections.OrderedDict()
    gw = collections.OrderedDict()
    n = lambda t: t.numpy().astype(np.float32)
    conv = lambda o, i, k: r(o, i, k, k)
    pb = "patch_embed.backbone."
    sd[pb + "stem.conv.weight"] = conv(8, IN, 7)
    gw["conv_root/kernel"] = n(sd[pb + "stem.conv.weight"].permute(2, 3, 1, 0))
    sd[pb + "stem.norm.weight"] = 1 + r(8)
    sd[pb + "stem.norm.bias"] = r(8)
    gw["gn_root/scale"] = n(sd[pb + "stem.norm.weight"]).reshape(1, 1, 1, 8)  # old GroupNorm layout
    gw["gn_root/bias"] = n(sd[pb + "stem.norm.bias"]).reshape(1, 1, 1, 8)
    cin = 8
    for si, (depth, cout) in enumerate([(1, 16), (2, 32)]):
        mid = cout // 4
        for bi in range(depth):
            p = f"{pb}stages.{si}.blocks.{bi}."
            gp = f"block{si + 1}/unit{bi + 1}/"
            for ci, (o, i, k) in enumerate([(mid, cin, 1), (mid, mid, 3), (cout, mid, 1)], 1):
                sd[p + f"conv{ci}.weight"] = conv(o, i, k)
                gw[gp + f"conv{ci}/kernel"] = n(sd[p + f"conv{ci}.weight"].permute(2, 3, 1, 0))
                sd[p + f"norm{ci}.weight"] = 1 + r(o)
                sd[p + f"norm{ci}.bias"] = r(o)
                gw[gp + f"gn{ci}/scale"] = n(sd[p + f"norm{ci}.weight"])
                gw[gp + f"gn{ci}/bias"] = n(sd[p + f"norm{ci}.bias"])
            if bi == 0:
                sd[p + "downsample.conv.weight"] = conv(cout, cin, 1)
                gw[gp + "conv_proj/kernel"] = n(sd[p + "downsample.conv.weight"].permute(2, 3, 1, 0))
                sd[p + "downsample.norm.weight"] = 1 + r(cout)
                sd[p + "downsample.norm.bias"] = r(cout)
                gw[gp + "gn_proj/scale"] = n(sd[p + "downsample.norm.weight"])
                gw[gp + "gn_proj/bias"] = n(sd[p + "downsample.norm.bias"])
            cin = cout
    vit = tiny_timm(6, pre_logits=False)
    vit["patch_embed.proj.weight"] = r(D, cin, 1, 1)
    for k, v in vit.items():
        sd[k] = v
    g2 = to_google(vit)
    for k, v in g2.items():
        gw[k] = v
    write_safetensors(out("tiny", "hybrid_timm.safetensors"), sd)
    np.savez(out("tiny", "hybrid_google.npz"), **gw)


# ------------------------------------------------------------------ torch storage layouts
def torch_layouts():
    base = torch.arange(60, dtype=torch.float32) * 0.25 - 4
    sd = collections.OrderedDict()
    sd["slice"] = base[10:20].view(2, 5)                   # shared storage, offset 10
    sd["transposed"] = base.view(6, 10).t()                # non-contiguous strides (1, 10)
    sd["tail"] = base[5:]                                  # offset 5, same storage again
    sd["expanded"] = base[0:4].unsqueeze(0).expand(3, 4)   # stride 0
    sd["permuted"] = base[:24].view(2, 3, 4).permute(2, 0, 1)
    sd["half"] = (base[:12] * 0.5).half().view(3, 4)
    sd["bf16"] = (base[:8]).bfloat16()
    sd["double"] = base[:6].double().view(2, 3) / 3
    sd["empty"] = torch.zeros(0, 3)
    sd["scalar"] = torch.tensor(1.5)
    sd["param"] = torch.nn.Parameter(base[:4].clone())
    sd["long"] = torch.arange(5)
    torch.save(sd, out("torch", "layouts.pth"))
    np.savez(out("torch", "layouts_expected.npz"), **{k: v.detach().float().numpy() for k, v in sd.items()})
    torch.save(sd, out("torch", "layouts_proto4.pth"), pickle_protocol=4)
    torch.save({"model": collections.OrderedDict(w=base[:6].view(2, 3))}, out("torch", "nested_model.pth"))


# ------------------------------------------------------------------ malicious and unsupported files
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))


def zip_pickle(path, pkl, extra=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", pkl)
        z.writestr("evil/version", "3\n")
        for k, v in (extra or {}).items():
            z.writestr("evil/" + k, v)


def evil_files():
    torch.save({"weight": torch.zeros(2), "payload": Evil()}, out("evil", "system_in_state_dict.pth"))
    torch.save(Evil(), out("evil", "system_top.pth"))
    # builtins.eval through STACK_GLOBAL (protocol 4 style), hand-assembled.
    p4 = (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
          b"\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94"
          b"\x8c\x1f__import__('os').system('true')\x94\x85\x94R\x94.")
    zip_pickle(out("evil", "eval_stack_global.pth"), p4)
    # INST opcode (protocol 0): instantiates posix.system with an argument tuple.
    inst = b"(S'touch " + MARKER.encode() + b"'\niposix\nsystem\n."
    zip_pickle(out("evil", "inst.pth"), inst)
    # Allowed global but a REDUCE of a refused one nested inside an OrderedDict value.
    nested = (b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00acposix\nsystem\n"
              b"X\x04\x00\x00\x00true\x85Ru.")
    zip_pickle(out("evil", "nested_reduce.pth"), nested)
    torch.save({"w": torch.zeros(3)}, out("evil", "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), out("evil", "torchscript.pt"))
    # Make sure generating the fixtures did not run the payload.
    assert not os.path.exists(MARKER)


# ------------------------------------------------------------------ position-embedding resampling references
def posembed():
    g = torch.Generator().manual_seed(7)
    res = collections.OrderedDict()
    for (gh, gw) in [(4, 4), (6, 6)]:
        pe = torch.randn(1, 1 + gh * gw, 6, generator=g)
        res[f"in_{gh}x{gw}"] = pe.numpy()
        grid = pe[:, 1:].reshape(1, gh, gw, 6).permute(0, 3, 1, 2)
        for (nh, nw) in [(6, 5), (3, 2), (4, 4), (7, 7)]:
            def fin(x):
                return torch.cat([pe[:, :1], x.permute(0, 2, 3, 1).reshape(1, nh * nw, 6)], dim=1).numpy()
            s = f"{gh}x{gw}_to_{nh}x{nw}"
            res["bilinear_" + s] = fin(F.interpolate(grid, size=(nh, nw), mode="bilinear", align_corners=False))
            res["bilinear_ac_" + s] = fin(F.interpolate(grid, size=(nh, nw), mode="bilinear", align_corners=True))
            res["bicubic_aa_" + s] = fin(F.interpolate(grid, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True))
            res["bicubic_" + s] = fin(F.interpolate(grid, size=(nh, nw), mode="bicubic", align_corners=False))
            res["bicubic_ac_" + s] = fin(F.interpolate(grid, size=(nh, nw), mode="bicubic", align_corners=True))
    np.savez(out("posembed.npz"), **res)


if __name__ == "__main__":
    if os.path.exists(MARKER):
        os.remove(MARKER)
    npy_variants()
    tiny_models()
    torch_layouts()
    evil_files()
    posembed()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote fixtures under {os.path.normpath(ROOT)} ({total} bytes)")
