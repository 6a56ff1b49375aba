#!/usr/bin/python3
"""Records torch.optim trajectories (SGD / AdamW with param groups), clip_grad_norm_ and the tutorial's
LambdaLR cosine factor, so the C# Training tests can check VitSharp against PyTorch without Python.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/make_training_fixtures.py
Writes tests/fixtures/training/optim.json (tens of KB) and a small TensorBoard event file made with an
independent bitwise CRC-32C.
"""
import json
import math
import os
import struct

import numpy as np
import torch

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "training")

# Parameters shaped like a tiny ViT: decay applies only to the 2-D weight (rule: ndim <= 1 or a
# no-decay name such as pos_embed / cls_token gets weight decay 0). "frozen" has requires_grad False and
# "late" has no gradient for the first two steps (torch skips it and starts its state late).
SPECS = [
    ("blocks.0.fc.weight", (5, 7), True),
    ("blocks.0.fc.bias", (5,), True),
    ("pos_embed", (1, 3, 4), True),
    ("cls_token", (1, 1, 4), True),
    ("late.weight", (3, 2), True),
    ("frozen.weight", (2, 3), False),
]
NO_DECAY = {"pos_embed", "cls_token", "dist_token"}
STEPS = 7
LR_FACTORS = [1.0, 1.0, 0.8, 0.5, 0.5, 0.25, 0.1]  # lr changes mid-run like a scheduler would


def fl(t):
    # Shortest decimal that round-trips the float32 value, so the JSON stays small and parses exactly.
    return [float(str(np.float32(x))) for x in t.detach().reshape(-1).tolist()]


def make_params():
    g = torch.Generator().manual_seed(7)
    ps = {}
    for name, shape, rg in SPECS:
        p = torch.randn(shape, generator=g) * 0.5
        p.requires_grad_(rg)
        ps[name] = p
    return ps


def make_grads():
    g = torch.Generator().manual_seed(99)
    out = []
    for step in range(STEPS):
        gs = {}
        for name, shape, rg in SPECS:
            if not rg:
                gs[name] = None
            elif name == "late.weight" and step < 2:
                gs[name] = None
            else:
                gs[name] = torch.randn(shape, generator=g) * (1.0 + step)
        out.append(gs)
    return out


def groups_for(params, weight_decay):
    decay, no_decay = [], []
    for name, p in params.items():
        if p.dim() <= 1 or name in NO_DECAY:
            no_decay.append(name)
        else:
            decay.append(name)
    return [(decay, weight_decay), (no_decay, 0.0)]


def run_case(name, kind, opts, weight_decay):
    params = make_params()
    grads = make_grads()
    groups = groups_for(params, weight_decay)
    torch_groups = [{"params": [params[n] for n in names], "weight_decay": wd} for names, wd in groups]
    base_lr = opts["lr"]
    if kind == "sgd":
        opt = torch.optim.SGD(torch_groups, **opts)
    else:
        opt = torch.optim.AdamW(torch_groups, **opts)
    case = {
        "name": name,
        "optimizer": kind,
        "options": opts,
        "weight_decay": weight_decay,
        "groups": [names for names, _ in groups],
        "params": {n: {"shape": list(p.shape), "requires_grad": p.requires_grad, "init": fl(p)} for n, p in params.items()},
        "steps": [],
    }
    for step in range(STEPS):
        for gr in opt.param_groups:
            gr["lr"] = base_lr * LR_FACTORS[step]
        for n, p in params.items():
            gv = grads[step][n]
            p.grad = None if gv is None else gv.clone()
        opt.step()
        case["steps"].append({
            "lr": base_lr * LR_FACTORS[step],
            "grads": {n: (None if grads[step][n] is None else fl(grads[step][n])) for n in params},
            "after": {n: fl(p) for n, p in params.items()},
        })
    state = {}
    for n, p in params.items():
        st = opt.state.get(p, {})
        entry = {}
        for k, v in st.items():
            if k == "step":
                entry[k] = int(v.item())
            elif v is not None:
                entry[k] = fl(v)
        state[n] = entry
    case["final_state"] = state
    return case


def clip_case():
    g = torch.Generator().manual_seed(5)
    ps = [torch.zeros(s, requires_grad=True) for s in [(4, 3), (5,), (2, 2, 2)]]
    out = []
    for max_norm in [0.5, 100.0]:
        grads = [torch.randn(p.shape, generator=g) for p in ps]
        for p, gv in zip(ps, grads):
            p.grad = gv.clone()
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        out.append({
            "max_norm": max_norm,
            "grads": [fl(gv) for gv in grads],
            "shapes": [list(p.shape) for p in ps],
            "norm": float(norm),
            "clipped": [fl(p.grad) for p in ps],
        })
    return out


def lambda_case():
    epochs, lrf, lr = 10, 0.01, 0.001
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    lf = lambda x: ((1 + math.cos(x * math.pi / epochs)) / 2) * (1 - lrf) + lrf  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros(1)
        opt.step()
        sched.step()
    return {"epochs": epochs, "lrf": lrf, "lr": lr, "lrs_per_epoch": lrs}


def crc32c(data):
    # Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): independent of the C# table/instruction path.
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_bytes(num, payload):
    return varint((num << 3) | 2) + varint(len(payload)) + payload


def record(data):
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data))


def tensorboard_fixture():
    """An event file as tensorboard's EventFileWriter lays it out (file_version record, then simple_value scalars)."""
    out = record(b"\x09" + struct.pack("<d", 1700000000.0) + field_bytes(3, b"brain.Event:2"))
    scalars = [("train_loss", 0, 2.25, 1700000001.5), ("val_acc", 3, 0.875, 1700000002.25), ("learning_rate", 300, 1e-3, 1700000003.0)]
    for tag, step, value, wall in scalars:
        value_msg = field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
        summary = field_bytes(1, value_msg)
        ev = b"\x09" + struct.pack("<d", wall)
        if step != 0:
            ev += varint(2 << 3) + varint(step)
        ev += field_bytes(5, summary)
        out += record(ev)
    with open(os.path.join(OUT, "events.out.tfevents.1700000000.fixture"), "wb") as f:
        f.write(out)
    assert crc32c(b"123456789") == 0xE3069283


def main():
    tensorboard_fixture()
    cases = [
        run_case("sgd_plain", "sgd", {"lr": 0.1}, 0.0),
        run_case("sgd_momentum_wd", "sgd", {"lr": 0.05, "momentum": 0.9}, 5e-5 * 1000),
        run_case("sgd_dampening", "sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}, 0.01),
        run_case("sgd_nesterov", "sgd", {"lr": 0.02, "momentum": 0.9, "nesterov": True}, 0.05),
        run_case("adamw_default", "adamw", {"lr": 0.01}, 0.05),
        run_case("adamw_amsgrad", "adamw", {"lr": 0.03, "betas": [0.8, 0.95], "eps": 1e-6, "amsgrad": True}, 0.3),
    ]
    os.makedirs(OUT, exist_ok=True)
    doc = {"torch": torch.__version__, "optimizers": cases, "clip": clip_case(), "lambda_lr": lambda_case()}
    with open(os.path.join(OUT, "optim.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
