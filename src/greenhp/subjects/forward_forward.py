"""MNIST Forward-Forward: the pytorch/examples ``mnist_forward_forward`` script as a subject.

Hinton's Forward-Forward algorithm: layers [784, 500, 500], each trained on its own, greedily, for
``epochs`` full-batch Adam steps (lr 0.03) on the "goodness" loss log(1 + exp(±(g - threshold))) of
positive (true label overlaid on the image) and negative (wrong label) data; threshold 2.0; 1000
epochs; one batch of 50 000 training images (the example's ``--train-size``, here the hyperparameter
``batch_size``: the first ``batch_size`` images of a seeded shuffle of the training set, all of it
when the set is smaller, e.g. the 4,000 of ``data.source: mnist5k``), 10 000 test images.
Prediction picks the label whose overlay gives the highest total goodness. As in
https://github.com/pytorch/examples/blob/main/mnist_forward_forward/main.py, which prints the test
*error*; the metric here is accuracy = 1 - error.

One change, same distribution: the wrong labels are drawn with one vectorised call,
(y + U{1..9}) mod 10, instead of the example's per-sample Python loop.
"""

from __future__ import annotations

from greenhp.subjects import datasets
from greenhp.subjects.base import RunContext, Subject, Timer, TrainResult, check_loss, seed_everything

TRAIN_SIZE = 50_000  # the example's --train-size (the one full batch): the default of hyperparameter batch_size
TEST_SIZE = 10_000
DIMS = [784, 500, 500]
LOG_INTERVAL = 10  # the example prints the loss every 10 steps; we check it for NaN as often


def overlay_y_on_x(x, y):
    """Replace the first 10 pixels by a one-hot of ``y`` (at the image's max value)."""
    x_ = x.clone()
    x_[:, :10] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


def _layer_cls():
    import torch
    from torch import nn

    class Layer(nn.Linear):
        def __init__(self, in_features, out_features, lr, threshold, epochs, log):
            super().__init__(in_features, out_features)
            self.relu = nn.ReLU()
            self.opt = torch.optim.Adam(self.parameters(), lr=lr)
            self.threshold = threshold
            self.num_epochs = epochs
            self.log = log
            self.steps_run = 0

        def forward(self, x):
            x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
            return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

        def train_layer(self, x_pos, x_neg, name):
            for i in range(self.num_epochs):
                g_pos = self.forward(x_pos).pow(2).mean(1)
                g_neg = self.forward(x_neg).pow(2).mean(1)
                loss = torch.log(1 + torch.exp(torch.cat([-g_pos + self.threshold, g_neg - self.threshold]))).mean()
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
                self.steps_run += 1
                if i % LOG_INTERVAL == 0 or i == self.num_epochs - 1:
                    value = loss.item()
                    if i % (10 * LOG_INTERVAL) == 0 or i == self.num_epochs - 1:
                        self.log(f"{name} epoch {i + 1}/{self.num_epochs} loss={value:.4f}")
                    check_loss(value, f"{name} epoch {i + 1}")
            return self.forward(x_pos).detach(), self.forward(x_neg).detach()

    return Layer


def predict(layers, x):
    import torch

    goodness_per_label = []
    with torch.no_grad():
        for label in range(10):
            h = overlay_y_on_x(x, label)
            goodness = []
            for layer in layers:
                h = layer(h)
                goodness.append(h.pow(2).mean(1))
            goodness_per_label.append(sum(goodness).unsqueeze(1))
    return torch.cat(goodness_per_label, 1).argmax(1)


def run(hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    from torchvision import transforms

    seed_everything(ctx.seed)
    device = torch.device(ctx.device)
    transform = transforms.Compose([
        transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)), transforms.Lambda(torch.flatten),
    ])
    train_set = datasets.mnist(ctx.data, train=True, transform=transform)
    test_set = datasets.mnist(ctx.data, train=False, transform=transform)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=int(hp["batch_size"]), shuffle=True, generator=torch.Generator().manual_seed(ctx.seed)
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=TEST_SIZE, shuffle=False)

    Layer = _layer_cls()
    layers = [
        Layer(DIMS[d], DIMS[d + 1], hp["lr"], float(hp["threshold"]), int(hp["epochs"]), ctx.log).to(device)
        for d in range(len(DIMS) - 1)
    ]
    with Timer() as timer:
        x, y = next(iter(train_loader))
        x, y = x.to(device), y.to(device)
        x_pos = overlay_y_on_x(x, y)
        y_neg = (y + torch.randint(1, 10, y.shape, device=device)) % 10
        x_neg = overlay_y_on_x(x, y_neg)
        h_pos, h_neg = x_pos, x_neg
        for i, layer in enumerate(layers):
            ctx.log(f"training layer {i}")
            h_pos, h_neg = layer.train_layer(h_pos, h_neg, f"layer {i}")
        train_accuracy = float(predict(layers, x).eq(y).float().mean())
        x_te, y_te = next(iter(test_loader))
        x_te, y_te = x_te.to(device), y_te.to(device)
        accuracy = float(predict(layers, x_te).eq(y_te).float().mean())
    ctx.log(f"train error: {1 - train_accuracy:.4f} test error: {1 - accuracy:.4f}")
    first = layers[0]
    effective = {
        "epochs": min(layer.steps_run for layer in layers),
        "lr": float(first.opt.param_groups[0]["lr"]),
        "threshold": float(first.threshold),
        "batch_size": train_loader.batch_size,
    }
    extra = {"train_accuracy": train_accuracy, "test_error": 1 - accuracy, "train_size": len(x), "test_size": len(x_te)}
    return TrainResult("accuracy", accuracy, effective, effective["epochs"], timer.seconds, extra)


MNIST_FF = Subject(
    name="mnist_ff",
    description="pytorch/examples mnist_forward_forward: Forward-Forward MLP [784, 500, 500] on MNIST, Adam",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 1000, "lr": 0.03, "threshold": 2.0, "batch_size": TRAIN_SIZE},
    run=run,
    schedule_depends_on_epochs=True,
)
