#!/usr/bin/python3
"""Exports the conformance zoo: ten torchvision architectures with seeded random weights at opsets 9, 11, 13, 17.

Run with Debian's python (tools/setup-zoo.sh installs torch 1.13 / torchvision 0.14 / onnx 1.12):
    /usr/bin/python3 tools/zoo/export_zoo.py [--out tests/Fixtures/zoo]

Each architecture is torchvision's own code with its width reduced through torchvision's knobs (width_mult,
stages_out_channels, growth_rate/block_config, a VGG cfg, GoogLeNet's conv_block hook) or, where torchvision has no
knob (ResNet, SqueezeNet), by re-running the constructor's steps with every width divided by a constant; and with 10
classes and a 32x32 or 64x64 input. Each family keeps its op pattern (residual adds, bottlenecks, SE blocks,
HardSwish/HardSigmoid, SiLU, channel shuffle, dense concats, inception branches, fire modules, ceil-mode pooling).

Weights: torchvision's own initialisation under a fixed seed, then every BatchNorm gets a random affine (gamma, beta)
and running statistics measured on seeded random batches (train-mode forward, cumulative average) and then jittered,
so that BN is neither the identity nor blows activations up; the last layer is scaled so that the logits have
standard deviation 2 on random inputs. Models are exported in eval mode with
TrainingMode.PRESERVE: the BatchNormalization nodes stay in the graph (TrainingMode.EVAL would fold them into the
preceding Conv), Dropout is dropped because the model is in eval mode.

Writes <arch>_op<opset>.onnx, input_3x<H>x<W>.f32 (the fixed seeded test input, raw float32 little-endian, NCHW,
batch 1) and manifest.json (provenance, sha256 of every file, torch's logits on the test input).
"""
import argparse
import functools
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.ops.misc import Conv2dNormActivation
import importlib

# The modules themselves (torchvision.models.googlenet also names a function in the package namespace).
densenet, efficientnet, googlenet, mobilenetv2, mobilenetv3, resnet, shufflenetv2, squeezenet, vgg = (
    importlib.import_module("torchvision.models." + m) for m in
    ["densenet", "efficientnet", "googlenet", "mobilenetv2", "mobilenetv3", "resnet", "shufflenetv2", "squeezenet", "vgg"])

OPSETS = [9, 11, 13, 17]
NUM_CLASSES = 10
SEED = 20261130
INPUT_SEED = 7


def _kaiming_like_resnet(model):
    # The initialisation loop of torchvision.models.resnet.ResNet.__init__.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def make_resnet(block, layers, divisor):
    """torchvision ResNet with every width divided by `divisor`: the steps of ResNet.__init__ re-run with 64/d."""
    model = resnet.ResNet(block, layers, num_classes=NUM_CLASSES)
    w = 64 // divisor
    model.inplanes = w
    model.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(w)
    model.layer1 = model._make_layer(block, w, layers[0])
    model.layer2 = model._make_layer(block, 2 * w, layers[1], stride=2)
    model.layer3 = model._make_layer(block, 4 * w, layers[2], stride=2)
    model.layer4 = model._make_layer(block, 8 * w, layers[3], stride=2)
    model.fc = nn.Linear(8 * w * block.expansion, NUM_CLASSES)
    _kaiming_like_resnet(model)
    return model


def make_vgg11_bn():
    # VGG cfg "A" with widths / 16; classifier 4096 -> 64 wide; the adaptive pool goes to 1x1 (a 64x64 input leaves
    # 2x2 after five max-pools; torchvision's 7x7 needs 224x224).
    cfg = [4, "M", 8, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M"]
    model = vgg.VGG(vgg.make_layers(cfg, batch_norm=True), num_classes=NUM_CLASSES, init_weights=True)
    model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    model.classifier = nn.Sequential(
        nn.Linear(32, 64), nn.ReLU(True), nn.Dropout(p=0.5),
        nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(p=0.5),
        nn.Linear(64, NUM_CLASSES))
    for m in model.classifier:
        if isinstance(m, nn.Linear):  # VGG.__init__'s rule for Linear layers
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)
    return model


def make_squeezenet1_1():
    # SqueezeNet 1.1's feature stack (torchvision Fire modules, ceil-mode max-pools) with widths / 8.
    model = squeezenet.SqueezeNet(version="1_1", num_classes=NUM_CLASSES)
    Fire = squeezenet.Fire
    model.features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(8, 2, 8, 8), Fire(16, 2, 8, 8),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(16, 4, 16, 16), Fire(32, 4, 16, 16),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(32, 6, 24, 24), Fire(48, 6, 24, 24), Fire(48, 8, 32, 32), Fire(64, 8, 32, 32))
    final_conv = nn.Conv2d(64, NUM_CLASSES, kernel_size=1)
    model.classifier = nn.Sequential(nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))
    for m in model.modules():  # SqueezeNet.__init__'s rule
        if isinstance(m, nn.Conv2d):
            if m is final_conv:
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
            else:
                nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
    return model


