"""How do we know a backward pass is right? Check it against finite differences.

    python examples/gradcheck_tutorial.py

A gradient computed by backpropagation (the "analytical" gradient) must agree with the slope
measured numerically: nudge one input by ±eps, recompute the output, divide the difference by
2·eps. ``flambeau.autograd.gradcheck`` does this for every input element, in float64 (float32
has too few digits for the subtraction to mean anything).
"""
import flambeau as torch
from flambeau.autograd import Function, gradcheck

# 1. A function made of flambeau ops: its backward comes from the ops' own backward formulas.
x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
print("tanh(x @ w).sum():", gradcheck(lambda x, w: torch.tanh(x @ w).sum(), (x, w)))


# 2. What gradcheck computes, by hand, for one element of x.
def f(x):
    return torch.tanh(x @ w).sum()


eps = 1e-6
with torch.no_grad():
    xp, xm = x.clone(), x.clone()
    xp[0, 0] += eps
    xm[0, 0] -= eps
    numerical = (f(xp) - f(xm)).item() / (2 * eps)
x.grad = None
f(x).backward()
print(f"d f / d x[0,0]: numerical {numerical:.8f}, analytical {x.grad[0, 0].item():.8f}")


# 3. A hand-written Function: here gradcheck earns its keep. The first version has a bug.
class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x          # wrong: d(x^3)/dx is 3 x^2


class CubeFixed(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


z = torch.randn(5, dtype=torch.float64, requires_grad=True)
print("buggy Cube:", gradcheck(Cube.apply, (z,), raise_exception=False))
print("fixed Cube:", gradcheck(CubeFixed.apply, (z,)))

# 4. Kinks: relu and abs have no derivative at 0; keep test points away from them.
a = torch.tensor([-1.0, -0.2, 0.3, 2.0], dtype=torch.float64, requires_grad=True)
print("relu away from 0:", gradcheck(torch.relu, (a,)))
