# "A Gentle Introduction to torch.autograd" and "Autograd mechanics"
import torch
from torch import nn, optim

# Differentiation in Autograd
a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)

Q = 3*a**3 - b**2

external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)

# check if collected gradients are correct
print(9*a**2 == a.grad)
print(-2*b == b.grad)
print("a.grad:", a.grad.tolist())
print("b.grad:", b.grad.tolist())

# Exclusion from the DAG
x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)

a = x + y
print(f"Does `a` require gradients?: {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

# torch.no_grad and detach
x = torch.ones(5, requires_grad=True)
with torch.no_grad():
    y = x * 2
print("no_grad requires_grad:", y.requires_grad)
z = (x * 3).detach()
print("detach requires_grad:", z.requires_grad)

@torch.no_grad()
def doubler(x):
    return x * 2
print("decorated requires_grad:", doubler(x).requires_grad)

with torch.enable_grad():
    with torch.set_grad_enabled(False):
        w = x * 4
print("set_grad_enabled requires_grad:", w.requires_grad)

# Freezing parameters (the tutorial uses torchvision's resnet18; a small model stands in)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 10))

# Freeze all the parameters in the network
for param in model.parameters():
    param.requires_grad_(False)
# or: param.requires_grad = False

model[2] = nn.Linear(16, 10)

# Optimize only the classifier
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

trainable = [name for name, p in model.named_parameters() if p.requires_grad]
print("trainable:", trainable)

data = torch.rand(4, 8)
labels = torch.rand(4, 10)
prediction = model(data)
loss = (prediction - labels).sum()
loss.backward()
optimizer.step()
print("frozen grad is None:", model[0].weight.grad is None)
print("classifier grad shape:", tuple(model[2].weight.grad.shape))

# Autograd mechanics: saved tensors, retain_grad, in-place correctness checks
x = torch.tensor([1., 2., 3.], requires_grad=True)
y = x.exp()
y.retain_grad()
out = (y * 2).sum()
out.backward()
print("retain_grad:", torch.allclose(y.grad, torch.full((3,), 2.0)))
print("x.grad == 2*exp(x):", torch.allclose(x.grad, 2 * x.detach().exp()))
print("grad_fn:", out.grad_fn.name())

a = torch.randn(3, requires_grad=True)
b = a.sigmoid()
b.mul_(2)
try:
    b.sum().backward()
    print("in-place check: no error")
except RuntimeError as e:
    print("in-place check: RuntimeError" if "modified by an inplace operation" in str(e) else f"in-place check: {e}")

x = torch.randn(3, requires_grad=True)
g, = torch.autograd.grad((x ** 2).sum(), x)
print("autograd.grad:", torch.allclose(g, 2 * x.detach()))

# "Automatic Differentiation with torch.autograd"
x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w)+b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")

loss.backward()
print("w.grad shape:", tuple(w.grad.shape), "b.grad shape:", tuple(b.grad.shape))

z = torch.matmul(x, w)+b
print(z.requires_grad)

with torch.no_grad():
    z = torch.matmul(x, w)+b
print(z.requires_grad)

z = torch.matmul(x, w)+b
z_det = z.detach()
print(z_det.requires_grad)

inp = torch.eye(4, 5, requires_grad=True)
out = (inp+1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
