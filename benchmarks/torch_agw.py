"""The AGW model and training step in PyTorch, written for the speed comparison of
`benchmarks/train_step.py --vs_torch` (never imported by the library).

The same architecture as `configs/agw.py`: a two-stream torchvision-layout ResNet-50 (modality
stems, shared layer1-4, last stride 1), non-local blocks after blocks 2, 3 of layer2 and 3, 4, 5
of layer3 (inner width C/2, dot product / N), GeM (p = 3), BNNeck, a bias-free classifier; the
identity loss and the WRT triplet; SGD with Nesterov momentum and weight decay.
"""

import torch
from torch import nn


class Bottleneck(nn.Module):

  def __init__(self, cin: int, width: int, stride: int):
    super().__init__()
    self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
    self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
    self.conv3, self.bn3 = nn.Conv2d(width, 4 * width, 1, bias=False), nn.BatchNorm2d(4 * width)
    self.downsample = (
        nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride, bias=False), nn.BatchNorm2d(4 * width))
        if stride != 1 or cin != 4 * width
        else None
    )

  def forward(self, x):
    y = torch.relu(self.bn1(self.conv1(x)))
    y = torch.relu(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class NonLocal(nn.Module):

  def __init__(self, channels: int):
    super().__init__()
    inner = channels // 2
    self.theta, self.phi, self.g = (nn.Conv2d(channels, inner, 1) for _ in range(3))
    self.w = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))
    nn.init.zeros_(self.w[1].weight)

  def forward(self, x):
    b, c, h, w = x.shape
    theta = self.theta(x).flatten(2).transpose(1, 2)
    phi, g = self.phi(x).flatten(2), self.g(x).flatten(2).transpose(1, 2)
    y = (theta @ phi / (h * w)) @ g
    return self.w(y.transpose(1, 2).reshape(b, -1, h, w)) + x


def stage(cin: int, width: int, blocks: int, stride: int, non_local: tuple[int, ...] = ()) -> nn.ModuleList:
  layers = []
  for i in range(blocks):
    layers.append(Bottleneck(cin if i == 0 else 4 * width, width, stride if i == 0 else 1))
    if i in non_local:
      layers.append(NonLocal(4 * width))
  return nn.Sequential(*layers)


class AGW(nn.Module):

  def __init__(self, classes: int):
    super().__init__()
    self.stems = nn.ModuleList(
        nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        for _ in range(2)
    )
    self.layers = nn.Sequential(
        stage(64, 64, 3, 1), stage(256, 128, 4, 2, (2, 3)), stage(512, 256, 6, 2, (3, 4, 5)), stage(1024, 512, 3, 1)
    )
    self.bnneck = nn.BatchNorm1d(2048)
    self.bnneck.bias.requires_grad_(False)
    self.classifier = nn.Linear(2048, classes, bias=False)

  def forward(self, visible, infrared=None):
    x = self.stems[0](visible) if infrared is None else torch.cat([self.stems[0](visible), self.stems[1](infrared)])
    x = self.layers(x)
    pooled = (x.flatten(2).pow(3).mean(-1) + 1e-12).pow(1 / 3)
    bn = self.bnneck(pooled)
    return pooled, bn, self.classifier(bn)


def wrt(features, labels):
  """The weighted regularisation triplet (AGW), the paper's softmax over the other positives and the negatives."""
  d = torch.cdist(features, features)
  same = labels[:, None] == labels[None, :]
  pos = same & ~torch.eye(len(labels), dtype=torch.bool)
  w_pos = torch.softmax(d.masked_fill(~pos, float("-inf")), 1)
  w_neg = torch.softmax((-d).masked_fill(same, float("-inf")), 1)
  return nn.functional.softplus((w_pos * d).sum(1) - (w_neg * d).sum(1)).mean()


def training_step(classes: int = 395, channels_last: bool = False):
  """(model, step(visible, infrared, labels)) for SGD at 0.01 (AGW's first warm-up epoch; Nesterov,
  momentum 0.9, wd 5e-4)."""
  model = AGW(classes)
  if channels_last:
    model = model.to(memory_format=torch.channels_last)
  model.train()
  optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)

  def step(visible, infrared, labels):
    pooled, _, logits = model(visible, infrared)
    targets = torch.cat([labels, labels])
    loss = nn.functional.cross_entropy(logits, targets) + wrt(pooled, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss

  return model, step
