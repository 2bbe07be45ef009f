"""Shared by the PyTorch peers: model loading (same seeded weights as the exported ONNX), the test image, /proc stats."""
import numpy as np, torch, torchvision

def load_model(path_pt):
    name = "resnet50" if "resnet50" in path_pt else "resnet18"
    model = getattr(torchvision.models, name)(weights=None, num_classes=1000)
    model.load_state_dict(torch.load(path_pt))
    return model.eval()

def load_image(path):
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(1, 3, 224, 224).copy())

def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return -1.0

def load_avg():
    return open("/proc/loadavg").read().split()[0]

def cosine(a, b):
    a = np.asarray(a, dtype=np.float64).ravel(); b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")
