"""``torch.nn.utils.stateless``: the pre-2.0 home of ``functional_call`` (now ``flambeau.func``)."""
from ...func import functional_call  # noqa: F401