class NarrowConv2d(googlenet.BasicConv2d):
    """GoogLeNet's conv_block hook: BasicConv2d (Conv + BN + ReLU) with widths / 8 (every inception width divides)."""
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__(in_channels if in_channels == 3 else in_channels // 8, out_channels // 8, **kwargs)


def make_googlenet():
    model = googlenet.GoogLeNet(num_classes=NUM_CLASSES, aux_logits=False, transform_input=False, init_weights=True,
                                blocks=[NarrowConv2d, functools.partial(googlenet.Inception, conv_block=NarrowConv2d),
                                        googlenet.InceptionAux])
    model.fc = nn.Linear(1024 // 8, NUM_CLASSES)
    nn.init.trunc_normal_(model.fc.weight, mean=0.0, std=0.01, a=-2, b=2)
    return model


def make_efficientnet_b0():
    # b0's block table with torchvision's own width/depth multipliers (the knobs b1..b7 use).
    setting, last_channel = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.125, depth_mult=0.5)
    return efficientnet.EfficientNet(setting, dropout=0.2, last_channel=last_channel, num_classes=NUM_CLASSES)


def make_mobilenet_v2():
    # torchvision's inverted-residual table (t, c, n, s) with the repeats n halved, and its width knob; the final 1x1
    # ConvBNReLU6 and the classifier narrowed from 1280 to 128 (MobileNetV2 has no last_channel argument).
    setting = [[1, 16, 1, 1], [6, 24, 1, 2], [6, 32, 2, 2], [6, 64, 2, 2], [6, 96, 2, 1], [6, 160, 2, 2], [6, 320, 1, 1]]
    model = mobilenetv2.MobileNetV2(num_classes=NUM_CLASSES, width_mult=0.25, inverted_residual_setting=setting)
    last_in = model.features[-1][0].in_channels
    model.features[-1] = Conv2dNormActivation(last_in, 128, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6)
    model.last_channel = 128
    model.classifier[1] = nn.Linear(128, NUM_CLASSES)
    for m in [*model.features[-1].modules(), model.classifier[1]]:  # MobileNetV2.__init__'s rule
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model


def make_mobilenet_v3_small():
    # torchvision's small block table with its width knob; the classifier's hidden width (last_channel) set to 128.
    setting, _ = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25, reduced_tail=True)
    return mobilenetv3.MobileNetV3(setting, last_channel=128, num_classes=NUM_CLASSES)


# name -> (constructor, input side, reductions recorded in the manifest)
ARCHS = {
    "resnet18": (lambda: make_resnet(resnet.BasicBlock, [2, 2, 2, 2], 16), 32,
                 "ResNet-18 block layout [2,2,2,2]; widths / 16 (stem 4, stages 4/8/16/32); 10 classes"),
    "resnet50": (lambda: make_resnet(resnet.Bottleneck, [3, 4, 6, 3], 16), 32,
                 "ResNet-50 bottleneck layout [3,4,6,3]; widths / 16 (stem 4, bottleneck 4/8/16/32, x4 expansion); 10 classes"),
    "vgg11_bn": (make_vgg11_bn, 64,
                 "cfg A widths / 16 [4,M,8,M,16,16,M,32,32,M,32,32,M] with BN; avgpool 1x1 (not 7x7); classifier 32-64-64-10"),
    "mobilenet_v2": (make_mobilenet_v2, 32,
                     "width_mult 0.25; block repeats [1,1,2,2,2,2,1] (not 1,2,3,4,3,3,1); last_channel 128 (not 1280); 10 classes"),
    "mobilenet_v3_small": (make_mobilenet_v3_small, 32, "width_mult 0.25, reduced_tail, last_channel 128 (not 1024); 10 classes"),
    "densenet121": (lambda: densenet.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, bn_size=2,
                                              num_classes=NUM_CLASSES), 32,
                    "growth_rate 4, block_config (2,2,2,2) (not 6,12,24,16), num_init_features 8, bn_size 2; 10 classes"),
    "squeezenet1_1": (make_squeezenet1_1, 64, "SqueezeNet 1.1 layout, widths / 8; 10 classes"),
    "googlenet": (make_googlenet, 64, "all widths / 8 through the conv_block hook; no aux heads, no transform_input; 10 classes"),
    "efficientnet_b0": (make_efficientnet_b0, 32, "b0 block table with width_mult 0.125, depth_mult 0.5; 10 classes"),
    "shufflenet_v2_x0_5": (lambda: shufflenetv2.ShuffleNetV2([2, 2, 2], [8, 16, 32, 64, 128], num_classes=NUM_CLASSES), 32,
                           "stages_repeats [2,2,2] (not 4,8,4), stages_out_channels [8,16,32,64,128]; 10 classes"),
}


