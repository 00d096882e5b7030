"""Loss values written directly from the papers' equations with loops over samples (NumPy, float64).

Nothing here is shared with the implementation: groups are found by scanning the batch.
"""

import math

import numpy as np


def dist(a, b):
  return math.sqrt(max(float(np.sum((np.asarray(a, float) - np.asarray(b, float)) ** 2)), 1e-12))


def cos(a, b):
  a, b = np.asarray(a, float), np.asarray(b, float)
  return float(a @ b / (max(np.linalg.norm(a), 1e-8) * max(np.linalg.norm(b), 1e-8)))


def softplus(x):
  return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def identity_loss(logits, labels, eps):
  total = 0.0
  for z, y in zip(np.asarray(logits, float), labels):
    n = len(z)
    logp = z - (np.max(z) + math.log(np.sum(np.exp(z - np.max(z)))))
    for c in range(n):
      q = 1 - (n - 1) / n * eps if c == y else eps / n
      total -= q * logp[c]
  return total / len(labels)


def modality_mutual_learning(zv, zr, modality):
  def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()

  terms = {0: [], 1: []}
  for v, r, m in zip(np.asarray(zv, float), np.asarray(zr, float), modality):
    pv, pr = softmax(v), softmax(r)
    p, q = (pr, pv) if m == 0 else (pv, pr)  # visible: KL(C_r || C_v); infrared: KL(C_v || C_r)
    terms[int(m)].append(float(np.sum(p * np.log(p / q))))
  return sum(np.mean(t) for t in terms.values() if t)


def batch_hard(f, y, margin):
  out = []
  for i in range(len(y)):
    ap = max(dist(f[i], f[j]) for j in range(len(y)) if y[j] == y[i] and j != i)
    an = min(dist(f[i], f[k]) for k in range(len(y)) if y[k] != y[i])
    out.append(max(ap - an + margin, 0.0))
  return np.mean(out)


def cross_modality_triplet(f, y, m, margin):
  out = []
  for i in range(len(y)):
    ap = max(dist(f[i], f[j]) for j in range(len(y)) if y[j] == y[i] and m[j] != m[i])
    an = min(dist(f[i], f[k]) for k in range(len(y)) if y[k] != y[i] and m[k] != m[i])
    out.append(max(ap - an + margin, 0.0))
  return np.mean(out)


def wrt(f, y, variant):
  out = []
  for i in range(len(y)):
    if variant == "paper":
      pos = [dist(f[i], f[j]) for j in range(len(y)) if y[j] == y[i] and j != i]
      neg = [dist(f[i], f[k]) for k in range(len(y)) if y[k] != y[i]]
      wp = np.exp(pos) / np.sum(np.exp(pos))
      wn = np.exp(-np.array(neg)) / np.sum(np.exp(-np.array(neg)))
    else:  # AGW code: anchor among its positives, padded row maximum, +1e-6
      pos = [dist(f[i], f[j]) for j in range(len(y)) if y[j] == y[i]]
      neg = [dist(f[i], f[k]) for k in range(len(y)) if y[k] != y[i]]
      mp = max(max(pos), 0.0)
      wp = np.exp(np.array(pos) - mp) / (np.sum(np.exp(np.array(pos) - mp)) + 1e-6)
      mn = max(max(-np.array(neg)), 0.0)
      wn = np.exp(-np.array(neg) - mn) / (np.sum(np.exp(-np.array(neg) - mn)) + 1e-6)
    out.append(softplus(float(wp @ pos - wn @ neg)))
  return np.mean(out)


def adp_triplet(f, y, alpha, gamma, square):
  """CAJ's TripletLoss_ADP per anchor: positives (the anchor among them) and negatives weighted by
  the code's padded softmax of alpha * d and -alpha * d; a soft-margin on gamma * the gap, or on the
  clamped squared gap signed by which side is larger."""
  out = []
  for i in range(len(y)):
    pos = np.array([dist(f[i], f[j]) for j in range(len(y)) if y[j] == y[i]])
    neg = np.array([dist(f[i], f[k]) for k in range(len(y)) if y[k] != y[i]])
    wp = np.exp(alpha * pos - max(alpha * pos.max(), 0.0))
    wn = np.exp(-alpha * neg - max((-alpha * neg).max(), 0.0))
    furthest, closest = wp @ pos / (wp.sum() + 1e-6), wn @ neg / (wn.sum() + 1e-6)
    if not square:
      out.append(softplus(gamma * (furthest - closest)))
    else:
      s = min(gamma * (furthest - closest) ** 2, 88.0)
      out.append(softplus(s if furthest > closest else -s))
  return np.mean(out)


