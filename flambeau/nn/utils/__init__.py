"""``flambeau.nn.utils``: gradient clipping, parameter/vector conversion, packed sequences."""
from . import clip_grad, convert_parameters, rnn, weight_reparam, parametrize, parametrizations, stateless, prune  # noqa: F401,E501
from .clip_grad import (clip_grad_norm_, clip_grad_norm, clip_grad_value_, get_total_norm,  # noqa: F401
                        clip_grads_with_norm_)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from .weight_reparam import spectral_norm, remove_spectral_norm, weight_norm, remove_weight_norm  # noqa: F401
