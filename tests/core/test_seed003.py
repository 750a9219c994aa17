"""The code examples of the course "Découverte de PyTorch" (sections 1.3-2.6 and 4.4-4.5), run
with ``torch`` bound to flambeau and to PyTorch: the printed output must be identical (with
``flambeau.`` read as ``torch.``)."""
import contextlib
import io
import textwrap

import numpy
import pytest
import torch

import flambeau


def run(code, lib):
    """Run a snippet with ``torch`` = ``lib``; return what it printed (or the exception raised)."""
    out = io.StringIO()
    env = {"torch": lib, "numpy": numpy, "np": numpy}
    code = textwrap.dedent(code).replace("import torch, numpy\n", "").replace("import torch\n", "")
    with contextlib.redirect_stdout(out):
        try:
            exec(code, env)
        except Exception as e:  # noqa: BLE001
            print(f"!! {type(e).__name__}: {e}")
    return out.getvalue().replace("flambeau.", "torch.")


def same_output(code):
    fl, th = run(code, flambeau), run(code, torch)
    assert fl == th, f"flambeau printed:\n{fl}\ntorch printed:\n{th}"
    return th


SNIPPETS = {
    "1.3 FloatTensor from list and numpy": """
        import torch, numpy
        ListePython = [[1,2,3], [4,5,6]]
        A = torch.FloatTensor(ListePython)
        print(A)
        ArrayNumpy = numpy.array(ListePython)
        B = torch.FloatTensor(ArrayNumpy)
        print(B)
    """,
    "1.3 rand shape": """
        A = torch.rand(2, 3)
        print(A.shape, A.dtype, bool(((A >= 0) & (A < 1)).all()))
    """,
    "1.3 tolist numpy": """
        import torch
        A = torch.FloatTensor([[1,2,3],[4,5,6]])
        print(A.tolist()) # => liste python
        print(A.numpy()) # => numpy array
        print(type(A.tolist()), type(A.numpy()), A.numpy().dtype)
    """,
    "1.3 item": """
        A = torch.FloatTensor([2])
        print(A.item()) # => numérique python
        print(type(A.item()))
    """,
    "1.4 shape": """
        A = torch.tensor([[[0,0,0,0], [1,1,1,1], [2,2,2,2]], [[0,0,0,0], [1,1,1,1], [2,2,2,2]]])
        print(A.shape)
        print(A.shape[2], len(A.shape), A.dim())
        print(torch.tensor([0,0,0,0]).shape, torch.tensor([[0,0,0,0], [1,1,1,1], [2,2,2,2]]).shape)
    """,
    "1.5 indexing": """
        A = torch.tensor([[[0,0,0,0], [1,1,1,1], [2,2,2,2]], [[0,0,0,0], [1,1,1,1], [2,2,2,2]]])
        print(A[1,2,3])
        print(A[1][2][3])
        print(A[0,1])
        A[1,2,3] = 7
        print(A)
    """,
    "1.6 matrix indices": """
        A = torch.tensor([[1,2,3],[4,5,6]])
        y, x = 1, 2
        print(A[y,x])
    """,
    "1.7 slicing": """
        a = torch.tensor([[1,2,3,4],[6,7,8,9]])
        print( a[0] )  # 1ere ligne
        print( a[1] )  # 2eme ligne
        print( a[0,1:] )  # 1ere ligne, tous les indices >=1
        print( a[0,:2] )  # 1ere ligne, tous les indices < 2
        print( a[0,-1] )  # 1ere ligne, 1er élément en partant de la fin
        print( a[0,:] )  # 1ere ligne, et tous les éléments
    """,
    "1.7 sub-tensor": """
        a = torch.tensor([[1,2,3,4],[6,7,8,9]])
        print( a[:,1:3] )
        print( a[0:2, 2:] )
        print( a[:, -1] )
    """,
    "1.7 step and assignment": """
        a = torch.tensor( [ [10,11,12,13,14,15],
                [20,21,22,23,24,25],
                [30,31,32,33,34,35],
                [40,41,42,43,44,45] ] )
        print(a[:, 0:6:2])
        print(a[::2, 1::2])
        a[:, 0:6:2 ] = 99  # affection des colonnes 0 2 4
        print(a)
    """,
    "1.8 index lists and boolean masks": """
        a = torch.tensor( [ [10,11,12,13,14,15],
                [20,21,22,23,24,25],
                [30,31,32,33,34,35],
                [40,41,42,43,44,45] ] )
        print(a[[0,2]])
        print(a[:, [1,3,5]])
        print(a[[0,1,3],[1,2,5]])
        print(a[torch.tensor([True, False, True, False])])
        print(a[a > 32])
        print(a > 32)
        a[a > 32] = 0
        print(a)
        b = torch.FloatTensor([1, -2, 3, -4])
        b[b < 0] = 0
        print(b)
    """,
    "1.9 aliasing": """
        T = torch.ones((2,2))
        A = T
        A[0,0] = 5
        print(T)
        print(A)
        print(A is T)
    """,
    "1.9 clone detach": """
        T = torch.ones((2,2))
        A = T.clone().detach() # ou clone() si besoin
        A[0,0] = 5
        print(T)
        print(A)
    """,
    "1.10.1 view by slicing": """
        T = torch.ones((100,100))
        A = T[0:50,0:50] # A est une vue partielle de T
        A[0,0] = 5
        print(T.storage().data_ptr() == A.storage().data_ptr())
        print(T[0,0])
    """,
    "1.10.2 view by selection": """
        T = torch.ones((3,3))
        A = T[1]
        A[0] = 5
        print(T)
        print(T.storage().data_ptr() == A.storage().data_ptr())
    """,
    "1.10.3 view by reshape": """
        T = torch.ones((2,3))
        A = T.reshape(6)
        A[0] = 9
        print(T)
        print(T.storage().data_ptr() == A.storage().data_ptr())
    """,
    "1.10.3 reshape shapes": """
        T = torch.tensor([1,2,3,4,5,6])
        for s in [(3,2), (2,3), (2,1,3), (6,1,1), (1,1,6)]:
            print(T.reshape(s))
        T = T.reshape((2,3))
        print(T.shape)
    """,
    "2 column plus row": """
        A = torch.FloatTensor([[1],[2],[3],[4]])
        B = torch.FloatTensor([[10,20,30]])
        print(A.shape, B.shape, (A+B).shape)
        print(A + B)
    """,
    "2.1 compatible and incompatible sizes": """
        for sa, sb in [((3,4),(1,)), ((3,4),(1,1)), ((3,1),(4,)), ((3,1),(1,4)), ((1,1,4),(1,3,1)),
                       ((1,1,4),(3,2,1)), ((3,4),(3,)), ((1,1,4),(1,3))]:
            try:
                print(sa, sb, (torch.zeros(sa) + torch.zeros(sb)).shape)
            except RuntimeError as e:
                print(sa, sb, "RuntimeError")
    """,
    "2.2 2D + value (course's ragged list)": """
        A = torch.FloatTensor([[0,0,0],[10,10],[20,20,20],[30,30,30]])
    """,
    "2.2 2D + value": """
        A = torch.FloatTensor([[0,0,0],[10,10,10],[20,20,20],[30,30,30]])
        B = torch.FloatTensor([[7]]) # ou ([7])
        R = A + B
        print(R)
        print(A + torch.FloatTensor([7]))
    """,
    "2.3 2D + column": """
        A = torch.FloatTensor([[0,0,0],[10,10,10],[20,20,20],[30,30,30]])
        B = torch.FloatTensor([[1],[2],[3],[4]])
        R = A + B
        print(R)
    """,
    "2.4 2D + row": """
        A = torch.FloatTensor([[0,0,0],[10,10,10],[20,20,20],[30,30,30]])
        B = torch.FloatTensor([0,1,2]) # ou [[0,1,2]] même résultat
        R = A+B
        print(R)
        B = torch.FloatTensor([[0,1,2]])
        print(A+B)
    """,
    "2.5 column + row": """
        A = torch.FloatTensor([[10],[10],[10],[10]])
        B = torch.FloatTensor([[0,1,2]]) # ou FloatTensor([0,1,2])
        R = A+B
        print(R)
        R = B + A
        print(R)
    """,
    "2.6 2D + 3D column": """
        A = torch.FloatTensor([[0,0,0],[10,10,10],[20,20,20]])
        B = torch.FloatTensor([[[4]],[[5]],[[6]]])
        print(A+B)
        print((A+B).shape)
        B = torch.FloatTensor([[4],[5],[6]])
        print(A+B)
    """,
}


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_snippet(name):
    out = same_output(SNIPPETS[name])
    assert out.strip()  # every snippet prints something