def centres(f, y, m):
  """{(identity, modality): centre} by scanning the batch."""
  groups = {}
  for fi, yi, mi in zip(np.asarray(f, float), y, m):
    groups.setdefault((int(yi), int(mi)), []).append(fi)
  return {k: np.mean(v, axis=0) for k, v in groups.items()}, groups


def hetero_center(f, y, m, margin, reduction):
  c, _ = centres(f, y, m)
  terms = []
  for (i, mod), ci in c.items():
    ap = dist(ci, c[(i, 1 - mod)])
    an = min(dist(ci, cj) for (j, _), cj in c.items() if j != i)
    terms.append(max(ap - an + margin, 0.0))
  return np.mean(terms) if reduction == "mean" else np.sum(terms)


def cross_modality_center(f, y, m, margin):
  c, _ = centres(f, y, m)
  out = []
  for i in range(len(y)):
    other = c[(int(y[i]), 1 - int(m[i]))]
    nearest = min(dist(other, f[k]) for k in range(len(y)) if y[k] != y[i] and m[k] == m[i])
    out.append(dist(f[i], other) + max(margin - nearest, 0.0))
  return np.mean(out)


def center_loss(f, y, c):
  return np.mean([0.5 * np.sum((np.asarray(f[i], float) - np.asarray(c[y[i]], float)) ** 2) for i in range(len(y))])


def dual_constraint(f, y, m, margin, reduction):
  c, groups = centres(f, y, m)
  terms = []
  for (i, mod), ci in c.items():
    radius = max(dist(p, ci) for p in groups[(i, mod)])
    nearest = min(dist(ci, cj) for (j, _), cj in c.items() if j != i)
    terms.append(max(radius - nearest + margin, 0.0))
  return np.mean(terms) if reduction == "mean" else np.sum(terms)


def contrastive_center(f, y, m, variant):
  f = np.asarray(f, float)
  if variant == "paper":
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
  c, _ = centres(f, y, m)
  ids = sorted({k[0] for k in c})
  mid = {k: 0.5 * (c[(k, 0)] + c[(k, 1)]) for k in ids}
  return np.mean([softplus(dist(c[(k, 0)], c[(k, 1)]) - min(dist(mid[k], mid[j]) for j in ids if j != k)) for k in ids])


def enumerate_angular(ra, rp, rn, ia, ip, i_n, variant, margin=1.0):
  relu = lambda x: max(x, 0.0)
  total = 0.0
  for a_set, p_set, nx_set, ns_set in ((ra, ip, i_n, rn), (ia, rp, rn, i_n)):
    terms = []
    for a, p, nx, ns in zip(a_set, p_set, nx_set, ns_set):
      if variant == "paper":
        terms.append(
            math.exp(relu(cos(a, nx)) - relu(cos(a, p)) + margin)
            + math.exp(relu(cos(a, ns)) - relu(cos(a, p)) + margin)
        )
      else:
        terms.append(relu(relu(cos(a, ns)) - cos(a, p) + margin))
    total += np.mean(terms) if variant == "paper" else math.exp(np.mean(terms))
  return total


def compactness(x):
  vals = []
  for sample in np.asarray(x, float):
    mean = sample.mean(axis=0)
    vals += [math.exp(cos(r, mean)) for r in sample]
  return np.mean(vals)


def distillation(ra, ip, ia, rp, reduction):
  """Eq. 5: (1/N) sum over tuples of the squared distances (sum over elements); "mean": per element."""
  total = 0.0
  for a_set, p_set in ((ra, ip), (ia, rp)):
    per_tuple = [float(np.sum((np.asarray(a, float) - np.asarray(p, float)) ** 2)) for a, p in zip(a_set, p_set)]
    total += np.mean(per_tuple) / (1 if reduction == "sum" else np.asarray(a_set[0]).size)
  return total


def view_kl(student, teacher, temperature):
  """CAJ train_ext.py KLDivLoss, per sample and class: t = softmax(teacher / T) + 1e-7,
  T^2 * sum t (log t - log_softmax(student / T)), summed over samples, divided by their number."""
  total = 0.0
  for s_row, t_row in zip(np.asarray(student, float), np.asarray(teacher, float)):
    s_exp = [math.exp(v / temperature) for v in s_row]
    t_exp = [math.exp(v / temperature) for v in t_row]
    for c in range(len(s_row)):
      t = t_exp[c] / sum(t_exp) + 1e-7
      total += t * (math.log(t) - math.log(s_exp[c] / sum(s_exp)))
  return temperature**2 * total / len(student)
