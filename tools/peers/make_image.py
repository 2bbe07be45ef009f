#!/usr/bin/env python3
"""Writes the shared test image out/peers/image.f32: 3x224x224 float32, a seeded smooth pattern in ImageNet-normalised range."""
import numpy as np, sys
rng = np.random.default_rng(13)
coarse = rng.standard_normal((3, 14, 14))
img = np.kron(coarse, np.ones((16, 16))) + 0.3 * rng.standard_normal((3, 224, 224))
img.astype(np.float32).tofile(sys.argv[1] if len(sys.argv) > 1 else "out/peers/image.f32")