def test_expected_texts():
    # a few outputs exactly as the course prints them
    assert run(SNIPPETS["1.7 slicing"], flambeau).splitlines() == [
        "tensor([1, 2, 3, 4])", "tensor([6, 7, 8, 9])", "tensor([2, 3, 4])", "tensor([1, 2])", "tensor(4)",
        "tensor([1, 2, 3, 4])"]
    assert run(SNIPPETS["1.3 item"], flambeau).splitlines()[0] == "2.0"
    assert run(SNIPPETS["1.10.1 view by slicing"], flambeau).splitlines() == ["True", "tensor(5.)"]
    assert "[99, 11, 99, 13, 99, 15]" in run(SNIPPETS["1.7 step and assignment"], flambeau)
    assert run(SNIPPETS["2.2 2D + value (course's ragged list)"], flambeau).startswith("!! ValueError")


# ---------------------------------------------------------------------------- 4.4-4.5: gradient descent
LOOP = """
X = torch.FloatTensor([4, 6, 1, 3])
Y = torch.FloatTensor([2, -3, 1, 3])
Ref = torch.FloatTensor([1, 1, 0, 0])

def f(x, y, a):
    return torch.min(a * torch.abs(x - y), torch.FloatTensor([1]))

def Err(estim, ref):
    return (estim - ref) ** 2

a = torch.FloatTensor([0.05])
a.requires_grad = True
pas = 0.02
for it in range(100):
    # passe Forward
    ErrTot = torch.FloatTensor([0])
    for i in range(4):
        y = f(X[i], Y[i], a)
        erreur = Err(y, Ref[i])
        ErrTot += erreur
    print(it, ErrTot)
    if ErrTot.item() < 1e-6:
        break
    # passe Backward
    ErrTot.backward()
    # algorithme de descente du gradient à pas constant
    with torch.no_grad():
        a -= pas * a.grad
        a.grad.zero_()
print("iterations", it, "a", a)
"""

