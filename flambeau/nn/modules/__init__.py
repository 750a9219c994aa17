"""The layer classes of ``flambeau.nn``."""
from .module import Module
from .container import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .linear import Identity, Linear, Bilinear
from .activation import (
    Threshold, ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, CELU, GELU, SiLU, Mish, Tanh, Sigmoid, Hardtanh,
    Hardsigmoid, Hardswish, Softplus, Softsign, Tanhshrink, LogSigmoid, Hardshrink, Softshrink, GLU, Softmax,
    LogSoftmax, Softmin, Softmax2d)
from .dropout import Dropout, Dropout1d, Dropout2d, AlphaDropout
from .flatten import Flatten, Unflatten
from .sparse import Embedding
from .normalization import LayerNorm, RMSNorm
from .loss import (
    L1Loss, MSELoss, SmoothL1Loss, HuberLoss, CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss,
    MultiMarginLoss, MultiLabelSoftMarginLoss, KLDivLoss, CosineEmbeddingLoss, MarginRankingLoss, SoftMarginLoss,
    GaussianNLLLoss, HingeEmbeddingLoss)
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Unfold, Fold
from .pooling import (MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d)
from .batchnorm import (BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
                        GroupNorm, LocalResponseNorm)
from .upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell
from .transformer import (MultiheadAttention, Transformer, TransformerEncoder, TransformerDecoder,
                          TransformerEncoderLayer, TransformerDecoderLayer)
from .extra import *  # noqa: F401,F403
from .lazy import *  # noqa: F401,F403

from . import (module, container, linear, activation, dropout, flatten, sparse, normalization, loss,  # noqa: E402
               conv, pooling, batchnorm, upsampling, rnn, transformer, extra, lazy)

__all__ = [name for m in (module, container, linear, activation, dropout, flatten, sparse, normalization, loss,
                          conv, pooling, batchnorm, upsampling, rnn, transformer, extra, lazy) for name in m.__all__]