def randomise_batchnorm(model, side, gen):
    """Random BN affine, running stats measured on random batches (cumulative average), then jittered."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.empty_like(bn.weight).uniform_(0.5, 1.5, generator=gen))
            bn.bias.copy_(torch.empty_like(bn.bias).normal_(0.0, 0.1, generator=gen))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average over the calibration batches
        model.train()
        for _ in range(4):
            model(torch.rand(16, 3, side, side, generator=gen))
        for bn in bns:
            bn.running_mean.add_(torch.empty_like(bn.running_mean).normal_(0.0, 0.05, generator=gen))
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.8, 1.25, generator=gen))
            bn.momentum = 0.1
    model.eval()


def scale_logits(model, side, gen, target_std=2.0):
    """Scales the last layer (weight and bias; the output is positively homogeneous in them) so that the logits on
    seeded random inputs have standard deviation `target_std`: default inits leave them at 1e-4 (VGG) to 1e2
    (EfficientNet), which makes softmax-based explanations degenerate."""
    last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    with torch.no_grad():
        s = target_std / model(torch.rand(16, 3, side, side, generator=gen)).std().item()
        last.weight.mul_(s)
        if last.bias is not None:
            last.bias.mul_(s)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Fixtures", "zoo"))
    ap.add_argument("--only", nargs="*", help="architectures to export (default: all)")
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    import onnx  # checker only; the export itself does not need it

    inputs = {}
    for side in sorted({side for _, side, _ in ARCHS.values()}):
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(INPUT_SEED))
        name = f"input_3x{side}x{side}.f32"
        x.numpy().astype("<f4").tofile(os.path.join(out, name))
        inputs[side] = (x, {"file": name, "shape": [1, 3, side, side], "dtype": "float32 little-endian, NCHW",
                            "generator": f"torch.rand(1,3,{side},{side}, generator=torch.Generator().manual_seed({INPUT_SEED}))",
                            "sha256": sha256(os.path.join(out, name))})

    manifest = {
        "generator": "tools/zoo/export_zoo.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__, "onnx": onnx.__version__,
        "python": sys.version.split()[0], "numpy": np.__version__,
        "seed": SEED, "num_classes": NUM_CLASSES,
        "exporter": {"function": "torch.onnx.export", "do_constant_folding": True,
                     "training": "TrainingMode.PRESERVE with the model in eval mode (keeps BatchNormalization nodes)",
                     "input_names": ["input"], "output_names": ["logits"], "dynamic_axes": None,
                     "export_params": True, "keep_initializers_as_inputs": False},
        "weights": "torchvision initialisation under torch.manual_seed(seed); BatchNorm: gamma ~ U(0.5,1.5), "
                   "beta ~ N(0,0.1), running stats from 4 train-mode batches of torch.rand(16,3,H,W) (cumulative), "
                   "then mean += N(0,0.05), var *= U(0.8,1.25); finally the last Linear/Conv (weight and bias) is scaled so that "
                   "the logits on torch.rand(16,3,H,W) (seed + 2) have standard deviation 2",
        "logits": "torch float32 logits of the eval-mode model on the input file, batch 1",
        "inputs": [v[1] for v in inputs.values()],
        "models": [],
    }
    old = {}
    mpath = os.path.join(out, "manifest.json")
    if args.only and os.path.exists(mpath):
        with open(mpath) as f:
            old = {(m["arch"], m["opset"]): m for m in json.load(f)["models"]}

    for arch, (ctor, side, reductions) in ARCHS.items():
        if args.only and arch not in args.only:
            manifest["models"].extend(m for (a, _), m in old.items() if a == arch)
            continue
        torch.manual_seed(SEED)
        model = ctor()
        randomise_batchnorm(model, side, torch.Generator().manual_seed(SEED + 1))
        scale_logits(model, side, torch.Generator().manual_seed(SEED + 2))
        x, input_info = inputs[side]
        with torch.no_grad():
            logits = model(x)
        params = sum(p.numel() for p in model.parameters())
        for opset in OPSETS:
            name = f"{arch}_op{opset}.onnx"
            path = os.path.join(out, name)
            torch.onnx.export(model, x, path, export_params=True, opset_version=opset, do_constant_folding=True,
                              training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"],
                              output_names=["logits"], keep_initializers_as_inputs=False)
            m = onnx.load(path)
            onnx.checker.check_model(m)
            ops = sorted({n.op_type for n in m.graph.node})
            manifest["models"].append({
                "arch": arch, "opset": opset, "file": name, "sha256": sha256(path), "bytes": os.path.getsize(path),
                "reductions": reductions, "parameters": params, "input": input_info["file"],
                "input_shape": [1, 3, side, side], "output_shape": [1, NUM_CLASSES], "ops": ops,
                "torch_logits": [float(v) for v in logits[0].tolist()],
            })
            print(f"{name}: {os.path.getsize(path)} bytes, {params} parameters, ops {ops}", flush=True)

    manifest["models"].sort(key=lambda m: (list(ARCHS).index(m["arch"]), m["opset"]))
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(m["bytes"] for m in manifest["models"])
    print(f"{len(manifest['models'])} models, {total} bytes in all")


if __name__ == "__main__":
    main()
