#!/usr/bin/env python3
"""Exports seeded random-weight torchvision ResNet-18/50 (full width, 1000 classes, 224x224x3, eval mode)
to ONNX opset 13 and the same weights as a state_dict (.pt) for the PyTorch peers. Output: out/peers/ (not committed).

Usage: /usr/bin/python3 tools/peers/export_models.py [--out out/peers] [--models resnet18,resnet50]
"""
import argparse, os, torch, torchvision

def build(name, seed):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None, num_classes=1000)
    # Randomise the BatchNorm statistics too (a fresh model has mean 0 / var 1, which makes BN a near-identity).
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.eval()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/peers")
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in a.models.split(","):
        model = build(name, a.seed)
        torch.save(model.state_dict(), os.path.join(a.out, f"{name}.pt"))
        x = torch.zeros(1, 3, 224, 224)
        torch.onnx.export(model, x, os.path.join(a.out, f"{name}.onnx"), opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
        print(f"{name}: {os.path.join(a.out, name)}.onnx/.pt (seed {a.seed})")

if __name__ == "__main__":
    main()
