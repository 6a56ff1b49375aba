#!/usr/bin/env python3
"""Fits the scaled complementary error function erfcx(t) = e^(t^2)*erfc(t) on [0, 9.4] as P(t)/Q(t) (P, Q with
constant term 1), minimising the maximum relative error by linearised least squares (Loeb) with Lawson-style
reweighting, and checks the float32 evaluation. VMath.NormalCdfPdf (src/VitSharp/Kernels/Erf.cs) uses the
6/7-coefficient fit: Phi(-|x|) = 0.5 * e^(-x^2/2) * erfcx(|x|/sqrt 2).
Usage: /usr/bin/python3 scripts/fit_erfcx.py 6 7   (numbers of P and Q coefficients; needs python3-numpy)"""
import numpy as np, sys
from math import erfc, exp
NP, NQ = int(sys.argv[1]), int(sys.argv[2])
TMAX = 9.4
X = np.linspace(0, TMAX, 30000)
E = np.array([exp(t*t)*erfc(t) if t < 26 else 0 for t in X])
q_prev = np.ones_like(X); w = np.ones_like(X); best=None
for it in range(80):
    A = np.zeros((len(X), NP + NQ - 1))
    for i in range(NP): A[:, i] = X**i
    for j in range(1, NQ): A[:, NP + j - 1] = -E * X**j
    s = w / (E * q_prev)
    sol, *_ = np.linalg.lstsq(A * s[:, None], E * s, rcond=None)
    p, q = sol[:NP], np.concatenate([[1.0], sol[NP:]])
    P = sum(p[i]*X**i for i in range(NP)); Q = sum(q[j]*X**j for j in range(NQ))
    q_prev = Q
    err = (P/Q - E)/E; m = np.abs(err).max()
    if best is None or m < best[0]: best = (m, p.copy(), q.copy())
    w = w*(np.abs(err)/m)**0.5 + 1e-12; w /= w.max()
m, p, q = best
pf, qf = p.astype(np.float32), q.astype(np.float32)
xf = np.linspace(0, TMAX, 200001).astype(np.float32)
Pf = np.float32(pf[-1])
for c in pf[-2::-1]: Pf = (Pf*xf + c).astype(np.float32)
Qf = np.float32(qf[-1])
for c in qf[-2::-1]: Qf = (Qf*xf + c).astype(np.float32)
ef = np.array([exp(float(t)**2)*erfc(float(t)) for t in xf])
print(NP, NQ, "double", m, "float32", (np.abs((Pf/Qf).astype(np.float64)-ef)/ef).max())
print("P", ", ".join(f"{v:.9e}f" for v in pf)); print("Q", ", ".join(f"{v:.9e}f" for v in qf))