BATCHED = """
X = torch.FloatTensor([4, 6, 1, 3])
Y = torch.FloatTensor([2, -3, 1, 3])
Ref = torch.FloatTensor([1, 1, 0, 0])
a = torch.FloatTensor([0.05])
a.requires_grad = True
pas = 0.02
for it in range(100):
    estim = torch.min(a * torch.abs(X - Y), torch.ones(4))
    ErrTot = torch.sum((estim - Ref) ** 2)
    print(it, ErrTot)
    if ErrTot.item() < 1e-6:
        break
    ErrTot.backward()
    with torch.no_grad():
        a -= pas * a.grad
        a.grad.zero_()
print("iterations", it, "a", a)
"""


@pytest.mark.parametrize("code", [LOOP, BATCHED], ids=["per-sample loop", "batched"])
def test_exercise_4_5_gradient_descent(code):
    out = same_output(code)
    last = out.strip().splitlines()[-1]
    iterations = int(last.split()[1])
    assert iterations < 100  # converged (loss below 1e-6) in fewer than 100 iterations
    env = {"torch": flambeau}
    exec(code.replace("print(", "(lambda *a: None)("), env)
    assert abs(env["a"].item() - 0.5) < 1e-3  # the loss (2a - 1)^2 vanishes at a = 1/2


def test_requires_grad_propagation_4_4():
    # ErrTot starts without requires_grad and gets it from "ErrTot += erreur"
    code = """
a = torch.FloatTensor([0.5])
a.requires_grad = True
ErrTot = torch.FloatTensor([0])
print(ErrTot.requires_grad)
y = torch.FloatTensor([3]) * a
print(y.requires_grad, y)
ErrTot += (y - 1) ** 2
print(ErrTot.requires_grad, ErrTot.is_leaf, ErrTot)
ErrTot.backward()
print(a.grad)
with torch.no_grad():
    a -= 0.1 * a.grad
print(a, a.requires_grad, a.is_leaf)
a.grad.zero_()
print(a.grad)
"""
    same_output(code)
